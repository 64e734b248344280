"""The live model: AMI events in, domain events out, calls keyed by Linkedid.

One explicit table (``LiveModel.HANDLERS``) maps AMI event names to handlers;
events not in it are never parsed (the protocol checks the name first), which
is most of what Asterisk sends (VarSet, Newexten, DeviceStateChange...).

A handler that raises is logged and skipped: one odd event (a UserEvent with
no Uniqueid, a Hangup for a channel we never saw) must never drop the AMI
connection or stop the events after it. Handlers run in arrival order and emit
synchronously, so domain events come out in the order Asterisk sent their
causes.

Devices: an agent's phone is identified by its *device* key, the interface
without Local's ``/n`` suffix and without the channel's ``-0000abcd;1`` tail
(``Local/1001@agents/n`` and ``Local/1001@agents-00000031;1`` are both
``Local/1001@agents``; ``PJSIP/1001-0000001a`` is ``PJSIP/1001``). Queue calls
announce ringing with ``AgentCalled`` *and* ``DialBegin``; direct calls with
``DialBegin`` only. Keying the "already ringing" set by device gives exactly
one ``call_ringing`` per ringing agent either way.
"""
from __future__ import annotations

import itertools
import logging
import time
from typing import Callable

from cti import events as ev

log = logging.getLogger(__name__)

UNKNOWN = ("", "<unknown>", "<Unknown>", "unknown")

# Queue member device status codes (app_queue / devicestate.h).
MEMBER_STATES = {
    "0": "available",  # AST_DEVICE_UNKNOWN: app_queue still rings it (a fresh Local device is "unknown")
    "1": "available",
    "2": "on_call",
    "3": "on_call",  # busy
    "4": "unavailable",  # invalid
    "5": "unavailable",
    "6": "ringing",
    "7": "ringing",  # ringing while in use
    "8": "on_hold",
}


def device_of(channel_or_interface: str) -> str:
    """The device key of a channel or queue member interface.

    >>> device_of("Local/1001@agents/n")
    'Local/1001@agents'
    >>> device_of("Local/1001@agents-00000031;1")
    'Local/1001@agents'
    >>> device_of("PJSIP/1001-0000001a")
    'PJSIP/1001'
    >>> device_of("PJSIP/1001")
    'PJSIP/1001'
    """
    s = channel_or_interface
    if s.endswith("/n"):
        s = s[:-2]
    semi = s.rfind(";")
    if semi > 0:
        s = s[:semi]
    dash = s.rfind("-")
    if dash > 0 and s.find("/") < dash and all(c in "0123456789abcdef" for c in s[dash + 1:]) and len(s) - dash > 4:
        s = s[:dash]
    return s


