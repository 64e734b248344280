"""The supervisor's view against the real sandbox Asterisk.

Agents log in, calls queue, are answered and abandoned, an agent is paused
from the supervisor API: the supervisor socket sees each transition in order,
and after a reconnect its snapshot matches Asterisk's own QueueStatus. Then
listen / whisper / barge: the supervisor's phone really runs ChanSpy on the
agent's leg of the call, with the mode's options.
"""
from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time

import pytest
import websockets

from cti.oneshot import ami_action_list
from sandbox.runner import set_phone
from tests.realenv import call

pytestmark = pytest.mark.asterisk


def number() -> str:
    return "137" + "".join(random.choice("0123456789") for _ in range(8))


class SupervisorClient:
    def __init__(self, base_url: str, token: str) -> None:
        self.url = base_url.replace("http://", "ws://") + f"/ws/supervisor?token={token}"
        self.received: list[dict] = []
        self.queue: asyncio.Queue = asyncio.Queue()

    async def __aenter__(self):
        self.ws = await websockets.connect(self.url, max_size=None)
        self.task = asyncio.create_task(self._read())
        self.snapshot = await self.next("snapshot")
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()
        await self.task

    async def _read(self):
        try:
            async for text in self.ws:
                for line in text.split("\n"):  # one message may carry a batch of frames (JSON lines)
                    m = json.loads(line)
                    self.received.append(m)
                    self.queue.put_nowait(m)
        except websockets.ConnectionClosed:
            pass

    async def next(self, type_: str, timeout: float = 20.0, pred=lambda m: True) -> dict:
        async def _w():
            while True:
                m = await self.queue.get()
                if m["type"] == type_ and pred(m):
                    return m
        return await asyncio.wait_for(_w(), timeout)

    async def next_each(self, wanted: list[tuple[str, object]], timeout: float = 30.0) -> list[dict]:
        """The first frame matching each ``(type, pred)``, in whatever order they
        come: Asterisk does not order some of them (a ringing phone is hung up
        and its member goes idle before or after QueueCallerAbandon)."""
        found: list[dict | None] = [None] * len(wanted)

        async def _w():
            while None in found:
                m = await self.queue.get()
                for i, (type_, pred) in enumerate(wanted):
                    if found[i] is None and m["type"] == type_ and pred(m):
                        found[i] = m
                        break
            return found
        try:
            return await asyncio.wait_for(_w(), timeout)
        except asyncio.TimeoutError:
            missing = [wanted[i][0] for i, f in enumerate(found) if f is None]
            raise AssertionError(f"no {missing} in {timeout}s; alice went {self.states_of('alice')}") from None

    async def agent_state(self, agent: str, state: str, timeout: float = 20.0) -> dict:
        return await self.next("agent_status_changed", timeout,
                               lambda m: m["agent"]["agent"] == agent and m["agent"]["state"] == state)

    def states_of(self, agent: str) -> list[str]:
        out = []
        for m in self.received:
            if m["type"] == "agent_status_changed" and m["agent"]["agent"] == agent:
                if not out or out[-1] != m["agent"]["state"]:
                    out.append(m["agent"]["state"])
        return out


async def queue_status(ami) -> tuple[dict, dict]:
    rows = await ami_action_list(ami, {"Action": "QueueStatus"}, timeout=10)
    members: dict[str, dict] = {}
    params: dict[str, dict] = {}
    for r in rows:
        if r.get("Event") == "QueueMember":
            members.setdefault(r["Name"], {})[r["Queue"]] = r
        elif r.get("Event") == "QueueParams":
            params[r["Queue"]] = r
    return members, params


STATUS_TO_STATE = {"1": "available", "0": "available", "2": "on_call", "6": "ringing", "8": "on_hold"}


