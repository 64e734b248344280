"""Fan-out of supervisor frames to many sockets without ever slowing the bus.

``SupervisorFeed.offer(key, frame)`` is called from the bus (synchronously):
the frame is serialised once and handed to every client's ``offer``, which is
O(1) and never awaits. Each client owns a small ordered map of pending frames
keyed by what they describe (``("a", agent)``, ``("q", queue)``, ``("c",
call_id, type)``...); a newer frame for the same key replaces the older one
(latest wins) and moves to the back, so a client that falls behind receives
the current state of each agent and queue rather than a backlog of stale
ones. A client whose pending map still grows past ``limit`` distinct keys
cannot keep up at all: its backlog is dropped, it is told
(``{"type": "resync", "reason": ...}``) and sent a fresh snapshot, never
silently left with a wrong picture.

Frames are written in batches: after a wake-up the writer waits
``interval`` (50 ms by default, well under the wallboard's one-second
resolution) so that frames arriving meanwhile coalesce, then sends everything
pending as ONE websocket message of JSON lines (one frame per line; JSON text
never contains a raw newline). Per-socket sends are then bounded by 1/interval
per second whatever the AMI rate, which is what keeps 200 wallboards from
starving the bridge on one event loop.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Awaitable, Callable

from supervisor.notifier import encode

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 512


class FeedClient:
    def __init__(self, send: Callable[[str], Awaitable[None]], snapshot: Callable[[], str], *,
                 limit: int = DEFAULT_LIMIT, name: str = "", interval: float = 0.05) -> None:
        self.send = send
        self.snapshot = snapshot
        self.limit = limit
        self.interval = interval
        self.name = name
        self.pending: OrderedDict = OrderedDict()
        self.wake = asyncio.Event()
        self.resync_reason: str | None = None
        self.sent = 0
        self.batches = 0
        self.coalesced = 0
        self.resyncs = 0
        self.closed = False

    def offer(self, key, text: str) -> None:
        if self.closed:
            return
        pending = self.pending
        if key in pending:
            del pending[key]
            self.coalesced += 1
        pending[key] = text
        if len(pending) > self.limit:
            pending.clear()
            self.resync_reason = f"fell behind by more than {self.limit} updates"
        self.wake.set()

    def request_resync(self, reason: str) -> None:
        self.pending.clear()
        self.resync_reason = reason
        self.wake.set()

    async def run(self) -> None:
        """Send the snapshot, then frames as they come; returns when sending fails."""
        await self.send(self.snapshot())
        while not self.closed:
            await self.wake.wait()
            if self.interval > 0:
                await asyncio.sleep(self.interval)  # let what arrives meanwhile coalesce into this batch
            self.wake.clear()
            while True:
                if self.resync_reason is not None:
                    reason, self.resync_reason = self.resync_reason, None
                    self.pending.clear()
                    self.resyncs += 1
                    log.warning("supervisor socket %s %s: resyncing it with a new snapshot", self.name, reason)
                    await self.send(encode({"type": "resync", "reason": reason, "at": time.time()}))
                    await self.send(self.snapshot())
                    continue
                if not self.pending:
                    break
                texts = list(self.pending.values())
                self.pending.clear()
                await self.send("\n".join(texts))
                self.sent += len(texts)
                self.batches += 1


class SupervisorFeed:
    """All connected supervisor sockets; ``offer`` is the bus-side entry point."""

    def __init__(self) -> None:
        self.clients: set[FeedClient] = set()
        self.frames = 0

    def add(self, client: FeedClient) -> None:
        self.clients.add(client)

    def remove(self, client: FeedClient) -> None:
        client.closed = True
        self.clients.discard(client)

    def offer(self, key, frame) -> None:
        """``frame``: a model or a dict with a ``type``, validated and serialised once
        (``supervisor.notifier``) for every client."""
        self.frames += 1
        if not self.clients:
            return
        text = encode(frame)
        for client in tuple(self.clients):
            client.offer(key, text)
