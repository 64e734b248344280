"""The one AMI action layer: every action ctidesk sends to Asterisk, and one
error mapping for all of them (issue 12.2).

Nothing outside ``cti/`` builds an AMI action dict: the desk, the supervisor,
the recordings and transfers call these keyword-only methods. Each method
knows its action's quirks (which "already done" answers are not errors, what
a Getvar answers), so the callers do not.

Errors, mapped once:

* :class:`PhoneSystemUnavailable` — AMI is not connected, the connection
  dropped before the answer, or no answer came in time. Nothing is re-sent
  (a second Originate would ring a customer twice): the caller is told to
  check and try again. HTTP 503.
* :class:`AsteriskRefused` — Asterisk answered with an error. HTTP 502.

Both are :class:`ActionFailed`, part of ``ctidesk.errors``' hierarchy, whose
one exception handler turns them into HTTP answers.
"""
from __future__ import annotations

import asyncio
from typing import Callable, Iterable

from cti.bridge import AMIError
from cti.protocol import AMIConnectionLost
from ctidesk.errors import ServiceError, Unavailable, Upstream

SPY_CONTEXT = "ctidesk-spy"
# What the desk can do in an attended transfer in progress, and the features.conf
# [general] option whose DTMF code does it in Asterisk's atxfer feature.
ATXFER_COMMANDS = {"threeway": "atxferthreeway", "complete": "atxfercomplete", "cancel": "atxferabort"}
SPY_OPTIONS = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}  # ChanSpy: quiet, end with the spied leg


