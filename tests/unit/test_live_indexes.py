"""The live model's indexes (issue 15) give the same answers as scanning everything.

Agent state used to be derived by scanning every call in progress and every
queue membership, for each event; an ended call refreshed every ringing agent
on the floor; queue figures counted every agent view. Now the model keeps
device -> calls and name/interface -> memberships, the supervisor keeps
call -> agents and per-queue counts. These tests replay random AMI streams
into two copies side by side, one of them the old scanning code (kept here as
the reference), and check after every event that both agree.
"""
from __future__ import annotations

import random

import pytest

from agent_desk.state import PRIORITY as DESK_PRIORITY, agent_state
from cti.model import LiveModel, device_of
from supervisor.config import SupervisorConfig
from supervisor.live import PRIORITY, SupervisorLive

AGENTS = [f"10{i:02d}" for i in range(1, 7)]
QUEUES = ["q1", "q2"]


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


class ScanningLive(SupervisorLive):
    """The supervisor's derivation as it was: scans of every membership, call and view."""

    def derive(self, name, now=None):
        now = self.clock() if now is None else now
        members = [m for m in self.model.members.values() if (m.name or "") == name]
        devices = {device_of(m.interface) for m in members}
        states = {m.state for m in members}
        call_id = None
        answered = ringing = False
        for call in self.model.calls.values():
            if call.answered_at is not None and call.interface and device_of(call.interface) in devices:
                answered = True
                call_id = call.id
            elif call.answered_at is None and any(d in devices for d in call.ringing):
                ringing = True
                call_id = call_id or call.id
        if answered:
            states.add("on_call")
        elif ringing:
            states.difference_update(("on_call", "on_hold"))
            states.add("ringing")
        if "on_hold" in states and "on_call" not in states:
            states.discard("on_hold")
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

    def _on_call_event(self, e) -> None:
        super()._on_call_event(e)
        if e.type == "call_ended":  # the old rule: every ringing agent, every view showing the call
            for view in list(self.agents.values()):
                if view.call_id == e.call_id or view.state == "ringing":
                    self.refresh_agent(view.name, at=e.at)

    def counts(self, queue):
        counts = dict.fromkeys(("agents_logged_in", "agents_available", "agents_on_call", "agents_paused",
                                "agents_ringing", "agents_wrap_up"), 0)
        for view in self.agents.values():
            if queue not in view.queues:
                continue
            counts["agents_logged_in"] += 1
            key = {"available": "agents_available", "on_call": "agents_on_call", "on_hold": "agents_on_call",
                   "paused": "agents_paused", "ringing": "agents_ringing", "wrap_up": "agents_wrap_up"}.get(view.state)
            if key:
                counts[key] += 1
        return counts


def scanning_desk_state(model, interface):
    members = [m for (queue, iface), m in model.members.items() if iface == interface]
    if not members:
        return {"type": "agent_state", "state": "logged_out", "queues": [], "paused_reason": None}
    states = {m.state for m in members}
    device = device_of(interface)
    if any(device in c.ringing and c.answered_at is None for c in model.calls.values()):
        states.add("ringing")
    state = next((s for s in DESK_PRIORITY if s in states), "available")
    reason = next((m.paused_reason for m in members if m.paused and m.paused_reason), None)
    return {"type": "agent_state", "state": state, "queues": sorted(m.queue for m in members),
            "paused_reason": reason if state == "paused" else None}


def pair(cls, clock):
    holder = {}
    model = LiveModel(lambda e: holder["live"](e), clock=clock,
                      agent_devices={f"Local/{a}@agents": f"Agent {a}" for a in AGENTS})
    live = cls(model=model, config=SupervisorConfig(), on_frame=lambda k, f: None, clock=clock)
    holder["live"] = live
    return model, live


