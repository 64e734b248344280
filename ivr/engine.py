"""The menu engine: walks a :class:`ivr.config.Menu` for one call.

It knows nothing about sockets or databases. It talks to the call through a
:class:`Channel` (play a prompt, wait for a key, record, set a variable; the
FastAGI session in production, a scripted fake in unit tests) and to the rest
of ctidesk through :class:`Services` (prompt file names, text to speech,
lookups, voicemail). That keeps every rule here testable without Asterisk
and keeps the per-step overhead to a few dictionary look-ups.

Every node visited adds a step to the call's IVR path: ``node``, ``type``,
``digits`` keyed (or None), ``outcome`` and ``at`` (epoch seconds). A caller
who hangs up raises :class:`CallerHungUp` from the channel; the engine adds a
``hangup`` step naming the node they were in and re-raises, so "where they
were" is always the last step.

Outcomes of an input node: ``route`` (a valid choice), ``invalid`` (a key not
in the menu, ``*``/``#`` where not expected), ``timeout`` (nothing keyed).
Invalid and timeout each replay the node up to ``retries`` times (playing the
policy's prompt first), then go to the policy's ``then`` node; a node without
a policy uses ``ivr.fallback`` after 2 invalid tries / 1 timeout replay.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from ivr.config import Menu, Node, OnFail

log = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"


class CallerHungUp(Exception):
    """The caller hung up (or Asterisk dropped the AGI session)."""


class Channel(Protocol):
    async def play(self, sound: str, escape: str) -> str | None: ...  # the key that interrupted it
    async def wait_digit(self, timeout_s: float) -> str | None: ...
    async def record(self, path: str, *, max_s: int, silence_s: int, escape: str) -> str: ...
    async def set_var(self, name: str, value: str) -> None: ...


class Services(Protocol):
    def sound(self, prompt: str, language: str) -> str: ...
    async def say(self, text: str, language: str) -> str | None: ...
    async def lookup(self, what: str, digits: str, session: "Session") -> str | None: ...
    def voicemail_path(self, session: "Session") -> str: ...
    async def leave_voicemail(self, session: "Session", *, intent: str, path: str,
                              started: float, ended: float) -> str | None: ...
    def now(self) -> datetime: ...


@dataclass
class Session:
    """What the IVR knows about one call, carried from node to node."""

    call_id: str | None
    caller_number: str | None = None
    caller_name: str | None = None
    called_number: str | None = None
    uniqueid: str | None = None
    language: str = "en"
    intent: str | None = None
    node: str | None = None  # where the caller is now
    path: list = field(default_factory=list)
    action: str = "queue"  # queue | transfer | hangup
    queue: str | None = None
    priority: int = 0
    transfer_to: str | None = None
    reference: str | None = None  # voicemail ticket number
    closed_by: str | None = None  # the schedule that was closed (the voicemail's callback waits for it)

    def step(self, node: str, type_: str | None, digits: str | None = None, outcome: str | None = None,
             **extra) -> dict:
        item = {"node": node, "type": type_, "digits": digits, "outcome": outcome, "at": round(time.time(), 3)}
        item.update(extra)
        self.path.append(item)
        return item


_DEFAULT_INVALID = 2
_DEFAULT_TIMEOUT = 1


class Engine:
    def __init__(self, menu: Menu, services: Services) -> None:
        self.menu = menu
        self.services = services

    def new_session(self, **kw) -> Session:
        return Session(language=self.menu.default_language, **kw)

    async def run(self, channel: Channel, session: Session) -> Session:
        """Walk the menu from ``ivr.start`` until a node ends it; returns the session
        with ``action``/``queue``/``transfer_to`` set. Raises :class:`CallerHungUp`."""
        menu = self.menu
        name = menu.start
        steps = 0
        try:
            while True:
                steps += 1
                if steps > menu.max_steps:
                    log.warning("IVR call %s passed %d nodes: sent to the fallback", session.call_id, menu.max_steps)
                    session.step(name, "guard", outcome="too_many_steps")
                    name = menu.fallback
                    steps = -1000  # the fallback is terminal; never loop on the guard
                session.node = name
                node = menu.nodes[name]
                nxt = await getattr(self, f"_{node.type}")(channel, session, node)
                if nxt is None:
                    return session
                name = nxt
        except CallerHungUp:
            session.step(session.node or name, None, outcome="hangup")
            raise

    # -- helpers ---------------------------------------------------------------

    async def _play_all(self, channel: Channel, session: Session, prompts, escape: str = "") -> str | None:
        for prompt in prompts:
            key = await channel.play(self.services.sound(prompt, session.language), escape)
            if key:
                return key
        return None

    async def _collect(self, channel: Channel, session: Session, node: Node, lead: str | None) -> str | None:
        """Play the node's prompts (a key interrupts them) and collect up to
        ``max_digits`` keys; the terminator ends early and is not returned.
        None: nothing keyed before the timeout."""
        prompts = ([lead] if lead else []) + list(node.prompts)
        first = await self._play_all(channel, session, prompts, ALL_KEYS)
        if not first:
            first = await channel.wait_digit(node.timeout)
            if not first:
                return None
        buf = first
        while len(buf) < node.max_digits and not (node.terminator and buf.endswith(node.terminator)):
            key = await channel.wait_digit(node.interdigit)
            if not key:
                break
            buf += key
        if node.terminator and buf.endswith(node.terminator) and len(buf) > 1:
            buf = buf[:-1]
        return buf

    def _policy(self, policy: OnFail | None, default_retries: int) -> OnFail:
        return policy or OnFail(default_retries, self.menu.fallback, None)

    async def _input_loop(self, channel: Channel, session: Session, node: Node, accept):
        """Shared by menu and lookup: collect, let ``accept(digits)`` decide
        (returns the next node, or None for invalid), apply the retry policies."""
        invalid = timeouts = 0
        on_invalid = self._policy(node.on_invalid, _DEFAULT_INVALID)
        on_timeout = self._policy(node.on_timeout, _DEFAULT_TIMEOUT)
        lead = None
        while True:
            digits = await self._collect(channel, session, node, lead)
            if digits is None:
                timeouts += 1
                outcome, policy, tries = "timeout", on_timeout, timeouts
            else:
                nxt = await accept(digits)
                if nxt is not None:
                    return nxt
                invalid += 1
                outcome, policy, tries = "invalid", on_invalid, invalid
            if tries > policy.retries:
                session.step(node.name, node.type, digits, outcome, then=policy.then)
                return policy.then
            session.step(node.name, node.type, digits, outcome, retry=tries)
            lead = policy.prompt

    # -- node types --------------------------------------------------------------

    async def _play(self, channel, session, node):
        session.step(node.name, node.type)
        await self._play_all(channel, session, node.prompts)
        return node.next

    async def _hours(self, channel, session, node):
        schedule = self.menu.schedule_for(node.schedule)
        is_open = schedule.is_open(self.services.now()) if schedule else True
        if not is_open:
            session.closed_by = schedule.name
        session.step(node.name, node.type, outcome="open" if is_open else "closed")
        return node.open if is_open else node.closed

    async def _menu(self, channel, session, node):
        async def accept(digits: str):
            choice = node.choices.get(digits)
            if choice is None:
                return None
            extra = {}
            if choice.language:
                session.language = choice.language
                extra["language"] = choice.language
            if choice.intent:
                session.intent = choice.intent
                extra["intent"] = choice.intent
            session.step(node.name, node.type, digits, "route", then=choice.goto, **extra)
            return choice.goto
        return await self._input_loop(channel, session, node, accept)

    async def _lookup(self, channel, session, node):
        async def accept(digits: str):
            if not digits.isdigit():  # '*' or a lone '#': not a number
                return None
            try:
                text = await self.services.lookup(node.lookup, digits, session)
            except CallerHungUp:
                raise
            except Exception:
                log.exception("IVR lookup %s %r failed", node.lookup, digits)
                text = None
            if text is None:
                if node.not_found_prompt:
                    await channel.play(self.services.sound(node.not_found_prompt, session.language), "")
                return None
            session.step(node.name, node.type, digits, "found", lookup=node.lookup)
            sound = await self.services.say(text, session.language)
            if sound:
                await channel.play(sound, "")
            return node.found
        return await self._input_loop(channel, session, node, accept)

    async def _voicemail(self, channel, session, node):
        intent = session.intent or node.intent or next(iter(self.menu.intents))
        session.intent = intent
        await self._play_all(channel, session, node.prompts)
        path = self.services.voicemail_path(session)
        started = time.time()
        hung_up = False
        try:
            outcome = await channel.record(path, max_s=node.max_seconds, silence_s=node.silence_seconds,
                                           escape="#")
        except CallerHungUp:  # hanging up is how many callers end a message
            outcome, hung_up = "hangup", True
        ended = time.time()
        reference = None
        try:
            reference = await self.services.leave_voicemail(session, intent=intent, path=path,
                                                            started=started, ended=ended)
        except Exception:
            log.exception("IVR voicemail of call %s could not be stored", session.call_id)
        session.reference = reference
        session.step(node.name, node.type, None, "recorded" if reference else "not_stored", intent=intent,
                     record=outcome, reference=reference)
        if hung_up:
            raise CallerHungUp("hung up while recording")
        if reference:
            if node.reference_prompt:
                await channel.play(self.services.sound(node.reference_prompt, session.language), "")
            sound = await self.services.say(" ".join(reference), session.language)
            if sound:
                await channel.play(sound, "")
        return node.next

    async def _queue(self, channel, session, node):
        spec = self.menu.queues.get(node.queue)
        if spec and spec.hours:
            schedule = self.menu.schedules.get(spec.hours)
            if schedule and not schedule.is_open(self.services.now()):
                session.closed_by = schedule.name
                session.step(node.name, node.type, outcome="queue_closed", queue=node.queue)
                return spec.closed
        await self._play_all(channel, session, node.prompts)
        session.action, session.queue, session.priority = "queue", node.queue, node.priority
        session.step(node.name, node.type, outcome="queue", queue=node.queue, priority=node.priority,
                     language=session.language)
        return None

    async def _transfer(self, channel, session, node):
        await self._play_all(channel, session, node.prompts)
        session.action, session.transfer_to = "transfer", node.number
        session.step(node.name, node.type, outcome="transfer", number=node.number, language=session.language)
        return None

    async def _hangup(self, channel, session, node):
        session.action = "hangup"
        session.step(node.name, node.type, outcome="hangup_by_ivr")
        await self._play_all(channel, session, node.prompts)
        return None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
