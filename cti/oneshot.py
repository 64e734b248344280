"""One AMI action over a fresh connection: connect, log in, act, close.

For command-line tools, tests and rare administrative actions; the CTI bridge
keeps its own long-lived connection. Built on panoramisk 1.4's ``Manager`` with
its reconnection switched off, and a deadline on every step.

panoramisk 1.4 quirk: ``send_action`` never returns for QueueAdd, QueuePause
and QueueRemove unless called with ``as_list=False`` (upstream issues #54/#92),
so single-response actions are always sent with ``as_list=False``.

The secret is never logged or put in an exception message.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from panoramisk import Manager

log = logging.getLogger(__name__)


class AmiError(RuntimeError):
    """AMI could not be used (base class)."""


class AmiUnreachable(AmiError):
    """Nothing answers on the AMI address, or it did not answer in time."""


class AmiLoginFailed(AmiError):
    """AMI answered but refused the login."""


class AmiTimeout(AmiError):
    """AMI took the login but did not answer the action in time."""


class _OneShotManager(Manager):
    """A panoramisk Manager that never reconnects once we are done with it."""

    _finished = False
    _lost: asyncio.Future | None = None

    def connect(self, *args, **kwargs):  # also called from panoramisk's reconnect timers
        if self._finished:
            return None
        return super().connect(*args, **kwargs)

    def connection_made(self, f):
        if f.cancelled():
            return
        if f.exception() is not None:
            # _connect() reports it; panoramisk would log and schedule a reconnect
            return
        if self._finished:
            # a connection that completed after we gave up: close it at once
            transport, _protocol = f.result()
            transport.close()
            return
        super().connection_made(f)

    def connection_lost(self, exc):
        # a one-shot connection is never re-established
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(exc)
        self._finished = True

    def finish(self):
        self._finished = True
        try:
            self.close()
        except Exception:  # pragma: no cover - closing a broken transport
            log.debug("closing the AMI connection failed", exc_info=True)


def _plain(message: Any) -> dict:
    """A panoramisk Message (case-insensitive dict) as a plain dict."""
    out = {}
    for key, value in message.items():
        if key == "content" and not value:
            continue
        out[key] = list(value) if isinstance(value, list) else value
    return out


def _where(settings) -> str:
    return f"{settings.ami_host}:{settings.ami_port}"


async def _connect(settings, timeout: float) -> _OneShotManager:
    if not settings.ami_secret:
        raise AmiLoginFailed(
            f"no AMI secret configured for user {settings.ami_user!r} "
            "(set CTIDESK_AMI_SECRET, or run `ctidesk sandbox up` to generate the sandbox secret)"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    manager = _OneShotManager(
        loop=loop,
        host=settings.ami_host,
        port=int(settings.ami_port),
        username=settings.ami_user,
        secret=settings.ami_secret,
        events="off",
        ping_delay=10**6,
        ping_interval=10**6,
        reconnect_timeout=10**6,
        log=logging.getLogger("ctidesk.oneshot.panoramisk"),
    )
    manager._lost = loop.create_future()
    try:
        task = manager.connect()
        try:
            await asyncio.wait_for(asyncio.shield(task), max(0.01, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise AmiUnreachable(
                f"AMI at {_where(settings)} did not accept a connection within {timeout:g}s"
            ) from None
        except OSError as exc:
            raise AmiUnreachable(f"AMI at {_where(settings)} is unreachable: {exc.strerror or exc}") from None
        # panoramisk sends Login from the connect task's done-callback.
        while manager.protocol is None and manager.authenticated_future is None and loop.time() < deadline:
            await asyncio.sleep(0.005)
        fut = manager.authenticated_future
        if fut is not None:
            done, _ = await asyncio.wait(
                {fut, manager._lost}, timeout=max(0.01, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if fut not in done:
                if manager._lost in done:
                    raise AmiUnreachable(f"AMI at {_where(settings)} closed the connection during login")
                raise AmiUnreachable(
                    f"AMI at {_where(settings)} accepted the connection but did not answer the login "
                    f"within {timeout:g}s"
                )
            resp = fut.result()
            if not resp.success:
                raise AmiLoginFailed(
                    f"AMI at {_where(settings)} refused the login of user {settings.ami_user!r}: "
                    f"{resp.get('Message') or resp.get('Response')}"
                )
        elif not manager.authenticated:
            raise AmiLoginFailed(f"AMI at {_where(settings)} refused the login of user {settings.ami_user!r}")
        return manager
    except BaseException:
        manager.finish()
        raise


async def _send(manager: _OneShotManager, settings, action: dict, as_list: bool, timeout: float):
    fut = manager.send_action(dict(action), as_list=as_list)
    lost = manager._lost
    done, _ = await asyncio.wait({fut, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if fut in done:
        return fut.result()
    if not fut.done():
        fut.cancel()
    name = action.get("Action") or action.get("action")
    if lost in done:
        raise AmiError(f"AMI at {_where(settings)} closed the connection before answering {name}")
    raise AmiTimeout(f"AMI at {_where(settings)} did not answer {name} within {timeout:g}s")


async def ami_action(settings, action: dict, *, timeout: float = 10.0) -> dict:
    """Send one single-response AMI action; return the response as a plain dict.

    ``timeout`` bounds the whole exchange (connect, login, action). An AMI
    ``Response: Error`` is returned, not raised: look at ``result["Response"]``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    manager = await _connect(settings, timeout)
    try:
        resp = await _send(manager, settings, action, False, max(0.01, deadline - loop.time()))
        return _plain(resp)
    finally:
        manager.finish()


