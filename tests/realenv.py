"""Real-Asterisk harness (real and browser tiers): the sandbox Asterisk plus ``ctidesk serve`` as a real process.

Everything here talks to real parts: Asterisk 22 in the sandbox root, our
server started with the ``ctidesk`` CLI (so it can be killed mid-call like a
real crash), users made with ``ctidesk user add``, calls placed by AMI
Originate. If the sandbox cannot run, tests FAIL with the reason.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from cti.oneshot import ami_action, ami_action_list, ami_command
from ctidesk.settings import load_settings
from sandbox.calls import place_test_call
from sandbox.provision import ProvisionError
from sandbox.runner import Sandbox, SandboxError, effective_settings, exclusive_use, set_phone
from tests.live import DeskClient

ROOT = Path(__file__).resolve().parents[1]  # the checkout (tests/realenv.py -> tests -> root)
PASSWORD = "real-tier-password"


@pytest.fixture(scope="session")
def sandbox():
    """The sandbox Asterisk, held exclusively for this test session (see
    ``sandbox.runner.exclusive_use``: one Asterisk per machine)."""
    settings = load_settings()
    with exclusive_use(settings, who=f"(pytest pid {os.getpid()})"):
        sb = Sandbox(settings)
        try:
            sb.up()
        except (ProvisionError, SandboxError) as exc:
            pytest.fail(f"the sandbox Asterisk is not available, real-tier tests did NOT run: {exc}", pytrace=False)
        yield sb


@pytest.fixture(scope="session")
def ami(sandbox):
    return effective_settings(sandbox.settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``ctidesk serve`` in its own process, on a private database."""

    def __init__(self, ami_settings, state_dir: Path) -> None:
        self.ami = ami_settings
        self.state_dir = state_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ,
                    "CTIDESK_STATE_DIR": str(state_dir),
                    "CTIDESK_DATABASE_URL": f"sqlite+aiosqlite:///{state_dir}/real.db",
                    "CTIDESK_HTTP_PORT": str(self.port),
                    "CTIDESK_AMI_SECRET": ami_settings.ami_secret,
                    "CTIDESK_AMI_PING_INTERVAL": "1", "CTIDESK_AMI_PING_TIMEOUT": "2",
                    "CTIDESK_AMI_RECONNECT_MAX": "1",
                    # a one-word IVR, same routes as the demo: spine calls reach their queue in ~3 s
                    "CTIDESK_IVR_CONFIG": str(Path(__file__).resolve().parent / "fixtures" / "ivr" / "quick.toml")}
        self.proc: subprocess.Popen | None = None
        self.log = state_dir / "serve.log"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ctidesk.cli", *args], cwd=ROOT, env=self.env,
                              input=stdin, text=True, capture_output=True, timeout=60)

    async def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "ctidesk.cli", "serve"], cwd=ROOT, env=self.env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        await self.wait_ami(30)

    async def health(self, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as http:
            return (await http.get("/healthz", headers=headers)).json()

    async def wait_ami(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ctidesk serve exited with {self.proc.returncode}: {self.tail()}")
            try:
                body = await self.health()
                if body.get("ami_connected"):
                    return body
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)  # polling the health endpoint under a deadline
        raise TimeoutError(f"ctidesk serve did not connect to AMI in {timeout}s: {self.tail()}")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown code runs."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def add_user(self, username: str, role: str = "agent", extension: str | None = None,
                 queues: str | None = None, phone: str | None = None) -> subprocess.CompletedProcess:
        args = ["user", "add", username, "--role", role, "--password-stdin"]
        if phone:
            args += ["--phone", phone]
        if extension:
            args += ["--extension", extension]
        if queues:
            args += ["--queues", queues]
        r = self.cli(*args, stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr + r.stdout
        return r

    async def desk(self, username: str, **kw) -> DeskClient:
        return await DeskClient(self.base_url, username, PASSWORD).login(**kw)


async def remove_all_members(ami) -> None:
    """Start each test from empty queues (dynamic members persist in astdb)."""
    rows = await ami_action_list(ami, {"Action": "QueueStatus"}, timeout=10)
    for row in rows:
        if row.get("Event") == "QueueMember":
            await ami_action(ami, {"Action": "QueueRemove", "Queue": row["Queue"],
                                   "Interface": row.get("Location") or row.get("Interface")}, timeout=5)


async def wait_no_channels(ami, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = await ami_command(ami, "core show channels count", timeout=5)
        if "0 active channels" in out:
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"Asterisk still has channels after {timeout}s: {out}")


async def _prepare(ami) -> None:
    await wait_no_channels(ami)
    await remove_all_members(ami)
    for ext in ("1001", "1002", "1003", "1009"):
        await set_phone(ami, ext, reset=True)


_TEMPLATE: dict[str, Path] = {}
_TEMPLATE_LOCK = threading.Lock()


def _template_db(ami) -> Path:
    """The seeded database, made once per test session with the real CLI
    (``ctidesk db upgrade`` and ``ctidesk user add``) and copied for each test.

    Why: five CLI processes per test cost ~10 s of CPU each time (75 tests in the
    real and browser tiers: most of 10 minutes of CI); a copy of the same file
    costs milliseconds and gives every test the same fresh database."""
    with _TEMPLATE_LOCK:
        if "db" not in _TEMPLATE:
            where = Path(tempfile.mkdtemp(prefix="ctidesk-seed-"))
            atexit.register(shutil.rmtree, where, True)
            srv = Server(ami, where)
            migrate = srv.cli("db", "upgrade")
            assert migrate.returncode == 0, migrate.stderr
            srv.add_user("alice", extension="1001", queues="support")
            srv.add_user("bob", extension="1002", queues="support")
            srv.add_user("carol", extension="1003", queues="sales")
            srv.add_user("sam", role="supervisor", extension="1009")  # a phone: listen / whisper / barge
            with contextlib.closing(sqlite3.connect(where / "real.db")) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file we copy
            _TEMPLATE["db"] = where / "real.db"
        return _TEMPLATE["db"]


def _seed(srv: Server) -> None:
    """alice/bob (support), carol (sales), sam (supervisor) in ``srv``'s own database."""
    shutil.copyfile(_template_db(srv.ami), srv.state_dir / "real.db")


@contextlib.asynccontextmanager
async def serving(ami, state_dir: Path, env: dict | None = None):
    """A fresh ``ctidesk serve`` with alice/bob (support), carol (sales), sam (supervisor);
    ``env`` adds to its environment."""
    await _prepare(ami)
    srv = Server(ami, state_dir)
    srv.env.update(env or {})
    try:
        _seed(srv)
        await srv.start()
        yield srv
    finally:
        srv.stop()
        await remove_all_members(ami)


@pytest.fixture
async def server(ami, tmp_path):
    """A fresh ``ctidesk serve`` with alice/bob (support), carol (sales), sam (supervisor)."""
    async with serving(ami, tmp_path) as srv:
        yield srv


def in_thread(coro):
    """Run a coroutine to completion from sync code that may sit inside a
    running loop (Playwright's sync API runs one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def sync_server(ami, tmp_path):
    """``server`` for sync tests (the browser tier)."""
    in_thread(_prepare(ami))
    srv = Server(ami, tmp_path)
    try:
        _seed(srv)
        in_thread(srv.start())
        yield srv
    finally:
        srv.stop()
        in_thread(remove_all_members(ami))


async def until(fn, what: str, timeout: float = 15):
    """The first truthy result of ``await fn()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await fn()
        if last:
            return last
        await asyncio.sleep(0.2)  # polling Asterisk / the API under a deadline
    raise AssertionError(f"{what}: not reached in {timeout}s (last: {last})")


async def call(ami, number: str, **kw):
    placed = await place_test_call(ami, number, **kw)
    assert placed.ok, placed.response
    return placed
