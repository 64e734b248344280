"""The floor as a team lead sees it: one state per agent, live figures per queue.

A bus subscriber (synchronous, never awaits) that listens to the domain events
of ``cti`` and derives:

* **agent state**, per person across all their queues: app_queue reports a
  membership per queue, but an agent on a call in one queue is not free in
  another. Priority: ``on_hold`` > ``on_call`` > ``ringing`` > ``wrap_up`` >
  ``paused`` (with the reason) > ``unavailable`` (phone unreachable) >
  ``available``; no membership at all is ``logged_out``. ``since`` is when the
  derived state last changed (Asterisk's clock), so "paused for 14 min" is
  honest across queue-by-queue pause events.
* **queue figures**: waiting callers and the oldest one's entry time from the
  live model; answered/abandoned/SL/ASA/AHT over a sliding window of ended
  queue entries (``kpi.queue_kpis``, the same formulas as the reports).

Every change becomes a frame (``agent_status_changed``, ``queue_status_changed``,
or the domain event itself for ``call_*``/``queue_caller_*``/``ticket_sla_*``)
handed to ``on_frame(key, frame)``; the feed validates it against its model
(``supervisor.notifier``: times become ISO 8601), serialises it once and
coalesces by key. Each agent
state change and each ended queue entry also goes to ``on_record`` (the
supervisor store) so that reports are computed from stored data.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Callable

from cti.model import device_of
from supervisor.kpi import KpiSums, QueueEntry

log = logging.getLogger(__name__)

PRIORITY = ("on_hold", "on_call", "ringing", "wrap_up", "paused", "unavailable", "available")
# the queue figure each derived agent state counts in (on_hold counts as on a call)
COUNT_KEYS = {"available": "agents_available", "on_call": "agents_on_call", "on_hold": "agents_on_call",
              "paused": "agents_paused", "ringing": "agents_ringing", "wrap_up": "agents_wrap_up"}
COUNTS = ("agents_logged_in", "agents_available", "agents_on_call", "agents_paused", "agents_ringing",
          "agents_wrap_up")
CALL_EVENTS = ("call_created", "call_ringing", "call_answered", "call_ended", "queue_caller_joined",
               "queue_caller_left", "queue_caller_abandoned", "call_ivr_completed",
               "call_handed_over")  # issue 11: a transfer's target has the call (on call), the agent is free


class AgentView:
    __slots__ = ("name", "state", "reason", "since", "queues", "call_id", "device")

    def __init__(self, name: str, device: str | None, at: float) -> None:
        self.name = name
        self.device = device
        self.state = "logged_out"
        self.reason: str | None = None
        self.since = at
        self.queues: tuple[str, ...] = ()
        self.call_id: str | None = None

    def as_dict(self, display: dict | None = None) -> dict:
        info = (display or {}).get(self.name)
        return {"agent": self.name, "display_name": info.display_name if info else self.name,
                "extension": info.extension if info else None, "state": self.state,
                "paused_reason": self.reason, "since": self.since, "queues": list(self.queues),
                "call_id": self.call_id}


class SupervisorLive:
    def __init__(self, *, model, config, directory=None, on_frame: Callable[[tuple, dict], None],
                 on_record: Callable[[str, dict], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.model = model
        self.config = config
        self.directory = directory
        self.on_frame = on_frame
        self.on_record = on_record or (lambda kind, row: None)
        self.clock = clock
        self.agents: dict[str, AgentView] = {}
        self.wrap_until: dict[str, float] = {}  # agent -> end of after-call work
        self.window: deque[QueueEntry] = deque()  # ended queue entries, oldest first
        self.window_sums: dict[str, KpiSums] = {}  # per queue, over the window
        self.entries: dict[str, dict] = {}  # call_id -> {queue, entered_at, answered_at, agent}
        self.queue_names: set[str] = set()
        self.spy_calls: dict[str, dict] = {}  # supervisor's call_id -> monitoring session
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._last_queue: dict[str, dict] = {}
        # call_id -> agents whose view may depend on that call (its phone rang, it was
        # answered or handed over, or the view shows it): refreshed when it ends, so an
        # ended call costs O(its agents), not O(every agent on the floor) (issue 15)
        self.call_agents: dict[str, set[str]] = {}
        # agents whose view says ringing: a phone can stop ringing with no domain event
        # (DialEnd NOANSWER, AgentRingNoAnswer); as before, the end of any call re-derives them
        self.ringing: set[str] = set()
        # queue -> the agent counts of queue_stats, kept as views change (O(1) per stats)
        self.queue_counts: dict[str, dict[str, int]] = {}

    # -- bus subscriber ----------------------------------------------------

    def __call__(self, event) -> None:
        t = event.type
        if t in CALL_EVENTS:
            self.on_frame(("c", event.call_id, t), event.to_dict())  # the cause first, then what it changed
            self._on_call_event(event)
        elif t == "agent_status_changed":
            self.queue_names.add(event.queue)
            name = self._agent_name(event.agent, event.interface)
            if name:
                self.refresh_agent(name, at=event.at)
            self._queue_changed(event.queue)
        elif t.startswith("ticket_sla_"):
            self.on_frame(("t", getattr(event, "ticket_id", None), t), event.to_dict())

    def _agent_name(self, agent: str | None, interface: str | None) -> str | None:
        if self.directory is not None:
            name = self.directory.username_for(agent, interface)
            if name:
                return name
        if agent:
            return agent
        if interface:
            return self.model.agent_devices.get(device_of(interface))
        return None

    def _on_call_event(self, e) -> None:
        t = e.type
        touched: set[str] = set()
        queue = getattr(e, "queue", None)
        if t == "queue_caller_joined":
            self.entries[e.call_id] = {"queue": e.queue, "entered_at": e.at, "answered_at": None, "agent": None}
            self.queue_names.add(e.queue)
        elif t == "call_ringing":
            name = self._agent_name(e.agent, e.interface)
            if name:
                touched.add(name)
                self.call_agents.setdefault(e.call_id, set()).add(name)
        elif t == "call_answered":
            name = self._agent_name(e.agent, e.interface)
            entry = self.entries.get(e.call_id)
            if entry is not None:
                entry["answered_at"] = e.at
                entry["agent"] = name
                queue = entry["queue"]
            call = self.model.calls.get(e.call_id)
            # every agent whose phone rang for this call stops ringing
            for device, agent in (call.ringing.items() if call else ()):
                n = self._agent_name(agent, device)
                if n:
                    touched.add(n)
            if name:
                touched.add(name)
        elif t == "call_handed_over":
            for name in (self._agent_name(e.agent, e.interface), self._agent_name(e.from_agent, None)):
                if name:
                    touched.add(name)
        elif t == "call_ended":
            entry = self.entries.pop(e.call_id, None)
            if entry is not None:
                self._entry_ended(e.call_id, entry, e)
                queue = entry["queue"]
            name = self._agent_name(e.agent, None)
            if name:
                touched.add(name)
                wrap = self.config.wrapup_s(queue) if e.outcome == "answered" and queue else 0
                if wrap > 0:
                    self.wrap_until[name] = e.at + wrap
                    self._schedule(name, wrap)
            # every agent whose phone rang for it or whose view shows it, and every ringing agent
            touched.update(self.call_agents.pop(e.call_id, ()))
            touched.update(self.ringing)
            spy = self.spy_calls.pop(e.call_id, None)
            if spy is not None and spy.get("on_end"):
                spy["on_end"](spy)
        if t in ("call_answered", "call_handed_over") and touched:
            self.call_agents.setdefault(e.call_id, set()).update(touched)
        for name in touched:
            self.refresh_agent(name, at=e.at)
        if t == "call_ended":
            self.call_agents.pop(e.call_id, None)  # refreshing may have re-added it
        if queue:
            self._queue_changed(queue)

    def _entry_ended(self, call_id: str, entry: dict, e) -> None:
        entered = entry["entered_at"]
        answered = entry["answered_at"]
        if answered is not None:
            outcome, wait, talk = "answered", max(0.0, answered - entered), max(0.0, e.at - answered)
        else:
            outcome = "abandoned" if e.outcome in ("abandoned", "lost") else "other"
            wait, talk = max(0.0, e.at - entered), 0.0
        qe = QueueEntry(entry["queue"], entered, outcome, wait, talk)
        self.window.append(qe)
        self._sums(qe.queue).add(qe)
        self.on_record("queue_call", {"call_id": call_id, "queue": entry["queue"], "entered_at": entered,
                                      "answered_at": answered, "left_at": e.at, "outcome": outcome,
                                      "wait_s": round(wait, 3), "talk_s": round(talk, 3),
                                      "agent_username": entry["agent"]})

    def _schedule(self, name: str, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = loop.call_later(delay + 0.05, self._wrap_over, name)

    def _wrap_over(self, name: str) -> None:
        self._timers.pop(name, None)
        self.refresh_agent(name, at=self.clock())
        for q in self.agents[name].queues if name in self.agents else ():
            self._queue_changed(q)

    # -- derivation --------------------------------------------------------

    def derive(self, name: str, now: float | None = None) -> tuple[str, str | None, tuple[str, ...], str | None]:
        """(state, paused reason, queues, current call) of one agent, across queues."""
        now = self.clock() if now is None else now
        members = self.model.members_named(name)
        devices = {device_of(m.interface) for m in members}
        info = self.directory.by_username.get(name) if self.directory is not None else None
        if info is not None:
            devices.add(device_of(info.interface))
        states = {m.state for m in members}
        call_id = None
        answered = ringing = False
        for call in self.model.calls_of_devices(devices):  # the calls of these phones, in model order
            if call.answered_at is not None and call.interface and device_of(call.interface) in devices:
                answered = True
                call_id = call.id
            elif call.answered_at is None and any(d in devices for d in call.ringing):
                ringing = True
                call_id = call_id or call.id
        if answered:
            states.add("on_call")
        elif ringing:
            # A Local phone's device state says "in use" while it rings: the calls know better.
            states.difference_update(("on_call", "on_hold"))
            states.add("ringing")
        if "on_hold" in states and "on_call" not in states:
            states.discard("on_hold")  # a Local phone reports hold only while on a call
        if "on_call" not in states and "on_hold" in states:
            states.add("on_call")
        if self.wrap_until.get(name, 0) > now and "on_call" not in states and "ringing" not in states:
            states.add("wrap_up")
        queues = tuple(sorted(m.queue for m in members))
        if not members and not ({"on_call", "ringing", "on_hold"} & states):
            return "logged_out", None, (), None
        if members and all(m.paused for m in members):
            states.add("paused")
        else:
            states.discard("paused")
        state = next((s for s in PRIORITY if s in states), "available")
        reason = None
        if state == "paused":
            reason = next((m.paused_reason for m in members if m.paused and m.paused_reason), None)
        return state, reason, queues, call_id

    def refresh_agent(self, name: str, *, at: float | None = None) -> None:
        at = self.clock() if at is None else at
        view = self.agents.get(name)
        if view is None:
            info = self.directory.by_username.get(name) if self.directory is not None else None
            view = self.agents[name] = AgentView(name, device_of(info.interface) if info else None, at)
        state, reason, queues, call_id = self.derive(name, at)
        changed = (state, reason) != (view.state, view.reason)
        if not changed and queues == view.queues and call_id == view.call_id:
            return
        if changed:
            view.since = at
            self.on_record("agent_state", {"username": name, "at": at, "state": state, "reason": reason,
                                           "queues": ",".join(queues)})
        old_queues = set(view.queues)
        if call_id is not None and call_id != view.call_id:
            self.call_agents.setdefault(call_id, set()).add(name)
        if state != view.state or queues != view.queues:
            self._count(view, -1)
            view.state, view.queues = state, queues
            self._count(view, +1)
            if state == "ringing":
                self.ringing.add(name)
            else:
                self.ringing.discard(name)
        view.state, view.reason, view.queues, view.call_id = state, reason, queues, call_id
        self.on_frame(("a", name), {"type": "agent_status_changed", "at": at,
                                    "agent": view.as_dict(self._display())})
        for q in old_queues.union(queues):
            self._queue_changed(q)

    def _count(self, view: AgentView, sign: int) -> None:
        """Add (``+1``) or take away (``-1``) ``view`` from its queues' agent counts."""
        key = COUNT_KEYS.get(view.state)
        for q in view.queues:
            counts = self.queue_counts.get(q)
            if counts is None:
                counts = self.queue_counts[q] = dict.fromkeys(COUNTS, 0)
            counts["agents_logged_in"] += sign
            if key:
                counts[key] += sign

    def _display(self) -> dict:
        return self.directory.by_username if self.directory is not None else {}

    # -- queues ------------------------------------------------------------

    def preload(self, entries: list[QueueEntry]) -> None:
        """Stored entries (oldest first) from before this process started, ahead of live ones."""
        live = list(self.window)
        self.window.clear()
        self.window_sums.clear()
        for qe in list(entries) + live:
            self.window.append(qe)
            self._sums(qe.queue).add(qe)
        self._prune(self.clock())
        for queue in {e.queue for e in entries}:
            self._queue_changed(queue)

    def _sums(self, queue: str) -> KpiSums:
        sums = self.window_sums.get(queue)
        if sums is None:
            sums = self.window_sums[queue] = KpiSums(service_level_s=self.config.service_level_s,
                                                     short_abandon_s=self.config.short_abandon_s)
        return sums

    def _prune(self, now: float) -> None:
        """Drop entries older than the window; running sums keep each queue's figures O(1)."""
        horizon = now - self.config.window_s
        while self.window and self.window[0].entered_at < horizon:
            old = self.window.popleft()
            self._sums(old.queue).remove(old)

    def queue_stats(self, queue: str, now: float | None = None) -> dict:
        now = self.clock() if now is None else now
        self._prune(now)
        waiting = self.model.queue_waiting.get(queue, {})
        oldest = min(waiting.values()) if waiting else None
        counts = self.queue_counts.get(queue) or dict.fromkeys(COUNTS, 0)
        k = self._sums(queue).result(self.config.wrapup_s(queue))
        return {"queue": queue, "waiting": len(waiting), "oldest_entered_at": oldest,
                "longest_wait_s": round(now - oldest, 1) if oldest is not None else 0, **counts,
                "answered": k["answered"], "abandoned": k["abandoned"], "short_abandoned": k["short_abandoned"],
                "service_level_pct": k["service_level_pct"], "abandonment_rate_pct": k["abandonment_rate_pct"],
                "asa_s": k["asa_s"], "aht_s": k["aht_s"], "window_s": self.config.window_s}

    def _queue_changed(self, queue: str | None) -> None:
        if not queue:
            return
        self.queue_names.add(queue)
        stats = self.queue_stats(queue)
        same = {k: v for k, v in stats.items() if k != "longest_wait_s"}  # the page counts the seconds itself
        if self._last_queue.get(queue) == same:
            return
        self._last_queue[queue] = same
        self.on_frame(("q", queue), {"type": "queue_status_changed", "at": self.clock(), "queue": stats})

    # -- snapshot ----------------------------------------------------------

    def all_queues(self) -> list[str]:
        names = set(self.queue_names)
        names.update(q for q, _ in self.model.members)
        names.update(self.model.queue_waiting)
        if self.directory is not None:
            for info in self.directory.by_username.values():
                names.update(info.queues)
        return sorted(n for n in names if n)

    def sync_agents(self) -> None:
        """Make sure every known agent (directory and queue members) has a view."""
        names = {m.name for m in self.model.members.values() if m.name}
        if self.directory is not None:  # supervisors have phones too, but are not on the floor
            names.update(n for n, i in self.directory.by_username.items()
                         if i.queues or i.role in ("agent", "expert"))
        for name in names:
            self.refresh_agent(name)

    def snapshot(self) -> dict:
        """The ``snapshot`` frame, JSON-ready (``supervisor.notifier.Snapshot``: ISO times)."""
        from supervisor.notifier import Snapshot

        now = self.clock()
        self.sync_agents()
        display = self._display()
        return Snapshot.model_validate({
            "type": "snapshot", "at": now,
            "agents": [v.as_dict(display) for _, v in sorted(self.agents.items())],
            "queues": [self.queue_stats(q, now) for q in self.all_queues()],
            "config": self.config.public()}).model_dump(mode="json")