class ActionFailed(ServiceError):
    """An AMI action did not do what was asked."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(message)
        self.action = action


class PhoneSystemUnavailable(ActionFailed, Unavailable):
    pass


class AsteriskRefused(ActionFailed, Upstream):
    pass


class Actions:
    """AMI actions through the running bridge (``bridge()`` returns it, or None)."""

    def __init__(self, bridge: Callable[[], object]) -> None:
        self._bridge = bridge
        # Several instances (ctidesk.cluster): a follower has no AMI connection and
        # sends its desks' actions to the leader's: ``async forward(action, timeout)``
        # (set by ctidesk.runtime; raises TimeoutError when no leader answers).
        self.forward: Callable | None = None

    @property
    def connected(self) -> bool:
        b = self._bridge()
        return bool(b is not None and b.connected)

    async def send(self, action: dict, *, timeout: float = 5.0, ok: Iterable[str] = ()) -> dict | None:
        """Send ``action``; an error answer containing one of ``ok`` counts as done (None)."""
        name = action.get("Action", "?")
        bridge = self._bridge()
        if bridge is None or not bridge.connected:
            if self.forward is not None:
                return await self._forwarded(name, action, timeout=timeout, ok=ok)
            raise PhoneSystemUnavailable(name, "the phone system (AMI) is not connected; try again shortly")
        try:
            return await bridge.action(action, timeout=timeout)
        except AMIError as exc:
            if any(m in str(exc).lower() for m in ok):
                return None
            raise AsteriskRefused(name, f"Asterisk refused {name}: {exc}") from None
        except (AMIConnectionLost, asyncio.TimeoutError) as exc:
            raise PhoneSystemUnavailable(
                name, f"{name} was not confirmed by Asterisk ({exc or 'timeout'}); check before trying again"
            ) from None

    async def _forwarded(self, name: str, action: dict, *, timeout: float, ok: Iterable[str]) -> dict | None:
        """``action`` run by the leader instance; its errors mapped as if run here."""
        from ctidesk.cluster import ForwardedError

        try:
            return await self.forward(action, timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise PhoneSystemUnavailable(
                name, f"no ctidesk instance holding the phone system (AMI) answered {name}; "
                      "check before trying again") from None
        except ForwardedError as exc:
            if exc.kind == "AMIError":
                if any(m in str(exc).lower() for m in ok):
                    return None
                raise AsteriskRefused(name, f"Asterisk refused {name}: {exc}") from None
            raise PhoneSystemUnavailable(
                name, f"{name} was not confirmed by Asterisk ({exc or exc.kind}); check before trying again"
            ) from None
        except (OSError, ConnectionError) as exc:  # Redis itself unreachable
            raise PhoneSystemUnavailable(name, f"the leader instance cannot be reached ({exc}); try again shortly"
                                         ) from None

    # -- queues ------------------------------------------------------------

    async def queue_add(self, *, queue: str, interface: str, member_name: str, state_interface: str,
                        penalty: int = 0) -> None:
        await self.send({"Action": "QueueAdd", "Queue": queue, "Interface": interface, "MemberName": member_name,
                         "StateInterface": state_interface, "Penalty": str(penalty)}, ok=("already there",))

    async def queue_remove(self, *, queue: str, interface: str) -> None:
        await self.send({"Action": "QueueRemove", "Queue": queue, "Interface": interface},
                        ok=("not there", "no such queue"))

    async def queue_pause(self, *, queue: str, interface: str, paused: bool, reason: str | None = None) -> None:
        action = {"Action": "QueuePause", "Queue": queue, "Interface": interface,
                  "Paused": "true" if paused else "false"}
        if reason:
            action["Reason"] = reason
        await self.send(action)

    # -- calls -------------------------------------------------------------

    async def originate(self, *, channel: str, context: str, exten: str, caller_id: str,
                        variables: Iterable[str] = (), ring_timeout_s: float = 30,
                        channel_id: str | None = None, timeout: float = 10.0) -> None:
        """Ring ``channel``; when it answers, it runs ``context,exten,1``. Async: Asterisk
        confirms it queued the call, not that anybody answered."""
        action = {"Action": "Originate", "Channel": channel, "Context": context, "Exten": exten, "Priority": "1",
                  "CallerID": caller_id, "Timeout": str(int(ring_timeout_s * 1000)), "Async": "true"}
        if channel_id:
            action.update(ChannelId=channel_id, OtherChannelId=channel_id + "-2")
        variables = list(variables)
        if variables:
            action["Variable"] = variables
        await self.send(action, timeout=timeout)

    async def chanspy(self, *, phone: str, target_channel: str, mode: str, spy_id: str, caller_id: str) -> None:
        """Ring the supervisor's ``phone``; once answered, ChanSpy ``target_channel``
        (listen, whisper or barge) through the dialplan's ``[ctidesk-spy]``."""
        await self.originate(channel=phone, context=SPY_CONTEXT, exten="s", caller_id=caller_id,
                             channel_id=spy_id, timeout=5.0,
                             variables=[f"SPY_TARGET={target_channel}", f"SPY_OPTS={SPY_OPTIONS[mode]}"])

    async def blind_transfer(self, *, channel: str, context: str, exten: str) -> None:
        await self.send({"Action": "BlindTransfer", "Channel": channel, "Context": context, "Exten": exten})

    async def attended_transfer(self, *, channel: str, context: str, exten: str) -> None:
        """``Atxfer``; a site whose features.conf gives atxfer no code gets one on this channel."""
        action = {"Action": "Atxfer", "Channel": channel, "Context": context, "Exten": exten}
        try:
            await self.send(action)
        except AsteriskRefused as exc:
            if "feature code" not in exc.message.lower():
                raise
            await self.setvar(channel=channel, variable="FEATUREMAP(atxfer)", value="*2")
            await self.send(action)

    async def attended_transfer_command(self, *, channel: str, command: str) -> None:
        """Drive the attended transfer ``channel`` (the agent's leg) started: bring the
        caller in (``threeway``), hand over (``complete``) or go back to the caller
        (``cancel``).

        Asterisk's atxfer feature listens for these as DTMF codes from the
        transferer; there is no AMI action for them. AMI's own ``Atxfer`` works by
        queueing the feature code as received DTMF, so this does the same with
        ``PlayDTMF Receive``. The code is read from the channel
        (``FEATURE(atxferthreeway)``...), so a site's own features.conf is obeyed."""
        option = ATXFER_COMMANDS[command]
        code = await self.getvar(channel=channel, variable=f"FEATURE({option})")
        if not code:
            raise AsteriskRefused("PlayDTMF", f"the phone system has no {option} code (features.conf [general])")
        for digit in code:
            await self.send({"Action": "PlayDTMF", "Channel": channel, "Digit": digit, "Receive": "yes",
                             "Duration": "120"})

    async def getvar(self, *, channel: str, variable: str, timeout: float = 2.0) -> str | None:
        resp = await self.send({"Action": "Getvar", "Channel": channel, "Variable": variable}, timeout=timeout)
        value = resp.get("Value") if hasattr(resp, "get") else None
        return value or None

    async def setvar(self, *, channel: str, variable: str, value: str) -> None:
        await self.send({"Action": "Setvar", "Channel": channel, "Variable": variable, "Value": value})

    # -- recordings (MixMonitor) --------------------------------------------

    async def mixmonitor_start(self, *, channel: str, file: str, append: bool = False) -> None:
        action = {"Action": "MixMonitor", "Channel": channel, "File": file}
        if append:
            action["Options"] = "a"
        await self.send(action)

    async def mixmonitor_stop(self, *, channel: str, timeout: float = 5.0) -> None:
        await self.send({"Action": "StopMixMonitor", "Channel": channel}, timeout=timeout)

    async def mixmonitor_pause(self, *, channel: str, paused: bool) -> None:
        """Mute both directions: Asterisk writes silence, offsets stay true to the call."""
        await self.send({"Action": "MixMonitorMute", "Channel": channel, "Direction": "both",
                         "State": "1" if paused else "0"})
