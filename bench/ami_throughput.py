#!/usr/bin/env python3
"""AMI throughput: our bridge's hot path vs the peer (panoramisk + cacofonisk).

Both receive the same bytes over loopback from ``shared/bench/fake_ami_server.py``
in the same run, alternating, several runs each; medians are compared. Ours is
the bridge's own code path: socket -> FastAMIProtocol (split, name check,
parse) -> LiveModel (dispatch table, calls, members) -> domain events into a
null sink. The domain events are checked against an offline replay of the
same stream, so speed is never bought with wrong results.

    python bench/ami_throughput.py [--copies 500] [--runs 3]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cti.model import LiveModel  # noqa: E402
from cti.protocol import FastAMIProtocol  # noqa: E402
from cti.replay import replay  # noqa: E402


def shared_dir() -> Path:
    for candidate in (ROOT.parent / "shared", Path("/work/shared")):
        if (candidate / "bench" / "fake_ami_server.py").exists():
            return candidate
    sys.exit("shared/bench/fake_ami_server.py not found beside the repository")


def make_stream(shared: Path, copies: int, out: Path) -> None:
    subprocess.run([sys.executable, str(shared / "bench" / "make_stream.py"),
                    str(shared / "ami-traces" / "cacofonisk"), str(shared / "ami-traces" / "asterisk22"),
                    "--copies", str(copies), "--out", str(out)], check=True, stdout=subprocess.DEVNULL)


async def ours_once(shared: Path, stream: Path, n_events: int) -> tuple[float, Counter]:
    srv = subprocess.Popen([sys.executable, str(shared / "bench" / "fake_ami_server.py"), str(stream)],
                           stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline().split()[1])
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        counts: Counter = Counter()
        model = LiveModel(lambda e: counts.__setitem__(e.type, counts[e.type] + 1))  # null sink, counted
        t = {}

        def on_event(name, fields):
            if name == "BenchEnd":
                if not done.done():
                    done.set_result(time.perf_counter())
                return
            model.handle(name, fields)

        def factory():
            proto = FastAMIProtocol(on_event, model.event_names | {"BenchEnd"}, lambda exc: None)
            original = proto.data_received

            def timed(data):
                if "t0" not in t and proto.splitter.version and data and not data.startswith(b"Response"):
                    t["t0"] = time.perf_counter()
                original(data)
            proto.data_received = timed
            return proto

        _, proto = await loop.create_connection(factory, "127.0.0.1", port)
        resp = await asyncio.wait_for(proto.send_action({"Action": "Login", "Username": "bench",
                                                         "Secret": "bench", "Events": "on"}), 10)
        assert resp.get("Response") == "Success"
        t1 = await asyncio.wait_for(done, 300)
        proto.close()
        return n_events / (t1 - t["t0"]), counts
    finally:
        srv.wait(60)


def peer_once(shared: Path, stream: Path) -> float:
    out = subprocess.run([sys.executable, str(shared / "bench" / "peer_cacofonisk.py"), str(stream), "--runs", "1"],
                         capture_output=True, text=True, check=True).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("run 1:")][0]
    return float(line.split()[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    shared = shared_dir()
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "stream.ami"
        make_stream(shared, a.copies, stream)
        data = stream.read_bytes()
        n_events = data.count(b"\r\n\r\n")
        expected = Counter(e.type for e in replay(data, chunk=1 << 16))
        print(f"stream: {a.copies} interleaved scenarios, {n_events} events, {len(data) / 1e6:.1f} MB")
        print(f"expected domain events: {dict(expected)}")
        ours, peer = [], []
        for i in range(a.runs):
            rate, counts = asyncio.run(ours_once(shared, stream, n_events))
            if counts != expected:
                sys.exit(f"domain events differ from the offline replay: {dict(counts)}")
            ours.append(rate)
            peer.append(peer_once(shared, stream))
            print(f"run {i + 1}: ctidesk {ours[-1]:,.0f} events/s   peer {peer[-1]:,.0f} events/s")
        o, p = statistics.median(ours), statistics.median(peer)
        print(f"ctidesk bridge (protocol+model, domain events correct): {o:,.0f} events/s median of {a.runs}")
        print(f"peer cacofonisk+panoramisk: {p:,.0f} events/s median of {a.runs}")
        print(f"ratio ctidesk/peer: {o / p:.1f}x (target >= 5x)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
