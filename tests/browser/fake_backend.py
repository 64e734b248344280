"""A fake ctidesk backend to test the agent console pages in isolation.

It serves the real static files at the same routes as the real backend
(``/`` -> ``/desk``, ``/login``, ``/desk``, ``/static/...``) with the same
Content-Security-Policy, and implements just enough of the API and websocket
contract for the page: ``POST /api/v1/auth/login``, ``POST /api/v1/agent/login``,
``POST /api/v1/agent/logout``, ``WS /ws/agent?token=...``, and the tickets and
callbacks endpoints the desk uses (``POST /api/v1/tickets``,
``GET /api/v1/tickets?assignee=me&open=true``, ``GET /api/v1/tickets/{id}``,
``POST /api/v1/tickets/{id}/calls``, ``GET /api/v1/callbacks?assignee=me&state=pending``,
``POST /api/v1/callbacks/{id}/result``). Those record every request in
``api_requests`` as ``(method, path, json body, Accept-Language, username)``.

Frames on ``/ws/agent`` are built from the server's own models
(``agent_desk.notifier``): ``push()`` validates a frame by its ``type`` and
serialises it as the server does (times become ISO 8601 with an offset), so a
field the server renames or retypes breaks the fake (and its tests) too.

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
from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from agent_desk.notifier import AGENT_FRAMES, AgentState, DeskUser, Hello
from agent_desk.pages import page

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
        self.api_requests: list[tuple[str, str, Any, str | None, str | None]] = []
        self.tickets: dict[int, dict[str, Any]] = {}  # id -> ticket (with "calls")
        self.callbacks: dict[int, dict[str, Any]] = {}  # id -> callback card
        self.next_ticket_id = 100

    def add_ticket(self, **kw: Any) -> dict[str, Any]:
        tid = kw.pop("id", None) or self.next_ticket_id
        self.next_ticket_id = max(self.next_ticket_id, tid + 1)
        ticket = {"id": tid, "customer_id": 7, "type": "repair", "state": "new", "priority": "normal",
                  "description": "", "product_model": None, "address": None, "assignee": None,
                  "call_id": None, "version": 1, "created_at": "2024-05-02T09:00:00Z",
                  "updated_at": "2024-05-02T09:00:00Z", "calls": []}
        ticket.update(kw)
        self.tickets[tid] = ticket
        return ticket

    def add_callback(self, **kw: Any) -> dict[str, Any]:
        cid = kw.pop("id", None) or (max(self.callbacks, default=0) + 1)
        cb = {"id": cid, "ticket_id": None, "customer_id": 7, "customer_name": "Zhang Wei",
              "reason": "Follow up", "state": "pending", "assignee": "alice",
              "due_at": "2024-05-03T09:00:00Z", "attempts": 0, "outcome": None, "satisfaction": None,
              "notes": None, "call_id": None, "created_at": "2024-05-02T09:00:00Z", "done_at": None,
              "overdue": False}
        cb.update(kw)
        self.callbacks[cid] = cb
        return cb

    def requests_to(self, method: str, path: str) -> list[tuple]:
        return [r for r in self.api_requests if r[0] == method and r[1] == path]

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
            return page("login.html", static_dir)

        @app.get("/desk")
        async def desk_page():
            return page("desk.html", static_dir)

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

        async def queue_login(request: Request, logged_in: bool):
            """Join (or leave) every queue of the user: the new state is broadcast."""
            user = self._bearer_user(request)
            self.calls.append((request.url.path, user and user["username"]))
            if user is None:
                return JSONResponse({"detail": "Not authenticated"}, status_code=401)
            st = {"state": "available" if logged_in else "logged_out",
                  "queues": list(user["queues"]) if logged_in else [], "paused_reason": None}
            self.agent_states[user["username"]] = st
            await self._broadcast({"type": "agent_state", **st})
            return {"queues": st["queues"], "state": st["state"]}

        @app.post("/api/v1/agent/login")
        async def agent_login(request: Request):
            return await queue_login(request, True)

        @app.post("/api/v1/agent/logout")
        async def agent_logout(request: Request):
            return await queue_login(request, False)

        async def record(request: Request, user) -> Any:
            body = None
            if request.method == "POST":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
            self.api_requests.append((request.method, request.url.path, body,
                                      request.headers.get("accept-language"), user and user["username"]))
            return body

        def invalid(request: Request, field: str, en: str, zh: str) -> JSONResponse:
            zh_wanted = request.headers.get("accept-language", "").lower().startswith("zh")
            return JSONResponse({"detail": [{"loc": ["body", field], "msg": zh if zh_wanted else en,
                                             "type": "value_error"}]}, status_code=422)

        async def signed_in(request: Request) -> tuple[dict, Any]:
            """``(user, body)`` of a request, recorded; 401 without a good bearer token."""
            user = self._bearer_user(request)
            body = await record(request, user)
            if user is None:
                raise HTTPException(401, "Not authenticated")
            return user, body

        def found(table: dict, key: int, what: str) -> dict:
            """``table[key]``; 404 (``"<what> not found"``) when it is not there."""
            if key not in table:
                raise HTTPException(404, f"{what} not found")
            return table[key]
        open_states = {"new", "assigned", "in_progress", "pending", "open"}

        @app.post("/api/v1/tickets")
        async def create_ticket(request: Request):
            _, body = await signed_in(request)
            if not isinstance(body, dict):
                return invalid(request, "body", "Invalid body.", "请求体无效。")
            if body.get("type") not in ("repair", "install", "complaint", "consultation", "suggestion",
                                        "callback"):
                return invalid(request, "type", "Unknown ticket type.", "未知的工单类型。")
            if not isinstance(body.get("customer_id"), int):
                return invalid(request, "customer_id", "A customer is required.", "必须指定客户。")
            if not str(body.get("description") or "").strip():
                return invalid(request, "description", "Description must not be empty.", "描述不能为空。")
            fields = {k: v for k, v in body.items() if k != "id"}
            ticket = self.add_ticket(**fields)
            if ticket.get("call_id"):
                ticket["calls"] = [ticket["call_id"]]
            return JSONResponse(ticket, status_code=201)

        @app.get("/api/v1/tickets")
        async def list_tickets(request: Request, assignee: str | None = None, open: bool = False):
            user, _ = await signed_in(request)
            who = user["username"] if assignee == "me" else assignee
            items = [tk for tk in self.tickets.values()
                     if (who is None or tk.get("assignee") == who) and (not open or tk["state"] in open_states)]
            items = [{k: v for k, v in tk.items() if k != "calls"} for tk in items]
            return {"items": items, "total": len(items), "limit": 50, "offset": 0}

        @app.get("/api/v1/tickets/{ticket_id}")
        async def get_ticket(ticket_id: int, request: Request):
            await signed_in(request)
            return found(self.tickets, ticket_id, "Ticket")

        @app.post("/api/v1/tickets/{ticket_id}/calls")
        async def link_call(ticket_id: int, request: Request):
            _, body = await signed_in(request)
            ticket = found(self.tickets, ticket_id, "Ticket")
            call_id = str((body or {}).get("call_id") or "")
            if not call_id:
                return invalid(request, "call_id", "A call id is required.", "必须指定通话。")
            if call_id not in ticket["calls"]:
                ticket["calls"].append(call_id)
            return {"ticket_id": ticket_id, "call_id": call_id, "calls": ticket["calls"]}

        @app.get("/api/v1/callbacks")
        async def list_callbacks(request: Request, assignee: str | None = None, state: str | None = None):
            user, _ = await signed_in(request)
            who = user["username"] if assignee == "me" else assignee
            items = [cb for cb in self.callbacks.values()
                     if (who is None or cb["assignee"] == who) and (state is None or cb["state"] == state)]
            return {"items": items, "total": len(items)}

        # The catalogue the ticket form reads (issue 14): empty unless a test routes its own answers.
        @app.get("/api/v1/catalog/faults")
        async def catalog_faults(request: Request):
            await signed_in(request)
            return {"classes": []}

        @app.get("/api/v1/catalog/products")
        async def catalog_products(request: Request):
            await signed_in(request)
            return {"categories": [], "models": []}

        @app.get("/api/v1/kb/scripts")
        async def kb_scripts(request: Request):
            await signed_in(request)
            return {"items": []}

        @app.post("/api/v1/agent/dial")
        async def agent_dial(request: Request):
            await signed_in(request)
            return JSONResponse({"status": "dialing", "number": "13800138000", "extension": "1001"},
                                status_code=202)

        @app.post("/api/v1/callbacks/{callback_id}/result")
        async def callback_result(callback_id: int, request: Request):
            _, body = await signed_in(request)
            cb = found(self.callbacks, callback_id, "Callback")
            body = body if isinstance(body, dict) else {}
            outcome = body.get("outcome")
            if outcome not in ("reached", "no_answer", "busy", "wrong_number", "refused"):
                return invalid(request, "outcome", "Unknown outcome.", "未知的结果。")
            if outcome == "reached" and body.get("satisfaction") not in (1, 2, 3, 4, 5):
                return invalid(request, "satisfaction", "Satisfaction is required.", "必须填写满意度。")
            cb.update(outcome=outcome, satisfaction=body.get("satisfaction"), notes=body.get("notes"),
                      state="done" if outcome == "reached" else "pending", attempts=cb["attempts"] + 1)
            return cb

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
                await ws.send_text(Hello(
                    user=DeskUser.model_validate(user),
                    agent_state=AgentState.model_validate(self.agent_states[user["username"]]),
                ).model_dump_json())
                while True:
                    await ws.receive_text()
            except WebSocketDisconnect:
                pass
            finally:
                self.sockets.discard(ws)

        return app

    async def _broadcast(self, message) -> int:
        # The server's model for this type: an unknown type or a bad field raises here.
        text = AGENT_FRAMES.validate(message).model_dump_json() if isinstance(message, dict) \
            else message.model_dump_json()
        sent = 0
        for ws in list(self.sockets):
            try:
                await ws.send_text(text)
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
