"""One journalled batch writer for everything that must survive a crash or a
database outage (calls, queue entries, agent states).

The rule it keeps, whatever the database does:

* **Journal first.** ``append()`` (called on the bus, never awaits) writes one
  line to an ``O_APPEND`` file descriptor, then queues the record. One
  ``write`` is kept by the kernel even if our process dies the next instant.
* **Never drop, never truncate what was not written.** A failed batch is
  retried with backoff (0.5 s doubling to ``max_backoff``) for as long as it
  takes; new records keep being journalled and queued meanwhile. The journal
  is truncated only when every record appended to it has been committed
  (``committed == appended``), so a record that is still waiting, failing or
  in flight is always in the file.
* **Replay at start.** What a crash left in the journal is decoded and queued
  before anything else; writes are idempotent upserts or
  ``ON CONFLICT DO NOTHING`` on natural keys, so a record written just before
  the crash and replayed after it lands once.
* **Say so.** ``health()`` reports ``ok`` or ``degraded`` (since when, the
  last error, how many records wait): ``/healthz`` shows it.

Subclasses give ``encode``/``decode`` (record <-> JSON-able) and
``write(items)`` (one transaction). Items that are not journal records (work
the writer must do in order, such as a reconcile) can be queued with
``enqueue()``; they are never journalled and never counted.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from ctidesk.aio import cancel_and_wait

log = logging.getLogger(__name__)


class JournalledWriter:
    name = "writer"

    def __init__(self, *, journal: str | os.PathLike | None = None, batch: int = 200,
                 min_backoff: float = 0.5, max_backoff: float = 10.0) -> None:
        self.journal_path = journal
        self.batch = batch
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.queue: asyncio.Queue = asyncio.Queue()
        self._fd: int | None = None
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.appended = 0   # records journalled (and queued) since the journal was last emptied
        self.committed = 0  # of those, committed to the database
        self.written = 0    # records committed since start (for tests and health)
        self.failures = 0   # failed write attempts since start
        self.failing_since: float | None = None
        self.last_error: str | None = None

    # -- to override -------------------------------------------------------

    def encode(self, record) -> Any:
        return record

    def decode(self, data) -> Any:
        return data

    async def write(self, items: list) -> int:
        """Write ``items`` in one transaction; return how many journal records they held."""
        raise NotImplementedError

    # -- producer side (the bus: never awaits) -----------------------------

    def append(self, record) -> None:
        if self._fd is not None:
            line = json.dumps(self.encode(record), ensure_ascii=False, default=list) + "\n"
            os.write(self._fd, line.encode())
        self.appended += 1
        self._idle.clear()
        self.queue.put_nowait(_Record(record))

    def enqueue(self, item) -> None:
        """Ordered work for the writer that is not a journal record."""
        self._idle.clear()
        self.queue.put_nowait(item)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> int:
        """Replay what a crash left in the journal, open it, start the writer."""
        recovered = 0
        if self.journal_path is not None:
            recovered = self._replay()
            self.open_journal()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-writer")
        return recovered

    def open_journal(self) -> None:
        """Journal from now on (``start`` does it after the replay)."""
        self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _replay(self) -> int:
        try:
            with open(self.journal_path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return 0
        n = 0
        for line in lines:
            try:
                record = self.decode(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:  # a torn last line after a crash
                log.warning("%s journal line skipped (%s): %r", self.name, exc, line[:200])
                continue
            # Replayed records are already in the file: count them as appended
            # so the journal is kept until they are committed too.
            self.appended += 1
            self._idle.clear()
            self.queue.put_nowait(_Record(record))
            n += 1
        if n:
            log.warning("%s: recovered %d record(s) from the journal left by a previous run", self.name, n)
        return n

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written."""
        if self.queue.empty() and self._idle.is_set():
            return
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        try:
            await self.flush(timeout)
        except asyncio.TimeoutError:
            log.error("%s did not flush in %.0f s; the journal keeps the rest for the next start",
                      self.name, timeout)
        await cancel_and_wait(self._task)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def health(self) -> dict:
        waiting = self.appended - self.committed
        if self.failing_since is None:
            return {"status": "ok", "waiting": waiting, "written": self.written}
        return {"status": "degraded", "waiting": waiting, "written": self.written,
                "failing_for_s": round(time.monotonic() - self.failing_since, 1),
                "failures": self.failures, "last_error": self.last_error,
                "note": "the database refuses writes; records are journalled and retried"}

    # -- writer ------------------------------------------------------------

    def _take(self, first) -> list:
        items = [first]
        while len(items) < self.batch and not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items

    def prepare(self, items: list) -> list:
        """Hook: reorder or add work before a batch is written (default: as is)."""
        return items

    async def _run(self) -> None:
        while True:
            items = self.prepare(self._take(await self.queue.get()))
            if items:
                await self._write_until_done(items)
            if self.queue.empty():
                if self._fd is not None and self.committed == self.appended:
                    os.ftruncate(self._fd, 0)  # every journalled record is committed
                    self.appended = self.committed = 0
                self._idle.set()

    async def _write_until_done(self, items: list) -> None:
        delay = self.min_backoff
        while True:
            try:
                records = await self.write(items)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database said no: keep everything, try again
                self.failures += 1
                self.last_error = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                log.warning("%s: writing %d item(s) failed (%s); retrying in %.1f s (journalled, nothing dropped)",
                            self.name, len(items), self.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            if self.failing_since is not None:
                log.warning("%s: writes succeed again after %.1f s", self.name,
                            time.monotonic() - self.failing_since)
                self.failing_since = None
            self.committed += records
            self.written += records
            return


class _Record:
    """A journalled record in the queue (told apart from ordered work items)."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value


def records_of(items: list) -> tuple[list, list]:
    """``(records, other work)`` of a batch, each in order."""
    records, work = [], []
    for item in items:
        (records if isinstance(item, _Record) else work).append(item)
    return [r.value for r in records], work


def is_record(item) -> bool:
    return isinstance(item, _Record)


def value(item):
    return item.value if isinstance(item, _Record) else item
