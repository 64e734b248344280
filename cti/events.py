"""Typed, immutable domain events: what the rest of ctidesk hears about calls.

Clients and subscribers never see raw AMI. Each event class has a snake_case
wire name ``<resource>_<verb>`` in ``type`` and serialises with ``to_dict``.
``at`` is the Asterisk timestamp of the AMI event that caused it (epoch
seconds), or the local clock when the event carries none.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


class DomainEvent:
    __slots__ = ()
    type: ClassVar[str] = ""

    def to_dict(self) -> dict:
        d = {"type": self.type, "call_id": None}  # every wire event names its call
        for name in self._field_names():
            d[name] = getattr(self, name)
        return d

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        names = cls.__dict__.get("_names")
        if names is None:
            names = tuple(f.name for f in fields(cls))
            cls._names = names  # cached per class
        return names


_ev = dataclass(frozen=True, slots=True)


@_ev
class CallCreated(DomainEvent):
    type: ClassVar[str] = "call_created"
    call_id: str
    at: float
    direction: str
    channel: str
    caller_number: str | None
    caller_name: str | None
    called_number: str | None


@_ev
class CallUpdated(DomainEvent):
    """The caller's ID became known (or changed) after ``call_created``: a
    trunk that sends it late, a ``Set(CALLERID(...))`` in the dialplan."""

    type: ClassVar[str] = "call_updated"
    call_id: str
    at: float
    caller_number: str | None
    caller_name: str | None


@_ev
class CallRinging(DomainEvent):
    """An agent's phone rings for this call: one event per ringing agent."""

    type: ClassVar[str] = "call_ringing"
    call_id: str
    at: float
    agent: str | None
    interface: str
    queue: str | None
    caller_number: str | None
    caller_name: str | None
    called_number: str | None


@_ev
class CallAnswered(DomainEvent):
    type: ClassVar[str] = "call_answered"
    call_id: str
    at: float
    agent: str | None
    interface: str | None
    queue: str | None
    hold_time_s: int | None


@_ev
class CallEnded(DomainEvent):
    type: ClassVar[str] = "call_ended"
    call_id: str
    at: float
    outcome: str  # answered | abandoned | unanswered | lost
    cause: str | None
    agent: str | None
    queue: str | None
    called_number: str | None = None  # final: an outbound call learns it when it dials out


@_ev
class QueueCallerJoined(DomainEvent):
    type: ClassVar[str] = "queue_caller_joined"
    call_id: str
    at: float
    queue: str
    position: int
    caller_number: str | None
    caller_name: str | None


@_ev
class QueueCallerLeft(DomainEvent):
    type: ClassVar[str] = "queue_caller_left"
    call_id: str
    at: float
    queue: str
    waiting: int


@_ev
class QueueCallerAbandoned(DomainEvent):
    type: ClassVar[str] = "queue_caller_abandoned"
    call_id: str
    at: float
    queue: str
    position: int
    original_position: int
    hold_time_s: int


@_ev
class AgentStatusChanged(DomainEvent):
    """An agent's state in one queue changed (login, logout, pause, device)."""

    type: ClassVar[str] = "agent_status_changed"
    at: float
    agent: str | None
    interface: str
    queue: str
    state: str  # logged_out | available | ringing | on_call | on_hold | unavailable | paused
    paused: bool
    paused_reason: str | None


@_ev
class CallIvrCompleted(DomainEvent):
    type: ClassVar[str] = "call_ivr_completed"
    call_id: str
    at: float
    ivr_path: tuple
    queue: str | None
    # The caller as the IVR saw it (agi_callerid): a call that never reaches a
    # queue (self-service, voicemail, a hang-up in the menu) has no other event
    # carrying the number to the call row.
    caller_number: str | None = None
    caller_name: str | None = None


EVENT_TYPES = {cls.type: cls for cls in (
    CallCreated, CallUpdated, CallRinging, CallAnswered, CallEnded, QueueCallerJoined,
    QueueCallerLeft, QueueCallerAbandoned, AgentStatusChanged, CallIvrCompleted)}


# -- recordings (issue 5) ----------------------------------------------------
# From Asterisk's MixMonitorStart/Stop/Mute AMI events, so a recording started
# by the dialplan (queue answer, outbound) and one started from the desk look
# the same. ``uniqueid``/``channel`` name the recorded channel.


@_ev
class _RecordingEvent(DomainEvent):
    """What every recording event carries (not itself an event: no ``type``)."""

    call_id: str
    at: float
    uniqueid: str
    channel: str
    agent: str | None


@_ev
class RecordingStarted(_RecordingEvent):
    type: ClassVar[str] = "recording_started"


@_ev
class RecordingPaused(_RecordingEvent):
    """The recording is muted (card details): silence goes into the file."""

    type: ClassVar[str] = "recording_paused"


@_ev
class RecordingResumed(_RecordingEvent):
    type: ClassVar[str] = "recording_resumed"


@_ev
class RecordingStopped(_RecordingEvent):
    type: ClassVar[str] = "recording_stopped"


EVENT_TYPES.update({cls.type: cls for cls in (
    RecordingStarted, RecordingPaused, RecordingResumed, RecordingStopped)})


# -- security (issue 11) -----------------------------------------------------
# From Asterisk's security events (AMI class ``security``): a SIP request whose
# digest authentication failed. Not about a call (no call_id): a phone or a
# scanner that tried a wrong password, or an account that does not exist.


@_ev
class SipAuthFailed(DomainEvent):
    type: ClassVar[str] = "sip_auth_failed"
    at: float
    account: str  # the SIP user/endpoint it claimed to be (AccountID)
    remote_address: str | None  # the source IP of the request
    service: str  # PJSIP (chan_pjsip)
    remote_port: int | None = None
    transport: str | None = None  # UDP | TCP | TLS | WS | WSS
    reason: str | None = None  # wrong_password | unknown_account


EVENT_TYPES[SipAuthFailed.type] = SipAuthFailed


# -- transfers (issue 11) ------------------------------------------------------
# From Asterisk's BlindTransfer / AttendedTransfer AMI events (Result: Success):
# whoever started the transfer (the desk's POST /api/v1/agent/transfer, a SIP
# phone's own transfer key), the call keeps its Linkedid, so its id.


@_ev
class CallTransferred(DomainEvent):
    type: ClassVar[str] = "call_transferred"
    call_id: str
    at: float
    mode: str  # blind | attended
    from_agent: str | None
    to_agent: str | None  # the agent behind the target extension, if one
    to_queue: str | None  # a transfer into a queue (ctidesk-xfer q-<queue>)
    to_extension: str | None = None


EVENT_TYPES[CallTransferred.type] = CallTransferred


@_ev
class CallHandedOver(DomainEvent):
    """The transfer's target has the caller now (it answered; for an attended
    transfer, the agent hung up after the consult). Not a second
    ``call_answered``: queue figures count the call's answer once."""

    type: ClassVar[str] = "call_handed_over"
    call_id: str
    at: float
    agent: str | None
    interface: str | None
    from_agent: str | None


EVENT_TYPES[CallHandedOver.type] = CallHandedOver
