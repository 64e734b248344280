"""ctidesk.cluster against a real throwaway redis-server (tests/redisserver.py):
the lease (acquire, renew, step down, failover), frame fan-out through the
desk hub and the wallboard feed, and actions forwarded to the leader."""
from __future__ import annotations

import asyncio
import time

import pytest

from agent_desk.hub import AgentHub, Connection
from cti.actions import Actions, AsteriskRefused, PhoneSystemUnavailable
from ctidesk import cluster as cl
from ctidesk.runtime import _feed_key
from supervisor.feed import SupervisorFeed
from tests.redisserver import redis_server
from tests.live import until


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as srv:
        yield srv.url


@pytest.fixture
async def r(redis_url):
    client = cl.connect(redis_url)
    await client.flushall()
    yield client
    await client.aclose()


async def test_one_instance_acquires_the_lease_the_other_cannot(r):
    a = cl.Lease(r, me="a", ttl_s=3)
    b = cl.Lease(r, me="b", ttl_s=3)
    await a.step()
    await b.step()
    assert a.leader and not b.leader
    assert await a.holder() == "a"
    assert 2000 < await r.pttl(cl.LEADER_KEY) <= 3000


async def test_renewal_extends_only_our_own_lease(r):
    a = cl.Lease(r, me="a", ttl_s=3)
    await a.step()
    await r.pexpire(cl.LEADER_KEY, 100)  # nearly expired
    await a.step()  # the leader's turn renews
    assert a.leader and await r.pttl(cl.LEADER_KEY) > 2000
    await r.set(cl.LEADER_KEY, "b", px=3000)  # expired meanwhile and taken by b
    assert await a.renew() is False
    assert await r.get(cl.LEADER_KEY) == "b", "a failed renewal must not touch b's lease"


async def test_a_leader_that_loses_its_lease_steps_down_at_once(r):
    events = []

    async def elected():
        events.append("elected")

    async def lost():
        events.append("lost")

    a = cl.Lease(r, me="a", ttl_s=3, on_elected=elected, on_lost=lost)
    await a.step()
    await r.set(cl.LEADER_KEY, "b", px=3000)
    await a.step()
    assert not a.leader and events == ["elected", "lost"] and a.step_downs == 1
    await a.step()  # b still holds it: a stays a follower
    assert not a.leader and events == ["elected", "lost"]


async def test_a_leader_that_cannot_reach_redis_steps_down(r, tmp_path):
    events = []

    async def lost():
        events.append("lost")

    a = cl.Lease(r, me="a", ttl_s=3, on_lost=lost)
    await a.step()
    assert a.leader
    gone = cl.connect(f"unix://{tmp_path}/no-redis-here.sock")
    try:
        a.redis, a._renew = gone, gone.register_script(cl._RENEW)  # the network to Redis fails
        await a.step()
        assert not a.leader and events == ["lost"]
    finally:
        await gone.aclose()


async def test_a_failed_start_releases_the_lease_for_another_instance(r):
    async def broken():
        raise OSError("FastAGI port in use")

    a = cl.Lease(r, me="a", ttl_s=3, on_elected=broken)
    await a.step()
    assert not a.leader and await a.holder() is None


async def test_failover_when_the_leader_dies_within_the_ttl(r):
    ttl = 0.6
    a = cl.Lease(r, me="a", ttl_s=ttl)
    b = cl.Lease(r, me="b", ttl_s=ttl)
    await a.step()
    a.start()
    await b.step()
    b.start()
    try:
        await asyncio.sleep(ttl * 2)  # two lease periods: the leader must keep it by renewing
        assert a.leader and not b.leader and await a.holder() == "a"
        a._task.cancel()  # the leader dies: no release, its lease just runs out
        died = time.monotonic()
        await until(lambda: b.leader, "b takes over", timeout=5)
        took = time.monotonic() - died
        assert took < ttl + 2 * b.interval + 0.3, took
        assert await b.holder() == "b"
    finally:
        await b.stop()
        a.leader = False
        await a.stop()
    assert await r.get(cl.LEADER_KEY) is None, "a leader that stops releases the lease"


