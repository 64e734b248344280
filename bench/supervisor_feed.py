#!/usr/bin/env python3
"""Supervisor feed under load: 200 wallboard sockets while the bridge eats a replayed AMI stream.

The whole app is served for real (uvicorn on 127.0.0.1, the real Bridge
connected to a fake AMI server on loopback, the real bus, LiveModel, supervisor
live state, feed and store); the supervisor sockets are real websocket clients
in a separate process (so their reading does not share our CPU accounting).
No Asterisk is needed: the AMI bytes are recorded Asterisk 22 and cacofonisk
traces interleaved by ``shared/bench/make_stream.py``.

Measured in the same run:
  1. bridge throughput (AMI events/s through protocol+model+bus, stream pushed
     as fast as possible) with 0 supervisors, then with N connected: the ratio;
  2. at a paced 2,000 AMI events/s with N supervisors: lag from the AMI event's
     domain event entering the feed to the frame written to each socket
     (p50/p99/max), frames sent, coalesced, resyncs;
  3. memory per connected supervisor (our process's RSS delta / N).

    python bench/supervisor_feed.py [--clients 200] [--copies 250] [--rate 2000] [--seconds 10]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- the client process ---------------------------------------------------------

async def clients_main(url: str, n: int) -> None:
    import websockets

    counts = [0] * n
    resyncs = [0] * n
    ready = asyncio.Event()
    snapshots = 0

    async def one(i: int) -> None:
        nonlocal snapshots
        async with websockets.connect(url, max_size=None) as ws:
            async for message in ws:
                for text in message.split("\n"):  # a batch of frames, one JSON object per line
                    json.loads(text)  # a wallboard parses every frame; so do we
                    if text.startswith(('{"type": "snapshot"', '{"type":"snapshot"')):
                        snapshots += 1
                        if snapshots >= n:
                            ready.set()
                    elif text.startswith(('{"type": "resync"', '{"type":"resync"')):
                        resyncs[i] += 1
                    counts[i] += 1

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.wait_for(ready.wait(), 120)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    print(json.dumps({"frames": sum(counts), "min_frames": min(counts), "resyncs": sum(resyncs)}), flush=True)
    for t in tasks:
        t.cancel()


# -- the server side --------------------------------------------------------------

def shared_dir() -> Path:
    for candidate in (ROOT.parent / "shared", Path("/work/shared")):
        if (candidate / "ami-traces").is_dir():
            return candidate
    sys.exit("shared/ami-traces not found beside the repository")


def stream_maker(shared: Path) -> Path:
    """shared/bench/make_stream.py, else the repository's own bench/make_stream.py."""
    theirs = shared / "bench" / "make_stream.py"
    return theirs if theirs.exists() else ROOT / "bench" / "make_stream.py"


def split_events(data: bytes) -> list[bytes]:
    return [b + b"\r\n\r\n" for b in data.split(b"\r\n\r\n") if b.strip()]


