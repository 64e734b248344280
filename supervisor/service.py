"""Wires the supervisor parts together for ``ctidesk serve`` (see ctidesk/runtime.py).

live state (bus subscriber) -> feed (sockets) and store (reports). One per
process; reachable as ``container.supervisor``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

from sqlalchemy import select

from supervisor import config as sup_config
from supervisor.kpi import QueueEntry
from supervisor.models import QueueCall
from supervisor.feed import SupervisorFeed
from supervisor.live import SupervisorLive
from supervisor.store import SupervisorStore

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, container, *, model, directory, config=None) -> None:
        self.container = container
        self.config = config or sup_config.load(container.settings.supervisor_config)
        self.feed = SupervisorFeed()
        settings = container.settings
        self.store = SupervisorStore(container.sessionmaker, journal=settings.state_dir / "supervisor.journal")
        self.live = SupervisorLive(model=model, config=self.config, directory=directory,
                                   on_frame=self.feed.offer, on_record=self.store.record)
        self._unsubscribe = None
        self._warm: asyncio.Task | None = None
        self._started_at = time.time()

    def start(self) -> None:
        self._started_at = time.time()
        self.store.start()
        self._unsubscribe = self.container.bus.subscribe(self.live)
        self._warm = asyncio.create_task(self.warm_window(), name="supervisor-window")

    async def warm_window(self) -> int:
        """Refill the sliding window from stored queue entries, so a restart does
        not zero the wallboard's answered/abandoned/SL figures for an hour."""
        since = time.time() - self.config.window_s
        started = self._started_at  # entries that ended after this are already in the live window
        try:
            await self.store.flush()
            async with self.container.sessionmaker() as db:
                rows = (await db.execute(
                    select(QueueCall.queue, QueueCall.entered_at, QueueCall.outcome, QueueCall.wait_s,
                           QueueCall.talk_s)
                    .where(QueueCall.entered_at >= datetime.fromtimestamp(since, tz=timezone.utc),
                           QueueCall.left_at < datetime.fromtimestamp(started, tz=timezone.utc))
                    .order_by(QueueCall.entered_at))).all()
        except Exception:
            log.exception("could not refill the wallboard window from stored queue entries")
            return 0
        self.live.preload([QueueEntry(q, at.timestamp(), o, w, t) for q, at, o, w, t in rows])
        return len(rows)

    async def stop(self) -> None:
        if self._warm is not None and not self._warm.done():
            self._warm.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.store.stop()


def get_config(container):
    sup = container.supervisor
    if sup is not None:
        return sup.config
    cfg = container.supervisor_config
    if cfg is None:
        cfg = container.supervisor_config = sup_config.load(container.settings.supervisor_config)
    return cfg
