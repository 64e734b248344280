"""Persists calls from domain events, idempotently and off the AMI hot path.

The bus subscriber only appends to a queue; one writer task drains it in
batches, one transaction per batch, in event order. Every event becomes an
upsert on ``calls.call_id`` (the Linkedid): "first" columns (created, ring and
answer times, the caller) keep the first value ever written, "latest" columns
(outcome, end, agent) take the newest. So a replayed or duplicated event
rewrites the same values into the same row and never creates a second one.

A crash of our own process or a database outage must not lose what we
already knew: the journal, the retries with backoff and the replay at start
are :class:`ctidesk.journal.JournalledWriter`'s (shared with the supervisor's
report records); upserts are idempotent, so replaying an event already
written is harmless. What happened while we were
down is repaired by ``reconcile_open_calls`` after the next resync: rows still
open whose call Asterisk no longer has are closed as ``answered`` or ``lost``,
and calls still up are re-adopted by the model's resync.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import create_engine, event, func, select, update

from cti import events as ev
from cti.models import CallRecord
from ctidesk.db import utcnow
from ctidesk.journal import JournalledWriter, is_record, value as record_value

log = logging.getLogger(__name__)

FIRST = ("created_at", "enqueued_at", "ringing_at", "answered_at", "direction", "channel",
         "caller_number_raw", "caller_number", "caller_kind", "caller_name", "called_number",
         "customer_id", "hold_time_s")
LATEST = ("queue", "agent", "agent_username", "interface", "ended_at", "outcome", "cause",
          "ivr_path")


def _ts(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, tz=timezone.utc)


class _Reconcile:
    __slots__ = ("live_ids", "done")

    def __init__(self, live_ids: set[str], done: asyncio.Future) -> None:
        self.live_ids = live_ids
        self.done = done


class _Provisional:
    __slots__ = ("call_id", "number", "name", "done", "then")

    def __init__(self, call_id: str, number: str, name: str | None, done: asyncio.Future) -> None:
        self.call_id, self.number, self.name, self.done = call_id, number, name, done
        self.then: list[Callable] = []

    def settle(self, customer_id: int | None) -> None:
        """Tell the waiters: ``then`` callbacks at once, in this callback (each hop
        through a loop busy with a burst of rings cost tens of ms), then the future."""
        for fn in self.then:
            try:
                fn(customer_id)
            except Exception:
                log.exception("provisional record for call %s: a waiter failed", self.call_id)
        self.then.clear()
        if not self.done.done():
            self.done.set_result(customer_id)


class _SqliteProvisionals:
    """Provisional records written in one trip to a thread of their own, on a plain
    (synchronous) connection to the same SQLite file: ``BEGIN IMMEDIATE``, the
    look-ups and inserts, ``COMMIT``, about a millisecond and no trip through the
    event loop in between. The async path took one loop iteration per statement;
    in a burst of rings each one cost tens of ms (issue 15).

    SQLite lets one writer in at a time: if another connection (the call writer,
    the supervisor's, a request) holds the lock, this one waits for it in its thread,
    never on the loop, trying again every half millisecond: SQLite's own busy
    handler sleeps 1, 2, 5 ... up to 100 ms between tries, and under load those
    sleeps were most of the record's latency."""

    RETRY_S = 0.0005
    PATIENCE_S = 30.0

    def __init__(self, path: str, make: Callable) -> None:
        self.make = make
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # our own BEGIN IMMEDIATE: the write lock before the look-ups
            for pragma in ("busy_timeout=0", "foreign_keys=ON", "synchronous=NORMAL"):
                dbapi_conn.execute(f"PRAGMA {pragma}")

        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provisional")

    def write(self, call_id: str, number: str, name: str | None, country_code: str) -> int:
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            give_up = time.monotonic() + self.PATIENCE_S
            while True:
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:  # another connection writes: try again shortly
                    if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > give_up:
                        raise
                    time.sleep(self.RETRY_S)
            try:
                cid = self.make(conn, number_raw=number, caller_name=name, call_id=call_id,
                                country_code=country_code)
                raw.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise
            return cid

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.engine.dispose()


def _sqlite_file(sessionmaker) -> str | None:
    """The database file behind an async sessionmaker, if it is an SQLite file."""
    bind = getattr(sessionmaker, "kw", {}).get("bind")
    url = getattr(bind, "url", None)
    if url is None or not url.get_backend_name() == "sqlite":
        return None
    database = url.database
    return database if database and database != ":memory:" and not database.startswith("file:") else None


class _Link:
    """A call's customer, known after its row may have been written (ordered work)."""

    __slots__ = ("call_id", "customer_id")

    def __init__(self, call_id: str, customer_id: int | None) -> None:
        self.call_id, self.customer_id = call_id, customer_id


class _RolledBack(Exception):
    """The session was rolled back under us (a concurrent writer won a provisional
    record's race): what this transaction flushed before is gone, so the whole write
    is retried (every step is idempotent) rather than settling ids that were undone."""


class CallStore(JournalledWriter):
    """The call writer (a :class:`ctidesk.journal.JournalledWriter`): journal,
    queue, batched idempotent upserts, never a dropped event."""

    name = "calls"

    def __init__(self, sessionmaker, *, normalize: Callable, agent_username: Callable[[str | None, str | None], str | None],
                 reader=None, country_code: str = "86", provisional: Callable | None = None,
                 provisional_now: Callable | None = None,
                 journal: str | os.PathLike | None = None, batch: int = 200, linger: float = 0.05) -> None:
        """``provisional(db=, number_raw=, caller_name=, call_id=, country_code=)``
        makes (idempotently) the provisional customer of an unknown caller: the
        composition root passes ``customers.service.get_or_create_provisional``
        (cti does not import customers, which imports cti's call records), and
        ``provisional_now``, its synchronous variant on a plain SQLite connection
        (``get_or_create_provisional_now``), which an SQLite file writes from the
        store's own thread at once instead of behind the next batch.

        ``linger``: seconds a batch waits for more events before it is written. No pop
        waits for a call row (provisional records have their own write), and with
        calls arriving one by one each event was its own transaction: a session, an
        upsert and a commit per event were a fifth of the bridge's CPU per call
        (issue 15). The journal holds the events meanwhile."""
        super().__init__(journal=journal, batch=batch)
        self.linger = linger
        self.provisional = provisional
        self.sessionmaker = sessionmaker
        self.reader = reader  # agent_desk.lookup reader: matches numbers to customers
        self.country_code = country_code
        self.normalize = normalize
        self.agent_username = agent_username
        self._urgent: list[_Provisional] = []
        self._asked: dict[str, _Provisional] = {}  # call_id -> its provisional record, being written
        self._fast: _SqliteProvisionals | None = None
        path = _sqlite_file(sessionmaker)
        if path is not None and provisional_now is not None:
            self._fast = _SqliteProvisionals(path, provisional_now)
        self._customers: dict[str, int | None] = {}  # call_id -> customer, while the call lasts
        self._inbound: dict[str, bool] = {}

    PERSISTED = (ev.CallCreated, ev.CallUpdated, ev.CallRinging, ev.CallAnswered, ev.CallEnded,
                 ev.QueueCallerJoined, ev.QueueCallerAbandoned, ev.CallIvrCompleted)

    # bus subscriber: must not block
    def __call__(self, event) -> None:
        if isinstance(event, self.PERSISTED):
            self.append(event)

    def encode(self, event) -> dict:
        return event.to_dict()

    def decode(self, d: dict):
        cls = ev.EVENT_TYPES[d.pop("type")]
        if cls.__dataclass_fields__.get("call_id") is None:
            d.pop("call_id", None)
        if "ivr_path" in d:
            d["ivr_path"] = tuple(d["ivr_path"])
        return cls(**d)

    def create_provisional(self, call_id: str, number: str, name: str | None, *,
                           then: Callable[[int | None], None] | None = None) -> asyncio.Future:
        """The provisional customer's id for an unknown caller, made by this single
        writer (so no second connection fights for SQLite's lock), once per call and
        once per number.

        Asked for synchronously (from the bus callback that saw the call) and awaited
        by the pop; the future is settled when the record's own short transaction
        commits (issue 15: written inside the call writer's batch, an unknown caller's
        pop waited for every row in it, p99 ~0.5 s). On an SQLite file that
        transaction runs in one trip to the store's thread (``_SqliteProvisionals``);
        otherwise, or if that fails, the call writer runs it ahead of its next batch.
        Rows of the call written meanwhile get the id by a ``_Link``. ``then(id)`` is
        called as soon as the record is committed, before the future's callbacks."""
        asked = self._asked.get(call_id)
        if asked is not None:
            if then is not None:
                asked.then.append(then)
            return asked.done
        done = asyncio.get_running_loop().create_future()
        asked = self._asked[call_id] = _Provisional(call_id, number, name, done)
        if then is not None:
            asked.then.append(then)
        if self._fast is not None:
            self._write_fast(asked)
        else:
            # An agent is looking at a ringing phone: this goes ahead of queued events.
            self._urgent.append(asked)
            self.enqueue(None)  # wakes the writer
        return done

    def _write_fast(self, asked: _Provisional) -> None:
        loop = asyncio.get_running_loop()
        job = self._fast.thread.submit(self._fast.write, asked.call_id, asked.number, asked.name,
                                       self.country_code)

        def written(job) -> None:
            if job.cancelled() or job.exception() is not None:
                # Not lost: the call writer's own transaction makes it.
                log.warning("provisional record for call %s: the direct write failed (%s); the call writer "
                            "makes it", asked.call_id,
                            "cancelled" if job.cancelled() else job.exception())
                self._urgent.append(asked)
                self.enqueue(None)
                return
            self._asked.pop(asked.call_id, None)
            self._linked(asked.call_id, job.result())
            asked.settle(job.result())

        # Straight back onto the loop (one hop; an asyncio future of the job would add one per waiter).
        job.add_done_callback(lambda job: loop.call_soon_threadsafe(written, job))

    async def stop(self, timeout: float = 10.0) -> None:
        await super().stop(timeout)
        if self._fast is not None:
            self._fast.close()

    async def reconcile_open_calls(self, live_ids: set[str]) -> int:
        """Close rows left open by a crash or an outage; ordered after queued events."""
        done = asyncio.get_running_loop().create_future()
        self.enqueue(_Reconcile(set(live_ids), done))
        return await done

    # -- writer ------------------------------------------------------------

    def prepare(self, items: list) -> list:
        """Provisional customers first (a ringing agent waits for them); drop wake-ups."""
        items = self._urgent + [i for i in items if i is not None]
        self._urgent = []
        return items

    async def write(self, items: list) -> int:
        """Provisional customers in their own short transaction first, then one
        transaction for the batch; events of one call are merged into one upsert."""
        if self.linger > 0 and not self._urgent and len(items) < self.batch:
            await asyncio.sleep(self.linger)  # let the events of the next moments join this batch
            while len(items) < self.batch and not self.queue.empty():
                item = self.queue.get_nowait()
                if item is not None:
                    items.append(item)  # in place: a retry of this batch writes them too
            items.extend(self._urgent)  # asked for meanwhile (their wake-ups were taken above)
            self._urgent = []
        asked = [i for i in items if isinstance(i, _Provisional)]
        if asked:
            await self._write_provisionals(asked)
            items = [i for i in items if not isinstance(i, _Provisional)]
        pending: dict[str, dict] = {}
        made: dict[str, int] = {}  # number -> provisional record made in this transaction
        records = 0
        settled: list[tuple[asyncio.Future, object]] = []
        async with self.sessionmaker() as db:
            insert = _dialect_insert(db.bind.dialect.name)

            async def flush_rows():
                if pending:
                    await db.execute(_upsert_many(insert), [_full_row(row) for row in pending.values()])
                pending.clear()

            for item in items:
                if is_record(item):
                    records += 1
                    item = record_value(item)
                if isinstance(item, _Reconcile):
                    await flush_rows()
                    settled.append((item.done, await self._reconcile(db, item.live_ids)))
                elif isinstance(item, _Link):
                    row = {"call_id": item.call_id, "updated_at": utcnow(), "customer_id": item.customer_id}
                    old = pending.get(item.call_id)
                    pending[item.call_id] = row if old is None else _merge(old, row)
                else:
                    row = self._row(item)
                    if row.get("caller_number"):
                        known = self._customers.get(item.call_id)
                        if known is None and item.call_id not in self._customers and item.call_id not in self._asked:
                            # (a record being written for the call: its _Link follows, no second one)
                            known = await self._customer(db, item.call_id, row, made)
                        row["customer_id"] = known
                    old = pending.get(item.call_id)
                    pending[item.call_id] = row if old is None else _merge(old, row)
                    if item.type == "call_ended":
                        self._customers.pop(item.call_id, None)
                        self._inbound.pop(item.call_id, None)
            await flush_rows()
            await db.commit()
        for fut, result in settled:
            if not fut.done():
                fut.set_result(result)
        return records

    async def _write_provisionals(self, asked: list[_Provisional]) -> None:
        """One short transaction for the provisional records asked for since the last
        batch; their futures are settled as soon as it commits."""
        made: dict[str, int] = {}
        async with self.sessionmaker() as db:
            ids = [await self._provisional(db, p.call_id, p.number, p.name, made) for p in asked]
            await db.commit()
        for p, cid in zip(asked, ids):
            self._asked.pop(p.call_id, None)
            self._linked(p.call_id, cid)
            p.settle(cid)

    def _linked(self, call_id: str, customer_id: int | None) -> None:
        """The call's record is committed: rows written from now point at it, and a
        row written while it was being made gets it by a _Link."""
        if call_id in self._inbound:  # the call still lasts (its end forgets it)
            self._customers[call_id] = customer_id
        self.enqueue(_Link(call_id, customer_id))

    async def _customer(self, db, call_id: str, row: dict, made: dict[str, int]) -> int | None:
        """Match the caller; an unknown inbound caller gets a provisional record."""
        cid = None
        if self.reader is not None:
            matches = await self.reader.match(row["caller_number"])
            cid = matches[0][0] if matches else None
        if cid is None and self._inbound.get(call_id, True) and row.get("caller_kind") not in (None, "extension"):
            cid = await self._provisional(db, call_id, row["caller_number_raw"], row.get("caller_name"), made)
        self._customers[call_id] = cid
        return cid

    async def _provisional(self, db, call_id: str, number: str, name: str | None,
                           made: dict[str, int]) -> int | None:
        """One record per number: a number that got one in this transaction, or that a
        committed record already has (another call, an earlier run), reuses it."""
        if self.provisional is None:
            return None
        key = self.normalize(number).normalized
        cid = made.get(key) if key else None
        if cid is None and key and self.reader is not None:
            matches = await self.reader.match(key)
            cid = matches[0][0] if matches else None
        if cid is None:
            before = db.sync_session.get_transaction()
            customer = await self.provisional(db=db, number_raw=number, caller_name=name, call_id=call_id,
                                              country_code=self.country_code)
            if before is not None and db.sync_session.get_transaction() is not before:
                raise _RolledBack(f"provisional record for call {call_id}: the transaction was rolled back")
            cid = customer.id
            if key:
                made[key] = cid
        self._customers[call_id] = cid
        return cid

    def _row(self, e) -> dict:
        row: dict = {"call_id": e.call_id, "updated_at": utcnow()}
        t = e.type
        if t in ("call_created", "call_updated", "call_ringing", "queue_caller_joined", "call_ivr_completed"):
            raw = e.caller_number
            if raw is not None:
                number = self.normalize(raw)
                row.update(caller_number_raw=raw, caller_number=number.normalized, caller_kind=number.kind)
            if e.caller_name is not None:
                row["caller_name"] = e.caller_name[:128]
        if t == "call_created":
            self._inbound[e.call_id] = e.direction == "inbound"
            row.update(created_at=_ts(e.at), direction=e.direction, channel=e.channel[:128],
                       called_number=e.called_number)
        elif t == "queue_caller_joined":
            row.update(created_at=_ts(e.at), queue=e.queue, enqueued_at=_ts(e.at))
        elif t == "call_ringing":
            row.update(created_at=_ts(e.at), ringing_at=_ts(e.at), called_number=e.called_number)
            if e.queue:
                row["queue"] = e.queue
        elif t == "call_answered":
            row.update(created_at=_ts(e.at), answered_at=_ts(e.at), agent=e.agent, interface=e.interface,
                       agent_username=self.agent_username(e.agent, e.interface), hold_time_s=e.hold_time_s)
            if e.queue:
                row["queue"] = e.queue
        elif t == "call_ended":
            row.update(created_at=_ts(e.at), ended_at=_ts(e.at), outcome=e.outcome, cause=e.cause,
                       called_number=e.called_number)
            if e.agent:
                row.update(agent=e.agent)
            if e.queue:
                row["queue"] = e.queue
        elif t == "queue_caller_abandoned":
            row.update(created_at=_ts(e.at), queue=e.queue)
        elif t == "call_ivr_completed":
            row.update(created_at=_ts(e.at), ivr_path=json.dumps(list(e.ivr_path), ensure_ascii=False))
            if e.queue:
                row["queue"] = e.queue
        return row

    async def _reconcile(self, db, live_ids: set[str]) -> int:
        rows = (await db.execute(select(CallRecord.call_id, CallRecord.answered_at)
                                 .where(CallRecord.ended_at.is_(None)))).all()
        stale = [(cid, answered) for cid, answered in rows if cid not in live_ids]
        now = utcnow()
        for cid, answered in stale:
            await db.execute(update(CallRecord).where(CallRecord.call_id == cid,
                                                      CallRecord.ended_at.is_(None))
                             .values(ended_at=now, outcome="answered" if answered else "lost",
                                     cause=func.coalesce(CallRecord.cause, "ended while ctidesk was away"),
                                     updated_at=now))
        if stale:
            log.warning("reconciled %d call(s) left open while disconnected: %s", len(stale),
                        [c for c, _ in stale][:20])
        return len(stale)


def _merge(old: dict, new: dict) -> dict:
    """Fold a later event's row into an earlier one with the upsert's rules."""
    for key, value in new.items():
        if value is not None and (key not in FIRST or old.get(key) is None):
            old[key] = value
    return old


def _dialect_insert(name: str):
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


COLUMNS = ("call_id", "updated_at") + FIRST + LATEST
_UPSERTS: dict = {}
# Columns with a Python-side default (direction "inbound", created_at now): the ORM's bulk
# insert left a None out so that the default applied; the Core executemany gets every
# column, so a None there takes the default here (the upsert's COALESCE keeps a stored value).
_DEFAULTS = {c: CallRecord.__table__.c[c].default for c in COLUMNS
             if CallRecord.__table__.c[c].default is not None}


def _full_row(row: dict) -> dict:
    full = {c: row.get(c) for c in COLUMNS}
    for c, default in _DEFAULTS.items():
        if full[c] is None:
            full[c] = default.arg(None) if default.is_callable else default.arg
    return full


def _upsert_many(insert):
    """One statement for every row shape: absent values are NULL and COALESCE
    keeps what is stored (first columns) or takes the newest non-NULL value
    (latest columns), so a batch goes to the database as one executemany."""
    stmt = _UPSERTS.get(insert)
    if stmt is None:
        # On the Table, not the mapped class: a Core executemany. The ORM's bulk-insert
        # path rebuilt the statement and its cache key on every batch, on the event loop.
        base = insert(CallRecord.__table__)
        table = CallRecord.__table__.c
        set_ = {c: func.coalesce(table[c], base.excluded[c]) for c in FIRST}
        set_.update({c: func.coalesce(base.excluded[c], table[c]) for c in LATEST})
        set_["updated_at"] = base.excluded.updated_at
        stmt = _UPSERTS[insert] = base.on_conflict_do_update(index_elements=["call_id"], set_=set_)
    return stmt
