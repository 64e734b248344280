"""Several ``ctidesk serve`` instances over one Redis (issue 13): who leads, and
how what the leader sees reaches every instance's sockets.

Only used when ``redis_url`` is set; with it empty nothing here is imported by
the runtime and one instance behaves exactly as before.

* :class:`Lease` - leader election. One key, ``ctidesk:leader``, holds the
  leader's instance id with a time to live (``SET NX PX``). The leader renews
  it every ttl/3 with a compare-and-set script (only if the key still holds
  its own id); a renewal that fails for any reason (another id there, Redis
  unreachable) makes it step down at once, because after ttl another instance
  may already lead and two AMI writers would write every call twice. Redis
  rather than a PostgreSQL advisory lock: the default database is SQLite, and
  the lease expires by itself when a leader dies (SIGKILL, power loss) without
  waiting for a TCP keepalive to close its session. Followers try every ttl/3,
  so a dead leader is replaced within about ttl + ttl/3.
* :class:`Cluster` - one pub/sub channel (``ctidesk:fanout``) for frames to
  sockets. Every message carries the sender's id and a per-sender sequence
  number. The sender delivers to its own sockets at once (no round trip
  through Redis on the pop's hot path) and every other instance delivers from
  the subscription, skipping its own messages: each socket gets each frame
  exactly once. A sequence that goes backwards (a duplicate) is dropped, a gap
  (Redis pub/sub is at-most-once, e.g. a subscriber's reconnect) is logged.
* Actions: a desk signed in on a follower still needs the leader's AMI
  connection (join queues, pause, transfer). :meth:`Cluster.forward` publishes
  the action on ``ctidesk:actions`` with the follower's reply channel; the
  leader alone runs it and answers. No answer within the action's timeout is
  ``TimeoutError``, which ``cti.actions`` reports as 503 (nothing re-sent: an
  Originate sent twice rings a customer twice).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import socket
from typing import Awaitable, Callable

from ctidesk.aio import cancel_and_wait

log = logging.getLogger(__name__)

LEADER_KEY = "ctidesk:leader"
FANOUT = "ctidesk:fanout"
ACTIONS = "ctidesk:actions"

# KEYS[1] = the lease, ARGV[1] = our id, ARGV[2] = ttl in ms.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def instance_id() -> str:
    """host:pid:random - unique even when a pid is reused after a restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def connect(url: str):
    import redis.asyncio as aioredis

    return aioredis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
                             health_check_interval=10)


