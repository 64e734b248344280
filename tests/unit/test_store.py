"""Call persistence: idempotent upserts, the crash journal, reconciliation."""
from __future__ import annotations

import asyncio
import functools

import pytest
from sqlalchemy import func, select

from cti import events as ev
from cti.models import CallRecord
from cti.store import CallStore
from ctidesk.db import Base, make_engine, make_sessionmaker
from ctidesk.schema import import_all_models
from customers.phone import normalize
from customers.service import get_or_create_provisional, get_or_create_provisional_now
from tests.factories import database_url


@pytest.fixture
async def sm(tmp_path):
    import_all_models()
    engine = make_engine(database_url(tmp_path, "s"))  # SQLite, or PostgreSQL in that tier
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


def make_store(sm, journal=None, reader=None):
    return CallStore(sm, normalize=functools.partial(normalize, country_code="86"), provisional=get_or_create_provisional,
                     provisional_now=get_or_create_provisional_now,
                     agent_username=lambda agent, iface: agent, journal=journal, reader=reader)


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


async def _customers(sm):
    from customers.models import Customer, CustomerPhone

    async with sm() as db:
        return (await db.execute(select(Customer.id, Customer.provisional, Customer.source_call_id,
                                        CustomerPhone.normalized)
                                 .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
                                 .order_by(Customer.id))).all()


@pytest.mark.parametrize("direct", [pytest.param(True, marks=pytest.mark.sqlite_only), False],
                         ids=["sqlite-thread", "call-writer"])
async def test_one_provisional_record_per_unknown_number_and_the_rows_point_at_it(sm, direct):
    """Issue 15: the pop asks for the record synchronously and gets a future. On an
    SQLite file it is written in one trip to the store's own thread (else by the call
    writer, ahead of its batch). Two calls at once from one unknown number, and a
    third after: one record, every call row points at it, a second ask for a call
    gives the same future."""
    from agent_desk.lookup import OrmPopReader

    store = make_store(sm, reader=OrmPopReader(sm, "86"))
    if not direct and store._fast is not None:
        store._fast.close()
        store._fast = None
    assert (store._fast is not None) is direct
    store.start()
    t = 1_800_000_000.0
    asked = []
    for cid in ("400.1", "400.2"):
        store(ev.CallCreated(cid, t, "inbound", "PJSIP/trunk-1", "021-5555-0123", "<b>Wang</b>", "4000"))
        asked.append(store.create_provisional(cid, "021-5555-0123", "<b>Wang</b>"))
    assert store.create_provisional("400.1", "021-5555-0123", None) is asked[0]
    first, second = await asyncio.gather(*asked)
    assert first == second
    await store.flush()
    store(ev.CallCreated("400.3", t + 9, "inbound", "PJSIP/trunk-1", "+86 21 5555 0123", None, "4000"))
    third = await store.create_provisional("400.3", "+86 21 5555 0123", None)
    await store.flush()
    await store.stop()
    assert third == first
    assert await _customers(sm) == [(first, True, "400.1", "+862155550123")]
    assert {r.call_id: r.customer_id for r in await rows(sm)} == {"400.1": first, "400.2": first, "400.3": first}


@pytest.mark.sqlite_only  # with no reader, only SQLite's direct write finds the number's record
async def test_a_provisional_record_whose_call_was_journalled_but_not_written_is_made_on_replay(sm, tmp_path):
    """A crash after the call was journalled and before any record was made: the replay
    makes the record (once), and a later call from the number finds it."""
    journal = tmp_path / "calls.journal"
    crashed = make_store(sm, journal)
    crashed.open_journal()
    crashed(ev.CallCreated("500.1", 1_800_000_000.0, "inbound", "PJSIP/trunk-1", "13900000001", None, "4000"))
    revived = make_store(sm, journal)
    assert revived.start() == 1
    await revived.flush()
    [(cid, provisional, source, number)] = await _customers(sm)
    assert (provisional, source, number) == (True, "500.1", "+8613900000001")
    assert await revived.create_provisional("500.2", "139 0000 0001", None) == cid
    await revived.stop()
    assert len(await _customers(sm)) == 1


@pytest.mark.sqlite_only  # the direct write is SQLite's
async def test_a_failing_direct_write_falls_back_to_the_call_writer(sm, caplog):
    """Nothing is lost when the thread's write fails (here: its function raises): the
    call writer makes the record, once, and the call row points at it."""
    store = make_store(sm)

    def broken(conn, **kw):
        raise RuntimeError("disk on fire")

    store._fast.make = broken
    store.start()
    store(ev.CallCreated("600.1", 1_800_000_000.0, "inbound", "PJSIP/trunk-1", "13900000002", None, "4000"))
    cid = await store.create_provisional("600.1", "13900000002", None)
    await store.flush()
    await store.stop()
    assert "direct write failed" in caplog.text
    assert await _customers(sm) == [(cid, True, "600.1", "+8613900000002")]
    assert [r.customer_id for r in await rows(sm)] == [cid]
