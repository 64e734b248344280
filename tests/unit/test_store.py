"""Call persistence: idempotent upserts, the crash journal, reconciliation."""
from __future__ import annotations

import functools

import pytest
from sqlalchemy import func, select

from cti import events as ev
from cti.models import CallRecord
from cti.store import CallStore
from ctidesk.db import Base, make_engine, make_sessionmaker
from ctidesk.schema import import_all_models
from customers.phone import normalize
from customers.service import get_or_create_provisional


@pytest.fixture
async def sm(tmp_path):
    import_all_models()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


def make_store(sm, journal=None):
    return CallStore(sm, normalize=functools.partial(normalize, country_code="86"), provisional=get_or_create_provisional,
                     agent_username=lambda agent, iface: agent, journal=journal)


def call_events(cid="100.1", t=1_800_000_000.0):
    return [
        ev.CallCreated(cid, t, "inbound", "PJSIP/trunk-1", None, None, "4000"),
        ev.QueueCallerJoined(cid, t + 1, "support", 1, "0086 138 0013 8000", "Zhang San"),
        ev.CallRinging(cid, t + 2, "alice", "Local/1001@agents/n", "support", "0086 138 0013 8000",
                       "Zhang San", "4000"),
        ev.CallRinging(cid, t + 2.1, "bob", "Local/1002@agents/n", "support", "0086 138 0013 8000",
                       "Zhang San", "4000"),
        ev.CallAnswered(cid, t + 5, "bob", "Local/1002@agents/n", "support", 4),
        ev.CallEnded(cid, t + 65, "answered", "Normal Clearing", "bob", "support"),
    ]


async def rows(sm):
    async with sm() as db:
        return list((await db.execute(select(CallRecord))).scalars())


async def test_one_row_per_call_with_first_and_latest_values(sm):
    store = make_store(sm)
    store.start()
    for e in call_events() + call_events():  # everything twice
        store(e)
    await store.flush()
    await store.stop()
    [row] = await rows(sm)
    assert row.caller_number_raw == "0086 138 0013 8000" and row.caller_number == "+8613800138000"
    assert row.caller_kind == "mobile" and row.caller_name == "Zhang San"
    assert row.ringing_at.timestamp() == 1_800_000_002.0  # the first agent's ring, not the second
    assert (row.agent_username, row.outcome, row.hold_time_s) == ("bob", "answered", 4)
    assert (row.ended_at - row.answered_at).total_seconds() == 60


async def test_journal_replays_what_a_crash_left_unwritten(sm, tmp_path):
    journal = tmp_path / "calls.journal"
    crashed = make_store(sm, journal)
    crashed.open_journal()
    for e in call_events("200.1"):
        crashed(e)  # journalled, but the writer never ran: the process "died" here
    assert await rows(sm) == []
    journal.write_bytes(journal.read_bytes() + b'{"type": "call_ended", "call_id": "200.1", "at"')  # torn line
    revived = make_store(sm, journal)
    assert revived.start() == len(call_events())
    await revived.flush()
    [row] = await rows(sm)
    assert row.call_id == "200.1" and row.outcome == "answered" and row.answered_at is not None
    assert journal.read_bytes() == b""  # truncated once everything is committed
    await revived.stop()


async def test_reconcile_closes_rows_asterisk_no_longer_has(sm):
    store = make_store(sm)
    store.start()
    for e in call_events("300.1")[:5] + call_events("300.2")[:3] + call_events("300.3")[:3]:
        store(e)  # 300.1 answered, 300.2 ringing; neither ended
    closed = await store.reconcile_open_calls(live_ids={"300.3"})
    await store.stop()
    assert closed == 2
    by_id = {r.call_id: r for r in await rows(sm)}
    assert by_id["300.1"].outcome == "answered" and by_id["300.1"].ended_at is not None
    assert by_id["300.2"].outcome == "lost" and "away" in by_id["300.2"].cause
    assert by_id["300.3"].ended_at is None  # still up in Asterisk: left alone
    async with sm() as db:
        assert (await db.execute(select(func.count()).select_from(CallRecord))).scalar() == 3


async def test_a_row_first_seen_after_its_start_gets_the_column_defaults(sm):
    """A call the writer first hears of by a later event (a restart mid-call, then the
    answer): direction and created_at take their defaults, and a later call_created
    does not overwrite the first values stored; the upsert is one Core executemany."""
    store = make_store(sm)
    store.start()
    t = 1_800_000_000.0
    store(ev.CallAnswered("200.1", t + 5, "bob", "Local/1002@agents/n", None, 0))
    store(ev.CallAnswered("201.1", t + 6, "bob", "Local/1002@agents/n", None, 0))
    await store.flush()
    store(ev.CallCreated("200.1", t, "outbound", "PJSIP/1002-1", "1002", None, "4000"))
    await store.flush()
    await store.stop()
    by_id = {r.call_id: r for r in await rows(sm)}
    assert by_id["200.1"].direction == "inbound" and by_id["201.1"].direction == "inbound"  # first value kept
    assert by_id["200.1"].created_at.timestamp() == t + 5 and by_id["200.1"].agent == "bob"
    assert by_id["200.1"].called_number == "4000"  # a first column still empty takes the later value
