"""Fan-out of supervisor frames to many sockets without ever slowing the bus.

``SupervisorFeed.offer(key, frame)`` is called from the bus (synchronously):
the frame is serialised once and put in the feed's *open batch*, an ordered
map keyed by what the frame describes (``("a", agent)``, ``("q", queue)``,
``("c", call_id, type)``...); a newer frame for the same key replaces the
older one (latest wins) and moves to the back. That is O(1) per frame
whatever the number of sockets (issue 15: offering each frame to each of 200
clients cost the bridge two thirds of its throughput).

Frames are written in batches: a socket's writer, woken by the first frame
of a batch, waits ``interval`` (50 ms by default, well under the wallboard's
one-second resolution) so that frames arriving meanwhile coalesce, then
seals the open batch and sends every batch it has not sent yet as ONE
websocket message of JSON lines (one frame per line; JSON text never
contains a raw newline). A batch is sealed once and its text joined once, so
every socket that keeps up sends the same string. A socket that fell behind
(its writer was stuck in a slow send) merges the batches it missed, latest
per key, and so receives the current state of each agent and queue rather
than a backlog of stale ones. A socket whose missed batches hold more than
``limit`` distinct keys cannot keep up at all: its backlog is dropped, it is
told (``{"type": "resync", "reason": ...}``) and sent a fresh snapshot, never
silently left with a wrong picture. Per-socket sends are bounded by
1/interval per second whatever the AMI rate.

With many sockets the writes themselves are the cost (each websocket message is
framed and written to its socket by the server: 200 sockets at 20 messages/s
took more than half of the bridge's CPU, issue 15). So the whole feed has a
budget, ``writes_per_s`` (1,000 by default): the coalescing window of every
socket grows with the number of sockets (200 sockets: 200 ms, five messages a
second each, still five times the wallboard's one-second resolution), and a
busy stream is merged into fewer, larger messages instead of more of them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from typing import Awaitable, Callable

from supervisor.notifier import encode

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 512
WRITES_PER_S = 1000.0  # websocket messages per second the whole feed may write (see above)


class Batch:
    """Frames sealed together: latest per key, in the order of their last offer."""

    __slots__ = ("seq", "frames", "offers", "opened", "_text")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.opened = time.monotonic()
        self.frames: OrderedDict = OrderedDict()
        self.offers = 0  # frames offered into it (coalesced ones included)
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The websocket message of this batch: joined once, sent by every socket."""
        if self._text is None:
            self._text = "\n".join(self.frames.values())
        return self._text


class FeedClient:
    def __init__(self, send: Callable[[str], Awaitable[None]], snapshot: Callable[[], str], *,
                 limit: int = DEFAULT_LIMIT, name: str = "", interval: float = 0.05) -> None:
        self.send = send
        self.snapshot = snapshot
        self.limit = limit
        self.interval = interval
        self.name = name
        self.feed: SupervisorFeed | None = None
        self.next_seq = 0  # the first batch of the feed this socket has not sent
        self.pending: OrderedDict = OrderedDict()  # frames for this socket only (pong)
        self.wake = asyncio.Event()
        self.resync_reason: str | None = None
        self.sent = 0
        self.batches = 0
        self.coalesced = 0
        self.resyncs = 0
        self.closed = False

    def offer(self, key, text: str) -> None:
        """A frame for this socket alone (already serialised)."""
        if self.closed:
            return
        pending = self.pending
        if key in pending:
            del pending[key]
            self.coalesced += 1
        pending[key] = text
        self.wake.set()

    def request_resync(self, reason: str) -> None:
        self.pending.clear()
        self.resync_reason = reason
        self.wake.set()

    def _collect(self) -> list[str] | str | None:
        """What to send now: the shared text of the one batch missed, or the merged
        frames of several (a list), or None; sets ``resync_reason`` when too far behind."""
        feed = self.feed
        batches = feed.take(self) if feed is not None else []
        if not batches and not self.pending:
            return None
        if len(batches) == 1 and not self.pending and len(batches[0].frames) <= self.limit:
            batch = batches[0]
            self.coalesced += batch.offers - len(batch.frames)
            self.sent += len(batch.frames)
            return batch.text
        merged: OrderedDict = OrderedDict()
        offers = len(self.pending)
        for batch in batches:
            offers += batch.offers
            for key, text in batch.frames.items():
                if key in merged:
                    del merged[key]
                merged[key] = text
            if len(merged) > self.limit:
                break
        for key, text in self.pending.items():
            if key in merged:
                del merged[key]
            merged[key] = text
        self.pending.clear()
        if len(merged) > self.limit:
            self.resync_reason = f"fell behind by more than {self.limit} updates"
            return None
        self.coalesced += offers - len(merged)
        self.sent += len(merged)
        return list(merged.values())

    async def run(self) -> None:
        """Send the snapshot, then frames as they come; returns when sending fails."""
        await self.send(self.snapshot())
        while not self.closed:
            await self.wake.wait()
            if self.interval > 0:
                # let what arrives meanwhile coalesce into this batch
                await asyncio.sleep(self.feed.window(self.interval) if self.feed is not None else self.interval)
            self.wake.clear()
            while True:
                if self.resync_reason is None:
                    out = self._collect()
                if self.resync_reason is not None:
                    reason, self.resync_reason = self.resync_reason, None
                    self.pending.clear()
                    if self.feed is not None:
                        self.feed.skip(self)  # the snapshot below replaces what was missed
                    self.resyncs += 1
                    log.warning("supervisor socket %s %s: resyncing it with a new snapshot", self.name, reason)
                    await self.send(encode({"type": "resync", "reason": reason, "at": time.time()}))
                    await self.send(self.snapshot())
                    continue
                if out is None:
                    break
                await self.send(out if isinstance(out, str) else "\n".join(out))
                self.batches += 1
            if self.feed is not None:
                self.feed.asleep(self)


