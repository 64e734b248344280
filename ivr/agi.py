"""FastAGI server and the demo IVR (the config-driven menu engine replaces
``demo_menu`` in the IVR issue; the server and path recording stay).

One asyncio task per call (asyncio.start_server gives that). panoramisk's
``Application.handler`` spins forever if a caller hangs up before the AGI
headers arrive (``read`` returning b'' in a ``while`` loop), so we read the
headers ourselves, with a timeout, and use panoramisk's ``Request`` only to
send commands and parse their results.

The IVR path (nodes passed, digits keyed, timestamps) is written onto the
live call and published as ``call_ivr_completed``; the call writer stores it
and the screen pop shows it.
"""
from __future__ import annotations

import asyncio
import logging
import time

from panoramisk.fast_agi import Request

from cti.events import CallIvrCompleted

log = logging.getLogger(__name__)

DEMO_ROUTES = {"1": "support", "2": "sales", "0": "operator"}
DEFAULT_QUEUE = "support"


class CallerHungUp(Exception):
    pass


class AGISession:
    def __init__(self, request: Request) -> None:
        self.request = request
        self.headers = request.headers
        self.path: list[dict] = []

    async def command(self, command: str) -> dict:
        try:
            result = await asyncio.wait_for(self.request.send_command(command), 60)
        except ValueError:  # panoramisk parsing the empty line of a closed socket
            raise CallerHungUp(f"{command!r}: connection closed") from None
        code = result.get("status_code")
        if code != 200 or result.get("result", ("0",))[0] == "-1":
            raise CallerHungUp(f"{command!r} -> {result}")
        return result

    async def get_variable(self, name: str) -> str | None:
        result = await self.command(f"GET VARIABLE {name}")
        value = result.get("result", ("0", ""))
        return value[1] or None if value[0] == "1" else None

    def step(self, node: str, digits: str | None = None, **extra) -> None:
        self.path.append({"node": node, "digits": digits, "at": round(time.time(), 3), **extra})


async def demo_menu(session: AGISession) -> str:
    """Press 1 support, 2 sales, 0 operator; anything else or nothing: support."""
    session.step("welcome")
    result = await session.command("GET DATA beep 2500 1")
    digits = result.get("result", ("", ""))[0]  # "" on timeout: "200 result= (timeout)"
    if not digits:
        session.step("main", None, outcome="timeout")
        return DEFAULT_QUEUE
    if digits not in DEMO_ROUTES:
        session.step("main", digits, outcome="invalid")
        return DEFAULT_QUEUE
    session.step("main", digits, outcome="route")
    return DEMO_ROUTES[digits]


class FastAGIServer:
    def __init__(self, *, host: str, port: int, bus, model_getter) -> None:
        self.host, self.port = host, port
        self.bus = bus
        self.model_getter = model_getter
        self.server: asyncio.base_events.Server | None = None
        self.sessions = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.host, self.port)
        log.info("FastAGI listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\n\n"), 10)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        headers = dict(line.split(": ", 1) for line in raw.decode("utf-8", "replace").splitlines()
                       if ": " in line)
        session = AGISession(Request(app=None, headers=headers, reader=reader, writer=writer))
        queue = DEFAULT_QUEUE
        linkedid = None
        try:
            linkedid = await session.get_variable("CHANNEL(linkedid)")
            queue = await demo_menu(session)
            session.step("route", None, queue=queue)
            await session.command(f"SET VARIABLE IVR_QUEUE {queue}")
        except CallerHungUp:
            session.step("hangup")
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            session.step("error", None, error=type(exc).__name__)
        except Exception:
            log.exception("IVR session failed for %s", headers.get("agi_uniqueid"))
            session.step("error")
        finally:
            writer.close()
        self._record(linkedid or headers.get("agi_uniqueid"), session.path, queue)

    def _record(self, call_id: str | None, path: list[dict], queue: str | None) -> None:
        if not call_id:
            return
        model = self.model_getter()
        call = model.calls.get(call_id) if model else None
        if call is not None:
            call.ivr_path = list(path)
        self.bus.publish(CallIvrCompleted(call_id, time.time(), tuple(path), queue))