async def run(a) -> None:
    from tests.factories import PASSWORD, make_user, settings_for
    from tests.fakeami import FakeAMI
    from tests.live import live_app
    import httpx

    shared = shared_dir()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stream = tmp / "stream.ami"
        subprocess.run([sys.executable, str(stream_maker(shared)),
                        str(shared / "ami-traces" / "asterisk22"), str(shared / "ami-traces" / "cacofonisk"),
                        "--copies", str(a.copies), "--out", str(stream)], check=True, stdout=subprocess.DEVNULL)
        events = split_events(stream.read_bytes())
        # count what the bridge's protocol hands the model (it holds the bound method from connect time)
        from cti.model import LiveModel

        handled = [0]
        original = LiveModel.handle

        def counting(self, name, fields):
            handled[0] += 1
            original(self, name, fields)
        LiveModel.handle = counting
        fake = await FakeAMI().start()
        settings = settings_for(tmp, ami_port=fake.port, ami_secret=fake.secret, agi_port=0, ami_ping_interval=60.0)
        async with live_app(settings) as app:
            c = app.state.container
            assert await c.bridge.wait_ready(10)
            async with c.sessionmaker() as db:
                await make_user(db, "sam", role="supervisor")
            async with httpx.AsyncClient(base_url=app.state.base_url) as http:
                token = (await http.post("/api/v1/auth/login", json={"username": "sam", "password": PASSWORD})
                         ).json()["access_token"]
            model = c.bridge.model
            sup = c.supervisor
            names = model.event_names
            in_model = sum(1 for e in events if e[7:e.index(b"\r\n")].decode() in names)

            async def blast() -> float:
                """Push the whole stream as fast as the socket takes it; events/s the bridge handled."""
                start_count = handled[0]
                t0 = time.perf_counter()
                chunk = 500
                for i in range(0, len(events), chunk):
                    await fake.push(b"".join(events[i:i + chunk]))
                deadline = time.monotonic() + 120
                while handled[0] - start_count < in_model:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the bridge handled {handled[0] - start_count} of {in_model} events")
                    await asyncio.sleep(0.001)
                return len(events) / (time.perf_counter() - t0)  # every AMI event crossed the protocol

            await blast()  # warm-up: first calls, members, code paths
            base = [await blast() for _ in range(a.runs)]
            gc.collect()
            rss0 = rss_bytes()
            url = app.state.base_url.replace("http://", "ws://") + f"/ws/supervisor?token={token}"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--client-process", url, "--clients", str(a.clients),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            line = await asyncio.wait_for(proc.stdout.readline(), 180)
            assert line.strip() == b"ready", line
            gc.collect()
            rss1 = rss_bytes()
            assert len(sup.feed.clients) == a.clients
            loaded = [await blast() for _ in range(a.runs)]

            # paced run: lag from the feed's offer to the frame written to each socket
            lags: list[float] = []
            stamps: dict[str, float] = {}
            offer = sup.feed.offer

            from supervisor.notifier import encode

            def stamped_offer(key, frame):
                stamps_key = encode(frame)  # the text the feed writes (supervisor.notifier)
                stamps[stamps_key] = time.perf_counter()
                offer(key, frame)
            sup.live.on_frame = stamped_offer
            for client in list(sup.feed.clients):
                send = client.send

                async def timed(text, send=send):
                    await send(text)
                    done = time.perf_counter()
                    for line in text.split("\n"):
                        t = stamps.get(line)
                        if t is not None:
                            lags.append(done - t)
                client.send = timed
            before = {k: sum(getattr(cl, k) for cl in sup.feed.clients) for k in ("sent", "batches", "coalesced", "resyncs")}
            per_tick = max(1, a.rate // 100)
            total = min(len(events), a.rate * a.seconds)
            t0 = time.perf_counter()
            for i in range(0, total, per_tick):
                await fake.push(b"".join(events[i:i + per_tick]))
                target = t0 + (i + per_tick) / a.rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the replay at the chosen rate
            elapsed = time.perf_counter() - t0
            await asyncio.sleep(1.0)  # let the last frames drain before reading the counters
            after = {k: sum(getattr(cl, k) for cl in sup.feed.clients) for k in ("sent", "batches", "coalesced", "resyncs")}
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
            client_stats = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
            await proc.wait()
        await fake.stop()

    lags.sort()
    q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] * 1000  # noqa: E731
    b, l_ = statistics.median(base), statistics.median(loaded)
    print(f"stream: {len(events)} AMI events ({in_model} the model handles), {a.copies} copies of each trace")
    print(f"bridge throughput, 0 supervisors: {b:,.0f} events/s (median of {a.runs}: "
          f"{', '.join(f'{x:,.0f}' for x in base)})")
    print(f"bridge throughput, {a.clients} supervisors: {l_:,.0f} events/s (median of {a.runs}: "
          f"{', '.join(f'{x:,.0f}' for x in loaded)})")
    print(f"ratio with/without supervisors: {l_ / b:.2f}")
    print(f"paced replay: {total} events in {elapsed:.1f} s = {total / elapsed:,.0f} events/s, {a.clients} sockets")
    print(f"lag event-in (feed offer) -> frame written: p50 {q(0.50):.1f} ms, p99 {q(0.99):.1f} ms, "
          f"max {q(1.0):.1f} ms over {len(lags):,} frames")
    print(f"frames sent {after['sent'] - before['sent']:,} in {after['batches'] - before['batches']:,} socket messages, coalesced {after['coalesced'] - before['coalesced']:,}, "
          f"resyncs {after['resyncs'] - before['resyncs']}; clients received {client_stats['frames']:,} "
          f"(fewest on one socket {client_stats['min_frames']:,}, resyncs seen {client_stats['resyncs']})")
    print(f"memory per connected supervisor: {(rss1 - rss0) / a.clients / 1024:.1f} KiB "
          f"(RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--copies", type=int, default=250)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--client-process", metavar="URL")
    a = ap.parse_args()
    if a.client_process:
        asyncio.run(clients_main(a.client_process, a.clients))
        return
    import logging

    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(a))


if __name__ == "__main__":
    main()
