"""One writer for queue entries and agent state changes (the reports' source).

The same writer as ``cti.store.CallStore`` (:class:`ctidesk.journal.JournalledWriter`):
``record()`` is called from the bus and only journals and queues; one task
drains the queue in batches, one transaction per batch, ``INSERT ... ON
CONFLICT DO NOTHING`` on natural keys so a journal replayed after a crash never
writes a row twice; a failing database is retried with backoff, never dropped.
An AMI disconnect loses nothing here either: the model's resync emits the
state changes it finds.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from ctidesk.journal import JournalledWriter, value
from supervisor.models import AgentStateLog, QueueCall

log = logging.getLogger(__name__)


def _ts(at: float | None):
    return None if at is None else datetime.fromtimestamp(at, tz=timezone.utc)


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


_STATEMENTS: dict = {}


def _statement(insert, model):
    """``INSERT ... ON CONFLICT DO NOTHING`` on ``model``'s table, built once."""
    stmt = _STATEMENTS.get((insert, model))
    if stmt is None:
        stmt = _STATEMENTS[(insert, model)] = insert(model.__table__).on_conflict_do_nothing()
    return stmt


class SupervisorStore(JournalledWriter):
    name = "supervisor"

    def __init__(self, sessionmaker, *, journal: str | os.PathLike | None = None, batch: int = 500) -> None:
        super().__init__(journal=journal, batch=batch)
        self.sessionmaker = sessionmaker

    @property
    def failed(self) -> int:
        return self.failures

    def record(self, kind: str, row: dict) -> None:
        """Bus side: journal and queue; never awaits."""
        self.append((kind, row))

    def encode(self, record):
        return list(record)

    def decode(self, data):
        kind, row = data
        return kind, row

    async def write(self, items: list) -> int:
        await self._write([value(i) for i in items])
        return len(items)

    async def _write(self, items: list) -> None:
        calls, states = [], []
        for kind, row in items:
            if kind == "queue_call":
                calls.append({**row, "entered_at": _ts(row["entered_at"]), "answered_at": _ts(row["answered_at"]),
                              "left_at": _ts(row["left_at"])})
            elif kind == "agent_state":
                states.append({**row, "at": _ts(row["at"]), "reason": (row.get("reason") or None) and
                               str(row["reason"])[:64], "queues": (row.get("queues") or "")[:255]})
        async with self.sessionmaker() as db:
            insert = _insert(db.bind.dialect.name)
            # Core executemany on the tables (the ORM bulk path costs more on the loop)
            if calls:
                await db.execute(_statement(insert, QueueCall), calls)
            if states:
                await db.execute(_statement(insert, AgentStateLog), states)
            await db.commit()