async def _pair(r, redis_url):
    a = cl.Cluster(r, me="a")
    r2 = cl.connect(redis_url)
    b = cl.Cluster(r2, me="b")
    await a.start()
    await b.start()
    return a, b, r2


async def test_desk_frames_reach_every_instance_exactly_once(r, redis_url):
    a, b, r2 = await _pair(r, redis_url)
    try:
        hubs = {}
        for name, c in (("a", a), ("b", b)):
            hub = hubs[name] = AgentHub()
            hub.publish = (lambda c: lambda user, text: c.publish("desk", user=user, text=text))(c)
            c.handlers["desk"] = (lambda hub: lambda m: hub.deliver(m["user"], m["text"]))(hub)
        on_a, on_b = Connection("alice", "agent"), Connection("alice", "agent")
        hubs["a"].add(on_a)
        hubs["b"].add(on_b)
        assert hubs["a"].is_connected("bob"), "clustered: the agent may be on another instance"
        for n in range(3):
            hubs["a"].send("alice", {"type": "record_state", "call_id": f"c{n}", "state": "recording"})
        await until(lambda: on_b.outbox.qsize() == 3, "the frames reach instance b")
        await until(lambda: a.published == 3, "a published all three")
        got_b = [on_b.outbox.get_nowait() for _ in range(3)]
        assert [f'"call_id":"c{n}"' in t for n, t in enumerate(got_b)] == [True] * 3, "in order"
        assert on_a.outbox.qsize() == 3, "the sender delivers its own once (not again from Redis)"
        assert a.delivered == 0 and b.delivered == 3
        b._deliver('{"kind":"desk","src":"a","seq":2,"user":"alice","text":"x"}')  # a replayed message
        assert b.duplicates == 1 and on_b.outbox.qsize() == 0
    finally:
        await a.stop()
        await b.stop()
        await r2.aclose()


async def test_wallboard_frames_reach_the_other_instance_under_their_key(r, redis_url):
    a, b, r2 = await _pair(r, redis_url)
    try:
        feed_a, feed_b = SupervisorFeed(), SupervisorFeed()
        feed_a.publish = lambda key, text: a.publish("feed", key=key, text=text)
        seen = []
        b.handlers["feed"] = lambda m: seen.append((_feed_key(m["key"]), m["text"]))
        feed_a.offer(("c", "call-1", "call_ended"), {"type": "pong"})
        await until(lambda: seen, "the frame reaches b")
        assert seen == [(("c", "call-1", "call_ended"), '{"type":"pong"}')]
        assert feed_b.publish is None  # a lone feed publishes nothing
    finally:
        await a.stop()
        await b.stop()
        await r2.aclose()


async def test_a_followers_actions_run_on_the_leaders_connection(r, redis_url):
    a, b, r2 = await _pair(r, redis_url)
    a.lease = cl.Lease(r, me="a")
    await a.lease.step()
    ran = []

    async def run_action(action, timeout):
        ran.append(action["Action"])
        if action["Action"] == "QueueAdd":
            return {"Response": "Success", "Message": "Added"}
        from cti.bridge import AMIError

        raise AMIError(f"{action['Action']}: Interface not found")

    a.run_action = run_action
    b.run_action = run_action  # b is no leader: it must not answer
    actions = Actions(lambda: None)
    actions.forward = b.forward
    try:
        assert await actions.send({"Action": "QueueAdd"}) == {"Response": "Success", "Message": "Added"}
        with pytest.raises(AsteriskRefused, match="Interface not found"):
            await actions.send({"Action": "QueueRemove"})
        assert await actions.send({"Action": "QueueRemove"}, ok=("not found",)) is None
        assert ran == ["QueueAdd", "QueueRemove", "QueueRemove"], "run once each, by the leader only"
        await a.lease.step_down("test")
        started = time.monotonic()
        with pytest.raises(PhoneSystemUnavailable, match="no ctidesk instance"):
            await actions.send({"Action": "QueuePause"}, timeout=0.3)
        assert time.monotonic() - started < 3
    finally:
        await a.stop()
        await b.stop()
        await r2.aclose()