_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def unescape_c(value: str) -> str:
    r"""Undo the C-style escaping Asterisk applies to CallerID in AMI events.

    ``O'Brien?`` arrives as ``O\'Brien\?``; ``"`` and ``\`` likewise.

    >>> unescape_c(r"O\'Brien\? \"x\" \\")
    'O\'Brien? "x" \\'
    """
    out, i, n = [], 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\" and i + 1 < n:
            nxt = value[i + 1]
            out.append(_C_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _clean(value: str | None) -> str | None:
    """CallerID as the caller's network sent it, or None when absent."""
    if value is None or value in UNKNOWN:
        return None
    if "\\" in value:
        return unescape_c(value)
    return value


SIP_SERVICES = ("PJSIP", "SIP")


def parse_security_address(value: str | None) -> tuple[str | None, int | None, str | None]:
    """``(ip, port, transport)`` of a security event's address.

    >>> parse_security_address("IPV4/UDP/127.0.0.1/5061")
    ('127.0.0.1', 5061, 'UDP')
    >>> parse_security_address("IPV6/TCP/::1/5060")
    ('::1', 5060, 'TCP')
    >>> parse_security_address(None)
    (None, None, None)
    """
    parts = (value or "").split("/")
    if len(parts) < 3 or not parts[2]:
        return None, None, None
    port = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
    return parts[2], port, parts[1] or None


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class Call:
    """A call in progress: every channel that shares one Linkedid."""

    __slots__ = ("id", "channels", "first_channel", "direction", "caller_number", "caller_name",
                 "called_number", "queue", "agent", "interface", "created_at", "enqueued_at",
                 "ringing_at", "answered_at", "ended_at", "outcome", "cause", "ringing",
                 "ivr_path", "abandoned", "first_uniqueid", "synthetic", "record_state",
                 "transfer_pending", "transferred_from", "consult", "conference", "seq", "devices")

    _seqs = itertools.count()

    def __init__(self, call_id: str, at: float) -> None:
        self.id = call_id
        self.seq = next(Call._seqs)  # creation order = the order of LiveModel.calls
        self.devices: set[str] = set()  # devices this call is indexed under (LiveModel.device_calls)
        self.channels: dict[str, str] = {}  # uniqueid -> channel name
        self.first_channel = ""
        self.first_uniqueid = ""
        self.direction = "inbound"
        self.caller_number: str | None = None
        self.caller_name: str | None = None
        self.called_number: str | None = None
        self.queue: str | None = None
        self.agent: str | None = None
        self.interface: str | None = None
        self.created_at = at
        self.enqueued_at: float | None = None
        self.ringing_at: float | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.outcome: str | None = None
        self.cause: str | None = None
        self.ringing: dict[str, str | None] = {}  # device -> agent name
        self.ivr_path: list = []
        self.abandoned = False
        self.synthetic = False  # rebuilt by a resync rather than seen from its start
        self.record_state = "off"  # off | recording | paused (MixMonitor on any of its channels)
        # issue 11: a blind transfer's target (agent name, or "queue:<name>") until it answers
        self.transfer_pending: str | None = None
        self.transferred_from: str | None = None
        self.consult: tuple | None = None  # (agent, interface) of a queue agent who answered an attended transfer
        # a 3-way consult: (agent, device) of the seat the agent brought in; the agent keeps
        # the call until their phone leaves it, then it is this seat's (on_hangup)
        self.conference: tuple | None = None


class Member:
    """An agent's membership of one queue, as app_queue reports it."""

    __slots__ = ("queue", "interface", "name", "state_interface", "status", "paused",
                 "paused_reason", "state", "seq")

    _seqs = itertools.count()

    def __init__(self, queue: str, interface: str) -> None:
        self.seq = next(Member._seqs)
        self.queue = queue
        self.interface = interface
        self.name: str | None = None
        self.state_interface: str | None = None
        self.status = "1"
        self.paused = False
        self.paused_reason: str | None = None
        self.state = "logged_out"


class LiveModel:
    """Calls, queues and agents as Asterisk has them now.

    ``emit`` receives each domain event; wire it to ``EventBus.publish``.
    ``agent_devices`` maps device keys of agents' phones (from accounts) to
    agent names, so that direct (non-queue) calls to an agent pop too;
    queue members are learnt from the queue events themselves.
    """

    def __init__(self, emit: Callable[[ev.DomainEvent], None], *,
                 agent_devices: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.emit = emit
        self.clock = clock
        self.calls: dict[str, Call] = {}
        # uniqueid -> call: a channel keeps its call even when a transfer
        # rewrites its Linkedid, so its Hangup still finds it.
        self.channel_calls: dict[str, Call] = {}
        self.members: dict[tuple[str, str], Member] = {}  # (queue, interface) -> member
        # Indexes kept beside ``calls`` and ``members`` so that per-event questions
        # ("which calls ring this phone?", "which memberships has this agent?") cost
        # O(that agent) instead of O(every call in progress) (issue 15).
        self.device_calls: dict[str, dict[str, Call]] = {}  # device -> calls that rang it or it answered
        self.members_by_name: dict[str, dict[tuple[str, str], Member]] = {}  # (member name or "") -> ...
        self.members_by_interface: dict[str, dict[tuple[str, str], Member]] = {}
        self.agent_devices: dict[str, str] = dict(agent_devices or {})
        self.queue_waiting: dict[str, dict[str, float]] = {}  # queue -> call_id -> enqueued at
        self.queue_summary: dict[str, dict] = {}
        self.handler_errors = 0
        self.HANDLERS: dict[str, Callable[[dict], None]] = {
            "Newchannel": self.on_newchannel,
            "NewCallerid": self.on_newcallerid,
            "Hangup": self.on_hangup,
            "DialBegin": self.on_dialbegin,
            "DialEnd": self.on_dialend,
            "QueueCallerJoin": self.on_queue_caller_join,
            "QueueCallerLeave": self.on_queue_caller_leave,
            "QueueCallerAbandon": self.on_queue_caller_abandon,
            "AgentCalled": self.on_agent_called,
            "AgentConnect": self.on_agent_connect,
            "AgentRingNoAnswer": self.on_agent_ring_no_answer,
            "QueueMemberAdded": self.on_queue_member,
            "QueueMemberRemoved": self.on_queue_member_removed,
            "QueueMemberPause": self.on_queue_member,
            "QueueMemberStatus": self.on_queue_member,
            "MixMonitorStart": self.on_mixmonitor_start,
            "MixMonitorStop": self.on_mixmonitor_stop,
            "MixMonitorMute": self.on_mixmonitor_mute,
            "BlindTransfer": self.on_blind_transfer,  # issue 11: transfers
            "AttendedTransfer": self.on_attended_transfer,
            # security class: SIP digest authentication that failed (a wrong
            # password, an account that does not exist), with its source
            "ChallengeResponseFailed": self.on_sip_auth_failed,
            "InvalidPassword": self.on_sip_auth_failed,
            "InvalidAccountID": self.on_sip_unknown_account,
        }

    # -- entry point -------------------------------------------------------

    @property
    def event_names(self) -> frozenset[str]:
        return frozenset(self.HANDLERS)

    def handle(self, name: str, fields: dict) -> None:
        """Apply one AMI event. Never raises."""
        handler = self.HANDLERS.get(name)
        if handler is None:
            return
        try:
            handler(fields)
        except Exception:
            self.handler_errors += 1
            log.exception("AMI handler for %s failed; event skipped: %r", name,
                          {k: fields.get(k) for k in ("Uniqueid", "Linkedid", "Channel")})

    def _at(self, fields: dict) -> float:
        ts = fields.get("Timestamp")
        if ts:
            try:
                return float(ts)
            except ValueError:
                pass
        return self.clock()

    # -- channels and calls ------------------------------------------------

    def on_newchannel(self, f: dict) -> None:
        linkedid = f.get("Linkedid") or f.get("Uniqueid")
        uniqueid = f.get("Uniqueid")
        if not linkedid or not uniqueid:
            log.warning("Newchannel without Uniqueid/Linkedid skipped: %r", f.get("Channel"))
            return
        call = self.calls.get(linkedid)
        channel = f.get("Channel", "")
        if call is None:
            at = self._at(f)
            call = Call(linkedid, at)
            call.first_channel = channel
            call.first_uniqueid = uniqueid
            call.caller_number = _clean(f.get("CallerIDNum"))
            call.caller_name = _clean(f.get("CallerIDName"))
            exten = f.get("Exten")
            call.called_number = exten if exten and exten != "s" else None
            if device_of(channel) in self.agent_devices:
                call.direction = "outbound"
                call.called_number = None  # that Exten is the agent's own phone; DialBegin names the callee
            self.calls[linkedid] = call
            call.channels[uniqueid] = channel
            self.channel_calls[uniqueid] = call
            self.emit(ev.CallCreated(linkedid, at, call.direction, channel, call.caller_number,
                                     call.caller_name, call.called_number))
        else:
            call.channels[uniqueid] = channel
            self.channel_calls[uniqueid] = call

    def _call(self, f: dict) -> Call | None:
        return self.channel_calls.get(f.get("Uniqueid", "")) or self.calls.get(f.get("Linkedid", ""))

    def on_newcallerid(self, f: dict) -> None:
        call = self._call(f)
        if call is not None and f.get("Uniqueid") == call.first_uniqueid:
            number = _clean(f.get("CallerIDNum")) or call.caller_number
            name = _clean(f.get("CallerIDName")) or call.caller_name
            if (number, name) != (call.caller_number, call.caller_name):
                call.caller_number, call.caller_name = number, name
                self.emit(ev.CallUpdated(call.id, self._at(f), number, name))

    def on_hangup(self, f: dict) -> None:
        uniqueid = f.get("Uniqueid", "")
        call = self.channel_calls.pop(uniqueid, None) or self.calls.get(f.get("Linkedid", ""))
        if call is None:
            return
        call.channels.pop(uniqueid, None)
        if uniqueid == call.first_uniqueid:
            call.cause = f.get("Cause-txt") or f.get("Cause")
        if not call.channels:
            self._end(call, self._at(f))
        elif call.conference is not None:
            self._conference_left(call, self._at(f))

    def _conference_left(self, call: Call, at: float) -> None:
        """A phone hung up in a 3-way consult: if it was the agent's, the seat they
        brought in has the caller now; if it was that seat's, the agent is back to two."""
        here = {device_of(ch) for ch in call.channels.values()}
        agent, device = call.conference
        if call.interface and device_of(call.interface) not in here:
            call.conference = None
            self._take_over(call, agent, device, at)
        elif device_of(device) not in here:
            call.conference = None

    def end_after_agent(self, call_id: str, at: float) -> bool:
        """The agent hung up and the caller went on alone to something of ours that
        is not a conversation (the post-call survey, issue 14): for the desk, the
        supervisor, the reports and the call row the call ends now (talk time
        stops, wrap-up starts), not when the caller finishes keying a score. Its
        channels are no longer tracked. False when the call is not live or was
        never answered."""
        call = self.calls.get(call_id)
        if call is None or call.answered_at is None:
            return False
        self._end(call, at)
        return True

    def _end(self, call: Call, at: float, outcome: str | None = None) -> None:
        self.calls.pop(call.id, None)
        for device in call.devices:
            by_device = self.device_calls.get(device)
            if by_device is not None:
                by_device.pop(call.id, None)
                if not by_device:
                    del self.device_calls[device]
        call.devices.clear()
        for uniqueid in call.channels:
            self.channel_calls.pop(uniqueid, None)
        if call.queue:
            self.queue_waiting.get(call.queue, {}).pop(call.id, None)
        if outcome is None:
            if call.answered_at is not None:
                outcome = "answered"
            elif call.abandoned or call.queue:
                outcome = "abandoned"
            else:
                outcome = "unanswered"
        call.outcome = outcome
        call.ended_at = at
        if call.record_state != "off":  # Asterisk sends no MixMonitorStop when the call hangs up
            call.record_state = "off"
            self.emit(ev.RecordingStopped(call.id, at, "", "", call.agent))
        self.emit(ev.CallEnded(call.id, at, outcome, call.cause, call.agent, call.queue, call.called_number))

    def _caller_from(self, call: Call, f: dict) -> None:
        """Queue and agent events carry the caller's current CallerID."""
        if f.get("Uniqueid") == call.first_uniqueid or call.caller_number is None:
            call.caller_number = _clean(f.get("CallerIDNum")) or call.caller_number
            call.caller_name = _clean(f.get("CallerIDName")) or call.caller_name
        if call.called_number is None:
            exten = f.get("Exten")
            if exten and exten != "s":
                call.called_number = exten

    # -- ringing and answer ------------------------------------------------

    def _ring(self, call: Call, device: str, agent: str | None, interface: str,
              queue: str | None, at: float) -> None:
        if device in call.ringing:
            return
        call.ringing[device] = agent
        self._index(call, device)
        if call.ringing_at is None:
            call.ringing_at = at
        self.emit(ev.CallRinging(call.id, at, agent, interface, queue, call.caller_number,
                                 call.caller_name, call.called_number))

    def on_agent_called(self, f: dict) -> None:
        call = self._call(f)
        if call is None:
            return
        self._caller_from(call, f)
        interface = f.get("Interface", "")
        queue = f.get("Queue") or call.queue
        self._ring(call, device_of(interface), f.get("MemberName"), interface, queue, self._at(f))

    def on_dialbegin(self, f: dict) -> None:
        dest = f.get("DestChannel")
        if not dest:
            return
        device = device_of(dest)
        agent = self.agent_devices.get(device)
        call = self.calls.get(f.get("Linkedid") or f.get("DestLinkedid", ""))
        if call is None:
            return
        if agent is None:
            if call.direction == "outbound" and call.called_number is None and "Uniqueid" in f:
                call.called_number = f.get("DestExten") or None  # the customer a desk dialled
            return
        if "Uniqueid" in f:
            self._caller_from(call, f)
        self._ring(call, device, agent, device, call.queue, self._at(f))

    def on_dialend(self, f: dict) -> None:
        dest = f.get("DestChannel")
        call = self.calls.get(f.get("Linkedid") or f.get("DestLinkedid", ""))
        if call is None or not dest:
            return
        device = device_of(dest)
        if device not in call.ringing:
            if (call.direction == "outbound" and f.get("DialStatus") == "ANSWER" and call.answered_at is None
                    and f.get("Uniqueid") == call.first_uniqueid):
                # Click to dial: the agent's phone placed it; the customer answered.
                agent_device = device_of(call.first_channel)
                self._answer(call, self.agent_devices.get(agent_device), agent_device, None, None, self._at(f))
            return
        if f.get("DialStatus") == "ANSWER":
            if call.answered_at is None and call.queue is None:
                self._answer(call, call.ringing[device], device, None, None, self._at(f))
            elif call.transfer_pending is not None and call.ringing[device]:
                # a blind transfer's target answered
                self._take_over(call, call.ringing[device], device, self._at(f))
        else:
            call.ringing.pop(device, None)

    def on_agent_ring_no_answer(self, f: dict) -> None:
        call = self._call(f)
        if call is not None:
            call.ringing.pop(device_of(f.get("Interface", "")), None)

    def on_agent_connect(self, f: dict) -> None:
        call = self._call(f)
        if call is None:
            return
        if call.answered_at is not None:
            if call.transfer_pending is not None:  # transferred into a queue: this agent has it now
                self._take_over(call, f.get("MemberName"), f.get("Interface"), self._at(f))
            else:  # an attended transfer into a queue: the consult was answered
                call.consult = (f.get("MemberName"), f.get("Interface"))
            return
        self._answer(call, f.get("MemberName"), f.get("Interface"), f.get("Queue") or call.queue,
                     _int(f.get("HoldTime"), 0), self._at(f))

    def _answer(self, call: Call, agent, interface, queue, hold, at) -> None:
        call.answered_at = at
        call.agent = agent
        call.interface = interface
        if interface:
            self._index(call, device_of(interface))
        self.emit(ev.CallAnswered(call.id, at, agent, interface, queue, hold))

    # -- transfers (issue 11) --------------------------------------------------

    def _take_over(self, call: Call, agent: str | None, interface: str | None, at: float) -> None:
        call.transfer_pending = None
        call.agent = agent
        call.interface = interface
        if interface:
            self._index(call, device_of(interface))
        self.emit(ev.CallHandedOver(call.id, at, agent, interface, call.transferred_from))

    def _agent_for_extension(self, exten: str) -> str | None:
        """The agent whose phone is extension ``exten`` (``Local/1003@agents``, ``PJSIP/1003``)."""
        for device, name in self.agent_devices.items():
            if device.split("/", 1)[-1].split("@", 1)[0] == exten:
                return name
        return None

    def _transferred(self, call: Call, mode: str, transferer: str, exten: str | None, at: float,
                     *, answered: bool) -> None:
        """``mode`` blind | attended | threeway (the agent pressed the 3-way key in an
        attended transfer: caller, agent and target share one bridge)."""
        from_agent = self.agent_devices.get(device_of(transferer)) or call.agent
        to_agent = to_queue = None
        if exten and exten.startswith("q-"):  # ctidesk-xfer's queue entries
            to_queue = exten[2:]
            exten = None
        elif exten:
            to_agent = self._agent_for_extension(exten)
        call.transferred_from = from_agent
        if answered and to_agent is None and call.consult is not None:
            to_agent = call.consult[0]  # the queue agent who answered the consult
            target_device = call.consult[1]
        elif answered and to_agent is None and to_queue is None:
            # The target channel named no agent's phone (Asterisk reports whichever channel
            # was in the consult bridge then): the agent whose phone rang last in this call.
            target_device = next((d for d, a in reversed(call.ringing.items()) if a and a != from_agent), None)
            to_agent = call.ringing.get(target_device) if target_device else None
        else:
            target_device = next((d for d, a in call.ringing.items() if to_agent and a == to_agent), None) or \
                next((d for d, a in self.agent_devices.items() if to_agent and a == to_agent), None)
        call.consult = None
        self.emit(ev.CallTransferred(call.id, at, mode, from_agent, to_agent, to_queue, exten))
        if mode == "threeway":
            call.conference = (to_agent, target_device) if target_device is not None else None
        elif answered and target_device is not None:
            self._take_over(call, to_agent, target_device, at)  # attended: the target answered the consult
        else:
            call.transfer_pending = to_agent or f"queue:{to_queue or exten or ''}"

    def on_blind_transfer(self, f: dict) -> None:
        if f.get("Result") != "Success":
            return
        call = (self.channel_calls.get(f.get("TransfereeUniqueid", ""))
                or self.calls.get(f.get("TransfereeLinkedid") or f.get("TransfererLinkedid", "")))
        if call is not None:
            self._transferred(call, "blind", f.get("TransfererChannel", ""), f.get("Extension"), self._at(f),
                              answered=False)

    def on_attended_transfer(self, f: dict) -> None:
        if f.get("Result") != "Success":
            return
        call = (self.channel_calls.get(f.get("TransfereeUniqueid", ""))
                or self.calls.get(f.get("TransfereeLinkedid") or f.get("OrigTransfererLinkedid", "")))
        if call is None:
            return
        target = f.get("TransferTargetChannel", "")
        log.info("call %s: attended transfer by %s to %s (%s)", call.id, f.get("OrigTransfererChannel"), target,
                 f.get("DestType"))
        agent = self.agent_devices.get(device_of(target))
        exten = None
        if agent is None and target.startswith("Local/"):  # Atxfer dials Local/<exten>@<context>
            exten = target[len("Local/"):].split("@", 1)[0]
        elif agent is not None:
            exten = next((d.split("/", 1)[-1].split("@", 1)[0] for d, a in self.agent_devices.items()
                          if a == agent), None)
        mode = "threeway" if f.get("DestType") == "Threeway" else "attended"
        self._transferred(call, mode, f.get("OrigTransfererChannel", ""), exten, self._at(f), answered=True)

    # -- queues ------------------------------------------------------------

    def on_queue_caller_join(self, f: dict) -> None:
        call = self._call(f)
        if call is None:
            return
        self._caller_from(call, f)
        at = self._at(f)
        queue = f.get("Queue", "")
        call.queue = queue
        call.enqueued_at = at
        self.queue_waiting.setdefault(queue, {})[call.id] = at
        self.emit(ev.QueueCallerJoined(call.id, at, queue, _int(f.get("Position")),
                                       call.caller_number, call.caller_name))

    def on_queue_caller_leave(self, f: dict) -> None:
        call = self._call(f)
        queue = f.get("Queue", "")
        if call is None:
            return
        self.queue_waiting.get(queue, {}).pop(call.id, None)
        self.emit(ev.QueueCallerLeft(call.id, self._at(f), queue, _int(f.get("Count"))))

    def on_queue_caller_abandon(self, f: dict) -> None:
        call = self._call(f)
        if call is None:
            return
        call.abandoned = True
        queue = f.get("Queue", "") or call.queue or ""
        self.emit(ev.QueueCallerAbandoned(call.id, self._at(f), queue, _int(f.get("Position")),
                                          _int(f.get("OriginalPosition")), _int(f.get("HoldTime"))))

    # -- agents ------------------------------------------------------------

    def on_queue_member(self, f: dict) -> None:
        queue = f.get("Queue", "")
        interface = f.get("Interface", "")
        key = (queue, interface)
        member = self.members.get(key)
        if member is None:
            member = self.members[key] = Member(queue, interface)
            self.members_by_interface.setdefault(interface, {})[key] = member
            self.members_by_name.setdefault("", {})[key] = member
        name = f.get("MemberName") or member.name
        if name != member.name:
            self._unindex_member(key, member)
            member.name = name
            self.members_by_name.setdefault(name or "", {})[key] = member
        member.state_interface = f.get("StateInterface") or member.state_interface
        member.status = f.get("Status", member.status)
        member.paused = f.get("Paused", "0") == "1"
        member.paused_reason = f.get("PausedReason") or None
        if member.name:
            self.agent_devices.setdefault(device_of(interface), member.name)
        self._member_state(member, "paused" if member.paused else MEMBER_STATES.get(member.status, "available"),
                           self._at(f))

    def on_queue_member_removed(self, f: dict) -> None:
        key = (f.get("Queue", ""), f.get("Interface", ""))
        member = self.members.pop(key, None)
        if member is not None:
            self._unindex_member(key, member)
            by_interface = self.members_by_interface.get(member.interface)
            if by_interface is not None:
                by_interface.pop(key, None)
                if not by_interface:
                    del self.members_by_interface[member.interface]
        else:
            member = Member(f.get("Queue", ""), f.get("Interface", ""))
            member.name = f.get("MemberName")
        member.paused = False
        member.paused_reason = None
        self._member_state(member, "logged_out", self._at(f))

    def _member_state(self, member: Member, state: str, at: float) -> None:
        if state == member.state and state != "paused":
            return
        member.state = state
        self.emit(ev.AgentStatusChanged(at, member.name, member.interface, member.queue, state,
                                        member.paused, member.paused_reason))

    # -- recordings (MixMonitor) --------------------------------------------

    def _recording(self, f: dict, cls, state: str) -> None:
        call = self._call(f)
        call_id = call.id if call is not None else (f.get("Linkedid") or f.get("Uniqueid"))
        if not call_id:
            return
        if call is not None:
            call.record_state = state
        channel = f.get("Channel", "")
        agent = self.agent_devices.get(device_of(channel)) or (call.agent if call is not None else None)
        self.emit(cls(call_id, self._at(f), f.get("Uniqueid", ""), channel, agent))

    def on_mixmonitor_start(self, f: dict) -> None:
        self._recording(f, ev.RecordingStarted, "recording")

    def on_mixmonitor_stop(self, f: dict) -> None:
        self._recording(f, ev.RecordingStopped, "off")

    def on_mixmonitor_mute(self, f: dict) -> None:
        if f.get("State") == "1":
            self._recording(f, ev.RecordingPaused, "paused")
        else:
            self._recording(f, ev.RecordingResumed, "recording")

    # -- security ----------------------------------------------------------

    def on_sip_auth_failed(self, f: dict, reason: str = "wrong_password") -> None:
        """``ChallengeResponseFailed``/``InvalidPassword`` (a wrong password) from a
        SIP channel driver. The same events come from AMI logins (``Service:
        AMI``): not ours here."""
        service = f.get("Service") or ""
        if service.upper() not in SIP_SERVICES:
            return
        ip, port, transport = parse_security_address(f.get("RemoteAddress"))
        self.emit(ev.SipAuthFailed(self._at(f), _clean(f.get("AccountID")) or "", ip, service,
                                   port, transport, reason))

    def on_sip_unknown_account(self, f: dict) -> None:
        """``InvalidAccountID``: a SIP request for an endpoint that does not exist."""
        self.on_sip_auth_failed(f, "unknown_account")

    # -- queries: which call, which leg (one rule for the desk, the supervisor,
    #    recordings and transfers) ------------------------------------------

    def answered_call_of(self, device: str, *, agent: str | None = None, call_id: str | None = None) -> Call | None:
        """The latest answered call the phone ``device`` (or the agent by name) is
        on and still has a channel in; ``call_id`` narrows it to that call."""
        best = None
        for call in self.calls.values():
            if call.answered_at is None or (call_id is not None and call.id != call_id):
                continue
            if not ((call.interface and device_of(call.interface) == device) or (agent and call.agent == agent)):
                continue
            if not any(device_of(ch) == device for ch in call.channels.values()):
                continue
            if best is None or call.answered_at > best.answered_at:
                best = call
        return best

    @staticmethod
    def agent_leg(call: Call, device: str) -> str | None:
        """The agent's channel bridged with the caller. A Local phone has two
        halves: ``;1`` is bridged with the caller, ``;2`` is the phone. ChanSpy
        whispers into what the spied channel sends and a transfer moves the
        bridged channel, so it is ``;1``; a SIP phone has one channel."""
        mine = [ch for ch in call.channels.values() if device_of(ch) == device]
        mine.sort(key=lambda ch: (not ch.endswith(";1"), ch))
        return mine[0] if mine else None

    @staticmethod
    def caller_leg(call: Call, device: str) -> str | None:
        """The customer's channel: the call's first channel unless that is the agent's own phone."""
        if call.first_channel and device_of(call.first_channel) != device and \
                call.first_channel in call.channels.values():
            return call.first_channel
        others = [ch for ch in call.channels.values() if device_of(ch) != device and not ch.startswith("Local/")]
        return others[0] if others else None

    def member_queues(self, interface: str) -> list[str]:
        """The queues ``interface`` is a member of, as app_queue reported them."""
        return sorted(q for q, _ in self.members_by_interface.get(interface, ()))

    # -- indexes (issue 15: per-event work in O(one agent), not O(all calls)) --

    def _index(self, call: Call, device: str) -> None:
        if device not in call.devices:
            call.devices.add(device)
            self.device_calls.setdefault(device, {})[call.id] = call

    def _unindex_member(self, key: tuple[str, str], member: Member) -> None:
        by_name = self.members_by_name.get(member.name or "")
        if by_name is not None:
            by_name.pop(key, None)
            if not by_name:
                del self.members_by_name[member.name or ""]

    def calls_of_devices(self, devices) -> list[Call]:
        """Calls in progress that rang one of ``devices`` or were answered on one,
        in the order of ``calls`` (a superset: callers check the call's own fields)."""
        found: dict[str, Call] = {}
        for device in devices:
            found.update(self.device_calls.get(device, ()))
        if len(found) < 2:
            return list(found.values())
        return sorted(found.values(), key=lambda c: c.seq)

    def members_named(self, name: str) -> list[Member]:
        """The memberships of the agent called ``name``, in the order of ``members``."""
        return sorted(self.members_by_name.get(name, {}).values(), key=lambda m: m.seq)

    def members_of_interface(self, interface: str) -> list[Member]:
        """The memberships of ``interface``, in the order of ``members``."""
        return sorted(self.members_by_interface.get(interface, {}).values(), key=lambda m: m.seq)

    # -- resync ------------------------------------------------------------

    def resync(self, channels: list[dict], members: list[dict], entries: list[dict],
               *, started_at: float) -> dict:
        """Rebuild from Asterisk's own view after a (re)login.

        ``channels`` are CoreShowChannel rows, ``members``/``entries`` the
        QueueMember/QueueEntry rows of QueueStatus. Events missed during an
        outage are never replayed by Asterisk, so: calls we track that no longer
        have a channel are ended (outcome ``lost`` unless we saw them answered),
        calls Asterisk has that we do not are adopted, and queue members are
        reset to what app_queue reports. Calls created after ``started_at`` (seen
        live while the snapshot was being taken) are left alone.
        """
        live: dict[str, list[dict]] = {}
        for row in channels:
            linkedid = row.get("Linkedid") or row.get("Uniqueid")
            if linkedid:
                live.setdefault(linkedid, []).append(row)
        ended = adopted = 0
        now = self.clock()
        for call in list(self.calls.values()):
            if call.id in live or call.created_at >= started_at:
                continue
            self._end(call, now, "answered" if call.answered_at is not None else "lost")
            ended += 1
        for linkedid, rows in live.items():
            call = self.calls.get(linkedid)
            if call is None:
                first = min(rows, key=lambda r: r.get("Uniqueid", ""))
                at = now - _int(first.get("Duration", "0").split(":")[-1], 0)
                call = Call(linkedid, at)
                call.synthetic = True
                call.first_channel = first.get("Channel", "")
                call.first_uniqueid = first.get("Uniqueid", "")
                call.caller_number = _clean(first.get("CallerIDNum"))
                call.caller_name = _clean(first.get("CallerIDName"))
                exten = first.get("Exten")
                call.called_number = exten if exten and exten != "s" else None
                if any(r.get("BridgeId") for r in rows):
                    call.answered_at = at  # bridged: someone answered
                self.calls[linkedid] = call
                adopted += 1
                self.emit(ev.CallCreated(linkedid, at, call.direction, call.first_channel,
                                         call.caller_number, call.caller_name, call.called_number))
            call.channels = {r.get("Uniqueid", ""): r.get("Channel", "") for r in rows}
            for uniqueid in call.channels:
                self.channel_calls[uniqueid] = call
        seen_members = set()
        for row in members:
            key = (row.get("Queue", ""), row.get("Location") or row.get("Interface", ""))
            seen_members.add(key)
            self.on_queue_member({"Queue": key[0], "Interface": key[1], "MemberName": row.get("Name"),
                                  "StateInterface": row.get("StateInterface"), "Status": row.get("Status"),
                                  "Paused": row.get("Paused", "0"), "PausedReason": row.get("PausedReason")})
        for key in [k for k in self.members if k not in seen_members]:
            self.on_queue_member_removed({"Queue": key[0], "Interface": key[1]})
        self.queue_waiting = {}
        for row in entries:
            call = self.calls.get(row.get("Linkedid", "")) or next(
                (c for c in self.calls.values() if row.get("Uniqueid") in c.channels), None)
            if call is not None:
                call.queue = row.get("Queue")
                wait = _int(row.get("Wait"), 0)
                call.enqueued_at = call.enqueued_at or now - wait
                self.queue_waiting.setdefault(call.queue, {})[call.id] = call.enqueued_at
        return {"ended": ended, "adopted": adopted, "calls": len(self.calls), "members": len(self.members)}
