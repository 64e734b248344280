"""Screen pop: on ``call_ringing``, tell the ringing agent who is calling.

Ring-all: every agent whose phone rings gets their own ``screen_pop``; nobody
else does (the message goes only to the sockets of the username behind the
ringing device). The pop carries the call (number, name, queue, IVR choices,
waiting time), the matched customer's card or a provisional record, their
last calls and open tickets. Agents who got a pop for a call also hear when
it is answered (by them or someone else) and when it ends.

Latency matters (the pop must beat the agent picking up). The part of the pop
that needs the database (customer, history, open tickets) is built once per
call, as soon as the caller's number is known (``call_created`` on a trunk,
``queue_caller_joined`` after the IVR), so by the time a phone rings it is
usually ready; ring-all agents share it. The ring itself only adds the
call's live fields (queue, IVR path, waiting time) and sends.

Frames are ``agent_desk.notifier`` models (times ISO 8601 with offset).
"""
from __future__ import annotations

import asyncio
import logging
import time

from agent_desk import notifier
from cti import events as ev
from customers.resolver import run_now

log = logging.getLogger(__name__)


class ScreenPop:
    def __init__(self, *, container, resolver, directory, reader) -> None:
        self.c = container
        self.resolver = resolver
        self.reader = reader
        self.directory = directory
        self.popped: dict[str, set[str]] = {}  # call_id -> usernames that got a pop
        self.bodies: dict[str, asyncio.Future] = {}  # call_id -> the shared, database part
        self._waiting: dict[str, list] = {}  # call_id -> rings waiting for its provisional record
        self.sent = 0
        self.inline = 0  # pops built and queued within the ring's own bus callback
        self.chained = 0  # pops sent from the callback of a provisional record's commit
        self._tasks: set[asyncio.Task] = set()

    def _prefetch(self, call_id: str, number: str | None, name: str | None) -> asyncio.Future:
        task = self.bodies.get(call_id)
        if task is None:
            task = self._body_soon(call_id, number, name)
            if task is None:
                task = asyncio.create_task(self._body(call_id, number, name))
            self.bodies[call_id] = task
        return task

    def _body_soon(self, call_id: str, number: str | None, name: str | None) -> asyncio.Future | None:
        """The database part without a task, when the reader answers at once (SQLite):
        done at once for a caller who needs no provisional record, else settled in the
        callback of the provisional record's commit, which also sends the pops of the
        rings that waited for it (``_waiting``); no task and no extra trip through a
        busy loop either way (issue 15). None: the task path (``_body``)."""
        if not getattr(self.reader, "answers_now", False):
            return None
        try:
            resolution = self.resolver.resolve_now(call_id, number, name)
        except Exception:  # the task path tries again, and says what failed
            return None
        body = asyncio.get_running_loop().create_future()
        if resolution is not None:
            try:
                body.set_result(self._body_of(call_id, resolution))
            except Exception:
                return None
            return body
        waiting: list = []

        def resolved(resolution, error) -> None:
            if error is None:
                try:
                    body.set_result(self._body_of(call_id, resolution))
                except Exception as exc:  # the ring sends the bare call and says why
                    error = exc
            if error is not None:
                body.set_exception(error)
            self._waiting.pop(call_id, None)
            for fn in waiting:
                try:
                    fn(body)
                except Exception:
                    log.exception("screen pop for call %s failed", call_id)

        if not self.resolver.when_resolved(call_id, resolved):
            return None
        self._waiting[call_id] = waiting
        # A call that never rings never reads a failed body: mark it read, no "never retrieved" noise.
        body.add_done_callback(lambda f: f.cancelled() or f.exception())
        return body

    def _body_of(self, call_id: str, resolution) -> dict:
        history = run_now(self.reader.history(customer_id=resolution.customer_id, numbers=resolution.numbers,
                                              exclude_call_id=call_id, limit=self.c.settings.history_limit))
        tickets = run_now(self.reader.open_tickets(resolution.customer_id)) \
            if resolution.customer_id is not None else []
        return _body_dict(resolution, history, tickets)

    def _kb_now(self):
        kb = getattr(self.c, "kb", None)  # issue 14: suggested articles
        return kb is None or getattr(kb, "answers_now", False)

    def __call__(self, event) -> None:
        t = event.type
        if t in ("call_created", "queue_caller_joined"):
            if event.caller_number and getattr(event, "direction", "inbound") == "inbound":
                self._prefetch(event.call_id, event.caller_number, event.caller_name)
        elif t == "call_ringing":
            username = self.directory.username_for(event.agent, event.interface)
            if username is None:
                log.info("call %s rings %s (%s): no ctidesk user behind that phone",
                         event.call_id, event.interface, event.agent)
                return
            self.popped.setdefault(event.call_id, set()).add(username)
            bridge = self.c.bridge
            read_at = getattr(bridge.protocol, "read_at", None) if bridge and bridge.protocol else None
            body = self._prefetch(event.call_id, event.caller_number, event.caller_name)
            if self._kb_now():
                if body.done() and not body.cancelled() and body.exception() is None:
                    # everything is at hand: the pop goes out before the next AMI event is read
                    self.inline += 1
                    self._send(event, username, read_at, self._now(event, body.result()))
                    return
                waiting = self._waiting.get(event.call_id)
                if waiting is not None and not body.done():
                    # a provisional record being written: the pop goes out in its commit's callback
                    waiting.append(lambda f: self._pop_when(f, event, username, read_at))
                    return
            task = asyncio.create_task(self._pop(event, username, read_at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif t == "call_answered":
            for username in self.popped.get(event.call_id, ()):
                self.c.hub.send(username, notifier.CallAnswered(
                    call_id=event.call_id,
                    agent=self.directory.username_for(event.agent, event.interface) or event.agent))
        elif t == "call_ended":
            self.bodies.pop(event.call_id, None)
            for_nobody = self._waiting.pop(event.call_id, None)
            if for_nobody:
                for_nobody.clear()  # ended before its record was written: no pop after the end
            for username in self.popped.pop(event.call_id, ()):
                self.c.hub.send(username, notifier.CallEnded(call_id=event.call_id, outcome=event.outcome))
            self.resolver.forget(event.call_id)

    def _now(self, event: ev.CallRinging, body: dict) -> notifier.ScreenPop:
        try:
            kb = getattr(self.c, "kb", None)
            return self._message(event, body, lambda **kw: run_now(kb.for_call(**kw)) if kb is not None else [])
        except Exception:
            log.exception("screen pop for call %s failed; sending the bare call", event.call_id)
            return _bare(event)

    def _pop_when(self, body: asyncio.Future, event: ev.CallRinging, username: str, read_at: float | None) -> None:
        if body.cancelled() or body.exception() is not None:
            log.error("screen pop lookup for call %s failed; sending the bare call", event.call_id,
                      exc_info=None if body.cancelled() else body.exception())
            message = _bare(event)
        else:
            message = self._now(event, body.result())
        self.chained += 1
        self._send(event, username, read_at, message)

    async def _pop(self, event: ev.CallRinging, username: str, read_at: float | None) -> None:
        try:
            message = await self.build(event)
        except Exception:
            # The database part failed: the agent still sees who is calling.
            log.exception("screen pop lookup for call %s failed; sending the bare call", event.call_id)
            message = _bare(event)
        self._send(event, username, read_at, message)

    def _send(self, event: ev.CallRinging, username: str, read_at: float | None, message: notifier.ScreenPop) -> None:
        transfers = self.c.transfers  # issue 11: what the previous seat handed over
        handoff = transfers.handoff_for(event.call_id, username) if transfers is not None else None
        if handoff is not None:
            message.handoff = notifier.Handoff.model_validate(handoff)
        message.timing = notifier.PopTiming(ami_read_at=read_at, sent_at=time.time())
        if self.c.hub.send(username, message):
            self.sent += 1

    async def build(self, event: ev.CallRinging) -> notifier.ScreenPop:
        body = await self._prefetch(event.call_id, event.caller_number, event.caller_name)
        kb = getattr(self.c, "kb", None)  # issue 14: one indexed query, at most 5, [] on any failure
        suggest = {}
        if kb is not None:
            customer_id = (body["customer"] or body["provisional_customer"] or {}).get("id")
            suggest["kb"] = await kb.for_call(customer_id=customer_id, ivr_path=self._ivr_path(event),
                                              queue=event.queue)
        return self._message(event, body, lambda **kw: suggest.get("kb", []))

    def _ivr_path(self, event) -> list:
        live = self.c.bridge.model.calls.get(event.call_id) if self.c.bridge else None
        return list(live.ivr_path) if live is not None else []

    def _message(self, event: ev.CallRinging, body: dict, suggestions) -> notifier.ScreenPop:
        """The pop from the call's live fields and its database part; ``suggestions(
        customer_id=, ivr_path=, queue=)`` gives the suggested articles."""
        live = self.c.bridge.model.calls.get(event.call_id) if self.c.bridge else None
        waiting_s = None
        ivr_path: list = []
        if live is not None:
            start = live.enqueued_at or live.created_at
            waiting_s = round(max(0.0, time.time() - start), 1)
            ivr_path = list(live.ivr_path)
        customer_id = (body["customer"] or body["provisional_customer"] or {}).get("id")
        kb_suggestions = suggestions(customer_id=customer_id, ivr_path=ivr_path, queue=event.queue)
        return notifier.ScreenPop(
            call=notifier.PopCall(
                id=event.call_id, caller_number=event.caller_number,
                caller_number_normalized=body["normalized"], caller_name=event.caller_name,
                called_number=event.called_number, queue=event.queue, ivr_path=ivr_path,
                waiting_s=waiting_s, ringing_at=event.at),
            customer=body["customer"],
            provisional_customer=body["provisional_customer"],
            history=body["history"],
            open_tickets=body["open_tickets"],
            kb_suggestions=kb_suggestions,
        )

    async def _body(self, call_id: str, number: str | None, name: str | None) -> dict:
        """Who is calling, their last calls and open tickets: once per call."""
        resolution = await self.resolver.resolve(call_id, number, name)
        history = await self.reader.history(customer_id=resolution.customer_id, numbers=resolution.numbers,
                                            exclude_call_id=call_id, limit=self.c.settings.history_limit)
        tickets = []
        if resolution.customer_id is not None:
            tickets = await self.reader.open_tickets(resolution.customer_id)
        return _body_dict(resolution, history, tickets)


def _body_dict(resolution, history: list, tickets: list) -> dict:
    return {
        "normalized": resolution.numbers[0] if resolution.numbers else None,
        "customer": resolution.customer,
        "provisional_customer": resolution.provisional_customer,
        "history": history,
        "open_tickets": tickets,
    }


def _bare(event: ev.CallRinging) -> notifier.ScreenPop:
    """The pop when the database part failed: the agent still sees who is calling."""
    return notifier.ScreenPop(call=notifier.PopCall(
        id=event.call_id, caller_number=event.caller_number, caller_name=event.caller_name,
        called_number=event.called_number, queue=event.queue, ringing_at=event.at),
        lookup_failed=True)