async def test_floor_transitions_in_order_and_snapshot_matches_queuestatus(server, ami):
    await set_phone(ami, "1001", answer_delay=2, talk_time=2)
    sam = await server.desk("sam", join_queues=False)
    async with SupervisorClient(server.base_url, sam.token) as sup:
        assert {a["agent"]: a["state"] for a in sup.snapshot["agents"]} == {
            "alice": "logged_out", "bob": "logged_out", "carol": "logged_out"}
        alice = await server.desk("alice")
        carol = await server.desk("carol")
        await sup.agent_state("alice", "available")
        await sup.agent_state("carol", "available")
        # 1. a call is queued, rings alice, is answered, ends
        await call(ami, number(), name="Answered", hold=12)
        joined = await sup.next("queue_caller_joined")
        await sup.agent_state("alice", "ringing")
        answered = await sup.next("call_answered")
        assert answered["call_id"] == joined["call_id"] and answered["agent"] == "alice"
        await sup.agent_state("alice", "on_call")
        await sup.next("call_ended", pred=lambda m: m["call_id"] == joined["call_id"])
        await sup.agent_state("alice", "available")
        q = await sup.next("queue_status_changed", pred=lambda m: m["queue"]["queue"] == "support"
                           and m["queue"]["answered"] == 1)
        assert q["queue"]["asa_s"] is not None and q["queue"]["asa_s"] >= 1.5  # the phone rang 2 s
        # 2. alice's phone never answers; the caller gives up in the queue
        await set_phone(ami, "1001", answer_delay="never")
        await call(ami, number(), name="Gives Up", hold=9)
        joined2 = await sup.next("queue_caller_joined")
        await sup.agent_state("alice", "ringing")
        await sup.next_each([
            ("queue_caller_abandoned", lambda m: m["call_id"] == joined2["call_id"]),
            ("agent_status_changed", lambda m: m["agent"]["agent"] == "alice" and m["agent"]["state"] == "available"),
        ])
        q = await sup.next("queue_status_changed", pred=lambda m: m["queue"]["queue"] == "support"
                           and m["queue"]["abandoned"] + m["queue"]["short_abandoned"] == 1)
        assert q["queue"]["answered"] == 1 and q["queue"]["waiting"] == 0
        # 3. the supervisor pauses alice with a reason
        r = await sam.post("/api/v1/supervisor/agents/alice/pause", {"reason": "training"})
        assert r.status_code == 200, r.text
        paused = await sup.agent_state("alice", "paused")
        assert paused["agent"]["paused_reason"] == "training"
        assert sup.states_of("alice") == ["available", "ringing", "on_call", "available", "ringing", "available",
                                          "paused"]
        # events arrived in causal order: the caller joined before alice rang, answer before on_call
        kinds = [(m["type"], m.get("agent", {}).get("state") if m["type"] == "agent_status_changed" else None)
                 for m in sup.received]
        assert kinds.index(("queue_caller_joined", None)) < kinds.index(("agent_status_changed", "ringing"))
        assert kinds.index(("call_answered", None)) < kinds.index(("agent_status_changed", "on_call"))
    # 4. reconnect: the new snapshot is what Asterisk itself says
    async with SupervisorClient(server.base_url, sam.token) as sup2:
        members, params = await queue_status(ami)
        snap = {a["agent"]: a for a in sup2.snapshot["agents"]}
        assert set(members) == {"alice", "carol"}
        for name, by_queue in members.items():
            assert sorted(by_queue) == snap[name]["queues"]
            if all(r["Paused"] == "1" for r in by_queue.values()):
                assert snap[name]["state"] == "paused"
                assert {r["PausedReason"] for r in by_queue.values()} == {snap[name]["paused_reason"]}
            else:
                assert {STATUS_TO_STATE[r["Status"]] for r in by_queue.values()} == {snap[name]["state"]}
        assert snap["alice"]["state"] == "paused" and snap["carol"]["state"] == "available"
        assert snap["bob"]["state"] == "logged_out" and "bob" not in members
        queues = {q["queue"]: q for q in sup2.snapshot["queues"]}
        for name, p in params.items():
            if name in queues:
                assert queues[name]["waiting"] == int(p["Calls"]), name
                assert queues[name]["agents_logged_in"] == sum(1 for m in members.values() if name in m)
        assert queues["support"]["agents_paused"] == 1 and queues["sales"]["agents_available"] == 1
    # the reports see the same day from stored data
    deadline = time.monotonic() + 15
    while True:
        rep = (await sam.get("/api/v1/reports/queues")).json()
        rows = {r[0]: dict(zip(rep["tables"]["by_queue"]["columns"], r)) for r in rep["tables"]["by_queue"]["rows"]}
        if rows.get("support", {}).get("offered") == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)  # the store writes in batches: poll under a deadline
    assert rows["support"]["answered"] == 1
    assert rows["support"]["abandoned"] + rows["support"]["short_abandoned"] == 1
    await set_phone(ami, "1001", reset=True)
    for c in (alice, carol):
        await c.close(leave_queues=True)
    await sam.close()


