"""Two ``ctidesk serve`` instances on one database and one Redis, one sandbox
Asterisk (issue 13): the desk signed in on the follower gets the pop of a call
the leader's AMI bridge read; the leader is SIGKILLed mid-call, the follower
takes over within seconds, the next call pops, and every call is one row."""
from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from sandbox.runner import set_phone
from tests.realenv import ROOT, Server, _prepare, _template_db, call, remove_all_members, until, wait_no_channels
from tests.redisserver import redis_server

pytestmark = pytest.mark.asterisk

TTL_S = 2.0


def number() -> str:
    return "136" + "".join(random.choice("0123456789") for _ in range(8))


async def start_follower(srv: Server, timeout: float = 30) -> None:
    """``ctidesk serve`` that does not lead: up once /healthz answers (its AMI is the leader's)."""
    srv.proc = subprocess.Popen([sys.executable, "-m", "ctidesk.cli", "serve"], cwd=ROOT, env=srv.env,
                                stdout=open(srv.log, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise RuntimeError(f"ctidesk serve exited with {srv.proc.returncode}: {srv.tail()}")
        try:
            await srv.health()
            return
        except httpx.HTTPError:
            await asyncio.sleep(0.2)  # polling /healthz under a deadline
    raise TimeoutError(f"the follower did not serve in {timeout}s: {srv.tail()}")


async def test_follower_pops_and_takes_over_when_the_leader_dies(ami, tmp_path):
    await _prepare(ami)
    shared = tmp_path / "db"
    shared.mkdir()
    shutil.copyfile(_template_db(ami), shared / "real.db")
    key = secrets.token_hex(32)  # one signing key: a token works on every instance
    with redis_server() as redis:
        leader, follower = Server(ami, tmp_path / "a"), Server(ami, tmp_path / "b")
        for srv in (leader, follower):
            srv.state_dir.mkdir()
            srv.env.update(CTIDESK_DATABASE_URL=f"sqlite+aiosqlite:///{shared}/real.db",
                           CTIDESK_REDIS_URL=redis.url, CTIDESK_SECRET_KEY=key,
                           CTIDESK_CLUSTER_LEASE_TTL_S=str(TTL_S))
        try:
            await leader.start()  # leads: its AMI is connected
            await start_follower(follower)
            assert (await follower.health())["ami_connected"] is False, "one AMI connection, the leader's"
            await set_phone(ami, "1001", answer_delay=1, talk_time=12)
            await set_phone(ami, "1002", answer_delay=3, talk_time=2)
            # both sign in on the follower; joining the queue is an AMI action the leader runs
            alice = await follower.desk("alice")
            bob = await follower.desk("bob")
            sam = await follower.desk("sam", join_queues=False)
            first, second = number(), number()
            await call(ami, first, name="First", hold=30)
            pop1 = await alice.next_of("screen_pop", timeout=20)
            assert pop1["call"]["caller_number"] == first and pop1["call"]["queue"] == "support"
            assert (await alice.next_of("call_answered", timeout=20))["agent"] == "alice"
            assert len(alice.of_type("screen_pop")) == 1, "popped once, not once per instance"

            leader.kill()  # SIGKILL mid-call: no lease release, no shutdown code
            killed = time.monotonic()
            await until(lambda: _ami_connected(follower), "the follower takes over AMI", timeout=15)
            took = time.monotonic() - killed
            assert took < TTL_S + 5, f"failover took {took:.1f}s"

            await call(ami, second, name="Second", hold=20)
            pop2 = await bob.next_of("screen_pop", timeout=20, )
            while pop2["call"]["caller_number"] != second:  # bob rang for the first call too
                pop2 = await bob.next_of("screen_pop", timeout=20)
            assert pop2["call"]["id"] != pop1["call"]["id"]

            await wait_no_channels(ami, timeout=40)

            async def both_rows():
                r = await sam.get("/api/v1/calls", limit=200)
                assert r.status_code == 200, r.text
                rows = [c for c in r.json()["items"] if (c["caller_number"] or "").lstrip("+") in (first, second)]
                return rows if len(rows) >= 2 and all(c["ended_at"] for c in rows) else None

            rows = await until(both_rows, "both calls stored and ended", timeout=20)
            assert sorted(c["caller_number"].lstrip("+") for c in rows) == sorted([first, second]), \
                "every call is one row (none written twice, none lost)"
            by_number = {c["caller_number"].lstrip("+"): c for c in rows}
            assert by_number[first]["outcome"] == "answered", \
                f"the call in progress at the kill was completed by the new leader: {by_number[first]}"
            assert by_number[second]["agent"] == "bob" and by_number[second]["outcome"] == "answered"

            # What the dead leader had journalled but not committed (who answered, say) is
            # written when it comes back (as a follower now): nothing lost, still one row.
            await start_follower(leader)

            async def first_complete():
                r = await sam.get(f"/api/v1/calls/{by_number[first]['id']}")
                row = r.json() if r.status_code == 200 else {}
                return row if row.get("agent") == "alice" else None

            row = await until(first_complete, "the dead leader's journal replayed", timeout=20)
            assert row["ended_at"] and row["outcome"] == "answered", row
            assert (await leader.health())["ami_connected"] is False, "it came back as a follower"
            for client in (alice, bob):
                await client.close(leave_queues=True)
            await sam.close()
            print(f"failover took {took:.1f}s")
        finally:
            for srv in (leader, follower):
                srv.stop()
            with contextlib.suppress(Exception):  # cleanup must not hide the failure above
                await remove_all_members(ami)


async def _ami_connected(srv: Server) -> bool:
    try:
        return bool((await srv.health()).get("ami_connected"))
    except httpx.HTTPError:
        return False
