"""The AMI bridge: keeps one logged-in AMI connection alive and the model true.

Lifecycle, in a single task (``run``):

    connect -> Login -> resync -> [events flow; watchdog pings] -> lost
       ^                                                          |
       +---------------- backoff (0.5 s doubling to max) ---------+

* Watchdog: panoramisk's own ping never checks the reply, so a half-open
  socket (peer gone, no FIN) would look alive forever. We send ``Ping`` every
  ``ping_interval`` and abort the transport when no reply arrives within
  ``ping_timeout``.
* Resync after every login, because Asterisk does not replay what happened
  while we were away: ``CoreShowChannels`` and ``QueueStatus`` rebuild calls and
  members, ``QueueSummary`` the queue counters (see ``LiveModel.resync``).
* Actions pending when the connection drops fail with ``AMIConnectionLost``;
  nothing is re-sent blindly (an Originate sent twice rings a customer twice).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from cti.model import LiveModel
from cti.protocol import AMIConnectionLost, FastAMIProtocol
from ctidesk.aio import cancel_and_wait

log = logging.getLogger(__name__)


class AMIError(RuntimeError):
    """Asterisk answered an action with an error."""


class Bridge:
    def __init__(self, *, host: str, port: int, username: str, secret: str, model: LiveModel,
                 ping_interval: float = 5.0, ping_timeout: float = 3.0,
                 reconnect_max: float = 10.0, on_state: Callable[[str], None] | None = None,
                 on_resynced: Callable[[dict], None] | None = None) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.model = model
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_max = reconnect_max
        self.on_state = on_state or (lambda state: None)
        self.on_resynced = on_resynced or (lambda summary: None)
        self.protocol: FastAMIProtocol | None = None
        self.connected = False
        self.version: str | None = None
        self.last_error: str | None = None  # cleared by a successful login
        self.last_disconnect: str | None = None  # why the last session ended; kept
        self.connects = 0
        self.resyncs = 0
        self._ready = asyncio.Event()
        self._lost: asyncio.Future | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    def __repr__(self) -> str:  # never show the secret
        return f"<Bridge {self.username}@{self.host}:{self.port} connected={self.connected}>"

    # -- public ------------------------------------------------------------

    def start(self) -> asyncio.Task:
        self._task = asyncio.create_task(self.run(), name="ami-bridge")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        if self.protocol is not None:
            self.protocol.close()
        await cancel_and_wait(self._task)

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def action(self, action: dict, *, timeout: float = 10.0, as_list: bool = False):
        """Send one action; return the response (or list, with ``as_list``).

        Raises ``AMIConnectionLost`` when not connected or the connection drops
        before the answer, ``AMIError`` when Asterisk answers with an error,
        ``asyncio.TimeoutError`` when it does not answer in time.
        """
        proto = self.protocol
        if proto is None or not self.connected:
            raise AMIConnectionLost(f"AMI not connected; {action.get('Action')} not sent")
        fut = proto.send_action(action, as_list=True if as_list else False)
        resp = await asyncio.wait_for(fut, timeout)
        first = resp[0] if isinstance(resp, list) else resp
        if first.get("Response") in ("Error", "Failure", "Fail"):
            raise AMIError(f"{action.get('Action')}: {first.get('Message', 'error')}")
        return resp

    # -- connection loop ---------------------------------------------------

    async def run(self) -> None:
        first_delay = min(0.5, self.reconnect_max)
        delay = first_delay
        while not self._stopping:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure leads to a reconnect
                if self.connected:
                    delay = first_delay  # a session that had logged in resets the backoff
                self.last_error = self.last_disconnect = f"{type(exc).__name__}: {exc}"
                log.warning("AMI %s:%s: %s; reconnecting in %.1fs", self.host, self.port,
                            self.last_error, delay)
            self._set_disconnected()
            if self._stopping:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max)

    def _set_disconnected(self) -> None:
        if self.connected:
            self.connected = False
            self.on_state("disconnected")
        self._ready.clear()
        self.protocol = None

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()

        def lost(exc):
            if not self._lost.done():
                self._lost.set_result(exc)

        _, proto = await asyncio.wait_for(loop.create_connection(
            lambda: FastAMIProtocol(self.model.handle, self.model.event_names, lost),
            self.host, self.port), timeout=5)
        self.protocol = proto
        try:
            login = await asyncio.wait_for(proto.send_action(
                {"Action": "Login", "Username": self.username, "Secret": self._secret,
                 "Events": "on"}), timeout=5)
            if login.get("Response") != "Success":
                raise AMIError(f"login refused for user {self.username!r}: {login.get('Message')}")
            self.connected = True
            self.connects += 1
            self.last_error = None
            self.version = proto.splitter.version
            log.info("AMI connected to %s:%s as %s (protocol %s)", self.host, self.port,
                     self.username, self.version)
            self.on_state("connected")
            await self.resync()
            self._ready.set()
            await self._watch()
        finally:
            proto.close()

    async def _watch(self) -> None:
        """Ping until the connection is lost or a ping goes unanswered."""
        while True:
            done, _ = await asyncio.wait({self._lost}, timeout=self.ping_interval)
            if done:
                exc = self._lost.result()
                raise ConnectionError(f"connection lost ({exc})" if exc else "connection closed")
            try:
                await self.action({"Action": "Ping"}, timeout=self.ping_timeout)
            except asyncio.TimeoutError:
                self.protocol.transport.abort()
                raise ConnectionError(f"no reply to Ping within {self.ping_timeout}s (half-open?)")

    async def resync(self) -> dict:
        started = time.time()
        channels = await self.action({"Action": "CoreShowChannels"}, as_list=True, timeout=20)
        status = await self.action({"Action": "QueueStatus"}, as_list=True, timeout=20)
        summary = await self.action({"Action": "QueueSummary"}, as_list=True, timeout=20)
        rows = lambda resp, name: [dict(m) for m in resp[1:] if m.get("Event") == name]  # noqa: E731
        result = self.model.resync(rows(channels, "CoreShowChannel"), rows(status, "QueueMember"),
                                   rows(status, "QueueEntry"), started_at=started)
        self.model.queue_summary = {r.get("Queue"): r for r in rows(summary, "QueueSummary")}
        self.resyncs += 1
        log.info("AMI resync: %s", result)
        self.on_resynced(result)
        return result