async def spy_channels(ami) -> list[dict]:
    rows = await ami_action_list(ami, {"Action": "CoreShowChannels"}, timeout=10)
    return [r for r in rows if r.get("Event") == "CoreShowChannel"]


async def wait_spy(ami, mode_opts: str, target: str, timeout: float = 15) -> tuple[dict, list[dict]]:
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = await spy_channels(ami)
        for r in rows:
            if r.get("Application") == "ChanSpy" and r.get("ApplicationData") == f"{target},{mode_opts}":
                return r, rows
        await asyncio.sleep(0.3)  # polling Asterisk under a deadline
    raise AssertionError(f"no ChanSpy({target},{mode_opts}) channel: {[(r.get('Channel'), r.get('Application'), r.get('ApplicationData')) for r in rows]}")


async def test_listen_whisper_barge_spy_on_the_agents_leg(server, ami):
    await set_phone(ami, "1001", answer_delay=1, talk_time=12)
    await set_phone(ami, "1009", answer_delay=1, talk_time=9)  # the supervisor's phone
    alice = await server.desk("alice")
    sam = await server.desk("sam", join_queues=False)
    r = await sam.post("/api/v1/supervisor/monitor", {"agent": "alice", "mode": "listen"})
    assert r.status_code == 409 and "not on a call" in r.text
    await call(ami, number(), name="Coached", hold=40)
    await alice.next_of("call_answered", timeout=25)
    seen = {}
    for mode, opts in (("whisper", "qwE"), ("barge", "qBE"), ("listen", "qE")):
        r = await sam.post("/api/v1/supervisor/monitor", {"agent": "alice", "mode": mode})
        assert r.status_code == 202, r.text
        body = r.json()
        target = body["channel"]
        spy, rows = await wait_spy(ami, opts, target)
        seen[mode] = spy
        # the spied channel is alice's ;1 leg, bridged with the caller (not the phone's own ;2 half)
        agent_leg = next(x for x in rows if x["Channel"] == target)
        assert target.startswith("Local/1001@agents-") and target.endswith(";1")
        assert agent_leg["BridgeId"], "the agent's leg is in the caller's bridge"
        bridged = [x for x in rows if x.get("BridgeId") == agent_leg["BridgeId"] and x["Channel"] != target]
        assert bridged, "someone (the caller's leg) shares the agent's bridge"
        assert spy["Channel"].startswith("Local/1009@agents-"), spy  # the supervisor's own phone
        notice = await alice.next_of("monitoring_started", timeout=10)
        assert notice["mode"] == mode
    assert len({s["Channel"] for s in seen.values()}) == 3
    with sqlite3.connect(server.state_dir / "real.db") as db:
        audited = db.execute("SELECT actor, action, target FROM audit_log WHERE action LIKE 'supervisor.%'").fetchall()
    assert sorted(audited) == [("sam", f"supervisor.monitor_{m}", "alice") for m in ("barge", "listen", "whisper")]
    await alice.next_of("call_ended", timeout=40)
    # the supervisor's phone hangs up (ChanSpy's E ends it with the agent's leg at the latest): the desk is told
    deadline = time.monotonic() + 10
    while len(alice.of_type("monitoring_stopped")) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # waiting for the last notices under a deadline
    assert sorted(m["mode"] for m in alice.of_type("monitoring_stopped")) == ["barge", "listen", "whisper"]
    await alice.close(leave_queues=True)
    await sam.close()
