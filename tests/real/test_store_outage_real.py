"""The database refuses writes for 30 s in the middle of 50 real calls (issue
12.5): the call writer keeps journalling, retries with backoff, says so on
/healthz, and once the database is back every call is one row."""
from __future__ import annotations

import asyncio
import random
import sqlite3
import time

import pytest

from tests.realenv import call, wait_no_channels

pytestmark = pytest.mark.asterisk

CALLS = 50
OUTAGE_S = 30.0


def number() -> str:
    return "137" + "".join(random.choice("0123456789") for _ in range(8))


async def _health(sam) -> dict:
    return (await sam.get("/healthz")).json()


async def test_database_outage_mid_calls_loses_nothing(server, ami):
    sam = await server.desk("sam", join_queues=False)
    numbers = [number() for _ in range(CALLS)]
    # Nobody is logged in to the queue: each caller waits a moment and hangs up
    # (an abandoned call, one row each). Paced 5 per second.
    for n in numbers[:CALLS // 2]:
        await call(ami, n, hold=3)
        await asyncio.sleep(0.2)  # pacing the arrivals, not synchronisation
    lock = sqlite3.connect(server.state_dir / "real.db", timeout=30, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the database is unwritable from here
    locked_at = time.monotonic()
    try:
        for n in numbers[CALLS // 2:]:
            await call(ami, n, hold=3)
            await asyncio.sleep(0.2)
        degraded = None
        while time.monotonic() - locked_at < OUTAGE_S:
            body = await _health(sam)
            if body.get("storage") == "degraded":
                degraded = body
            await asyncio.sleep(0.5)  # polling /healthz during the outage
        assert degraded is not None, "the outage never showed on /healthz"
        assert degraded["status"] == "degraded"
        assert degraded["writers"]["calls"]["status"] == "degraded"
        assert degraded["writers"]["calls"]["waiting"] > 0
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    await wait_no_channels(ami, timeout=60)
    deadline = time.monotonic() + 60
    rows: list[dict] = []
    while time.monotonic() < deadline:
        r = await sam.get("/api/v1/calls", limit=500)
        assert r.status_code == 200, r.text
        rows = [c for c in r.json()["items"] if (c["caller_number"] or "").lstrip("+") in numbers]
        if len(rows) >= CALLS and all(c["ended_at"] for c in rows) and (await _health(sam))["storage"] == "ok":
            break
        await asyncio.sleep(0.5)  # the writer catches up after the outage
    by_number: dict[str, list] = {}
    for c in rows:
        by_number.setdefault(c["caller_number"], []).append(c["id"])
    assert sorted(by_number) == sorted(numbers), f"missing: {sorted(set(numbers) - set(by_number))}"
    assert all(len(ids) == 1 for ids in by_number.values()), "a call was written twice"
    assert all(c["ended_at"] and c["outcome"] in ("abandoned", "unanswered") for c in rows)
    assert (await _health(sam))["storage"] == "ok"
    assert not (server.state_dir / "calls.journal").read_text(), "the journal is empty once all is committed"
    await sam.close()
