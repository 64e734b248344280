"""Expert seat transfer (issue 11): the rules behind ``POST /api/v1/agent/transfer``.

An agent on an answered call hands the caller to an expert (or another agent)
by username, or to a queue, blind or attended, with notes and a ticket draft
for the next seat:

* **Validation first** (:meth:`TransferService.check`): the agent has a phone
  and an answered call the live model shows; the target is an active
  expert/agent with an extension and not the agent, or one of the sandbox's
  queues; notes <= 2000 characters, the draft a JSON object <= 8 KB.
* **The handoff before the phone rings**: a ``call_handoffs`` row and an
  in-memory copy keyed by the call id (a transfer keeps the Linkedid), so the
  screen pop built when the target's phone rings carries
  ``handoff: {from_agent, notes, draft, mode}``.
* **The recording goes on**: the dialplan records the agent's leg, which a
  transfer hangs up; the recording is moved onto the caller's channel (same
  file, MixMonitor option ``a``) before the transfer, so one file covers the
  whole call (``RecordingService.continue_on_channel``).
* **Asterisk does the transfer**: blind = AMI ``BlindTransfer`` on the agent's
  channel (its bridge peer, the caller, goes to ``ctidesk-xfer``); attended =
  AMI ``Atxfer`` on the agent's channel (the caller waits on hold, the agent
  talks to the target; when the agent hangs up, the caller is connected).
  ``ctidesk-xfer`` takes an agent's extension or ``q-<queue>``.
* **The 3-way consult**: during an attended transfer the agent can bring the
  caller into the talk (``threeway``), hand over at once (``complete``) or go
  back to the caller (``cancel``): ``POST /api/v1/agent/transfer/consult``,
  Asterisk's own atxfer feature codes fed to the agent's leg
  (``Actions.attended_transfer_command``). In a 3-way the agent keeps the
  call until their phone leaves it; then the expert has it (the live model's
  ``conference``), and the recording on the caller's channel hears all three.
* **Asterisk says when it happened**: the live model turns the
  ``BlindTransfer``/``AttendedTransfer`` AMI events into ``call_transferred``;
  this service (a bus subscriber) sends it to both agents' desks, marks the
  handoff completed and writes ``transferred_from``/``agent_username`` on the
  call row.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import select, update

from cti.actions import AsteriskRefused, PhoneSystemUnavailable
from cti.model import device_of
from ctidesk.db import utcnow

log = logging.getLogger(__name__)

XFER_CONTEXT = "ctidesk-xfer"
NOTES_MAX = 2000
DRAFT_MAX_BYTES = 8192
TARGET_ROLES = ("expert", "agent")
MODES = ("blind", "attended")
CONSULT_ACTIONS = ("threeway", "complete", "cancel")


class TransferError(Exception):
    """A refused transfer: ``status`` is the HTTP status, ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Handoff:
    id: int | None
    call_id: str
    mode: str
    from_agent: str
    to_agent: str | None
    to_queue: str | None
    notes: str
    draft: dict = field(default_factory=dict)
    done: bool = False  # Asterisk reported the transfer (call_transferred)

    def pop(self) -> dict:
        """What the next seat's screen pop shows."""
        return {"id": self.id, "from_agent": self.from_agent, "mode": self.mode, "to_agent": self.to_agent,
                "to_queue": self.to_queue, "notes": self.notes, "draft": self.draft}


@dataclass
class Plan:
    """A checked transfer: what to ask Asterisk for."""

    call: object  # cti.model.Call
    agent: object  # agent_desk.directory.AgentInfo
    mode: str
    to_agent: object | None  # AgentInfo of the target, or None for a queue
    to_queue: str | None
    exten: str
    agent_channel: str
    caller_channel: str | None


def check_payload(mode: str, target: dict, notes: str | None, draft: dict | None, queues) -> tuple[str | None, str | None]:
    """Shape checks that need no live state: (expert username, queue)."""
    if mode not in MODES:
        raise TransferError(422, f"mode must be one of {', '.join(MODES)}")
    if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in ("expert", "queue"):
        raise TransferError(422, 'target must be {"expert": username} or {"queue": name}')
    (kind, value), = target.items()
    if not isinstance(value, str) or not value.strip():
        raise TransferError(422, f"target.{kind} must be a non-empty string")
    if notes is not None and len(notes) > NOTES_MAX:
        raise TransferError(422, f"notes: at most {NOTES_MAX} characters ({len(notes)} given)")
    if draft is not None:
        if not isinstance(draft, dict):
            raise TransferError(422, "draft must be a JSON object")
        size = len(json.dumps(draft, ensure_ascii=False).encode())
        if size > DRAFT_MAX_BYTES:
            raise TransferError(422, f"draft: at most {DRAFT_MAX_BYTES} bytes as JSON ({size} given)")
    if kind == "queue":
        if value not in queues:
            raise TransferError(422, f"no such queue {value!r} (queues: {', '.join(queues)})")
        return None, value
    return value.strip(), None


