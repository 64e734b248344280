"""A real SIP desk phone for tests and benchmarks: baresip (Debian's
``baresip-core``), a SIP user agent nobody here wrote, registered as an
agent's extension.

Each phone gets a private config directory: SIP on 127.0.0.1 only (UDP/TCP on
``sip_port``; baresip also opens TLS on ``sip_port + 1``), media on a small
RTP port range of its own, no STUN/TURN/ICE, no DNS server but 127.0.0.1.
What it "says" is a WAV file played by the ``aufile`` module: by default a
steady 1 kHz tone, so a recording of the call has known audio to look for.
What it hears goes to ``aubridge`` with no source attached (a null player).
``answermode=auto``: it answers every call at once, as a desk phone set to
auto-answer (or an agent with a headset who always picks up) does.

It is driven and watched over ``ctrl_tcp`` (JSON in netstrings on a loopback
port): every event baresip raises (``REGISTER_OK``, ``CALL_INCOMING``,
``CALL_ESTABLISHED``, ``CALL_CLOSED``...) is kept with the wall-clock time it
was read, and commands (``hangup``, ``reginfo``...) get their answers.

    phone = Baresip(tmp_path / "phone", user="1004", password=pw)
    await phone.start()
    await phone.wait_event("REGISTER_OK")
    ...
    phone.stop()   # always (a finally): kills its own pid only
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

BINARY = "baresip"
MODULES_DIR = Path("/usr/lib/baresip/modules")
SAMPLE_RATE = 8000  # G.711: what the sandbox's endpoints offer (ulaw, alaw)
RTP_BASE = 23000  # 23000-23999: clear of the sandbox PBX (20000-20999) and the carrier (21000-21999)
RTP_SPAN = 1000


class BaresipError(RuntimeError):
    pass


def available() -> str | None:
    """Why baresip cannot run here, or None."""
    if shutil.which(BINARY) is None:
        return "baresip is not installed (Debian: apt-get install baresip-core)"
    missing = [m for m in ("aufile.so", "aubridge.so", "g711.so", "ctrl_tcp.so", "menu.so", "account.so")
               if not (MODULES_DIR / m).exists()]
    if missing:
        return f"baresip modules missing in {MODULES_DIR}: {', '.join(missing)}"
    return None


def write_tone(path: Path, *, hz: float = 1000.0, seconds: float = 120.0, amplitude: float = 0.35) -> Path:
    """A mono 16-bit WAV of a steady sine tone at :data:`SAMPLE_RATE`."""
    n = int(SAMPLE_RATE * seconds)
    period = [int(32767 * amplitude * math.sin(2 * math.pi * hz * i / SAMPLE_RATE)) for i in range(SAMPLE_RATE)]
    one_second = struct.pack(f"<{SAMPLE_RATE}h", *period)  # hz is a whole number of cycles per second
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        whole, rest = divmod(n, SAMPLE_RATE)
        for _ in range(whole):
            w.writeframes(one_second)
        w.writeframes(one_second[:rest * 2])
    return path


def _port_pair_free(port: int) -> bool:
    """UDP+TCP on ``port`` and TCP on ``port + 1`` (baresip's TLS listener) are free on 127.0.0.1."""
    socks = []
    try:
        for kind, p in ((socket.SOCK_DGRAM, port), (socket.SOCK_STREAM, port), (socket.SOCK_STREAM, port + 1)):
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_sip_port() -> int:
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000 and _port_pair_free(port):
            return port
    raise BaresipError("no free port pair for baresip's SIP listener on 127.0.0.1")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_rtp_slots = itertools.count(os.getpid() % 50)


def rtp_range() -> tuple[int, int]:
    """A 20-port range of RTP/RTCP ports for one phone inside 23000-23999."""
    slot = next(_rtp_slots) % (RTP_SPAN // 20)
    lo = RTP_BASE + slot * 20
    return lo, lo + 19


@dataclass
class PhoneEvent:
    at: float  # time.time() when it was read from ctrl_tcp
    type: str
    data: dict = field(default_factory=dict)


class Baresip:
    def __init__(self, workdir: Path, *, user: str, password: str, registrar: str = "127.0.0.1:5060",
                 audio: Path | None = None, tone_hz: float = 1000.0, answermode: str = "auto",
                 regint: int = 60, display_name: str | None = None, sip_trace: bool = False) -> None:
        reason = available()
        if reason:
            raise BaresipError(reason)
        self.dir = Path(workdir)
        self.user, self.password, self.registrar = user, password, registrar
        self.audio, self.tone_hz = audio, tone_hz
        self.answermode, self.regint, self.display_name = answermode, regint, display_name
        self.sip_trace = sip_trace
        self.sip_port = 0
        self.ctrl_port = 0
        self.rtp_ports = rtp_range()
        self.proc: subprocess.Popen | None = None
        self.events: list[PhoneEvent] = []
        self._queue: asyncio.Queue[PhoneEvent] = asyncio.Queue()
        self._responses: dict[str, asyncio.Future] = {}
        self._tokens = itertools.count(1)
        self._reader: asyncio.Task | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.log = self.dir / "baresip.log"

    # -- configuration -------------------------------------------------------

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.audio is None:
            self.audio = write_tone(self.dir / f"tone-{int(self.tone_hz)}hz.wav", hz=self.tone_hz)
        self.sip_port = free_sip_port()
        self.ctrl_port = free_tcp_port()
        lo, hi = self.rtp_ports
        config = f"""# baresip config written by ctidesk's sandbox/baresip.py: loopback only
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{self.sip_port}
net_interface\t\t127.0.0.1
dns_server\t\t127.0.0.1:53
call_local_timeout\t120
call_max_calls\t\t4
audio_player\t\taubridge,ctidesk-null
audio_alert\t\taubridge,ctidesk-null
audio_source\t\taufile,{self.audio}
ausrc_srate\t\t{SAMPLE_RATE}
auplay_srate\t\t{SAMPLE_RATE}
ausrc_channels\t\t1
auplay_channels\t\t1
audio_level\t\tno
rtp_ports\t\t{lo}-{hi}
rtcp_mux\t\tno
rtp_stats\t\tyes
jitter_buffer_delay\t1-5
module_path\t\t{MODULES_DIR}
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\taubridge.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}
"""
        (self.dir / "config").write_text(config, encoding="utf-8")
        # No account in the file: it is added over ctrl_tcp once we listen (``uanew``),
        # so the REGISTER and its outcome happen while our event reader is connected.
        (self.dir / "accounts").write_text("", encoding="utf-8")
        (self.dir / "contacts").write_text("", encoding="utf-8")

    @property
    def account_line(self) -> str:
        name = f'"{self.display_name}" ' if self.display_name else ""
        return (f"{name}<sip:{self.user}@{self.registrar};transport=udp>;auth_user={self.user};"
                f"auth_pass={self.password};regint={self.regint};answermode={self.answermode}")

    # -- process -------------------------------------------------------------

    async def start(self, timeout: float = 10.0) -> "Baresip":
        self.write_config()
        args = [BINARY, "-f", str(self.dir)]
        if self.sip_trace:
            args.append("-s")
        self.proc = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BaresipError(f"baresip exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BaresipError(f"baresip's ctrl_tcp did not listen within {timeout}s:\n{self.tail()}")
                await asyncio.sleep(0.05)  # waiting for the process to open its control port
        self._reader = asyncio.create_task(self._read(reader))
        answer = await self.command("uanew", self.account_line)
        if not answer.get("ok"):
            self.stop()
            raise BaresipError(f"baresip refused the account: {answer}\n{self.tail()}")
        return self

    def stop(self) -> None:
        """Stop this phone (its own pid), unregistering if it still can."""
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # baresip unregisters, then exits
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # -- ctrl_tcp ------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Netstrings (``<len>:<json>,``) until the socket closes."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                size = int((await reader.readuntil(b":"))[:-1])
                payload = await reader.readexactly(size + 1)
                at = time.time()
                message = json.loads(payload[:-1])
                if message.get("response"):
                    fut = self._responses.pop(str(message.get("token")), None)
                    if fut is not None and not fut.done():
                        fut.set_result(message)
                elif message.get("event"):
                    e = PhoneEvent(at, str(message.get("type")), message)
                    self.events.append(e)
                    self._queue.put_nowait(e)

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict:
        if self._writer is None:
            raise BaresipError("baresip is not running")
        token = str(next(self._tokens))
        fut = asyncio.get_running_loop().create_future()
        self._responses[token] = fut
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(f"{len(body)}:".encode() + body + b",")
        await self._writer.drain()
        return await asyncio.wait_for(fut, timeout)

    async def wait_event(self, *types: str, timeout: float = 10.0) -> PhoneEvent:
        """The next event of one of ``types`` (events before it are consumed)."""
        async def _wait():
            while True:
                e = await self._queue.get()
                if e.type in types:
                    return e
        try:
            return await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            seen = [e.type for e in self.events[-15:]]
            raise TimeoutError(f"baresip {self.user}: no {'/'.join(types)} within {timeout}s "
                               f"(last events: {seen}; exited: {self.proc and self.proc.poll()})\n"
                               f"{self.tail(15)}") from None

    def of_type(self, type_: str) -> list[PhoneEvent]:
        return [e for e in self.events if e.type == type_]

    def drain(self) -> None:
        """Forget queued events (what :meth:`wait_event` would return next)."""
        while not self._queue.empty():
            self._queue.get_nowait()
