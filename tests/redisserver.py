"""A throwaway ``redis-server`` (Debian's package) on a unix socket, for the
cluster tests: started per test module, stopped by its pid. If it cannot start,
the test FAILS with the reason (``./dev test`` installs ``redis-server``)."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


class RedisServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ctidesk-redis-"))
        self.sock = self.dir / "redis.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> "RedisServer":
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(exe).exists():
            pytest.fail("redis-server is not installed (apt-get install redis-server; ./dev test does it): "
                        "the cluster tests did NOT run", pytrace=False)
        self.proc = subprocess.Popen(
            [exe, "--port", "0", "--unixsocket", str(self.sock), "--unixsocketperm", "700", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited with {self.proc.returncode}: {self.log()}", pytrace=False)
            if self._pong():
                return self
            time.sleep(0.05)  # polling the socket under a deadline
        self.stop()
        pytest.fail(f"redis-server did not answer PING in {timeout}s: {self.log()}", pytrace=False)

    def _pong(self) -> bool:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(self.sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "redis.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def redis_server():
    srv = RedisServer().start()
    try:
        yield srv
    finally:
        srv.stop()
