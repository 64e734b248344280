"""What the benchmarks share: printing, percentiles and a run bounded in time, the cached SQLite
database (its key, its migration, building it under a temporary name),
``ctidesk serve`` in its own process, and an AMI connection for the
benchmark's own actions. Used by ``bench/softphone.py``, ``bench/tickets.py``
and ``bench/recordings.py``."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from cti.protocol import FastAMIProtocol

ROOT = Path(__file__).resolve().parent.parent


def say(line: str = "") -> None:
    print(line, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


async def run_bounded(run, timeout: float) -> int:
    """Await ``run`` for at most ``timeout`` seconds: 0 when it finished, 2 (said why) when it
    timed out or failed on the way (the server, the PBX, the network)."""
    try:
        await asyncio.wait_for(run, timeout)
    except (asyncio.TimeoutError, TimeoutError) as exc:
        say(f"!!! stopped: {exc!r} (whole run bounded by --timeout {timeout:g}s)")
        return 2
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        say(f"!!! benchmark aborted: {type(exc).__name__}: {exc}")
        return 2
    return 0


# ---------------------------------------------------------------- the cached database

def migrations_key(db_format: int) -> str:
    """Part of a cached database's name: it changes with the generator's format or any migration."""
    h = hashlib.sha256(f"format{db_format}".encode())
    for p in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


def migrate(path: Path, prefix: str) -> None:
    """The schema of the migrations into the SQLite file ``path``."""
    from ctidesk.migrate import upgrade
    from ctidesk.settings import Settings

    with tempfile.TemporaryDirectory(prefix=prefix) as state:
        upgrade(Settings().with_(state_dir=Path(state), database_url=f"sqlite+aiosqlite:///{path}"))


def building(path: Path) -> Path:
    """The empty temporary file ``path`` is built in (``<name>.building``, no leftovers of a former try)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return tmp


def check_phones(con: sqlite3.Connection) -> None:
    """The written phone forms, checked on a sample with the app's own normalizer."""
    from customers.phone import normalize

    for cid, raw, norm in con.execute("SELECT customer_id, raw, normalized FROM customer_phones "
                                      "WHERE id % 9973 = 0").fetchall():
        if normalize(raw).normalized != norm:
            sys.exit(f"generated phone {raw!r} of customer {cid} does not normalize to {norm}")


def built(con: sqlite3.Connection, tmp: Path, path: Path) -> None:
    """Close the database built in ``tmp`` as one self-contained file and move it to ``path``."""
    con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to copy
    con.close()
    os.replace(tmp, path)


# ---------------------------------------------------------------- ctidesk serve

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``ctidesk serve`` in its own process on a private database."""

    def __init__(self, env: dict, state_dir: Path, agi_port: int | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # no AGI port given: a private one leaves 4573 to whoever has it
        self.env = {**env, "CTIDESK_HTTP_PORT": str(self.port),
                    "CTIDESK_AGI_PORT": str(agi_port or free_port()), "CTIDESK_LOG_LEVEL": "WARNING"}
        self.log = state_dir / "serve.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """What follows ``python`` to run the server."""
        return ["-m", "ctidesk.cli", "serve"]

    async def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen([sys.executable, *self.command()], cwd=ROOT, env=self.env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"ctidesk serve exited with {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).json().get("ami_connected"):
                        return
                await asyncio.sleep(0.2)  # polling the health endpoint under a deadline
        raise TimeoutError(f"ctidesk serve did not connect to AMI within {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    def terminate(self) -> None:
        """How the server is asked to stop (a subclass may send another signal)."""
        self.proc.terminate()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------- AMI

class Ami:
    """One AMI connection for the benchmark's own actions (pipelined); ``EVENTS``
    names the AMI event classes it asks for and ``NAMES`` the events :meth:`on_event` hears."""

    EVENTS = "off"
    NAMES: frozenset = frozenset()

    def __init__(self, settings) -> None:
        self.s = settings
        self.proto: FastAMIProtocol | None = None

    async def open(self):
        loop = asyncio.get_running_loop()
        _, self.proto = await asyncio.wait_for(loop.create_connection(
            lambda: FastAMIProtocol(self.on_event, self.NAMES, lambda exc: None),
            self.s.ami_host, int(self.s.ami_port)), 5)
        r = await self.act({"Action": "Login", "Username": self.s.ami_user, "Secret": self.s.ami_secret,
                            "Events": self.EVENTS})
        if r.get("Response") != "Success":
            raise RuntimeError(f"AMI login refused: {r.get('Message')}")
        return self

    def on_event(self, name: str, fields: dict) -> None:
        pass

    async def act(self, action: dict, *, as_list: bool = False, timeout: float = 15):
        return await asyncio.wait_for(self.proto.send_action(action, as_list=as_list), timeout)

    async def channels(self) -> int:
        rows = await self.act({"Action": "CoreShowChannels"}, as_list=True)
        return sum(1 for m in rows[1:] if m.get("Event") == "CoreShowChannel")

    def close(self) -> None:
        if self.proto is not None:
            self.proto.close()
