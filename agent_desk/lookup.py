"""Reads for the screen pop: who owns a number, their card, calls and tickets.

Two implementations of one small interface:

* ``SqlitePopReader`` (the embedded default): a read-only ``sqlite3``
  connection used directly on the event loop thread. Each of these queries is
  an index lookup that SQLite answers in 20-100 µs; through aiosqlite and the
  ORM the same query costs 1-3 ms plus a thread hop, and under a burst of 100
  ringing phones the pops queued behind each other for over a second
  (bench/screen_pop.py). WAL mode lets this reader run beside the writer.
* ``OrmPopReader``: the same through the async SQLAlchemy services, for
  PostgreSQL, where a network round trip must not block the loop.

Both return the JSON-ready shapes the pop sends.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.engine import make_url

from cti import service as calls
from customers import service as customers
from tickets.models import OPEN_STATES, Ticket

HISTORY_KEYS = ("id", "started_at", "direction", "queue", "agent", "outcome", "duration_s", "caller_number")


def _dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def _iso(value: str | None) -> str | None:
    dt = _dt(value)
    return dt.isoformat() if dt else None


class SqlitePopReader:
    answers_now = True  # its async methods never wait: the pop may call them inline (customers.resolver.run_now)

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False,
                                    isolation_level=None)  # autocommit: each read sees the latest commit
        self.conn.execute("PRAGMA query_only=ON")
        self.conn.execute("PRAGMA busy_timeout=1000")
        # Memory-mapped reads: every commit of the call writer empties this connection's
        # page cache, and the next lookup read its index pages back with pread() calls on
        # the event loop; mapped, they are plain memory (issue 15).
        self.conn.execute("PRAGMA mmap_size=1073741824")

    def close(self) -> None:
        self.conn.close()

    async def match(self, normalized: str) -> list[tuple[int, bool]]:
        """(customer id, provisional) owning the number: real records first, then newest."""
        return [(cid, bool(prov)) for cid, prov in self.conn.execute(
            "SELECT c.id, c.provisional FROM customers c WHERE c.id IN "
            "(SELECT customer_id FROM customer_phones WHERE normalized = ?) "
            "ORDER BY c.provisional ASC, c.updated_at DESC, c.id DESC", (normalized,))]

    async def card(self, customer_id: int) -> dict | None:
        row = self.conn.execute("SELECT id, name, kind, provisional, notes, created_at FROM customers "
                                "WHERE id = ?", (customer_id,)).fetchone()
        if row is None:
            return None
        phones = [SimpleNamespace(raw=r, normalized=n, kind=k) for r, n, k in self.conn.execute(
            "SELECT raw, normalized, kind FROM customer_phones WHERE customer_id = ? ORDER BY id",
            (customer_id,))]
        return customers.card(SimpleNamespace(id=row[0], name=row[1], kind=row[2], provisional=bool(row[3]),
                                              notes=row[4], created_at=_dt(row[5]), phones=phones))

    async def history(self, *, customer_id: int | None, numbers: list[str], exclude_call_id: str,
                      limit: int) -> list[dict]:
        conds, args = [], []
        if customer_id is not None:
            conds.append("customer_id = ?")
            args.append(customer_id)
        if numbers:
            conds.append(f"caller_number IN ({','.join('?' * len(numbers))})")
            args.extend(numbers)
        if not conds:
            return []
        rows = self.conn.execute(
            "SELECT call_id, created_at, direction, queue, agent_username, agent, outcome, answered_at, "
            f"ended_at, caller_number_raw FROM calls WHERE ({' OR '.join(conds)}) AND call_id != ? "
            "ORDER BY created_at DESC LIMIT ?", (*args, exclude_call_id, limit)).fetchall()
        out = []
        for cid, created, direction, queue, username, agent, outcome, answered, ended, raw in rows:
            a, e = _dt(answered), _dt(ended)
            out.append({"id": cid, "started_at": _iso(created), "direction": direction, "queue": queue,
                        "agent": username or agent, "outcome": outcome,
                        "duration_s": round((e - a).total_seconds()) if a and e else None,
                        "caller_number": raw})
        return out

    async def open_tickets(self, customer_id: int) -> list[dict]:
        rows = self.conn.execute(
            f"SELECT id, type, state, description, created_at FROM tickets WHERE customer_id = ? "
            f"AND state IN ({','.join('?' * len(OPEN_STATES))}) ORDER BY created_at DESC LIMIT 20",
            (customer_id, *OPEN_STATES)).fetchall()
        return [{"id": i, "type": t, "state": s, "description": d, "created_at": _iso(c)} for i, t, s, d, c in rows]


class OrmPopReader:
    def __init__(self, sessionmaker, country_code: str) -> None:
        self.sessionmaker = sessionmaker
        self.country_code = country_code

    def close(self) -> None:
        pass

    async def match(self, normalized: str) -> list[tuple[int, bool]]:
        async with self.sessionmaker() as db:
            found = await customers.find_by_phone(db=db, phone=normalized, country_code=self.country_code)
        return [(c.id, c.provisional) for c in found]

    async def card(self, customer_id: int) -> dict | None:
        async with self.sessionmaker() as db:
            c = await customers.get(db=db, customer_id=customer_id)
        return customers.card(c) if c else None

    async def history(self, *, customer_id, numbers, exclude_call_id, limit) -> list[dict]:
        async with self.sessionmaker() as db:
            rows = await calls.history(db=db, customer_id=customer_id, numbers=numbers,
                                       exclude_call_id=exclude_call_id, limit=limit)
        return [{k: d[k] for k in HISTORY_KEYS} for d in map(calls.call_dict, rows)]

    async def open_tickets(self, customer_id: int) -> list[dict]:
        async with self.sessionmaker() as db:
            rows = (await db.execute(select(Ticket).where(Ticket.customer_id == customer_id,
                                                          Ticket.state.in_(OPEN_STATES))
                                     .order_by(Ticket.created_at.desc()).limit(20))).scalars()
            return [{"id": t.id, "type": t.type, "state": t.state, "description": t.description,
                     "created_at": t.created_at.isoformat()} for t in rows]


def make_reader(settings, sessionmaker):
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqlitePopReader(url.database)
    return OrmPopReader(sessionmaker, settings.default_country_code)
