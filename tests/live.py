"""The whole ctidesk app served for real (uvicorn on 127.0.0.1, port 0) inside
the test's event loop, plus a small desk client (HTTP + websocket)."""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time

import httpx
import uvicorn
import websockets

from ctidesk import migrate
from ctidesk.app import SERVER_OPTIONS, create_app


@contextlib.asynccontextmanager
async def live_app(settings, *, start_bridge: bool = True):
    await asyncio.to_thread(migrate.upgrade, settings)
    app = create_app(settings, start_bridge=start_bridge)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **SERVER_OPTIONS)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)  # uvicorn exposes no "started" event
    port = server.servers[0].sockets[0].getsockname()[1]
    app.state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def app_on_fake_ami(tmp_path, users: list[tuple[str, dict]]):
    """The whole app served on loopback against a scriptable fake AMI, bridge
    ready, ``users`` made (``(username, make_user keywords)``): ``(app, fake)``.
    The session for extra seed data is the caller's (``app.state.container``)."""
    from tests.factories import make_user, settings_for
    from tests.fakeami import FakeAMI

    fake = await FakeAMI().start()
    settings = settings_for(tmp_path, ami_port=fake.port, ami_secret=fake.secret, agi_port=0,
                            ami_ping_interval=30.0)
    try:
        async with live_app(settings) as app:
            c = app.state.container
            assert await c.bridge.wait_ready(5)
            async with c.sessionmaker() as db:
                for username, kw in users:
                    await make_user(db, username, **kw)
            yield app, fake
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def desks(base_url: str, logins: dict[str, bool]):
    """Signed-in desks by username (``{username: join_queues}``), closed when done."""
    from tests.factories import PASSWORD

    clients = {u: await DeskClient(base_url, u, PASSWORD).login(join_queues=join) for u, join in logins.items()}
    try:
        yield clients
    finally:
        for client in clients.values():
            await client.close()


async def push(fake, blocks) -> None:
    """The AMI event blocks, in order, from the fake AMI."""
    for b in blocks:
        await fake.push(b)


class DeskClient:
    """What the browser does: log in, join queues, listen on /ws/agent."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.username = username
        self.password = password
        self.token: str | None = None
        self.ws = None
        self.messages: asyncio.Queue = asyncio.Queue()
        self.received: list[dict] = []
        self._reader: asyncio.Task | None = None

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    async def login(self, *, join_queues: bool = True) -> "DeskClient":
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            r = await http.post("/api/v1/auth/login", json={"username": self.username, "password": self.password})
            r.raise_for_status()
            self.token = r.json()["access_token"]
            if join_queues:
                r = await http.post("/api/v1/agent/login", headers=self.headers)
                r.raise_for_status()
        ws_url = self.base_url.replace("http://", "ws://") + f"/ws/agent?token={self.token}"
        self.ws = await websockets.connect(ws_url)
        self._reader = asyncio.create_task(self._read())
        hello = await self.next_of("hello")
        assert hello["user"]["username"] == self.username
        return self

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                message["_received_at"] = asyncio.get_running_loop().time()
                self.received.append(message)
                self.messages.put_nowait(message)
        except websockets.ConnectionClosed:
            pass

    async def next_of(self, type_: str, timeout: float = 10.0, **match) -> dict:
        async def _wait():
            while True:
                m = await self.messages.get()
                if m.get("type") == type_ and all(_get(m, k) == v for k, v in match.items()):
                    return m
        return await asyncio.wait_for(_wait(), timeout)

    def of_type(self, type_: str) -> list[dict]:
        return [m for m in self.received if m.get("type") == type_]

    async def get(self, path: str, **params) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.get(path, params=params, headers=self.headers)

    async def post(self, path: str, json_body=None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.post(path, json=json_body, headers=self.headers)

    async def close(self, *, leave_queues: bool = False) -> None:
        if leave_queues:
            await self.post("/api/v1/agent/logout")
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader


def _get(message: dict, dotted: str):
    value = message
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def until(check, what: str = "the condition", timeout: float = 15.0, every: float = 0.02):
    """The first truthy result of ``check()`` (awaited if it is a coroutine), polled
    every ``every`` seconds until ``timeout``, else AssertionError naming ``what``:
    the one way the unit tests wait for a server's own task, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached in {timeout}s (last: {last!r})")
        await asyncio.sleep(every)  # polling under a deadline