async def ami_action_list(settings, action: dict, *, timeout: float = 10.0) -> list[dict]:
    """Send one action whose answer is a list (QueueStatus, CoreShowChannels...).

    Returns the response followed by its events, up to the ``...Complete`` event.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    manager = await _connect(settings, timeout)
    try:
        resp = await _send(manager, settings, action, True, max(0.01, deadline - loop.time()))
        if not isinstance(resp, list):
            resp = [resp]
        return [_plain(m) for m in resp]
    finally:
        manager.finish()


async def ami_command(settings, command: str, *, timeout: float = 10.0) -> str:
    """Run a CLI command over AMI (action Command) and return its output text."""
    resp = await ami_action(settings, {"Action": "Command", "Command": command}, timeout=timeout)
    if resp.get("Response") not in ("Success", "Follows"):
        raise AmiError(f"AMI Command {command!r} failed: {resp.get('Message') or resp}")
    output = resp.get("Output", resp.get("content", ""))
    if isinstance(output, list):
        return "\n".join(output)
    return output or ""


async def ami_ping(settings, timeout: float = 5.0) -> str | None:
    """The Asterisk version if AMI answers a login and ``CoreSettings``; else None."""
    try:
        resp = await ami_action(settings, {"Action": "CoreSettings"}, timeout=timeout)
    except AmiError as exc:
        log.debug("AMI ping failed: %s", exc)
        return None
    if resp.get("Response") != "Success":
        return None
    return resp.get("AsteriskVersion") or None


async def wait_for_ami(settings, deadline_s: float = 30.0, interval: float = 0.5) -> str:
    """Poll :func:`ami_ping` until it answers; return the version or raise."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        try:
            resp = await ami_action(settings, {"Action": "CoreSettings"}, timeout=min(5.0, remaining))
            if resp.get("Response") == "Success" and resp.get("AsteriskVersion"):
                return resp["AsteriskVersion"]
        except AmiLoginFailed:
            raise
        except AmiError as exc:
            last = exc
        await asyncio.sleep(min(interval, max(0.0, end - time.monotonic())))
    raise AmiUnreachable(f"AMI did not answer within {deadline_s:g}s" + (f": {last}" if last else ""))
