"""The benchmarks' desk: sign in, (optionally) join the queues, open /ws/agent,
and stamp every screen pop with the time it was received. Shared by
``bench/screen_pop.py`` and ``bench/softphone.py`` so both measure the pop the
same way."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Callable

import httpx
from websockets.asyncio.client import connect as ws_connect


async def open_desk(http: httpx.AsyncClient, base_url: str, username: str, password: str, *,
                    join_queues: bool) -> tuple[str, object]:
    """``(token, websocket)`` of a signed-in desk whose ``hello`` has arrived."""
    r = await http.post("/api/v1/auth/login", json={"username": username, "password": password})
    r.raise_for_status()
    token = r.json()["access_token"]
    if join_queues:
        r = await http.post("/api/v1/agent/login", headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
    ws = await ws_connect(base_url.replace("http://", "ws://") + f"/ws/agent?token={token}",
                          ping_interval=None, max_size=2**22)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    if hello.get("type") != "hello":
        raise RuntimeError(f"{username}: expected hello, got {hello}")
    return token, ws


async def read_pops(ws, on_pop: Callable[[tuple[float, dict]], None]) -> None:
    """Hand each ``screen_pop`` to ``on_pop`` as ``(received at, message)`` until the socket closes."""
    with contextlib.suppress(Exception):
        async for text in ws:
            at = time.time()  # first thing: the receive time of the frame
            message = json.loads(text)
            if message.get("type") == "screen_pop":
                on_pop((at, message))


async def close_desk(ws, reader: asyncio.Task | None) -> None:
    """Close the desk's socket (if open) and stop its ``read_pops`` task."""
    if ws is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)
    if reader is not None:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
