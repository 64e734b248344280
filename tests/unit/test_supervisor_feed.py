"""Back-pressure of the supervisor feed: coalescing, resync, and the socket end to end."""
from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from supervisor.feed import FeedClient, SupervisorFeed
from tests.factories import PASSWORD
from tests.fakeami import event
from tests.live import app_on_fake_ami


class GatedSocket:
    """A browser that reads only when the test lets it."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.got = asyncio.Event()
        self.blocked = asyncio.Event()

    async def send(self, text: str) -> None:
        if not self.gate.is_set():
            self.blocked.set()  # the writer is now stuck in send, holding this frame
        await self.gate.wait()
        self.sent.extend(json.loads(line) for line in text.split("\n"))  # a batch is JSON lines
        self.got.set()

    async def wait_for(self, pred, timeout=5.0):
        async def _w():
            while not pred(self.sent):
                self.got.clear()
                await self.got.wait()
        await asyncio.wait_for(_w(), timeout)


@pytest.mark.synthetic_frames  # toy frames: the feed's mechanics, not the contract
async def test_slow_client_gets_latest_state_per_key_and_others_are_not_slowed():
    feed = SupervisorFeed()
    slow_sock, fast_sock = GatedSocket(), GatedSocket()
    slow = FeedClient(slow_sock.send, lambda: '{"type": "snapshot"}', limit=100, interval=0)
    fast = FeedClient(fast_sock.send, lambda: '{"type": "snapshot"}', limit=100, interval=0)
    for c in (slow, fast):
        feed.add(c)
    tasks = [asyncio.create_task(c.run()) for c in (slow, fast)]
    await slow_sock.wait_for(lambda s: len(s) == 1)
    slow_sock.gate.clear()  # the slow browser stops reading
    feed.offer(("a", "alice"), {"type": "agent_status_changed", "n": 0})
    await asyncio.wait_for(slow_sock.blocked.wait(), 5)  # the slow writer took frame 0 and is stuck in send
    for n in range(1, 50):
        feed.offer(("a", "alice"), {"type": "agent_status_changed", "n": n})
        feed.offer(("q", "support"), {"type": "queue_status_changed", "n": n})
    await fast_sock.wait_for(lambda s: sum(m.get("n") == 49 for m in s) == 2)
    assert len(slow_sock.sent) == 1  # still stuck: the fast one was not held back
    slow_sock.gate.set()
    await slow_sock.wait_for(lambda s: sum(m.get("n") == 49 for m in s) == 2)
    # the slow one got frame 0 (in flight), then only the latest of each key
    assert [(m["type"], m.get("n")) for m in slow_sock.sent[1:]] == [
        ("agent_status_changed", 0), ("agent_status_changed", 49), ("queue_status_changed", 49)]
    assert slow.coalesced >= 96
    assert slow.batches < slow.sent  # the backlog went out as one message of JSON lines
    for t in tasks:
        t.cancel()


@pytest.mark.synthetic_frames  # toy frames: the feed's mechanics, not the contract
async def test_a_client_that_cannot_keep_up_is_told_and_resynced():
    feed = SupervisorFeed()
    sock = GatedSocket()
    snapshots = iter(range(100))
    client = FeedClient(sock.send, lambda: json.dumps({"type": "snapshot", "n": next(snapshots)}), limit=10,
                        interval=0)
    feed.add(client)
    task = asyncio.create_task(client.run())
    await sock.wait_for(lambda s: len(s) == 1)
    sock.gate.clear()
    for n in range(30):  # 30 distinct calls: nothing to coalesce
        feed.offer(("c", str(n), "call_created"), {"type": "call_created", "call_id": str(n)})
    sock.gate.set()
    await sock.wait_for(lambda s: any(m["type"] == "snapshot" and m["n"] == 1 for m in s))
    kinds = [m["type"] for m in sock.sent]
    resync_at = kinds.index("resync")
    assert kinds[resync_at + 1] == "snapshot" and "fell behind" in sock.sent[resync_at]["reason"]
    assert client.resyncs == 1
    # at most the frame in flight was sent before the resync; the backlog was dropped, not half-delivered
    assert kinds[1:resync_at] in ([], ["call_created"])
    task.cancel()


# -- the socket through the whole app, against the fake AMI ----------------------

@pytest.fixture
async def env(tmp_path):
    async with app_on_fake_ami(tmp_path, [("alice", dict(extension="1001", queues=["support"])),
                                          ("sam", dict(role="supervisor"))]) as (app, fake):
        yield app, fake


async def token(app, username):
    import httpx

    async with httpx.AsyncClient(base_url=app.state.base_url) as http:
        r = await http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        return r.json()["access_token"]


async def recv(ws, type_, timeout=5.0, **match):
    async def _w():
        while True:
            for line in (await ws.recv()).split("\n"):  # a message may carry a batch of frames
                m = json.loads(line)
                if m["type"] == type_ and all(m.get(k) == v for k, v in match.items()):
                    return m
    return await asyncio.wait_for(_w(), timeout)


async def test_supervisor_socket_snapshot_then_transitions_in_order(env):
    app, fake = env
    url = app.state.base_url.replace("http", "ws") + "/ws/supervisor?token="
    agent_token = await token(app, "alice")
    async with websockets.connect(url + agent_token) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4403  # an agent may not watch the floor
    async with websockets.connect(url + "nonsense") as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4401
    async with websockets.connect(url + await token(app, "sam")) as ws:
        snap = await recv(ws, "snapshot")
        assert snap["agents"] == [] or all(a["state"] == "logged_out" for a in snap["agents"])
        iface = dict(Queue="support", Interface="Local/1001@agents/n", MemberName="alice")
        seen = []
        for block in (event("QueueMemberAdded", Status="1", Paused="0", **iface),
                      event("QueueMemberPause", Status="1", Paused="1", PausedReason="meal", **iface),
                      event("QueueMemberRemoved", **iface)):
            await fake.push(block)  # one at a time: pushed together they may coalesce (latest wins)
            m = await recv(ws, "agent_status_changed")
            seen.append((m["agent"]["agent"], m["agent"]["state"], m["agent"]["paused_reason"]))
        assert seen == [("alice", "available", None), ("alice", "paused", "meal"), ("alice", "logged_out", None)]
        await ws.send("resync")
        snap = await recv(ws, "snapshot")
        assert [(a["agent"], a["state"]) for a in snap["agents"]] == [("alice", "logged_out")]


async def test_agent_control_is_role_checked_validated_and_audited(env):
    import httpx
    from sqlalchemy import select

    from accounts.models import AuditLog

    app, fake = env
    await fake.push(event("QueueMemberAdded", Queue="support", Interface="Local/1001@agents/n", MemberName="alice",
                          Status="1", Paused="0"))
    model = app.state.container.bridge.model
    for _ in range(100):
        if model.members:
            break
        await asyncio.sleep(0.02)  # the event crosses a real socket
    base = app.state.base_url
    async with httpx.AsyncClient(base_url=base) as http:
        agent = {"Authorization": f"Bearer {await token(app, 'alice')}"}
        sam = {"Authorization": f"Bearer {await token(app, 'sam')}"}
        r = await http.post("/api/v1/supervisor/agents/alice/pause", json={"reason": "meal"}, headers=agent)
        assert r.status_code == 403
        r = await http.post("/api/v1/supervisor/agents/alice/pause", json={"reason": "nap"}, headers=sam)
        assert r.status_code == 422 and "unknown pause reason" in r.text
        r = await http.post("/api/v1/supervisor/agents/nobody/pause", json={"reason": "meal"}, headers=sam)
        assert r.status_code == 404
        r = await http.post("/api/v1/supervisor/agents/alice/pause", json={"reason": "meal", "queue": "sales"},
                            headers=sam)
        assert r.status_code == 409 and "not logged in to queue 'sales'" in r.text
        r = await http.post("/api/v1/supervisor/agents/alice/pause", json={"reason": "meal"}, headers=sam)
        assert r.status_code == 200, r.text
        r = await http.post("/api/v1/supervisor/agents/alice/unpause", json={}, headers=sam)
        assert r.status_code == 200 and r.json()["queues"] == ["support"], r.text
        r = await http.post("/api/v1/supervisor/agents/alice/unpause", headers=sam)  # no body: every queue
        assert r.status_code == 200, r.text
        r = await http.post("/api/v1/supervisor/agents/alice/logout", json={"queue": "support"}, headers=sam)
        assert r.status_code == 200, r.text
        r = await http.post("/api/v1/supervisor/monitor", json={"agent": "alice", "mode": "listen"}, headers=sam)
        assert r.status_code == 409 and "no phone extension" in r.text
    pause = [a for a in fake.actions if a.get("Action") == "QueuePause"]
    assert [(a["Queue"], a["Interface"], a["Paused"], a.get("Reason")) for a in pause] == [
        ("support", "Local/1001@agents/n", "true", "meal"), ("support", "Local/1001@agents/n", "false", None),
        ("support", "Local/1001@agents/n", "false", None)]
    assert [a["Queue"] for a in fake.actions if a.get("Action") == "QueueRemove"] == ["support"]
    async with app.state.container.sessionmaker() as db:
        rows = (await db.execute(select(AuditLog.actor, AuditLog.action, AuditLog.target)
                                 .where(AuditLog.action.startswith("supervisor.")))).all()
    assert rows == [("sam", "supervisor.agent_pause", "alice"), ("sam", "supervisor.agent_unpause", "alice"),
                    ("sam", "supervisor.agent_unpause", "alice"), ("sam", "supervisor.agent_queue_logout", "alice")]


@pytest.mark.synthetic_frames  # toy frames: the feed's mechanics, not the contract
async def test_sockets_that_keep_up_send_one_shared_text_per_batch():
    """Issue 15: a frame costs the bus O(1) whatever the number of sockets; each batch is
    joined once and every socket that keeps up sends that same string."""
    feed = SupervisorFeed()
    socks = [GatedSocket() for _ in range(3)]
    raw: list[list[str]] = [[] for _ in socks]

    def sender(i):
        async def send(text):
            raw[i].append(text)
            await socks[i].send(text)
        return send
    clients = [FeedClient(sender(i), lambda: '{"type": "snapshot"}', interval=0) for i in range(3)]
    for c in clients:
        feed.add(c)
    tasks = [asyncio.create_task(c.run()) for c in clients]
    for s in socks:
        await s.wait_for(lambda m: len(m) == 1)
    for n in range(3):
        feed.offer(("a", "alice"), {"type": "agent_status_changed", "n": n})
    feed.offer(("q", "support"), {"type": "queue_status_changed", "n": 0})
    for s in socks:
        await s.wait_for(lambda m: m[-1].get("type") == "queue_status_changed")
    texts = [r[-1] for r in raw]
    assert texts[0] is texts[1] is texts[2]  # joined once, sent by all three
    assert [json.loads(line)["n"] for line in texts[0].split("\n")] == [2, 0]
    assert all(c.coalesced == 2 and c.sent == 2 for c in clients)
    assert len(feed.sealed) <= 1  # sent by everyone: nothing kept but the last batch
    for t in tasks:
        t.cancel()


@pytest.mark.synthetic_frames  # toy frames: the feed's mechanics, not the contract
async def test_a_socket_stuck_for_too_many_batches_is_resynced_and_the_backlog_not_kept():
    feed = SupervisorFeed(max_lag=4)
    stuck_sock, fast_sock = GatedSocket(), GatedSocket()
    snapshots = iter(range(100))
    stuck = FeedClient(stuck_sock.send, lambda: json.dumps({"type": "snapshot", "n": next(snapshots)}),
                       interval=0)
    fast = FeedClient(fast_sock.send, lambda: '{"type": "snapshot"}', interval=0)
    for c in (stuck, fast):
        feed.add(c)
    tasks = [asyncio.create_task(c.run()) for c in (stuck, fast)]
    await stuck_sock.wait_for(lambda m: len(m) == 1)
    await fast_sock.wait_for(lambda m: len(m) == 1)
    stuck_sock.gate.clear()
    for n in range(10):  # ten batches: the fast socket takes each before the next frame
        feed.offer(("c", str(n), "call_created"), {"type": "call_created", "call_id": str(n)})
        await fast_sock.wait_for(lambda m, n=n: m[-1].get("call_id") == str(n))
        assert len(feed.sealed) <= feed.max_lag + 1  # never more kept for the stuck one
    stuck_sock.gate.set()
    await stuck_sock.wait_for(lambda m: any(f["type"] == "snapshot" and f.get("n") == 1 for f in m))
    kinds = [f["type"] for f in stuck_sock.sent]
    assert "resync" in kinds and kinds[kinds.index("resync") + 1] == "snapshot"
    assert stuck.resyncs == 1 and fast.resyncs == 0
    for t in tasks:
        t.cancel()
