#!/usr/bin/env python3
"""One AMI byte stream with many calls in flight, from recorded traces.

    python bench/make_stream.py TRACE_DIR [TRACE_DIR ...] --copies 250 --out stream.ami

Each directory holds raw captures (``*.ami``: CRLF blocks exactly as Asterisk
sent them) and/or cacofonisk scenarios (``*.json``: a list of event dicts).
Copy k is trace k (mod the number of traces, all directories together); each copy gets its own
Uniqueids/Linkedids and channel suffixes (so the copies are distinct calls to
the same agents), and ``--in-flight`` copies are interleaved event by event,
round robin, the next copy starting when one finishes. The replacement for
``shared/bench/make_stream.py`` where that script is not present.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

UNIQUEID = re.compile(r"(?<![\w.])((?:[0-9a-f]{12}-)?)(\d{9,11})\.(\d+)\b")
CHANNEL_SUFFIX = re.compile(r"-([0-9a-f]{8})(?=;\d|\r|$|\b)")


def load_blocks(path: Path) -> list[str]:
    if path.suffix == ".ami":
        text = path.read_text(encoding="utf-8", errors="replace")
        return [b.strip("\r\n") for b in text.split("\r\n\r\n") if b.strip("\r\n").startswith("Event: ")]
    events = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for e in events:
        if "Event" not in e:
            continue
        lines = [f"Event: {e['Event']}"] + [f"{k}: {v}" for k, v in e.items()
                                            if k not in ("Event", "content") and "\n" not in str(v)]
        out.append("\r\n".join(lines))
    return out


def copy_of(blocks: list[str], k: int) -> list[str]:
    def uid(m: re.Match) -> str:
        return f"{m.group(1)}{m.group(2)}{k:05d}.{m.group(3)}"

    def chan(m: re.Match) -> str:
        return f"-{(int(m.group(1), 16) + k * 0x10000) & 0xFFFFFFFF:08x}"
    return [CHANNEL_SUFFIX.sub(chan, UNIQUEID.sub(uid, b)) for b in blocks]


def make(dirs: list[Path], copies: int, in_flight: int = 50) -> bytes:
    traces: list[list[str]] = []
    for d in dirs:
        for path in sorted(d.rglob("*")):
            if path.suffix in (".ami", ".json"):
                traces.append([b for b in load_blocks(path) if not b.startswith(("Event: FullyBooted",
                                                                                   "Event: SuccessfulAuth"))])
    traces = [t for t in traces if t]
    out: list[str] = []
    waiting = list(range(copies))
    active: list[list[str]] = []
    while waiting or active:
        while waiting and len(active) < in_flight:
            k = waiting.pop(0)
            active.append(list(reversed(copy_of(traces[k % len(traces)], k))))
        for stream in list(active):
            out.append(stream.pop())
            if not stream:
                active.remove(stream)
    return "".join(b + "\r\n\r\n" for b in out).encode("utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--copies", type=int, default=250)
    ap.add_argument("--in-flight", type=int, default=50)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    data = make(a.dirs, a.copies, a.in_flight)
    a.out.write_bytes(data)
    print(f"{a.out}: {data.count(b'Event: '):,} events, {len(data) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