class TransferService:
    """``container.transfers``; also a bus subscriber."""

    def __init__(self, container, *, directory, model, queues=None) -> None:
        if queues is None:
            from sandbox.config import QUEUES as queues
        self.c = container
        self.directory = directory
        self.model = model
        self.queues = tuple(queues)
        self.handoffs: dict[str, Handoff] = {}  # call_id -> the latest handoff of a live call
        self._tasks: set[asyncio.Task] = set()

    # -- screen pop ------------------------------------------------------------

    def handoff_for(self, call_id: str, username: str | None = None) -> dict | None:
        """The handoff a ringing seat sees (never the agent who handed it over)."""
        h = self.handoffs.get(call_id)
        if h is None or (username is not None and username == h.from_agent):
            return None
        return h.pop()

    def targets(self, username: str) -> dict:
        """Who and where this agent can transfer to: the desk's picker. An agent's
        state comes from the supervisor's live view (on_call, ringing, paused...)."""
        live = getattr(self.c.supervisor, "live", None)
        people = []
        for info in sorted(self.directory.by_username.values(), key=lambda i: (i.role != "expert", i.username)):
            if info.role not in TARGET_ROLES or info.username == username:
                continue
            view = live.agents.get(info.username) if live is not None else None
            people.append({"username": info.username, "display_name": info.display_name, "role": info.role,
                           "extension": info.extension, "state": view.state if view is not None else None})
        return {"experts": people, "queues": list(self.queues)}

    # -- checks ----------------------------------------------------------------

    def plan(self, username: str, mode: str, target: dict, notes: str | None, draft: dict | None) -> Plan:
        expert, queue = check_payload(mode, target, notes, draft, self.queues)
        info = self.directory.by_username.get(username)
        if info is None:
            raise TransferError(409, f"user {username!r} has no phone extension; an admin must set one")
        device = device_of(info.interface)
        call = self.model.answered_call_of(device, agent=info.username) if self.model is not None else None
        if call is None:
            raise TransferError(409, "you are not on an answered call: there is nothing to transfer")
        to_info = None
        if expert is not None:
            if expert == username:
                raise TransferError(422, "you cannot transfer a call to yourself")
            to_info = self.directory.by_username.get(expert)
            if to_info is None:
                raise TransferError(404, f"no active user {expert!r} with a phone extension")
            if to_info.role not in TARGET_ROLES:
                raise TransferError(422, f"{expert!r} is a {to_info.role}; calls go to experts or agents")
            if device_of(to_info.interface) == device_of(info.interface):
                raise TransferError(422, f"{expert!r} shares your phone")
            exten = to_info.extension
        else:
            exten = f"q-{queue}"
        channel = self.model.agent_leg(call, device)
        if channel is None:
            raise TransferError(409, "your phone's channel is not in the call any more")
        return Plan(call, info, mode, to_info, queue, exten, channel, self.model.caller_leg(call, device))

    # -- doing it --------------------------------------------------------------

    async def transfer(self, username: str, mode: str, target: dict, notes: str | None,
                       draft: dict | None) -> dict:
        from cti.models import CallHandoff

        actions = self.c.actions
        if not actions.connected:
            raise TransferError(503, "the phone system (AMI) is not connected; try again shortly")
        p = self.plan(username, mode, target, notes, draft)
        to_agent = p.to_agent.username if p.to_agent else None
        async with self.c.sessionmaker() as db:
            row = CallHandoff(call_id=p.call.id, mode=mode, from_username=username, to_username=to_agent,
                              to_queue=p.to_queue, to_extension=p.exten if p.to_agent else None,
                              notes=notes or "", draft=json.dumps(draft or {}, ensure_ascii=False),
                              status="requested")
            db.add(row)
            await db.commit()
            handoff_id = row.id
        # Before Asterisk acts: the target's phone may ring within milliseconds.
        previous = self.handoffs.get(p.call.id)
        self.handoffs[p.call.id] = Handoff(handoff_id, p.call.id, mode, username, to_agent, p.to_queue,
                                           notes or "", dict(draft or {}))
        recording_moved = False
        recordings = self.c.recordings
        if recordings is not None and p.caller_channel and p.call.record_state != "off":
            try:
                recording_moved = await recordings.continue_on_channel(p.call, p.agent_channel, p.caller_channel)
            except Exception:  # the transfer matters more than the recording: go on, say so
                log.exception("call %s: the recording could not be moved to the caller's channel", p.call.id)
        try:
            transfer = actions.blind_transfer if mode == "blind" else actions.attended_transfer
            await transfer(channel=p.agent_channel, context=XFER_CONTEXT, exten=p.exten)
        except AsteriskRefused as exc:
            await self._failed(p.call.id, handoff_id, previous, exc.message)
            raise TransferError(502, exc.message) from None
        except PhoneSystemUnavailable as exc:
            await self._failed(p.call.id, handoff_id, previous, exc.message)
            raise TransferError(503, "the transfer was not confirmed by Asterisk; check the call before "
                                     "trying again") from None
        return {"status": "transferring", "mode": mode, "call_id": p.call.id, "handoff_id": handoff_id,
                "target": {"expert": to_agent} if to_agent else {"queue": p.to_queue},
                "extension": p.exten if to_agent else None, "recording_moved": recording_moved}

    async def consult(self, username: str, action: str) -> dict:
        """Drive the agent's attended transfer in progress (see the module docstring)."""
        from cti.models import CallHandoff

        if action not in CONSULT_ACTIONS:
            raise TransferError(422, f"action must be one of {', '.join(CONSULT_ACTIONS)}")
        actions = self.c.actions
        if not actions.connected:
            raise TransferError(503, "the phone system (AMI) is not connected; try again shortly")
        info = self.directory.by_username.get(username)
        if info is None:
            raise TransferError(409, f"user {username!r} has no phone extension; an admin must set one")
        device = device_of(info.interface)
        call = self.model.answered_call_of(device, agent=info.username) if self.model is not None else None
        h = self.handoffs.get(call.id) if call is not None else None
        if h is None or h.mode != "attended" or h.from_agent != username or h.done:
            raise TransferError(409, "you have no attended transfer in progress: start one first "
                                     "(mode attended), then bring the caller in, hand over or cancel")
        channel = self.model.agent_leg(call, device)
        if channel is None:
            raise TransferError(409, "your phone's channel is not in the call any more")
        try:
            await actions.attended_transfer_command(channel=channel, command=action)
        except AsteriskRefused as exc:
            raise TransferError(502, exc.message) from None
        except PhoneSystemUnavailable:
            raise TransferError(503, f"{action} was not confirmed by Asterisk; check the call before "
                                     "trying again") from None
        if action == "cancel":  # Asterisk reports no event for an aborted transfer
            self.handoffs.pop(call.id, None)
            async with self.c.sessionmaker() as db:
                await db.execute(update(CallHandoff).where(CallHandoff.id == h.id)
                                 .values(status="cancelled", completed_at=utcnow()))
                await db.commit()
        return {"status": {"cancel": "cancelled", "threeway": "joining", "complete": "completing"}[action],
                "action": action, "call_id": call.id, "handoff_id": h.id}

    async def _failed(self, call_id: str, handoff_id: int, previous: Handoff | None, error: str) -> None:
        from cti.models import CallHandoff

        if previous is not None:
            self.handoffs[call_id] = previous
        else:
            self.handoffs.pop(call_id, None)
        async with self.c.sessionmaker() as db:
            await db.execute(update(CallHandoff).where(CallHandoff.id == handoff_id)
                             .values(status="failed", error=error[:255], completed_at=utcnow()))
            await db.commit()

    # -- what Asterisk reports (bus subscriber: never blocks) ---------------------

    def __call__(self, event) -> None:
        t = event.type
        if t == "call_transferred":
            h = self.handoffs.get(event.call_id)
            if h is not None:
                h.done = True
            self._notify(event)
            self._spawn(self._record_transfer(event))
        elif t == "call_handed_over":
            # the new seat's desk: its pop shows the call answered (by them)
            username = self.directory.username_for(event.agent, event.interface)
            if username and self.c.hub is not None:
                self.c.hub.send(username, {"type": "call_answered", "call_id": event.call_id, "agent": username,
                                           "handed_over_by": self._username(event.from_agent)})
        elif t == "call_ended":
            h = self.handoffs.pop(event.call_id, None)
            if h is not None and event.agent:
                self._spawn(self._record_last_agent(event.call_id, event.agent))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _username(self, agent: str | None) -> str | None:
        if not agent:
            return None
        return self.directory.username_for(agent, None) or agent

    def _notify(self, e) -> None:
        hub = self.c.hub
        if hub is None:
            return
        message = e.to_dict()
        h = self.handoffs.get(e.call_id)
        if h is not None:
            message["handoff_id"] = h.id
        for username in {u for u in (self._username(e.from_agent), self._username(e.to_agent)) if u}:
            hub.send(username, message)

    async def _record_transfer(self, e) -> None:
        """Completes the handoff row and names both agents on the call row."""
        from cti.models import CallHandoff, CallRecord

        try:
            store = self.c.store
            if store is not None:
                with contextlib.suppress(Exception):
                    await store.flush(5)  # the call row exists before it is updated
            from_user, to_user = self._username(e.from_agent), self._username(e.to_agent)
            async with self.c.sessionmaker() as db:
                q = select(CallHandoff).where(CallHandoff.call_id == e.call_id,
                                              CallHandoff.status == "requested").order_by(CallHandoff.id.desc())
                row = (await db.execute(q)).scalars().first()
                if row is None:  # a transfer made from a phone, not the desk: keep it in the history too
                    row = CallHandoff(call_id=e.call_id, mode=e.mode, from_username=from_user or "",
                                      to_username=to_user, to_queue=e.to_queue, to_extension=e.to_extension,
                                      notes="", draft="{}")
                    db.add(row)
                row.status = "completed"
                row.mode = e.mode  # an attended transfer the agent made a 3-way: threeway
                row.completed_at = utcnow()
                values = {}
                if to_user:
                    values["agent_username"] = to_user
                    values["agent"] = e.to_agent
                if from_user:
                    values["transferred_from"] = from_user
                if values:
                    await db.execute(update(CallRecord).where(CallRecord.call_id == e.call_id).values(**values))
                await db.commit()
        except Exception:
            log.exception("call %s: the transfer was not recorded", e.call_id)

    async def _record_last_agent(self, call_id: str, agent: str) -> None:
        """A call transferred into a queue: the agent who took it there has it last."""
        from cti.models import CallRecord

        username = self._username(agent)
        try:
            store = self.c.store
            if store is not None:
                with contextlib.suppress(Exception):
                    await store.flush(5)
            async with self.c.sessionmaker() as db:
                await db.execute(update(CallRecord).where(CallRecord.call_id == call_id,
                                                          CallRecord.transferred_from.is_not(None))
                                 .values(agent_username=username))
                await db.commit()
        except Exception:
            log.exception("call %s: the last agent was not recorded", call_id)

    async def recover(self, live_calls: set[str]) -> int:
        """After a restart (or an AMI resync): the handoffs of calls still in progress
        come back from ``call_handoffs`` into memory, so a seat whose phone rings
        after our process restarted still pops the notes and draft. Returns how many."""
        from cti.models import CallHandoff

        if not live_calls:
            return 0
        async with self.c.sessionmaker() as db:
            rows = (await db.execute(select(CallHandoff).where(CallHandoff.call_id.in_(live_calls))
                                     .order_by(CallHandoff.id))).scalars().all()
        latest = {r.call_id: r for r in rows if r.status in ("requested", "completed")}
        for r in latest.values():
            if r.call_id not in self.handoffs:
                self.handoffs[r.call_id] = Handoff(r.id, r.call_id, r.mode, r.from_username, r.to_username,
                                                   r.to_queue, r.notes, json.loads(r.draft or "{}"),
                                                   done=r.status == "completed")
        return len(latest)

    async def stop(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)


async def call_handoffs(db, call_id: str) -> list[dict]:
    """Every transfer of a call, oldest first (GET /api/v1/calls/{id})."""
    from cti.models import CallHandoff

    rows = (await db.execute(select(CallHandoff).where(CallHandoff.call_id == call_id)
                             .order_by(CallHandoff.id))).scalars().all()
    return [{"id": r.id, "mode": r.mode, "from_agent": r.from_username, "to_agent": r.to_username,
             "to_queue": r.to_queue, "status": r.status, "notes": r.notes,
             "draft": json.loads(r.draft or "{}"),
             "created_at": r.created_at.isoformat() if r.created_at else None,
             "completed_at": r.completed_at.isoformat() if r.completed_at else None} for r in rows]