class SupervisorFeed:
    """All connected supervisor sockets; ``offer`` is the bus-side entry point."""

    def __init__(self, *, max_lag: int = 256, writes_per_s: float = WRITES_PER_S) -> None:
        self.clients: set[FeedClient] = set()
        self.frames = 0
        self.writes_per_s = writes_per_s
        self.max_lag = max_lag  # sealed batches kept for a socket that stopped reading
        self.open = Batch(0)
        self.sealed: deque[Batch] = deque()  # oldest first, not yet sent by every socket
        self._sleeping: set[FeedClient] = set()  # writers waiting for the next batch
        # Several instances (ctidesk.cluster): ``publish(key, text)`` hands each frame
        # to the others, which ``offer_text`` it to their sockets, so every
        # wallboard sees the leader's feed whichever instance it is connected to.
        self.publish = None

    def add(self, client: FeedClient) -> None:
        self.seal()  # the new socket starts after what is pending now (its snapshot covers that)
        client.feed = self
        client.next_seq = self.open.seq
        self.clients.add(client)
        self._sleeping.add(client)

    def remove(self, client: FeedClient) -> None:
        client.closed = True
        self.clients.discard(client)
        self._sleeping.discard(client)
        self._trim()

    def offer(self, key, frame) -> None:
        """``frame``: a model or a dict with a ``type``, validated and serialised once
        (``supervisor.notifier``) for every client."""
        self.frames += 1
        if self.publish is not None:
            text = encode(frame)
            self.publish(key, text)
        elif not self.clients:
            return
        else:
            text = encode(frame)
        self.offer_text(key, text)

    def offer_text(self, key, text: str) -> None:
        """An already serialised frame (from ``offer``, or another instance's)."""
        if not self.clients:
            return
        batch = self.open
        frames = batch.frames
        if key in frames:
            del frames[key]
        frames[key] = text
        batch.offers += 1
        if self._sleeping:  # the first frame since they last wrote: wake them, once each
            for client in self._sleeping:
                client.wake.set()
            self._sleeping.clear()

    # -- the writers' side ---------------------------------------------------

    def window(self, interval: float) -> float:
        """A socket's coalescing window: ``interval``, or longer so that all the
        sockets together write at most ``writes_per_s`` messages a second."""
        return max(interval, len(self.clients) / self.writes_per_s)

    def seal(self, min_age: float = 0.0) -> None:
        """Close the open batch (if it holds anything and is ``min_age`` s old) for the
        writers to send."""
        if self.open.frames and (min_age <= 0 or time.monotonic() - self.open.opened >= min_age):
            self._trim()  # once per batch: O(sockets) here, never per frame or per send
            batch = self.open
            self.sealed.append(batch)
            self.open = Batch(batch.seq + 1)
            if len(self.sealed) > self.max_lag:
                self._drop_laggards()

    def take(self, client: FeedClient) -> list[Batch]:
        """Seal the open batch, unless another socket's writer sealed one less than a
        window ago; the batches ``client`` has not sent yet (oldest first). So the
        sockets' writers fall into step: one batch per window, sealed by the first of
        them, sent as the same text by all (not one small batch per socket, which
        every other socket then had to merge on its own)."""
        self.seal(self.window(client.interval))
        first = self.sealed[0].seq if self.sealed else self.open.seq
        start = max(0, client.next_seq - first)
        out = list(self.sealed)[start:] if start else list(self.sealed)
        client.next_seq = self.open.seq
        return out

    def skip(self, client: FeedClient) -> None:
        """``client`` resyncs: it owes nothing that is pending now."""
        self.seal()
        client.next_seq = self.open.seq

    def asleep(self, client: FeedClient) -> None:
        """``client``'s writer is about to wait for the next frame."""
        if client.closed:
            return
        if self.open.frames or (self.sealed and client.next_seq <= self.sealed[-1].seq):
            client.wake.set()  # frames arrived while it was sending
        else:
            self._sleeping.add(client)

    def _trim(self) -> None:
        """Forget sealed batches every socket has sent."""
        if not self.sealed:
            return
        oldest = min((c.next_seq for c in self.clients), default=self.open.seq)
        while self.sealed and self.sealed[0].seq < oldest:
            self.sealed.popleft()

    def _drop_laggards(self) -> None:
        """Sockets stuck for ``max_lag`` batches: resync them rather than keep the backlog."""
        floor = self.sealed[-1].seq - self.max_lag + 1
        for client in self.clients:
            if client.next_seq < floor:
                client.next_seq = self.open.seq
                client.resync_reason = f"fell behind by more than {self.max_lag} batches"
                client.wake.set()
        self._trim()
