#!/usr/bin/env python3
"""A real SIP phone on the desk path: calls over the SIP trunk to an agent
whose phone is baresip (a real SIP UA, auto-answer), against the same calls
to an agent with a simulated Local-channel phone, in the same run.

Each call comes from the simulated carrier (a second Asterisk) over the SIP
trunk to the agent's extension (a direct call: ``ctidesk-inbound`` ``_1XXX``
dials ``PJSIP/<ext>`` for a SIP phone, ``Local/<ext>@agents`` otherwise; no
IVR, whose fixed prompts would swamp what is measured). Calls alternate
between the two agents, one at a time. Per call:

(a) **INVITE on the trunk -> screen pop on the desk**: from the kernel
    receive time of the carrier's INVITE on 127.0.0.1:5060 (a packet socket on
    ``lo`` with SO_TIMESTAMPNS; the INVITE carries the test call's id in
    ``X-Ctidesk-Testcall``) to the time this script's ``/ws/agent`` client
    received the ``screen_pop`` frame. Also shown: INVITE -> the PBX's
    ``Newchannel`` for the trunk channel (AMI ``Timestamp``: Asterisk's own
    share).
(b) **answer -> first audio towards the caller**: from the agent's channel
    going Up (AMI ``Newstate`` ``ChannelState: 6`` of the channel ``Dial``
    rang, Asterisk's timestamp) to the first RTP packet the PBX sends on the
    trunk to the carrier (kernel time on ``lo``). Nothing is sent on the trunk
    before the answer (a direct ``Dial`` gives the caller 180 Ringing, no early
    media), so that packet is the first audio from the agent's phone. For the
    SIP phone also: its 200 OK -> Up, and 200 OK -> its first RTP packet.
    baresip answers at once and sends its 1 kHz tone from the first frame.
    The simulated phone answers at once too, but Asterisk's ``Answer()``
    waits up to 500 ms for the far end's first audio frame before the phone's
    ``Playback`` starts (``__ast_answer``), and the test caller is silent: its
    Up -> audio is ~500 ms by construction. So a second row starts once each
    phone has answered and is sending audio (SIP: the later of its 200 OK and
    its first RTP packet at the PBX -- baresip starts sending a few ms before
    its 200 OK arrives; Local: its ``Playback`` starting, AMI ``Newexten``)
    and ends at the first RTP packet to the caller: the like-for-like media
    relay comparison.

All clocks are this machine's wall clock (kernel packet stamps, Asterisk's
event stamps, this script's receive times). Loopback only; the sandbox is
held exclusively (``sandbox.runner.exclusive_use``) for the run, which stops
by itself (``--timeout``). Needs root for the packet socket; without it (a)
falls back to the ``Newchannel`` stamp and (b) is not measured (said so).

    python bench/softphone.py [--calls 50] [--hold 3]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from ctidesk.settings import load_settings  # noqa: E402
from sandbox import config as sbconfig  # noqa: E402
from sandbox.baresip import Baresip, available as baresip_available  # noqa: E402
from sandbox.calls import place_test_call  # noqa: E402
from sandbox.runner import Sandbox, SandboxError, effective_settings, exclusive_use, set_phone  # noqa: E402
from bench.common import Ami, Server, pct, run_bounded, say  # noqa: E402
from bench.desk_socket import close_desk, open_desk, read_pops  # noqa: E402

PASSWORD = "bench-softphone-password"
SIP_EXT, LOCAL_EXT = "1194", "1195"  # clear of the real tests (1001-1009) and screen_pop (1090-1099, 1100+)
SIP_USER, LOCAL_USER = "benchsip", "benchlocal"
PBX_RTP = sbconfig.RTP_RANGE
CARRIER_RTP = sbconfig.CARRIER_RTP_RANGE
PBX_SIP, CARRIER_SIP = sbconfig.SIP_PORT, sbconfig.CARRIER_SIP_PORT
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
TESTCALL = re.compile(rb"\r\nX-Ctidesk-Testcall:\s*([0-9a-f-]{36})", re.I)


# ---------------------------------------------------------------- loopback packet stamps

class LoopbackSniffer(threading.Thread):
    """Kernel receive times of the packets this benchmark cares about on ``lo``:
    INVITEs from the carrier, the SIP phone's 200 OKs, and RTP between the
    port ranges of the PBX, the carrier and the phone. Read-only; a thread,
    so the stamps do not wait for the event loop."""

    def __init__(self, phone_sip_port: int, phone_rtp: tuple[int, int]) -> None:
        super().__init__(daemon=True, name="lo-sniffer")
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("lo", ETH_P_IP))
        self.sock.settimeout(0.2)
        self.phone_sip_port = phone_sip_port
        self.phone_rtp = phone_rtp
        self.invites: dict[str, float] = {}  # test call id -> first INVITE seen
        self.sip_200: list[float] = []  # 200 OK to an INVITE, phone -> PBX
        self.rtp_to_carrier: list[float] = []  # PBX -> carrier
        self.rtp_from_phone: list[float] = []  # phone -> PBX
        self.lock = threading.Lock()
        self.stopping = False
        self.packets = 0

    def run(self) -> None:
        while not self.stopping:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65535, 64)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:  # loopback shows each packet leaving and arriving
                continue
            at = time.time()
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    at = sec + nsec / 1e9
            self._packet(at, data)

    def _packet(self, at: float, ip: bytes) -> None:
        if len(ip) < 28 or ip[9] != 17:  # UDP only
            return
        ihl = (ip[0] & 0x0F) * 4
        sport, dport = struct.unpack_from("!HH", ip, ihl)
        body = ip[ihl + 8:]
        self.packets += 1
        with self.lock:
            if dport == PBX_SIP:
                if sport == CARRIER_SIP and body.startswith(b"INVITE "):
                    m = TESTCALL.search(body)
                    if m:
                        self.invites.setdefault(m.group(1).decode(), at)
                elif sport == self.phone_sip_port and body.startswith(b"SIP/2.0 200"):
                    if re.search(rb"\r\nCSeq:\s*\d+\s+INVITE\r\n", body, re.I):
                        self.sip_200.append(at)
            elif PBX_RTP[0] <= sport <= PBX_RTP[1] and CARRIER_RTP[0] <= dport <= CARRIER_RTP[1]:
                self.rtp_to_carrier.append(at)
            elif self.phone_rtp[0] <= sport <= self.phone_rtp[1] and PBX_RTP[0] <= dport <= PBX_RTP[1]:
                self.rtp_from_phone.append(at)

    @staticmethod
    def first_after(stamps: list[float], after: float, before: float = math.inf) -> float | None:
        return next((t for t in stamps if after <= t < before), None)

    def stop(self) -> None:
        self.stopping = True
        self.join(2)
        self.sock.close()


# ---------------------------------------------------------------- AMI (events on)

class AmiWatch(Ami):
    """The PBX's channel events with Asterisk's own timestamps."""

    EVENTS = "call,dialplan"
    NAMES = frozenset({"Newchannel", "Newstate", "DialBegin", "Newexten"})

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.events: list[tuple[str, dict]] = []
        self.changed = asyncio.Event()

    def on_event(self, name: str, fields: dict) -> None:
        self.events.append((name, fields))
        self.changed.set()

    async def wait_no_channels(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (n := await self.channels()) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Asterisk still has {n} channels after {timeout:g}s")
            await asyncio.sleep(0.1)  # polling Asterisk under a deadline

    async def wait_for(self, pred, timeout: float, what: str) -> tuple[str, dict]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for name, f in self.events[seen:]:
                if pred(name, f):
                    return name, f
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout:g}s")
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


# ---------------------------------------------------------------- desks

def ctidesk(env: dict, *args: str, stdin: str | None = None) -> str:
    r = subprocess.run([sys.executable, "-m", "ctidesk.cli", *args], cwd=ROOT, env=env, input=stdin,
                       text=True, capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"ctidesk {' '.join(args)} failed (rc={r.returncode}): {r.stderr.strip() or r.stdout}")
    return r.stdout


@dataclass
class Desk:
    username: str
    extension: str
    token: str = ""
    ws: object = None
    reader: asyncio.Task | None = None
    pops: asyncio.Queue = field(default_factory=asyncio.Queue)

    async def connect(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.token, self.ws = await open_desk(http, base_url, self.username, PASSWORD, join_queues=False)
        self.reader = asyncio.create_task(read_pops(self.ws, self.pops.put_nowait))

    async def close(self) -> None:
        await close_desk(self.ws, self.reader)


# ---------------------------------------------------------------- the run

@dataclass
class Sample:
    path: str  # sip | local
    invite_to_pop: float | None = None  # ms
    invite_to_newchannel: float | None = None
    newchannel_to_pop: float | None = None
    up_to_audio: float | None = None  # agent's channel Up -> first RTP PBX -> carrier
    relay: float | None = None  # the phone's first audio -> first RTP PBX -> carrier
    ok_to_up: float | None = None  # SIP: phone's 200 OK -> Up
    ok_to_phone_rtp: float | None = None  # SIP: 200 OK -> the phone's first RTP
    ok_to_audio: float | None = None  # SIP: 200 OK -> first RTP PBX -> carrier
    error: str | None = None


def ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (b - a) * 1000


async def one_call(ctx, desk: Desk, path: str, i: int, hold: float) -> Sample:
    ami: AmiWatch = ctx["ami"]
    sniff: LoopbackSniffer | None = ctx["sniffer"]
    sample = Sample(path)
    number = f"1390{os.getpid() % 1000:03d}{i:04d}"
    while not desk.pops.empty():
        desk.pops.get_nowait()
    mark = len(ami.events)
    t_place = time.time()
    placed = await place_test_call(ctx["ami_settings"], number, name=f"Bench {path} {i}", to=desk.extension,
                                   hold=hold)
    if not placed.ok:
        sample.error = f"originate failed: {placed.response}"
        return sample
    try:
        at_pop, pop = await asyncio.wait_for(desk.pops.get(), 15)
        call_id = pop["call"]["id"]
        if pop["call"].get("caller_number") != number:
            sample.error = f"pop for another caller: {pop['call'].get('caller_number')} (expected {number})"
        new = next((f for n, f in ami.events[mark:] if n == "Newchannel" and f.get("Uniqueid") == call_id), None)
        _, dial = await ami.wait_for(lambda n, f: n == "DialBegin" and f.get("Linkedid") == call_id, 10,
                                     f"DialBegin of call {call_id}")
        dest = dial.get("DestChannel", "")
        _, up = await ami.wait_for(lambda n, f: n == "Newstate" and f.get("Channel") == dest
                                   and f.get("ChannelState") == "6", 15, f"{dest} Up")
        t_up = float(up["Timestamp"])
        t_new = float(new["Timestamp"]) if new else None
        sample.newchannel_to_pop = ms(t_new, at_pop)
        if sniff is not None:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # the stamps are kernel times: waiting only collects them
                with sniff.lock:
                    t_inv = sniff.invites.get(placed.call_id)
                    if sniff.first_after(sniff.rtp_to_carrier, t_inv or t_place) is not None:
                        break
                await asyncio.sleep(0.05)  # polling the sniffer thread's lists under a deadline
            with sniff.lock:
                t_inv = sniff.invites.get(placed.call_id)
                audio = sniff.first_after(sniff.rtp_to_carrier, t_inv or t_place)
                ok = sniff.first_after(sniff.sip_200, t_inv or t_place) if path == "sip" else None
                phone_rtp = sniff.first_after(sniff.rtp_from_phone, t_inv or t_place) if path == "sip" else None
            sample.invite_to_pop = ms(t_inv, at_pop)
            sample.invite_to_newchannel = ms(t_inv, t_new)
            sample.up_to_audio = ms(t_up, audio)
            sample.ok_to_up = ms(ok, t_up)
            sample.ok_to_phone_rtp = ms(ok, phone_rtp)
            sample.ok_to_audio = ms(ok, audio)
            if path == "sip":  # answered (its 200 OK at the PBX) and sending (its first RTP packet there)
                ready = max(ok, phone_rtp) if ok is not None and phone_rtp is not None else None
                sample.relay = ms(ready, audio)
            else:  # the simulated phone starts its prompt (Playback on the Local ;2 half)
                play = next((f for n, f in ami.events[mark:] if n == "Newexten" and f.get("Linkedid") == call_id
                             and f.get("Application") == "Playback"), None)
                sample.relay = ms(float(play["Timestamp"]), audio) if play else None
            if t_inv is None:
                sample.error = "the INVITE was not seen on lo"
        else:
            sample.invite_to_pop = None
    except (asyncio.TimeoutError, TimeoutError) as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    await ami.wait_no_channels(hold + 20)
    return sample


async def bench(args, tmp: Path, cleanup: list, samples: list[Sample]) -> None:
    settings = load_settings()
    ami_settings = effective_settings(settings)
    if not Sandbox(settings).pid():
        sys.exit("the sandbox Asterisk is not running: `python -m ctidesk.cli sandbox up`")
    env = {**os.environ, "CTIDESK_STATE_DIR": str(tmp), "CTIDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
           "CTIDESK_AMI_SECRET": ami_settings.ami_secret}
    await asyncio.to_thread(ctidesk, env, "db", "upgrade")
    out = await asyncio.to_thread(ctidesk, env, "user", "add", SIP_USER, "--role", "agent", "--extension", SIP_EXT,
                                  "--phone", "sip", "--password-stdin", stdin=PASSWORD + "\n")
    sip_password = re.search(r"realm \S+, password (\S+)", out).group(1)
    await asyncio.to_thread(ctidesk, env, "user", "add", LOCAL_USER, "--role", "agent", "--extension", LOCAL_EXT,
                            "--password-stdin", stdin=PASSWORD + "\n")
    await set_phone(ami_settings, LOCAL_EXT, reset=True, answer_delay=0, talk_time=60)
    cleanup.append(("phone", (ami_settings, LOCAL_EXT)))

    server = Server(env, tmp)  # direct calls never reach the IVR: a private FastAGI port
    cleanup.append(("server", server))
    await server.start()
    phone = Baresip(tmp / "baresip", user=SIP_EXT, password=sip_password, tone_hz=1000.0)
    cleanup.append(("baresip", phone))
    await phone.start()
    await phone.wait_event("REGISTER_OK", timeout=15)

    sniffer = None
    try:
        sniffer = LoopbackSniffer(phone.sip_port, phone.rtp_ports)
        sniffer.start()
        cleanup.append(("sniffer", sniffer))
    except PermissionError as exc:
        say(f"(no packet socket on lo: {exc}; (a) falls back to Newchannel -> pop, (b) is not measured)")
    ami = await AmiWatch(ami_settings).open()
    cleanup.append(("ami", ami))
    await ami.wait_no_channels(60)
    http = httpx.AsyncClient(base_url=server.base_url, timeout=30)
    desks = {"sip": Desk(SIP_USER, SIP_EXT), "local": Desk(LOCAL_USER, LOCAL_EXT)}
    cleanup.append(("desks", (http, list(desks.values()))))
    for d in desks.values():
        await d.connect(http, server.base_url)
    say(f"ctidesk serve on {server.base_url}; baresip pid {phone.proc.pid} registered as {SIP_EXT} "
        f"(SIP 127.0.0.1:{phone.sip_port}, RTP {phone.rtp_ports[0]}-{phone.rtp_ports[1]}); "
        f"simulated phone {LOCAL_EXT}")
    ctx = {"ami": ami, "ami_settings": ami_settings, "sniffer": sniffer}
    for warm in ("sip", "local"):  # one-off costs (imports, SQL compilation) are not what is measured
        s = await one_call(ctx, desks[warm], warm, 0, args.hold)
        if s.error:
            raise RuntimeError(f"warm-up call to the {warm} phone failed: {s.error}")
    say(f"warm-up done; {args.calls} calls per path, alternating, one at a time")
    for i in range(1, args.calls + 1):
        for path in ("sip", "local") if i % 2 else ("local", "sip"):
            s = await one_call(ctx, desks[path], path, i, args.hold)
            samples.append(s)
            if s.error:
                say(f"  call {i} ({path}): {s.error}")
        if i % 10 == 0:
            say(f"  {i}/{args.calls} calls per path done")


async def cleanup_all(cleanup: list) -> None:
    for kind, obj in reversed(cleanup):
        try:
            if kind == "desks":
                http, desks = obj
                for d in desks:
                    await d.close()
                await http.aclose()
            elif kind == "server":
                await asyncio.to_thread(obj.stop)
            elif kind == "baresip":
                await asyncio.to_thread(obj.stop)
            elif kind == "sniffer":
                await asyncio.to_thread(obj.stop)
            elif kind == "ami":
                obj.close()
            elif kind == "phone":
                settings, ext = obj
                await set_phone(settings, ext, reset=True)
        except Exception as exc:  # noqa: BLE001 - clean up the rest whatever happened
            say(f"cleanup of {kind} failed: {type(exc).__name__}: {exc}")


def report(samples: list[Sample], args) -> int:
    def col(path: str, name: str) -> list[float]:
        return [getattr(s, name) for s in samples if s.path == path and not s.error
                and getattr(s, name) is not None]

    def fig(values: list[float]) -> str:
        return f"{pct(values, 50):8.1f}{pct(values, 99):8.1f}" if values else f"{'-':>8}{'-':>8}"

    say()
    say(f"SIP desk phone (baresip) vs simulated Local phone, {args.calls} direct trunk calls each, one at a time")
    rows = [("(a) INVITE on trunk -> screen_pop received", "invite_to_pop"),
            ("    of which INVITE -> PBX Newchannel", "invite_to_newchannel"),
            ("    PBX Newchannel -> screen_pop received", "newchannel_to_pop"),
            ("(b) agent channel Up -> first RTP to caller", "up_to_audio"),
            ("    answered+sending -> first RTP to caller", "relay")]
    head = f"{'ms':<46}{'SIP p50':>8}{'p99':>8}{'Local p50':>10}{'p99':>8}{'ratio p50':>10}{'p99':>7}"
    say(head)
    say("-" * len(head))
    for label, name in rows:
        a, b = col("sip", name), col("local", name)
        ratio = (f"{pct(a, 50) / pct(b, 50):10.2f}{pct(a, 99) / pct(b, 99):7.2f}"
                 if a and b and pct(b, 50) > 0 and pct(b, 99) > 0 else f"{'-':>10}{'-':>7}")
        say(f"{label:<46}{fig(a)}{'':2}{fig(b)}{ratio}")
    say("-" * len(head))
    for label, name in (("SIP phone: its 200 OK -> channel Up (PBX)", "ok_to_up"),
                        ("SIP phone: its 200 OK -> its first RTP packet", "ok_to_phone_rtp"),
                        ("SIP phone: its 200 OK -> first RTP to caller", "ok_to_audio")):
        v = col("sip", name)
        say(f"{label:<46}{fig(v)}   (n={len(v)})")
    say("(b) Local: Answer() waits up to 500 ms for the silent caller's first audio before the simulated phone "
        "plays, so its Up -> audio is ~500 ms by construction. The row below starts once each phone has answered "
        "and is sending audio (SIP: the later of its 200 OK and its first RTP packet at the PBX; Local: its "
        "Playback starting) and is the like-for-like relay figure: SIP crosses the PBX's RTP stack and bridge, "
        "Local passes frames inside Asterisk.")
    errors = [s for s in samples if s.error]
    n_ok = {p: sum(1 for s in samples if s.path == p and not s.error) for p in ("sip", "local")}
    say(f"calls measured: SIP {n_ok['sip']}/{args.calls}, Local {n_ok['local']}/{args.calls}; "
        f"ratio = SIP / Local (the baseline, same run). Packet stamps: kernel (SO_TIMESTAMPNS on lo); "
        f"Up: Asterisk's AMI Timestamp; pop: this script's websocket receive time.")
    a, b = col("sip", "invite_to_pop"), col("local", "invite_to_pop")
    if a and b:
        say(f"screen pop from the trunk INVITE: SIP phone p50 {pct(a, 50):.1f} ms / p99 {pct(a, 99):.1f} ms, "
            f"ratio vs Local {pct(a, 50) / pct(b, 50):.2f} (p50)")
    return 1 if errors else 0


async def amain(args) -> int:
    cleanup: list = []
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="ctidesk-bench-softphone-") as tmp:
        try:
            code = await run_bounded(bench(args, Path(tmp), cleanup, samples), args.timeout)
        finally:
            await asyncio.wait_for(asyncio.shield(cleanup_all(cleanup)), 60)
    if samples:
        code = max(code, report(samples, args))
    return code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=50, help="calls per path (SIP phone, Local phone)")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds the caller stays on before hanging up")
    ap.add_argument("--timeout", type=float, default=900.0, help="the whole run, after the sandbox lock")
    ap.add_argument("--wait-lock", type=float, default=900.0, help="seconds to wait for the sandbox")
    args = ap.parse_args()
    reason = baresip_available()
    if reason:
        sys.exit(f"softphone benchmark not run: {reason}")
    settings = load_settings()
    try:
        with exclusive_use(settings, who="(bench/softphone.py)", timeout=args.wait_lock):
            sys.exit(asyncio.run(amain(args)))
    except SandboxError as exc:
        sys.exit(f"softphone benchmark not run: {exc}")


if __name__ == "__main__":
    main()
