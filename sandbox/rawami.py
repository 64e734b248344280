"""A tiny blocking AMI client over a raw TCP socket (standard library only).

Used to record wire traces (``tools/capture_trace.py``): it keeps the bytes
exactly as Asterisk sent them, block by block (``\\r\\n``-terminated header
lines, a blank line ending each block), which a parsing client would lose.
"""
from __future__ import annotations

import itertools
import socket
import threading
import time
from typing import BinaryIO, Callable

EOL = b"\r\n"
BLOCK_END = b"\r\n\r\n"


class RawAmiError(RuntimeError):
    pass


def parse_block(block: bytes) -> dict[str, str]:
    """Headers of one AMI block (last value wins for repeated keys)."""
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key] = value
        elif line.endswith(":"):
            headers[line[:-1]] = ""
    return headers


def _encode_action(action: dict) -> bytes:
    lines = []
    for key, value in action.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            text = f"{key}: {v}"
            if "\r" in text or "\n" in text:
                raise RawAmiError(f"line break in AMI header {key!r}")
            lines.append(text)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class RawAmi:
    """Blocking AMI connection: ``login()``, ``blocks()``, ``action()``."""

    _ids = itertools.count(1)

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.host, self.port, self.timeout = host, int(port), timeout
        try:
            self.sock = socket.create_connection((host, self.port), timeout=timeout)
        except OSError as exc:
            raise RawAmiError(f"AMI at {host}:{port} is unreachable: {exc}") from None
        self.buf = b""
        self.banner = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            raise RawAmiError("AMI closed the connection")
        self.buf += data
        return True

    def read_banner(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while EOL not in self.buf:
            if not self._fill(deadline):
                raise RawAmiError("no AMI banner")
        line, _, self.buf = self.buf.partition(EOL)
        self.banner = line + EOL
        return self.banner

    def next_block(self, deadline: float) -> bytes | None:
        """The next complete block including its terminating blank line, or None at the deadline."""
        while BLOCK_END not in self.buf:
            if not self._fill(deadline):
                return None
        block, _, self.buf = self.buf.partition(BLOCK_END)
        return block + BLOCK_END

    def send(self, action: dict) -> str:
        action = dict(action)
        action.setdefault("ActionID", f"raw-{next(self._ids)}")
        self.sock.sendall(_encode_action(action))
        return action["ActionID"]

    def login(self, user: str, secret: str, events: str = "on") -> tuple[list[bytes], bytes]:
        """Log in; return (the blocks that arrived meanwhile, the login response block)."""
        if not self.banner:
            self.read_banner()
        action_id = self.send({"Action": "Login", "Username": user, "Secret": secret, "Events": events})
        early: list[bytes] = []
        deadline = time.monotonic() + self.timeout
        while True:
            block = self.next_block(deadline)
            if block is None:
                raise RawAmiError("AMI did not answer the login")
            headers = parse_block(block)
            if headers.get("ActionID") == action_id:
                if headers.get("Response") != "Success":
                    raise RawAmiError(f"AMI refused the login of {user!r}: {headers.get('Message')}")
                return early, block
            early.append(block)

    def action(self, action: dict, timeout: float | None = None) -> dict[str, str]:
        """Send an action and return its (first) response block's headers; events are dropped."""
        action_id = self.send(action)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            block = self.next_block(deadline)
            if block is None:
                raise RawAmiError(f"no answer to {action.get('Action')}")
            headers = parse_block(block)
            if headers.get("ActionID") == action_id and "Response" in headers:
                return headers

    def action_list(self, action: dict, timeout: float | None = None) -> list[dict[str, str]]:
        """Send a list action (QueueStatus, CoreShowChannels...): response + events up to ``EventList: Complete``."""
        action_id = self.send(action)
        deadline = time.monotonic() + (timeout or self.timeout)
        out: list[dict[str, str]] = []
        while True:
            block = self.next_block(deadline)
            if block is None:
                raise RawAmiError(f"no complete answer to {action.get('Action')}")
            headers = parse_block(block)
            if headers.get("ActionID") != action_id:
                continue
            out.append(headers)
            if headers.get("Response") == "Error" or headers.get("EventList") == "Complete":
                return out


def capture(
    host: str,
    port: int,
    user: str,
    secret: str,
    out: BinaryIO,
    seconds: float,
    *,
    stop: threading.Event | None = None,
    on_block: Callable[[dict[str, str]], None] | None = None,
    ready: threading.Event | None = None,
    keep_login: bool = False,
) -> int:
    """Log in with ``Events: on`` and write every block read to ``out`` for ``seconds``.

    By default the banner line and the login's own response are left out (the
    file then starts like the traces in /work/shared/ami-traces/asterisk22);
    ``keep_login=True`` keeps them. Stops early when ``stop`` is set. Returns
    the number of blocks written.
    """
    count = 0
    with RawAmi(host, port) as ami:
        banner = ami.read_banner()
        if keep_login:
            out.write(banner)
        early, response = ami.login(user, secret, events="on")
        for block in early:  # events that came in before the login's response
            out.write(block)
            count += 1
            if on_block:
                on_block(parse_block(block))
        if keep_login:
            out.write(response)
        if ready is not None:
            ready.set()
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            block = ami.next_block(min(end, time.monotonic() + 0.2))
            if block is None:
                continue
            out.write(block)
            out.flush()
            count += 1
            if on_block:
                on_block(parse_block(block))
        # drain what already arrived, then log off politely
        while True:
            block = ami.next_block(time.monotonic() + 0.05)
            if block is None:
                break
            out.write(block)
            count += 1
        try:
            ami.send({"Action": "Logoff"})
        except OSError:
            pass
    out.flush()
    return count
