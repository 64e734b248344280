"""Failed SIP authentication into the audit log (issue 11).

Asterisk reports every SIP request whose digest authentication failed as an
AMI security event; the live model turns them into ``sip_auth_failed``
(:class:`cti.events.SipAuthFailed`). This subscriber writes one audit row per
failure, action ``sip.auth_failed``, with the request's source address in
``ip`` (what an admin or fail2ban-style tooling needs to act on), the account
it claimed as actor and target, and port/transport/reason in ``detail``.

The bus is synchronous: ``__call__`` only queues. One task writes, in
batches. The queue is bounded: a scanner sending thousands of REGISTERs a
second must not grow memory without limit; what does not fit is counted,
logged and written as one summary row (``sip.auth_failed_dropped``) once
the queue has room again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from accounts.service import audit

log = logging.getLogger(__name__)

ACTION = "sip.auth_failed"
DROPPED_ACTION = "sip.auth_failed_dropped"


class SipAuthAudit:
    def __init__(self, sessionmaker, *, max_pending: int = 1000, batch: int = 200) -> None:
        self.sessionmaker = sessionmaker
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=max_pending)
        self.batch = batch
        self.dropped = 0  # not yet reported
        self.dropped_total = 0
        self.written = 0
        self._task: asyncio.Task | None = None

    # -- bus side (never blocks) ---------------------------------------------

    def __call__(self, event) -> None:
        if event.type != "sip_auth_failed":
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self.dropped_total += 1

    # -- writer ----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sip-auth-audit")

    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (bounded by ``timeout``), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drained(), timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _drained(self) -> None:
        await self.queue.join()

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            events = [first]
            while len(events) < self.batch and not self.queue.empty():
                events.append(self.queue.get_nowait())
            dropped, self.dropped = self.dropped, 0
            try:
                await self._write(events, dropped)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not write %d failed SIP authentication(s) to the audit log", len(events))
            finally:
                for _ in events:
                    self.queue.task_done()

    async def _write(self, events: list, dropped: int) -> None:
        for e in events:
            log.warning("SIP authentication failed (%s) for account %r from %s:%s/%s (%s)", e.reason,
                        e.account, e.remote_address, e.remote_port, e.transport, e.service)
        if dropped:
            log.warning("%d failed SIP authentication(s) not written to the audit log: too many at once", dropped)
        async with self.sessionmaker() as db:
            for e in events:
                await audit(db=db, actor=e.account, action=ACTION, target=e.account, ip=e.remote_address,
                            detail={"service": e.service, "port": e.remote_port, "transport": e.transport,
                                    "reason": e.reason, "asterisk_at": e.at})
            if dropped:
                await audit(db=db, actor="", action=DROPPED_ACTION, target="",
                            detail={"dropped": dropped, "total_dropped": self.dropped_total})
            await db.commit()
        self.written += len(events)
