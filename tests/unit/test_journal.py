"""The one journalled writer (calls, supervisor records): nothing dropped, the
journal never truncated over records that are not committed, a database
outage retried with backoff and reported."""
from __future__ import annotations

import asyncio
import functools
import json

from sqlalchemy import func, select

from cti import events as ev
from cti.models import CallRecord
from cti.store import CallStore
from ctidesk.journal import JournalledWriter, records_of
from customers.phone import normalize
from customers.service import get_or_create_provisional, get_or_create_provisional_now
from tests.unit.test_store import sm  # noqa: F401  (the fixture: a migrated SQLite file)
from tests.live import until


class Flaky(JournalledWriter):
    """Writes into a list; fails while ``down`` is set, and says when it tried."""

    name = "flaky"

    def __init__(self, **kw) -> None:
        super().__init__(min_backoff=0.01, max_backoff=0.05, **kw)
        self.rows: list = []
        self.down = False
        self.attempted = asyncio.Event()

    async def write(self, items):
        records, _ = records_of(items)
        self.attempted.set()
        if self.down:
            raise RuntimeError("database is locked")
        self.rows.extend(records)
        return len(records)


def in_outage(journal, records: int) -> Flaky:
    """A started writer whose database is down, ``records`` appended (``{"n": 0}``, ``{"n": 1}``, ...)."""
    w = Flaky(journal=journal)
    w.start()
    w.down = True
    for i in range(records):
        w.append({"n": i})
    return w


async def test_outage_keeps_journalling_and_loses_nothing(tmp_path):
    journal = tmp_path / "w.journal"
    w = in_outage(journal, 5)
    await w.attempted.wait()
    await until(lambda: w.failures >= 3)
    health = w.health()
    assert health["status"] == "degraded" and health["waiting"] == 5 and "locked" in health["last_error"]
    for i in range(5, 8):  # the bus goes on during the outage
        w.append({"n": i})
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert [x["n"] for x in lines] == list(range(8)), "every record stays journalled while the database is down"
    w.down = False
    await w.flush()
    assert [r["n"] for r in w.rows] == list(range(8))  # in order, once each
    assert journal.read_text() == ""  # truncated only now: all committed
    assert w.health()["status"] == "ok" and w.health()["waiting"] == 0
    await w.stop()


async def test_journal_is_not_truncated_while_a_later_record_waits(tmp_path):
    """A batch commits while another record is still queued behind it: the file keeps both."""
    journal = tmp_path / "w.journal"
    w = Flaky(journal=journal, batch=1)
    gate = asyncio.Event()
    original = w.write

    async def slow(items):
        await gate.wait()
        return await original(items)

    w.write = slow
    w.start()
    w.append({"n": 1})
    w.append({"n": 2})
    gate.set()
    await until(lambda: len(w.rows) == 2)
    await w.flush()
    assert journal.read_text() == ""
    await w.stop()


async def test_replay_after_a_crash_mid_outage(tmp_path):
    journal = tmp_path / "w.journal"
    first = in_outage(journal, 3)
    await until(lambda: first.failures >= 1)
    first._task.cancel()  # the process dies during the outage
    revived = Flaky(journal=journal)
    assert revived.start() == 3
    await revived.flush()
    assert [r["n"] for r in revived.rows] == [0, 1, 2]
    await revived.stop()


async def test_call_store_survives_a_database_outage(sm, tmp_path):  # noqa: F811 (sm: the fixture)
    """The old call writer retried once, then dropped the batch and truncated the
    journal over it. Now: the database refuses writes for a while, every call
    lands once."""
    broken = {"on": True}

    def sessionmaker():
        if broken["on"]:
            raise OSError("database unavailable")
        return sm()

    journal = tmp_path / "calls.journal"
    store = CallStore(sessionmaker, normalize=functools.partial(normalize, country_code="86"), provisional=get_or_create_provisional,
                     provisional_now=get_or_create_provisional_now,
                      agent_username=lambda a, i: a, journal=journal)
    store.min_backoff, store.max_backoff = 0.01, 0.05
    store.start()
    for n in range(10):
        cid = f"500.{n}"
        store(ev.CallCreated(cid, 1_800_000_000.0 + n, "inbound", "PJSIP/carrier-1", "13800138000", None, "4000"))
        store(ev.CallEnded(cid, 1_800_000_030.0 + n, "abandoned", None, None, "support"))
    await until(lambda: store.failures >= 3)
    assert store.health()["status"] == "degraded"
    assert len(journal.read_text().splitlines()) == 20
    broken["on"] = False
    await store.flush()
    async with sm() as db:
        assert (await db.execute(select(func.count()).select_from(CallRecord))).scalar() == 10
        assert (await db.execute(select(func.count()).select_from(CallRecord)
                                 .where(CallRecord.outcome == "abandoned"))).scalar() == 10
    assert journal.read_text() == "" and store.health()["status"] == "ok"
    await store.stop()
