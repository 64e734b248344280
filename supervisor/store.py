"""One writer for queue entries and agent state changes (the reports' source).

Same discipline as ``cti.store.CallStore``: ``record()`` is called from the bus
and only appends a line to a journal (one O_APPEND write: it survives our own
crash) and a row to an in-memory queue; one task drains the queue in batches,
one transaction per batch, ``INSERT ... ON CONFLICT DO NOTHING`` on natural
keys so a journal replayed after a crash never writes a row twice. The journal
is truncated once everything in it is committed. An AMI disconnect loses
nothing here either: the model's resync emits the state changes it finds.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime, timezone

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


class SupervisorStore:
    def __init__(self, sessionmaker, *, journal: str | os.PathLike | None = None, batch: int = 500) -> None:
        self.sessionmaker = sessionmaker
        self.journal_path = journal
        self.batch = batch
        self.queue: asyncio.Queue = asyncio.Queue()
        self._fd: int | None = None
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self.failed = 0

    def record(self, kind: str, row: dict) -> None:
        """Bus side: journal and queue; never awaits."""
        if self._fd is not None:
            os.write(self._fd, (json.dumps([kind, row], ensure_ascii=False) + "\n").encode())
        self._idle.clear()
        self.queue.put_nowait((kind, row))

    def start(self) -> int:
        recovered = 0
        if self.journal_path is not None:
            try:
                with open(self.journal_path, encoding="utf-8") as fh:
                    for line in fh.read().splitlines():
                        try:
                            kind, row = json.loads(line)
                        except ValueError:
                            log.warning("supervisor journal line skipped: %r", line[:200])
                            continue
                        self._idle.clear()
                        self.queue.put_nowait((kind, row))
                        recovered += 1
            except FileNotFoundError:
                pass
            if recovered:
                log.warning("recovered %d supervisor record(s) from the journal", recovered)
            self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._task = asyncio.create_task(self._run(), name="supervisor-store")
        return recovered

    async def flush(self, timeout: float = 10.0) -> None:
        if self.queue.empty() and self._idle.is_set():
            return
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self) -> None:
        try:
            await self.flush()
        except asyncio.TimeoutError:
            log.error("supervisor store did not flush in time; the journal keeps the rest")
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def _run(self) -> None:
        while True:
            items = [await self.queue.get()]
            while len(items) < self.batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            delay = 0.5
            while True:  # never drop: reports must not silently miss a call (the journal keeps them too)
                try:
                    await self._write(items)
                    break
                except Exception as exc:
                    self.failed += 1
                    log.warning("writing %d supervisor records failed (%s); retrying in %.1f s", len(items),
                                str(exc).splitlines()[0][:200], delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            if self.queue.empty():
                if self._fd is not None:
                    os.ftruncate(self._fd, 0)
                self._idle.set()

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
            if calls:
                await db.execute(insert(QueueCall).on_conflict_do_nothing(), calls)
            if states:
                await db.execute(insert(AgentStateLog).on_conflict_do_nothing(), states)
            await db.commit()
        self.written += len(items)
