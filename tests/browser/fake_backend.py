"""A fake ctidesk backend to test the agent console pages in isolation.

It serves the real static files at the same routes as the real backend
(``/`` -> ``/desk``, ``/login``, ``/desk``, ``/static/...``) with the same
Content-Security-Policy, and implements just enough of the API and websocket
contract for the page: ``POST /api/v1/auth/login``, ``POST /api/v1/agent/login``,
``POST /api/v1/agent/logout`` and ``WS /ws/agent?token=...``.

Tests drive it from their own thread: ``push()`` sends a message to every
connected desk socket, ``close_sockets()`` drops them (as a server restart
would), ``wait_for_sockets()`` waits for the desk to (re)connect.

Run with uvicorn in a background thread on 127.0.0.1 and an OS-chosen port.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[2] / "agent_desk" / "static"

CSP = "default-src 'self'; connect-src 'self' ws: wss:"

USERS: dict[str, dict[str, Any]] = {
    "alice": {
        "password": "correct horse",
        "user": {
            "username": "alice",
            "display_name": "Alice Martin",
            "role": "agent",
            "extension": "1001",
            "queues": ["sales", "support"],
        },
    },
    "bob": {
        "password": "hunter22",
        "user": {
            "username": "bob",
            "display_name": "Bob Li",
            "role": "agent",
            "extension": "1002",
            "queues": ["support"],
        },
    },
}


def token_for(username: str) -> str:
    return f"fake-token-{username}"


class FakeBackend:
    def __init__(self, static_dir: Path = STATIC_DIR) -> None:
        self.static_dir = Path(static_dir)
        self.app = self._build_app()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.sockets: set[WebSocket] = set()
        self.reset()

    # ---- state the tests can look at or tweak ------------------------------

    def reset(self) -> None:
        """Back to a clean state between tests (does not touch open sockets)."""
        self.rate_limited = False  # login answers 429
        self.reject_ws = False  # websocket closes with 4401 although the token is fine
        self.calls: list[tuple[str, str | None]] = []  # (path, username)
        self.ws_connects = 0
        self.agent_states: dict[str, dict[str, Any]] = {
            name: {"state": "logged_out", "queues": [], "paused_reason": None} for name in USERS
        }

    # ---- app -------------------------------------------------------------------

    def _user_for_token(self, token: str | None) -> dict[str, Any] | None:
        for name, entry in USERS.items():
            if token and token == token_for(name):
                return entry["user"]
        return None

    def _bearer_user(self, request: Request) -> dict[str, Any] | None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        return self._user_for_token(auth[7:].strip())

    def _build_app(self) -> FastAPI:
        app = FastAPI()
        static_dir = self.static_dir

        @app.middleware("http")
        async def security_headers(request: Request, call_next):
            response = await call_next(request)
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
            return response

        @app.get("/")
        async def root():
            return RedirectResponse("/desk", status_code=307)

        @app.get("/login")
        async def login_page():
            return FileResponse(static_dir / "login.html", media_type="text/html")

        @app.get("/desk")
        async def desk_page():
            return FileResponse(static_dir / "desk.html", media_type="text/html")

        app.mount("/static", StaticFiles(directory=static_dir), name="static")

        @app.post("/api/v1/auth/login")
        async def auth_login(request: Request):
            self.calls.append(("/api/v1/auth/login", None))
            if self.rate_limited:
                return JSONResponse({"detail": "Too many attempts"}, status_code=429)
            try:
                body = await request.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            entry = USERS.get(str(body.get("username", "")))
            if entry is None or body.get("password") != entry["password"]:
                return JSONResponse({"detail": "Invalid username or password"}, status_code=401)
            user = entry["user"]
            return {"access_token": token_for(user["username"]), "token_type": "bearer", "user": user}

        @app.post("/api/v1/agent/login")
        async def agent_login(request: Request):
            user = self._bearer_user(request)
            self.calls.append(("/api/v1/agent/login", user and user["username"]))
            if user is None:
                return JSONResponse({"detail": "Not authenticated"}, status_code=401)
            st = {"state": "available", "queues": list(user["queues"]), "paused_reason": None}
            self.agent_states[user["username"]] = st
            await self._broadcast({"type": "agent_state", **st})
            return {"queues": st["queues"], "state": st["state"]}

        @app.post("/api/v1/agent/logout")
        async def agent_logout(request: Request):
            user = self._bearer_user(request)
            self.calls.append(("/api/v1/agent/logout", user and user["username"]))
            if user is None:
                return JSONResponse({"detail": "Not authenticated"}, status_code=401)
            st = {"state": "logged_out", "queues": [], "paused_reason": None}
            self.agent_states[user["username"]] = st
            await self._broadcast({"type": "agent_state", **st})
            return {"queues": [], "state": "logged_out"}

        @app.websocket("/ws/agent")
        async def ws_agent(ws: WebSocket, token: str = ""):
            user = self._user_for_token(token)
            # Accept first, then close: a close before accept becomes an HTTP 403
            # and the browser would only see code 1006, never 4401.
            await ws.accept()
            if user is None or self.reject_ws:
                await ws.close(code=4401, reason="bad token")
                return
            self.ws_connects += 1
            self.sockets.add(ws)
            try:
                await ws.send_json({
                    "type": "hello",
                    "user": user,
                    "agent_state": self.agent_states[user["username"]],
                })
                while True:
                    await ws.receive_text()
            except WebSocketDisconnect:
                pass
            finally:
                self.sockets.discard(ws)

        return app

    async def _broadcast(self, message: dict) -> int:
        sent = 0
        for ws in list(self.sockets):
            try:
                await ws.send_json(message)
                sent += 1
            except Exception:  # noqa: BLE001 - a dead socket just drops out
                self.sockets.discard(ws)
        return sent

    async def _close_all(self, code: int) -> None:
        for ws in list(self.sockets):
            self.sockets.discard(ws)
            with contextlib.suppress(Exception):
                await ws.close(code=code)

    # ---- control from the test thread ------------------------------------------

    def _run(self, coro, timeout: float = 10):
        assert self.loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def push(self, message: dict) -> int:
        """Send ``message`` to every connected desk; returns how many got it."""
        return self._run(self._broadcast(message))

    def close_sockets(self, code: int = 1012) -> None:
        """Close every desk socket from the server side (1012 = service restart)."""
        self._run(self._close_all(code))

    def wait_for_sockets(self, n: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sockets) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {n} desk socket(s), have {len(self.sockets)}")
            time.sleep(0.02)

    def wait_for_no_sockets(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.sockets:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.sockets)} desk socket(s) still open")
            time.sleep(0.02)

    # ---- lifecycle ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> "FakeBackend":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[sock])

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), name="fake-backend", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake backend did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10) -> None:
        if self._server is None:
            return
        if self.loop is not None and self.sockets:
            with contextlib.suppress(Exception):
                self._run(self._close_all(1001), timeout=3)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None


if __name__ == "__main__":  # manual poking: python tests/browser/fake_backend.py
    backend = FakeBackend().start()
    print(f"fake backend on {backend.base_url} (alice / 'correct horse'); Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        backend.stop()