class Lease:
    """Leader election on one Redis key (see the module docstring).

    ``on_elected`` runs when this instance becomes leader, ``on_lost`` when it
    stops being one (both awaited in the lease's task, in order, never at the
    same time)."""

    def __init__(self, redis, *, me: str, ttl_s: float = 3.0,
                 on_elected: Callable[[], Awaitable[None]] | None = None,
                 on_lost: Callable[[], Awaitable[None]] | None = None, key: str = LEADER_KEY) -> None:
        self.redis = redis
        self.me = me
        self.ttl_ms = max(300, int(ttl_s * 1000))
        self.key = key
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.leader = False
        self.elections = 0
        self.step_downs = 0
        self._task: asyncio.Task | None = None
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def interval(self) -> float:
        return self.ttl_ms / 3000

    async def try_acquire(self) -> bool:
        return bool(await asyncio.wait_for(self.redis.set(self.key, self.me, nx=True, px=self.ttl_ms),
                                           self.interval))

    async def renew(self) -> bool:
        """Bounded by ttl/3: a Redis that hangs (rather than refuses) must not keep a
        leader leading past its lease while another instance takes over."""
        return bool(await asyncio.wait_for(self._renew(keys=[self.key], args=[self.me, self.ttl_ms]),
                                           self.interval))

    async def holder(self) -> str | None:
        return await self.redis.get(self.key)

    async def step(self) -> None:
        """One turn: a follower tries to take the lease, the leader renews it."""
        if not self.leader:
            try:
                won = await self.try_acquire()
            except Exception as exc:
                log.warning("cluster: could not reach Redis to seek the lease: %s", exc)
                return
            if won:
                self.leader = True
                self.elections += 1
                log.info("cluster: %s is now the leader (lease %d ms)", self.me, self.ttl_ms)
                if self.on_elected is not None:
                    try:
                        await self.on_elected()
                    except Exception:
                        # half a leader (say FastAGI's port taken) is worse than none: let another lead
                        log.exception("cluster: %s could not start leading; releasing the lease", self.me)
                        with contextlib.suppress(Exception):
                            await self._release(keys=[self.key], args=[self.me])
                        await self.step_down("could not start leading")
            return
        try:
            kept = await self.renew()
            why = "another instance holds it" if not kept else ""
        except Exception as exc:
            kept, why = False, f"Redis did not answer ({exc or type(exc).__name__})"
        if not kept:
            await self.step_down(f"lease renewal failed: {why}")

    async def step_down(self, why: str) -> None:
        if not self.leader:
            return
        self.leader = False
        self.step_downs += 1
        log.warning("cluster: %s steps down: %s", self.me, why)
        if self.on_lost is not None:
            await self.on_lost()

    async def run(self) -> None:
        """Turns every ttl/3 (the first one is the caller's, before ``start``)."""
        while True:
            await asyncio.sleep(self.interval)  # the lease's cadence, not a wait for a condition
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster: lease turn failed")

    def start(self) -> asyncio.Task:
        self._task = asyncio.create_task(self.run(), name="cluster-lease")
        return self._task

    async def stop(self) -> None:
        """Stop renewing; a leader releases the lease so a follower takes over at once."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self.leader:
            with contextlib.suppress(Exception):
                await self._release(keys=[self.key], args=[self.me])
            await self.step_down("shutting down")


class Cluster:
    """Fan-out of socket frames and forwarding of AMI actions (module docstring).

    ``handlers``: kind -> ``fn(message_dict)`` run for other instances' frames;
    ``run_action``: ``async fn(action, timeout) -> dict`` on the leader."""

    def __init__(self, redis, *, me: str, lease: Lease | None = None) -> None:
        self.redis = redis
        self.me = me
        self.lease = lease
        self.handlers: dict[str, Callable[[dict], None]] = {}
        self.run_action: Callable[[dict, float], Awaitable[dict]] | None = None
        self.reply_channel = f"ctidesk:reply:{me}"
        self._seq = itertools.count(1)
        self._last: dict[str, int] = {}
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._subscribed = asyncio.Event()
        self.published = 0
        self.delivered = 0
        self.duplicates = 0
        self.gaps = 0

    @property
    def leader(self) -> bool:
        return bool(self.lease and self.lease.leader)

    # -- fan-out -----------------------------------------------------------

    def publish(self, kind: str, **fields) -> None:
        """Queue a frame for the other instances (synchronous: called from the bus);
        one writer task publishes in order."""
        fields.update(kind=kind, src=self.me, seq=next(self._seq))
        self._outbox.put_nowait(json.dumps(fields, separators=(",", ":")))

    async def _publisher(self) -> None:
        """In order; what queued up meanwhile goes in one pipelined round trip (a
        burst of calls is hundreds of frames a second)."""
        while True:
            texts = [await self._outbox.get()]
            while len(texts) < 256 and not self._outbox.empty():
                texts.append(self._outbox.get_nowait())
            while True:
                try:
                    pipe = self.redis.pipeline(transaction=False)
                    for text in texts:
                        pipe.publish(FANOUT, text)
                    await pipe.execute()
                    self.published += len(texts)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # kept in order and retried: the desks on other instances get it late, not never
                    log.warning("cluster: publish failed, retrying: %s", exc)
                    await asyncio.sleep(0.5)

    def _deliver(self, text: str) -> None:
        msg = json.loads(text)
        src, seq = msg.get("src"), msg.get("seq", 0)
        if src == self.me:
            return  # delivered locally when sent
        last = self._last.get(src, 0)
        if seq <= last:
            self.duplicates += 1
            return
        if seq != last + 1 and last:
            self.gaps += 1
            log.warning("cluster: %d frame(s) from %s never arrived (Redis pub/sub is at-most-once)",
                        seq - last - 1, src)
        self._last[src] = seq
        handler = self.handlers.get(msg.get("kind"))
        if handler is None:
            log.warning("cluster: no handler for %r frames", msg.get("kind"))
            return
        handler(msg)
        self.delivered += 1

    # -- actions -----------------------------------------------------------

    async def forward(self, action: dict, timeout: float) -> dict:
        """Run ``action`` on the leader's AMI connection; its answer as a dict.

        Raises ``TimeoutError`` when no leader answers in ``timeout``, and
        ``ForwardedError`` with the leader's verdict otherwise."""
        rid = secrets.token_hex(8)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            try:
                await self.redis.publish(ACTIONS, json.dumps(
                    {"id": rid, "reply": self.reply_channel, "action": action, "timeout": timeout}))
            except Exception as exc:  # redis' own ConnectionError is no OSError
                raise ConnectionError(f"Redis: {exc}") from None
            return await asyncio.wait_for(fut, timeout + 1.0)
        finally:
            self._pending.pop(rid, None)

    async def _answer(self, text: str) -> None:
        req = json.loads(text)
        if not self.leader or self.run_action is None:
            return  # only the leader answers
        try:
            result = await self.run_action(req["action"], float(req.get("timeout", 5.0)))
            reply = {"id": req["id"], "ok": True, "result": result}
        except Exception as exc:
            reply = {"id": req["id"], "ok": False, "error": type(exc).__name__, "message": str(exc)}
        await self.redis.publish(req["reply"], json.dumps(reply, default=str))

    def _replied(self, text: str) -> None:
        reply = json.loads(text)
        fut = self._pending.get(reply.get("id"))
        if fut is None or fut.done():
            return
        if reply.get("ok"):
            fut.set_result(reply.get("result"))
        else:
            fut.set_exception(ForwardedError(reply.get("error", ""), reply.get("message", "")))

    # -- lifecycle ---------------------------------------------------------

    async def _subscriber(self) -> None:
        answering: set[asyncio.Task] = set()
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(FANOUT, ACTIONS, self.reply_channel)
                self._subscribed.set()
                async for m in pubsub.listen():
                    if m.get("type") != "message":
                        continue
                    channel, data = m["channel"], m["data"]
                    try:
                        if channel == FANOUT:
                            self._deliver(data)
                        elif channel == ACTIONS:
                            task = asyncio.create_task(self._answer(data))
                            answering.add(task)
                            task.add_done_callback(answering.discard)
                        else:
                            self._replied(data)
                    except Exception:
                        log.exception("cluster: message on %s failed", channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cluster: subscription lost, resubscribing: %s", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def start(self, timeout: float = 5.0) -> None:
        self._tasks = [asyncio.create_task(self._subscriber(), name="cluster-subscriber"),
                       asyncio.create_task(self._publisher(), name="cluster-publisher")]
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(*tasks)


class ForwardedError(RuntimeError):
    """The leader ran a forwarded action and it failed; ``kind`` is the exception's class name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
