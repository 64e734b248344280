"""Two whole apps (uvicorn on loopback) on one SQLite file and one real
redis-server, against the scriptable fake AMI: the follower holds no AMI
connection, runs its desk's actions on the leader's, and its desk gets the pop
of a call only the leader's bridge read, once."""
from __future__ import annotations

import contextlib

import httpx
import pytest
import websockets

from tests.factories import PASSWORD, database_url, make_user, settings_for
from tests.fakeami import FakeAMI
from tests.live import DeskClient, live_app, push
from tests.redisserver import redis_server
from tests.unit.test_desk_flow import answer_and_hangup, ring
from tests.unit.test_cluster import until
from tests.unit.test_supervisor_feed import recv, token

pytestmark = pytest.mark.sqlite_only  # one shared SQLite file between two apps


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as srv:
        yield srv.url


async def test_a_desk_on_the_follower_gets_the_leaders_pop_once(tmp_path, redis_url):
    fake = await FakeAMI().start()
    shared = database_url(tmp_path)
    common = dict(ami_port=fake.port, ami_secret=fake.secret, agi_port=0, ami_ping_interval=30.0,
                  redis_url=redis_url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        async with contextlib.AsyncExitStack() as stack:
            leader = await stack.enter_async_context(live_app(settings_for(tmp_path / "a", **common).with_(database_url=shared)))
            follower = await stack.enter_async_context(live_app(settings_for(tmp_path / "b", **common).with_(database_url=shared)))
            lc, fc = leader.state.container, follower.state.container
            assert lc.cluster.leader and not fc.cluster.leader
            assert await lc.bridge.wait_ready(5)
            assert fc.bridge is None and fc.agi is None, "one AMI connection and one FastAGI: the leader's"
            async with httpx.AsyncClient() as http:  # a load balancer keeps both: the follower is healthy
                health = [(await http.get(app.state.base_url + "/healthz")).json() for app in (leader, follower)]
            assert [(h["status"], h["ami_connected"], h["cluster"]["role"]) for h in health] == [
                ("ok", True, "leader"), ("ok", False, "follower")]
            async with lc.sessionmaker() as db:
                await make_user(db, "alice", extension="1001", queues=["support"])
                await make_user(db, "sam", role="supervisor")
            assert "alice" not in lc.directory.by_username  # made after start-up
            alice = await DeskClient(follower.state.base_url, "alice", PASSWORD).login(join_queues=True)
            await until(lambda: "alice" in lc.directory.by_username,
                        "the follower's directory refresh reaches the leader")
            adds = [a for a in fake.actions if a.get("Action") == "QueueAdd"]
            assert [(a["MemberName"], a["Queue"]) for a in adds] == [("alice", "support")], \
                "the follower's desk joined the queue through the leader's AMI connection"
            wall = await stack.enter_async_context(websockets.connect(
                follower.state.base_url.replace("http", "ws") + "/ws/supervisor?token=" + await token(follower, "sam")))
            await recv(wall, "snapshot")
            await push(fake, ring("1800000000.7", "+86 138-0013-8000", "Zhang San", [("alice", "1001")]))
            pop = await alice.next_of("screen_pop", timeout=5)
            assert pop["call"]["id"] == "1800000000.7" and pop["call"]["queue"] == "support"
            assert fc.cluster.delivered >= 1 and lc.cluster.published >= 1
            await push(fake, answer_and_hangup("1800000000.7", "+86 138-0013-8000", "Zhang San", "alice", "1001"))
            ended = await alice.next_of("call_ended", timeout=5)
            assert ended["call_id"] == "1800000000.7"
            # frames from one sender arrive in order: a second copy of the pop would be here by now
            assert len(alice.of_type("screen_pop")) == 1 and len(alice.of_type("call_ended")) == 1
            # the wallboard on the follower sees the leader's feed
            assert (await recv(wall, "call_ended", call_id="1800000000.7"))["outcome"] == "answered"
            await alice.close()
    finally:
        await fake.stop()