class Stream:
    """Random but plausible AMI: memberships, direct and queue calls, rings, answers, hang-ups."""

    def __init__(self, seed: int, clock: Clock) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        self.n = 0
        self.calls: list[str] = []

    def _ts(self) -> str:
        self.clock.t += self.rng.choice((0.0, 0.2, 1.0))
        return f"{self.clock.t:.6f}"

    def next(self) -> tuple[str, dict]:
        r, ts = self.rng, self._ts()
        agent = r.choice(AGENTS)
        iface = f"Local/{agent}@agents/n"
        kind = r.choice(["member", "member", "call", "call", "ring", "ring", "qring", "answer", "qanswer",
                         "noanswer", "hangup", "hangup"])
        if kind == "member":
            what = r.choice(["QueueMemberAdded", "QueueMemberStatus", "QueueMemberPause", "QueueMemberRemoved"])
            return what, {"Queue": r.choice(QUEUES), "Interface": iface, "MemberName": f"Agent {agent}",
                          "Status": r.choice("125678"), "Paused": r.choice("001"),
                          "PausedReason": r.choice(["", "meal", "training"]), "Timestamp": ts}
        if kind == "call" or not self.calls:
            self.n += 1
            cid = f"17000000{self.n:02d}.1"
            self.calls.append(cid)
            return "Newchannel", {"Channel": f"PJSIP/trunk-{self.n:08x}", "Uniqueid": cid, "Linkedid": cid,
                                  "CallerIDNum": f"1390000{self.n:04d}", "Exten": "4000", "Timestamp": ts}
        cid = r.choice(self.calls)
        dest = f"Local/{agent}@agents-{r.randrange(1 << 16):08x};1"
        if kind == "ring":
            return "DialBegin", {"DestChannel": dest, "Linkedid": cid, "Uniqueid": cid, "Timestamp": ts}
        if kind == "qring":
            return "AgentCalled", {"Uniqueid": cid, "Linkedid": cid, "Interface": iface, "Queue": r.choice(QUEUES),
                                   "MemberName": f"Agent {agent}", "Timestamp": ts}
        if kind in ("answer", "noanswer"):
            return "DialEnd", {"DestChannel": dest, "Linkedid": cid, "Uniqueid": cid, "Timestamp": ts,
                               "DialStatus": "ANSWER" if kind == "answer" else "NOANSWER"}
        if kind == "qanswer":
            return "AgentConnect", {"Uniqueid": cid, "Linkedid": cid, "Interface": iface, "Queue": r.choice(QUEUES),
                                    "MemberName": f"Agent {agent}", "HoldTime": "3", "Timestamp": ts}
        self.calls.remove(cid)
        return "Hangup", {"Uniqueid": cid, "Linkedid": cid, "Cause-txt": "Normal Clearing", "Timestamp": ts}


@pytest.mark.parametrize("seed", range(12))
def test_indexed_derivation_matches_the_scans(seed):
    clock = Clock()
    new_model, new = pair(SupervisorLive, clock)
    old_model, old = pair(ScanningLive, clock)
    stream = Stream(seed, clock)
    for step in range(400):
        name, fields = stream.next()
        new_model.handle(name, dict(fields))
        old_model.handle(name, dict(fields))
        for agent in AGENTS:
            who = f"Agent {agent}"
            assert new.derive(who) == old.derive(who), (step, name, who)
            a, b = new.agents.get(who), old.agents.get(who)
            assert (a and (a.state, a.reason, a.queues, a.call_id)) == (b and (b.state, b.reason, b.queues, b.call_id)), \
                (step, name, who)
            info = type("Info", (), {"interface": f"Local/{agent}@agents/n"})()
            assert agent_state(new_model, info) == scanning_desk_state(old_model, info.interface), (step, who)
            assert new_model.member_queues(info.interface) == old_model.member_queues(info.interface)
        for q in QUEUES:
            stats = new.queue_stats(q)
            assert {k: stats[k] for k in old.counts(q)} == old.counts(q), (step, name, q)
    # nothing stays indexed for calls that ended
    live = set(new_model.calls)
    assert all(set(calls) <= live for calls in new_model.device_calls.values())
    assert set(new.call_agents) <= live


def test_indexes_empty_after_every_call_ends_and_members_leave():
    clock = Clock()
    model, live = pair(SupervisorLive, clock)
    stream = Stream(99, clock)
    for _ in range(300):
        model.handle(*stream.next())
    for cid in list(model.calls):
        model.handle("Hangup", {"Uniqueid": cid, "Linkedid": cid})
    for queue, iface in list(model.members):
        model.handle("QueueMemberRemoved", {"Queue": queue, "Interface": iface})
    assert model.calls == {} and model.device_calls == {}
    assert model.members_by_name == {} and model.members_by_interface == {}
    assert live.call_agents == {}
    assert all(n == 0 for counts in live.queue_counts.values() for n in counts.values())
