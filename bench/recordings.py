#!/usr/bin/env python3
"""Recordings at scale: search over 1,000,000 rows in SQLite, and ingest throughput.

Search: p50/p99 of each filter of ``GET /api/v1/recordings`` and of combined
filters, run through ``recordings.queries.search_query`` on an async SQLAlchemy
session (as the handler runs it, one session per request, limit 50 + 1).
Baseline, same run: the same captured SQL replayed on a bare sqlite3
connection, so the ratio is what the ORM + async layer adds. Target: every
filter under 100 ms p99.

Ingest: N real WAV files (30 s, 8 kHz, like MixMonitor's) with rows in status
``recording``; ``recording_stopped`` events go to the RecordingService and the
clock stops when every row is ``stored`` (verify, pydub duration, sha256,
atomic move). Baseline, same run: sha256 + rename of the same files in a plain
loop (the least any safe ingest must do).

    python bench/recordings.py [--rows 1000000] [--samples 200] [--files 200] [--rebuild]

The database is built once with plain sqlite3 and cached under var/bench/.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.common import migrate, migrations_key, say  # noqa: E402
from ctidesk.db import make_engine, make_sessionmaker  # noqa: E402
from ctidesk.settings import Settings  # noqa: E402

DB_FORMAT = 1
TARGET_MS = 100.0
AGENTS = [f"agent{i:03d}" for i in range(200)]
KINDS = ("full", "on_demand", "voicemail")
KIND_W = (85, 10, 5)
WORDS = ("refund", "billing", "repair", "投诉", "install", "warranty", "address change", "VIP", "escalated")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
EPOCH_DAYS = 365


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))]


def mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def build_db(path: Path, n: int) -> None:
    migrate(path, "ctidesk-bench-rec-")
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    rng = random.Random(5)
    callers = [mobile(rng) for _ in range(n // 4)]  # repeat callers, as in life
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    start0 = NOW - timedelta(days=EPOCH_DAYS)
    rows = []
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        kind = rng.choices(KINDS, KIND_W)[0]
        started = start0 + timedelta(seconds=rng.random() * EPOCH_DAYS * 86400)
        dur = int(rng.expovariate(1 / 180_000)) + 5_000
        caller = rng.choice(callers)
        outbound = rng.random() < 0.2
        raw_caller, caller_n = (None, None) if outbound else (caller, "+86" + caller)
        called_raw, called_n = (caller, "+86" + caller) if outbound else ("4000", "4000")
        desc = " ".join(rng.sample(WORDS, 2)) if rng.random() < 0.05 else ""
        tags = rng.choice(WORDS) if rng.random() < 0.03 else ""
        rows.append((i, f"{started.timestamp():.3f}", kind, "stored", rng.choice(AGENTS), raw_caller, caller_n,
                     called_raw, called_n, started.strftime(fmt),
                     (started + timedelta(milliseconds=dur)).strftime(fmt), dur, dur * 16, "0" * 64,
                     f"{started:%Y/%m/%d}/{i}.wav", "wav", desc, tags, 0, started.strftime(fmt),
                     started.strftime(fmt)))
        if len(rows) == 50_000:
            _insert(con, rows)
            rows = []
    if rows:
        _insert(con, rows)
    links = [(rng.randint(1, n), t) for t in range(1, 20_001)]
    con.execute("PRAGMA foreign_keys=OFF")
    con.executemany("INSERT OR IGNORE INTO recording_tickets (recording_id, ticket_id, linked_at) "
                    "VALUES (?, ?, '2026-01-01 00:00:00.000000')", links)
    con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()
    say(f"built {n:,} recordings in {time.perf_counter() - t0:.0f}s")


def _insert(con, rows) -> None:
    con.executemany(
        "INSERT INTO recordings (id, call_id, kind, status, agent_username, caller_number_raw, caller_number, "
        "called_number_raw, called_number, started_at, ended_at, duration_ms, size_bytes, sha256, storage_path, "
        "format, description, tags, legal_hold, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()


def cached_db(args) -> Path:
    cache = ROOT / "var" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"recordings-{args.rows}-{migrations_key(DB_FORMAT)}.db"
    if args.rebuild or not path.exists():
        for p in cache.glob(f"recordings-{args.rows}-*.db*"):
            p.unlink()
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        build_db(tmp, args.rows)
        os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- search

class Capture:
    def __init__(self, engine) -> None:
        self.on = False
        self.stmts: list = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.on:
            self.stmts.append((statement, parameters))


def filters(db_path: Path, rng: random.Random, n: int) -> dict[str, list[dict]]:
    con = sqlite3.connect(db_path)
    sample = con.execute("SELECT agent_username, caller_number_raw, started_at FROM recordings "
                         "WHERE caller_number_raw IS NOT NULL ORDER BY random() LIMIT ?", (n,)).fetchall()
    tickets = [r[0] for r in con.execute("SELECT ticket_id FROM recording_tickets ORDER BY random() LIMIT ?", (n,))]
    con.close()

    def day(ts: str) -> tuple[datetime, datetime]:
        d = datetime.fromisoformat(ts).replace(tzinfo=timezone.utc)
        return d - timedelta(hours=12), d + timedelta(hours=12)

    out = {
        "agent": [{"agent": a} for a, _, _ in sample],
        "date range (1 day)": [dict(zip(("start", "end"), day(ts))) for _, _, ts in sample],
        "number, whole": [{"number": num} for _, num, _ in sample],
        "number, first 7 digits": [{"number": num[:7]} for _, num, _ in sample],
        "caller, last 4 digits": [{"caller": num[-4:]} for _, num, _ in sample],
        "text in description": [{"q": rng.choice(WORDS)} for _ in sample],
        "text, a word no row has": [{"q": f"zz{i}qq"} for i, _ in enumerate(sample)],
        "kind": [{"kind": rng.choice(("on_demand", "voicemail"))} for _ in sample],
        "ticket": [{"ticket_id": t} for t in tickets],
        "duration 10-20 min": [{"min_duration_s": 600, "max_duration_s": 1200} for _ in sample],
        "sorted by duration": [{"sort": "-duration"} for _ in sample],
    }
    combined = []
    for a, num, ts in sample:
        s, e = day(ts)
        combined.append({"agent": a, "start": s - timedelta(days=6), "end": e, "number": num[-4:],
                         "min_duration_s": 5})
    out["combined: agent+7 days+fragment+duration"] = combined
    out["combined: 1 day+text+kind"] = [{**dict(zip(("start", "end"), day(ts))), "q": "refund", "kind": "full"}
                                        for _, _, ts in sample]
    return out


async def bench_search(db_path: Path, samples: int, budget: float = 20.0) -> list[tuple]:
    from recordings.queries import search_query

    engine = make_engine(f"sqlite+aiosqlite:///{db_path}")
    sm = make_sessionmaker(engine)
    cap = Capture(engine)
    rng = random.Random(11)
    results = []
    for label, inputs in filters(db_path, rng, samples + 5).items():
        orm, captured = [], []
        deadline = time.monotonic() + budget
        for i, f in enumerate(inputs):
            if time.monotonic() > deadline and len(orm) >= 20:
                break  # a slow filter: enough samples for a p99 estimate
            stmt = search_query(**f).limit(51).offset(0)
            cap.stmts = []
            cap.on = i >= 5
            t = time.perf_counter()
            async with sm() as db:
                (await db.execute(stmt)).scalars().all()
            dt = (time.perf_counter() - t) * 1000
            cap.on = False
            if i >= 5:
                orm.append(dt)
                captured.append(list(cap.stmts))
        raw = []
        con = sqlite3.connect(db_path)
        for stmts in captured:
            t = time.perf_counter()
            for sql, params in stmts:
                con.execute(sql, params).fetchall()
            raw.append((time.perf_counter() - t) * 1000)
        con.close()
        results.append((label, orm, raw))
        report_line(label, orm, raw)
    await engine.dispose()
    return results


FAILED: list[str] = []


def report_line(label: str, orm: list[float], raw: list[float]) -> None:
    p99 = pct(orm, 99)
    flag = "" if p99 < TARGET_MS else "  OVER TARGET"
    if flag:
        FAILED.append(label)
    say(f"{label:<44}{len(orm):>4}{statistics.median(orm):>8.1f}{p99:>8.1f}{statistics.median(raw):>9.1f}"
        f"{pct(raw, 99):>9.1f}{p99 / max(pct(raw, 99), 1e-6):>10.2f}x{flag}")


# ---------------------------------------------------------------- ingest

def make_wav(path: Path, seconds: int) -> None:
    frame = struct.pack("<h", 3000) * 80 + struct.pack("<h", -3000) * 80
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frame * (8000 * seconds // 160))


async def bench_ingest(n_files: int, seconds: int) -> tuple[float, float]:
    from cti import events as ev
    from ctidesk.app import build_container
    from ctidesk.migrate import upgrade
    from recordings.models import Recording
    from recordings.service import RecordingService
    from sqlalchemy import func, select

    with tempfile.TemporaryDirectory(prefix="ctidesk-bench-ingest-") as tmp:
        tmp = Path(tmp)
        settings = Settings().with_(state_dir=tmp, database_url=f"sqlite+aiosqlite:///{tmp}/b.db",
                                    asterisk_fs_root=tmp / "ast", secret_key="bench" * 10,
                                    recordings_settle_s=0.5, recordings_scan_interval_s=60)
        await asyncio.to_thread(upgrade, settings)
        spool = settings.host_path(settings.recordings_spool)
        spool.mkdir(parents=True)
        template = tmp / "template.wav"
        make_wav(template, seconds)
        # baseline: the least a safe ingest does (hash + rename), same files, same disk
        base_dir = tmp / "base"
        base_dir.mkdir()
        for i in range(n_files):
            shutil.copyfile(template, base_dir / f"{i}.wav")
        dest = tmp / "base-out"
        dest.mkdir()
        t = time.perf_counter()
        for i in range(n_files):
            p = base_dir / f"{i}.wav"
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            os.rename(p, dest / p.name)
        baseline = n_files / (time.perf_counter() - t)

        container = build_container(settings)
        svc = RecordingService(container)
        started = datetime.now(timezone.utc)
        async with container.sessionmaker() as db:
            for i in range(n_files):
                shutil.copyfile(template, spool / f"b{i}.wav")
                db.add(Recording(call_id=f"b{i}", uniqueid=f"b{i}", kind="full", status="recording",
                                 source_path=str(spool / f"b{i}.wav"), started_at=started))
            await db.commit()
        past = time.time() - 5
        for i in range(n_files):
            os.utime(spool / f"b{i}.wav", (past, past))
        svc.start()
        await asyncio.sleep(0.5)  # let the start-up reconcile pass finish before the clock starts
        t = time.perf_counter()
        for i in range(n_files):
            svc(ev.RecordingStopped(f"b{i}", time.time(), f"b{i}", "", None))
        while True:
            async with container.sessionmaker() as db:
                done = (await db.execute(select(func.count()).where(Recording.status == "stored"))).scalar_one()
            if done >= n_files:
                break
            await asyncio.sleep(0.05)
        rate = n_files / (time.perf_counter() - t)
        await svc.stop()
        await container.engine.dispose()
    return rate, baseline


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=30, help="length of each ingested recording")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    db_path = cached_db(args)
    work = Path(tempfile.mkdtemp(prefix="ctidesk-bench-rec-run-"))
    say(f"recording search, ms ({args.rows:,} rows, SQLite, up to {args.samples} samples each, limit 50; "
        f"target p99 < {TARGET_MS:.0f} ms; raw = same SQL on bare sqlite3)")
    say(f"{'filter':<44}{'n':>4}{'p50':>8}{'p99':>8}{'raw p50':>9}{'raw p99':>9}{'p99 ratio':>11}")
    try:
        copy = work / "r.db"
        shutil.copyfile(db_path, copy)
        asyncio.run(bench_search(copy, args.samples))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = FAILED
    rate, baseline = asyncio.run(bench_ingest(args.files, args.seconds))
    say()
    say(f"ingest ({args.files} files of {args.seconds} s, stop event -> stored): {rate:.1f} recordings/s; "
        f"baseline sha256+rename {baseline:.1f}/s; ratio {rate / baseline:.2f}x")
    if failed:
        say(f"over target: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
