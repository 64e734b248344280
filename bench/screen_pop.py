#!/usr/bin/env python3
"""Screen pop latency: N concurrent inbound calls through the sandbox Asterisk,
1,000,000 customers in the database.

Per pop we measure the time from the moment the bridge read the AMI bytes
that announced the ringing to the moment this script's websocket client
received the ``screen_pop`` frame. Both times come from this machine's wall
clock. The first is ``timing.ami_read_at`` in the pop: ``DialBegin`` for a
direct call, ``AgentCalled`` for a queue call. In the same run we also
measure, for comparison: the CPU seconds per call of ``ctidesk serve`` and of
Asterisk (from /proc/<pid>/stat), and the transport floor (an HTTP GET
/healthz round trip to the same server).

Design: a round of N places N calls at once, each a direct call to its own
agent (extension 1100+i; those agents are in no queue). So N phones ring
together and each call gives exactly one pop. Phones never answer, so the
pop always comes before an answer. Callers hang up after --hold seconds.
90% of callers are among the 1M customers (and have past calls and open
tickets); the other 10% are unknown numbers, so a provisional record is
created on the pop path. A last round sends --queue-calls calls through the
IVR to queue ``support`` (ringall, 2 agents, so 2 pops per call), one call
at a time, because with ringinuse=no a second call would wait for the
ringing agents.

    python bench/screen_pop.py [--concurrency 1,20,100] [--repeat 3] [--customers 1000000]
    python bench/screen_pop.py --trace-serve /tmp/pop.trace   # and where the time goes inside the server

Needs the sandbox (``ctidesk sandbox up``) and TCP 127.0.0.1:4573 free: the
sandbox dialplan sends FastAGI there, and the server started here binds it.
The script waits up to --wait-port seconds for another user of the port to
finish. The database is built once and cached under var/bench/ (the key is
the row count and the migrations); each run works on a copy.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from cti.protocol import FastAMIProtocol  # noqa: E402
from ctidesk.settings import load_settings  # noqa: E402
from customers.phone import normalize  # noqa: E402
from sandbox.calls import build_originate  # noqa: E402
from sandbox.runner import Sandbox, effective_settings  # noqa: E402
from bench import common  # noqa: E402
from bench.desk_socket import open_desk, read_pops  # noqa: E402

PASSWORD = "bench-screen-pop-password"
AGI_PORT = 4573
DIRECT_EXT_BASE = 1100  # agents 1100.. (dialplan `_1XXX` in ctidesk-inbound; the real tests use 1001-1003)
QUEUE_EXTS = ("1090", "1091")  # the two ring-all agents in `support`
QUEUE = "support"
HOT_CUSTOMERS = 300
HOT_MARK = "bench-hot"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DB_FORMAT = 1  # bump when the generated data changes
IDLE: list[float] = []  # CPU seconds per second of the bridge and Asterisk at rest, measured once

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
            "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国文红玉梅晶丹玲萍鹏辉斌宇浩凯婷雪琳欣怡轩涵诺思雨俊"
OPEN_STATES = ("new", "assigned", "dispatched", "in_progress", "pending_customer", "reopened")
TICKET_TYPES = ("repair", "install", "complaint", "consultation", "suggestion", "callback")


def say(line: str = "") -> None:
    print(line, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ts(epoch: float) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


# ---------------------------------------------------------------- the database

def raw_forms(mobile: str) -> tuple[str, ...]:
    """How people and spreadsheets write one mobile number."""
    a, b, c = mobile[:3], mobile[3:7], mobile[7:]
    return (mobile, f"{a}-{b}-{c}", f"{a} {b} {c}", f"+86 {a} {b} {c}", f"+86{mobile}",
            f"0086-{mobile}", f"(+86) {a}-{b}-{c}", f"86{mobile}")


def caller_id_forms(mobile: str) -> tuple[str, ...]:
    """How a carrier presents it to Asterisk (digits, optional +)."""
    return (mobile, f"+86{mobile}", f"86{mobile}", f"0086{mobile}")


def check_forms() -> None:
    sample = "13912345678"
    for raw in raw_forms(sample) + caller_id_forms(sample):
        n = normalize(raw)
        if n.normalized != "+86" + sample or n.kind != "mobile":
            sys.exit(f"phone form {raw!r} normalizes to {n}; fix the generator")


def migrations_key() -> str:
    h = hashlib.sha256(f"format{DB_FORMAT}".encode())
    for p in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


def cli_env(state_dir: Path, db_path: Path, **extra: str) -> dict:
    return {**os.environ, "CTIDESK_STATE_DIR": str(state_dir),
            "CTIDESK_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}", **extra}


def ctidesk(env: dict, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
    r = subprocess.run([sys.executable, "-m", "ctidesk.cli", *args], cwd=ROOT, env=env, input=stdin,
                       text=True, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"ctidesk {' '.join(args)} failed (rc={r.returncode}): {r.stderr.strip() or r.stdout}")
    return r.stdout


def build_db(path: Path, n: int, background_calls: int, seed: int = 20240601) -> None:
    """Migrate with ``ctidesk db upgrade``, then bulk-load with plain sqlite3."""
    t0 = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    with tempfile.TemporaryDirectory(prefix="ctidesk-bench-build-") as state:
        ctidesk(cli_env(Path(state), tmp), "db", "upgrade")
    rng = random.Random(seed)
    con = sqlite3.connect(tmp, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    # Drop the secondary indexes during the load and recreate them from their own SQL after.
    indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                          "AND tbl_name IN ('customers', 'customer_phones')").fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    space = 60 * 10**8  # prefixes 130..189; unknown callers use 199, never generated here
    numbers = rng.sample(range(space), n)
    mobiles = [f"{130 + v // 10**8}{v % 10**8:08d}" for v in numbers]
    del numbers
    start, span = time.time() - 4 * 365 * 86400, 4 * 365 * 86400 - 86400 * 100
    chunk = 100_000
    con.execute("BEGIN")
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        customers, phones = [], []
        for i in range(lo, hi):
            cid = i + 1
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
            at = ts(start + span * i / n)
            kind = "company" if i % 23 == 0 else "person"
            customers.append((cid, name, kind, 0, None, "", at, at))
            mobile = mobiles[i]
            phones.append((cid, cid, raw_forms(mobile)[i % 8], "+86" + mobile, "mobile", ""))
        con.executemany("INSERT INTO customers (id, name, kind, provisional, source_call_id, notes, created_at,"
                        " updated_at) VALUES (?,?,?,?,?,?,?,?)", customers)
        con.executemany("INSERT INTO customer_phones (id, customer_id, raw, normalized, kind, label)"
                        " VALUES (?,?,?,?,?,?)", phones)
    con.execute("COMMIT")
    for _, sql in indexes:
        con.execute(sql)
    # Hot callers: the benchmark calls come from them; they have history and open tickets.
    hot = rng.sample(range(1, n + 1), min(HOT_CUSTOMERS, n))
    con.execute("BEGIN")
    con.executemany("UPDATE customers SET notes=? WHERE id=?", [(HOT_MARK, c) for c in hot])
    now = time.time()
    calls, tickets = [], []
    seq = 0

    def add_call(cid: int | None, mobile: str, at: float) -> None:
        nonlocal seq
        seq += 1
        answered = rng.random() < 0.8
        agent = f"agent{rng.randrange(40):02d}"
        ivr = json.dumps([{"node": "welcome", "digits": None, "at": round(at, 3)},
                          {"node": "main", "digits": "1", "at": round(at + 3, 3), "outcome": "route"}])
        calls.append((f"bench-{seq}", "inbound", f"PJSIP/trunk-{seq:08x}", rng.choice(caller_id_forms(mobile)),
                      "+86" + mobile, "mobile", None, "4000", "support", agent if answered else None,
                      agent if answered else None, "Local/1001@agents/n" if answered else None, cid,
                      ts(at), ts(at + 4), ts(at + 5), ts(at + 9) if answered else None,
                      ts(at + 9 + rng.randrange(30, 600)) if answered else ts(at + 25),
                      4 if answered else None, "answered" if answered else "abandoned", "Normal Clearing",
                      ivr, ts(at + 600)))

    def add_ticket(cid: int, at: float, state: str) -> None:
        tickets.append((cid, rng.choice(TICKET_TYPES), state, f"报修 #{len(tickets) + 1}: 设备无法开机",
                        None, f"agent{rng.randrange(40):02d}", ts(at), ts(at + 3600)))

    for cid in hot:
        for _ in range(rng.randint(1, 3)):
            add_call(cid, mobiles[cid - 1], now - rng.uniform(86400, 90 * 86400))
        for _ in range(rng.randint(1, 2)):
            add_ticket(cid, now - rng.uniform(3600, 30 * 86400), rng.choice(OPEN_STATES))
        if rng.random() < 0.5:
            add_ticket(cid, now - rng.uniform(30 * 86400, 300 * 86400), "closed")
    for _ in range(background_calls):
        at = now - rng.uniform(86400, 2 * 365 * 86400)
        if rng.random() < 0.8:
            cid = rng.randrange(1, n + 1)
            add_call(cid, mobiles[cid - 1], at)
        else:  # a caller we never matched
            add_call(None, f"1{rng.randrange(30, 90)}{rng.randrange(10**8):08d}", at)
    for _ in range(background_calls // 3):
        add_ticket(rng.randrange(1, n + 1), now - rng.uniform(3600, 365 * 86400),
                   rng.choice(OPEN_STATES + ("closed",) * 6))
    con.executemany("INSERT INTO calls (call_id, direction, channel, caller_number_raw, caller_number, caller_kind,"
                    " caller_name, called_number, queue, agent, agent_username, interface, customer_id, created_at,"
                    " enqueued_at, ringing_at, answered_at, ended_at, hold_time_s, outcome, cause, ivr_path,"
                    " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", calls)
    con.executemany("INSERT INTO tickets (customer_id, type, state, description, call_id, created_by, created_at,"
                    " updated_at) VALUES (?,?,?,?,?,?,?,?)", tickets)
    con.execute("COMMIT")
    # Check the written forms with the app's own normalizer on a sample.
    for cid, raw, norm in con.execute("SELECT customer_id, raw, normalized FROM customer_phones "
                                      "WHERE id % 9973 = 0").fetchall():
        if normalize(raw).normalized != norm:
            sys.exit(f"generated phone {raw!r} of customer {cid} does not normalize to {norm}")
    con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to copy
    con.close()
    os.replace(tmp, path)
    say(f"built {path.name}: {n:,} customers + phones, {len(calls):,} calls, {len(tickets):,} tickets "
        f"in {time.monotonic() - t0:.1f}s")


def cached_db(args) -> Path:
    path = ROOT / "var" / "bench" / f"screen_pop-{args.customers}-{args.background_calls}-{migrations_key()}.db"
    if path.exists() and not args.rebuild:
        say(f"database: cached {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB)")
    else:
        say(f"database: building {path.relative_to(ROOT)} ...")
        build_db(path, args.customers, args.background_calls)
    return path


def hot_callers(db: Path) -> list[tuple[int, str, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT c.id, c.name, p.normalized FROM customers c JOIN customer_phones p "
                           "ON p.customer_id = c.id WHERE c.notes = ? ORDER BY c.id", (HOT_MARK,)).fetchall()
    finally:
        con.close()


def add_users(env: dict, db: Path, n_direct: int) -> list[tuple[str, str, str]]:
    """The first agent with ``ctidesk user add``; the rest copy its row (same password hash)."""
    first = ("benchagent000", str(DIRECT_EXT_BASE), "")
    ctidesk(env, "user", "add", first[0], "--role", "agent", "--extension", first[1], "--password-stdin",
            stdin=PASSWORD + "\n")
    users = [first] + [(f"benchagent{i:03d}", str(DIRECT_EXT_BASE + i), "") for i in range(1, n_direct)]
    users += [(f"benchq{i}", ext, QUEUE) for i, ext in enumerate(QUEUE_EXTS)]
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("BEGIN")
        con.executemany("INSERT INTO users (username, display_name, password_hash, role, extension, queues, active,"
                        " created_at) SELECT ?, ?, password_hash, role, ?, ?, active, created_at FROM users"
                        " WHERE username = ?", [(u, u, ext, q, first[0]) for u, ext, q in users[1:]])
        con.execute("COMMIT")
    finally:
        con.close()
    return users


# ---------------------------------------------------------------- query plans

async def explain_queries(db: Path, hot: list[tuple[int, str, str]]) -> list[str]:
    """Run the pop's queries the way the app does (its own functions, its engine
    setup) against the 1M database: SQL captured, EXPLAIN QUERY PLAN, median time."""
    from sqlalchemy import event, select

    from cti import service as calls
    from ctidesk.db import make_engine, make_sessionmaker
    from customers import service as customers
    from tickets.models import OPEN_STATES as APP_OPEN_STATES, Ticket

    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    sm = make_sessionmaker(engine)
    captured: list[tuple[str, tuple]] = []
    capturing = [False]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany):
        if capturing[0]:
            captured.append((statement, tuple(parameters or ())))

    cid, _, norm = hot[0]
    cases = [
        ("find_by_phone, known (customers/service.py)",
         lambda db: customers.find_by_phone(db=db, phone=norm[3:], country_code="86")),
        ("find_by_phone, unknown number",
         lambda db: customers.find_by_phone(db=db, phone="19900000001", country_code="86")),
        ("history (cti/service.py)",
         lambda db: calls.history(db=db, customer_id=cid, numbers=[norm], exclude_call_id="bench-x", limit=10)),
        ("history, unknown caller (by number only)",
         lambda db: calls.history(db=db, customer_id=None, numbers=["+8619900000001"],
                                  exclude_call_id="bench-x", limit=10)),
        ("open tickets (agent_desk/screen_pop.py, same query)",
         lambda db: db.execute(select(Ticket).where(Ticket.customer_id == cid,
                                                    Ticket.state.in_(APP_OPEN_STATES))
                               .order_by(Ticket.created_at.desc()).limit(20))),
    ]
    lines = []
    con = sqlite3.connect(db)
    try:
        for label, fn in cases:
            captured.clear()
            capturing[0] = True
            async with sm() as s:
                res = await fn(s)
                if hasattr(res, "scalars"):
                    res.scalars().all()
            capturing[0] = False
            times = []
            for _ in range(30):
                t = time.perf_counter()
                async with sm() as s:
                    res = await fn(s)
                    if hasattr(res, "scalars"):
                        res.scalars().all()
                times.append((time.perf_counter() - t) * 1000)
            lines.append(f"  {label}: {statistics.median(times):.2f} ms median (session + query)")
            for sql, params in captured:
                flat = " ".join(sql.split())
                lines.append(f"    SQL: {flat[:150]}{'...' if len(flat) > 150 else ''}")
                for row in con.execute("EXPLAIN QUERY PLAN " + sql, params):
                    detail = row[-1]
                    bad = detail.startswith("SCAN") and "INDEX" not in detail
                    lines.append(f"      {detail}{'   <-- FULL SCAN' if bad else ''}")
    finally:
        con.close()
        await engine.dispose()
    return lines


# ---------------------------------------------------------------- processes

def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads, exited ones too


def port_busy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


PROFILE_SERVE = """
import cProfile, runpy, sys, time
out = sys.argv[1]
sys.argv = ["ctidesk", "serve"]
prof = cProfile.Profile(time.thread_time)
prof.enable()
try:
    runpy.run_module("ctidesk.cli", run_name="__main__")
except (KeyboardInterrupt, SystemExit):
    pass
finally:
    prof.disable()
    prof.dump_stats(out)
"""

# Diagnosis (--trace-serve): the same server with timers wrapped around the pop's
# phases at run time (no file of the app is changed). Spans go to a JSON file at exit.
TRACE_SERVE = """
import json, runpy, sys, time
out = sys.argv[1]
sys.argv = ["ctidesk", "serve"]
spans = []
import agent_desk.screen_pop as sp, cti.service as cs, cti.store as st, customers.resolver as rs
from sqlalchemy import event
from sqlalchemy.pool import Pool

def timed(kind, fn, key):
    async def wrapper(*args, **kw):
        t = time.time()
        try:
            return await fn(*args, **kw)
        finally:
            k, read_at = key(args, kw)
            spans.append([kind, k, read_at, t, time.time()])
    return wrapper

sp.ScreenPop._pop = timed("pop", sp.ScreenPop._pop, lambda a, kw: (a[1].call_id, a[3]))
if hasattr(sp.ScreenPop, "_body"):  # the database part of the pop, once per call (aa38a91 and later)
    sp.ScreenPop._body = timed("body", sp.ScreenPop._body, lambda a, kw: (a[1], None))
cs.history = timed("history", cs.history, lambda a, kw: (kw.get("exclude_call_id"), None))
rs.CallerResolver._resolve = timed("resolve", rs.CallerResolver._resolve, lambda a, kw: (a[1], None))
st.CallStore.write = timed("store_write", st.CallStore.write, lambda a, kw: (len(a[1]), None))
_send = sp.ScreenPop._send

def sent(self, event, username, read_at, message):  # every path: in the ring, from a commit, from a task
    t = time.time()
    try:
        return _send(self, event, username, read_at, message)
    finally:
        spans.append(["sent", event.call_id, read_at, t, time.time()])

sp.ScreenPop._send = sent
if hasattr(st, "_SqliteProvisionals"):  # the provisional record's own write, in its thread
    _write = st._SqliteProvisionals.write

    def provisional(self, call_id, *args):
        t = time.time()
        try:
            return _write(self, call_id, *args)
        finally:
            spans.append(["provisional", call_id, None, t, time.time()])

    st._SqliteProvisionals.write = provisional
event.listen(Pool, "connect", lambda *a: spans.append(["db_connect", None, None, time.time(), time.time()]))
try:
    runpy.run_module("ctidesk.cli", run_name="__main__")
except (KeyboardInterrupt, SystemExit):
    pass
finally:
    with open(out, "w") as fh:
        json.dump(spans, fh)
"""


def trace_breakdown(path: str, results: list) -> list[str]:
    """Per round: where a pop's time went, from the spans of --trace-serve (median/p99, ms)."""
    try:
        spans = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return [f"trace: no spans ({exc})"]
    by: dict[str, list] = {}
    for kind, key, read_at, t0, t1 in spans:
        by.setdefault(kind, []).append((key, read_at, t0, t1))
    first = {}
    for kind in ("body", "resolve", "history"):
        first[kind] = {}
        for k, _, t0, t1 in by.get(kind, []):
            first[kind].setdefault(k, (t0, t1))
    cols_def = [("loop wait", "loop"), ("db part ready", "ready"), ("db part ran", "body"),
                ("resolve ran", "resolve"), ("history ran", "history"), ("pop total", "total"),
                ("known sent", "known"), ("unknown sent", "unknown"), ("prov. write", "prov")]
    provisional = {k: (t0, t1) for k, _, t0, t1 in by.get("provisional", [])}
    head = f"  {'round':<28}" + "".join(f"{name:>15}" for name, _ in cols_def)
    head += f"{'store writes: n, median/max ms, median batch':>46}{'new DB conns':>13}"
    lines = ["where the time goes inside the server, per pop (median/p99 ms; --trace-serve):", head]
    for r in results:
        if not r.window:
            continue
        lo, hi = r.window
        rows = [(k, read_at, t0, t1) for k, read_at, t0, t1 in by.get("pop", []) if read_at and lo <= read_at <= hi]
        sends = [(k, read_at, t0) for k, read_at, t0, _ in by.get("sent", []) if read_at and lo <= read_at <= hi]
        if not rows and not sends:
            continue
        cols: dict[str, list[float]] = {c: [] for _, c in cols_def}
        for k, read_at, t0 in sends:  # AMI read -> handed to the socket, by whether a record was written
            cols["unknown" if k in provisional else "known"].append((t0 - read_at) * 1000)
            if k in provisional:
                cols["prov"].append((provisional[k][1] - provisional[k][0]) * 1000)
        for k, read_at, t0, t1 in rows:
            cols["loop"].append((t0 - read_at) * 1000)
            cols["total"].append((t1 - read_at) * 1000)
            body = first["body"].get(k)
            if body:
                cols["ready"].append((body[1] - read_at) * 1000)
            for kind in ("body", "resolve", "history"):
                if kind in first and k in first[kind]:
                    b0, b1 = first[kind][k]
                    cols[kind].append((b1 - b0) * 1000)
        writes = [(n, (t1 - t0) * 1000) for n, _, t0, t1 in by.get("store_write", []) if lo <= t0 <= hi]
        connects = sum(1 for _, _, t0, _ in by.get("db_connect", []) if lo <= t0 <= hi)

        def f(v):
            return f"{statistics.median(v):.1f}/{pct(v, 99):.1f}" if v else "-"
        w = (f"{len(writes)}, {statistics.median([d for _, d in writes]):.1f}/{max(d for _, d in writes):.0f}, "
             f"{statistics.median([n for n, _ in writes]):.0f} events" if writes else "-")
        lines.append(f"  {r.label:<28}" + "".join(f"{f(cols[c]):>15}" for _, c in cols_def) + f"{w:>46}{connects:>13}")
    lines.append("  loop wait = AMI read -> pop task runs; db part ready = AMI read -> customer/history/tickets "
                 "built (negative: prefetched before the ring); db part ran = its own duration (from call_created); "
                 "resolve/history ran = those steps' durations; pop total = AMI read -> queued to the socket; "
                 "new DB conns = SQLite connections opened in the round (the pool keeps 5); known/unknown sent = AMI "
                 "read -> pop handed to the socket, every path, callers with a record / unknown callers (a "
                 "provisional record written); prov. write = that write in the store's thread.")
    return lines


class Server(common.Server):
    """``ctidesk serve`` (bench.common.Server) on the benchmark's fixed AGI port,
    optionally under the loop profiler or the pop tracer."""

    def __init__(self, env: dict, state_dir: Path, profile: str | None = None, trace: str | None = None) -> None:
        super().__init__(env, state_dir, agi_port=AGI_PORT)
        self.profile, self.trace = profile, trace

    def command(self) -> list[str]:
        if self.profile:  # the event loop thread's CPU time (thread_time), not wall time, per function
            return ["-c", PROFILE_SERVE, str(Path(self.profile).resolve())]
        if self.trace:
            return ["-c", TRACE_SERVE, str(Path(self.trace).resolve())]
        return super().command()

    def terminate(self) -> None:
        # uvicorn re-raises the signal after its shutdown: SIGINT lets cProfile write its file
        self.proc.send_signal(signal.SIGINT if self.profile or self.trace else signal.SIGTERM)


class Ami:
    """One AMI connection (events off) for the benchmark's own actions, pipelined:
    N Originates go out back to back instead of N logins."""

    def __init__(self, settings) -> None:
        self.s = settings
        self.proto: FastAMIProtocol | None = None

    async def open(self) -> "Ami":
        loop = asyncio.get_running_loop()
        _, self.proto = await asyncio.wait_for(loop.create_connection(
            lambda: FastAMIProtocol(lambda name, fields: None, frozenset(), lambda exc: None),
            self.s.ami_host, int(self.s.ami_port)), 5)
        r = await self.act({"Action": "Login", "Username": self.s.ami_user, "Secret": self.s.ami_secret,
                            "Events": "off"})
        if r.get("Response") != "Success":
            raise RuntimeError(f"AMI login refused: {r.get('Message')}")
        return self

    async def act(self, action: dict, *, as_list: bool = False, timeout: float = 15):
        return await asyncio.wait_for(self.proto.send_action(action, as_list=as_list), timeout)

    async def channels(self) -> int:
        rows = await self.act({"Action": "CoreShowChannels"}, as_list=True)
        return sum(1 for m in rows[1:] if m.get("Event") == "CoreShowChannel")

    async def wait_no_channels(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            n = await self.channels()
            if n == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Asterisk still has {n} channels after {timeout:g}s")
            await asyncio.sleep(0.5)  # polling Asterisk under a deadline

    async def set_phone(self, ext: str, *, answer_delay: str | None = None, reset: bool = False) -> None:
        """What ``sandbox.runner.set_phone`` does: AstDB ``simphone/<ext>/...``."""
        if reset:
            await self.act({"Action": "DBDelTree", "Family": "simphone", "Key": ext})
        if answer_delay is not None:
            r = await self.act({"Action": "DBPut", "Family": "simphone", "Key": f"{ext}/answer_delay",
                                "Val": answer_delay})
            if r.get("Response") != "Success":
                raise RuntimeError(f"DBPut simphone/{ext}/answer_delay: {r.get('Message')}")

    def close(self) -> None:
        if self.proto is not None:
            self.proto.close()


@dataclass
class Agent:
    username: str
    extension: str
    queues: str
    token: str = ""
    ws: object = None
    reader: asyncio.Task | None = None
    pops: list[tuple[float, dict]] = field(default_factory=list)  # (received at, message)

    async def connect(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.token, self.ws = await open_desk(http, base_url, self.username, PASSWORD, join_queues=True)
        self.reader = asyncio.create_task(read_pops(self.ws, self.pops.append))

    async def close(self, http: httpx.AsyncClient, leave_queues: bool) -> None:
        if leave_queues and self.token:
            with contextlib.suppress(Exception):
                await http.post("/api/v1/agent/logout", headers={"Authorization": f"Bearer {self.token}"})
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


# ---------------------------------------------------------------- rounds

@dataclass
class PlannedCall:
    number: str  # as presented to Asterisk
    agents: list[Agent]  # whose desks must pop
    customer_id: int | None  # None: an unknown caller
    normalized: str
    to: str | None  # an agent's extension (direct call), None: the DID (IVR, then the queue)


@dataclass
class RoundResult:
    label: str
    n: int
    calls: int = 0
    expected_pops: int = 0
    latencies: list[float] = field(default_factory=list)  # ms, read -> received
    build: list[float] = field(default_factory=list)  # ms, read -> sent (server side)
    transport: list[float] = field(default_factory=list)  # ms, sent -> received
    complete: list[float] = field(default_factory=list)  # latencies of the pops with the right content
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    failed_originates: list[str] = field(default_factory=list)
    bridge_cpu: float = 0.0
    asterisk_cpu: float = 0.0
    healthz: list[float] = field(default_factory=list)  # ms
    window: tuple[float, float] | None = None  # wall clock of the first and last call of the round

    def widen(self, lo: float, hi: float) -> None:
        self.window = (min(lo, self.window[0]), max(hi, self.window[1])) if self.window else (lo, hi)

    def merge(self, other: "RoundResult") -> None:
        for name in ("calls", "expected_pops", "bridge_cpu", "asterisk_cpu"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("latencies", "build", "transport", "complete", "missing", "wrong", "failed_originates", "healthz"):
            getattr(self, name).extend(getattr(other, name))
        if other.window:
            self.widen(*other.window)


class Callers:
    """Known callers from the hot set in rotation; every 10th call an unknown number."""

    def __init__(self, hot: list[tuple[int, str, str]], seed: int) -> None:
        self.hot = hot
        self.rng = random.Random(seed)
        self.k = 0
        self.used_unknown: set[str] = set()

    def next(self) -> tuple[str, int | None, str]:
        self.k += 1
        if self.k % 10 == 0:
            while True:
                mobile = f"199{self.rng.randrange(10**8):08d}"
                if mobile not in self.used_unknown:
                    self.used_unknown.add(mobile)
                    return self.rng.choice(caller_id_forms(mobile)), None, "+86" + mobile
        cid, _, norm = self.hot[(self.k - 1) % len(self.hot)]
        return self.rng.choice(caller_id_forms(norm[3:])), cid, norm


async def healthz_floor(http: httpx.AsyncClient, n: int = 30) -> list[float]:
    out = []
    await http.get("/healthz")  # the keep-alive connection is open before timing
    for _ in range(n):
        t = time.perf_counter()
        (await http.get("/healthz")).raise_for_status()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def run_round(ctx, label: str, plan: list[PlannedCall], *, sequential: bool, hold: float,
                    pop_timeout: float, rate: float = 0.0) -> RoundResult:
    res = RoundResult(label, len(plan) if not sequential else 1)
    ami: Ami = ctx["ami"]
    if Sandbox(ctx["settings"]).pid() != ctx["asterisk_pid"]:
        raise RuntimeError("the sandbox Asterisk was restarted or stopped by someone else during the run")
    if ctx["server"].proc.poll() is not None:
        raise RuntimeError(f"ctidesk serve exited ({ctx['server'].proc.returncode})")
    await ami.wait_no_channels(60)
    res.healthz = await healthz_floor(ctx["http"])
    for call in plan:
        for a in call.agents:
            a.pops.clear()
    cpu0 = (cpu_seconds(ctx["serve_pid"]), cpu_seconds(ctx["asterisk_pid"]))
    round_start = time.time()
    batches = [[c] for c in plan] if sequential else [plan]
    for batch in batches:
        # sent on this script's own PBX AMI connection: the Local caller path (as the baselines were measured)
        actions = [build_originate(c.number, to=c.to, hold=hold, via="local")[1] for c in batch]
        if rate > 0:  # callers arrive at `rate` per second and stay on: N end up in flight together
            responses = []
            for a in actions:
                try:
                    responses.append(await ami.act(a))
                except Exception as exc:  # noqa: BLE001 - reported as a failed originate
                    responses.append(exc)
                await asyncio.sleep(1 / rate)  # pacing the arrivals, not waiting for a result
        else:
            responses = await asyncio.gather(*(ami.act(a) for a in actions), return_exceptions=True)
        for c, r in zip(batch, responses):
            if isinstance(r, BaseException) or r.get("Response") != "Success":
                res.failed_originates.append(f"{c.number}: {r!r}")
        res.calls += len(batch)
        res.expected_pops += sum(len(c.agents) for c in batch)
        deadline = time.monotonic() + pop_timeout
        while time.monotonic() < deadline:
            if all(any(m["call"]["caller_number"] == c.number for _, m in a.pops) for c in batch for a in c.agents):
                break
            await asyncio.sleep(0.05)  # waiting for the pops under a deadline
        for c in batch:
            for a in c.agents:
                got = [(at, m) for at, m in a.pops if m["call"]["caller_number"] == c.number]
                if not got:
                    res.missing.append(f"{a.username} (ext {a.extension}) for caller {c.number}")
                    continue
                at, m = got[0]
                timing = m.get("timing") or {}
                read_at, sent_at = timing.get("ami_read_at"), timing.get("sent_at")
                if not read_at:
                    res.wrong.append(f"{a.username}: pop without timing.ami_read_at: {timing}")
                    continue
                res.latencies.append((at - read_at) * 1000)
                res.build.append((sent_at - read_at) * 1000)
                res.transport.append((at - sent_at) * 1000)
                problem = check_pop(m, c)
                if problem:
                    res.wrong.append(f"{a.username} caller {c.number}: {problem}")
                else:
                    res.complete.append(res.latencies[-1])
        if sequential:
            await ami.wait_no_channels(hold + 30)
    await ami.wait_no_channels(hold + 30)
    await asyncio.sleep(1.0)  # the call writer commits the last events of the round
    cpu1 = (cpu_seconds(ctx["serve_pid"]), cpu_seconds(ctx["asterisk_pid"]))
    res.widen(round_start, time.time())
    res.bridge_cpu, res.asterisk_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    return res


def check_pop(m: dict, c: PlannedCall) -> str | None:
    if m.get("lookup_failed"):
        return "bare pop: the server's customer lookup failed (lookup_failed), see the server log"
    if c.customer_id is not None:
        cust = m.get("customer") or {}
        if cust.get("id") != c.customer_id:
            return f"expected customer {c.customer_id}, got {cust.get('id')} / provisional {m.get('provisional_customer')}"
        if not m.get("history"):
            return "known caller without history"
        if not m.get("open_tickets"):
            return "known caller without open tickets"
    else:
        prov = m.get("provisional_customer") or {}
        if m.get("customer") is not None or not prov.get("provisional"):
            return f"unknown caller not given a provisional record: {m.get('customer')} {prov}"
        if [p["normalized"] for p in prov.get("phones", [])] != [c.normalized]:
            return f"provisional record phones {prov.get('phones')} != {c.normalized}"
    if m["call"].get("caller_number_normalized") != c.normalized:
        return f"normalized {m['call'].get('caller_number_normalized')} != {c.normalized}"
    return None


# ---------------------------------------------------------------- main

async def wait_port_free(port: int, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    announced = False
    while port_busy(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"127.0.0.1:{port} still busy after {wait_s:g}s (another ctidesk serve?); not run")
        if not announced:
            say(f"127.0.0.1:{port} is in use (another ctidesk serve, e.g. the real tests): waiting up to {wait_s:g}s")
            announced = True
        await asyncio.sleep(5)  # polling the port under a deadline
    if announced:
        say(f"127.0.0.1:{port} is free")


async def bench(args, tmp: Path, cleanup: list, results: list) -> int:
    check_forms()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not levels or min(levels) < 1 or max(levels) > 899:
        sys.exit("--concurrency: numbers between 1 and 899")
    settings = load_settings()
    ami_settings = effective_settings(settings)
    if not Sandbox(settings).pid():
        sys.exit("the sandbox Asterisk is not running: `python -m ctidesk.cli sandbox up`")
    if not ami_settings.ami_secret:
        sys.exit("no AMI secret (run `python -m ctidesk.cli sandbox up` once)")

    cached = await asyncio.to_thread(cached_db, args)
    db = tmp / "bench.db"
    t = time.monotonic()
    await asyncio.to_thread(shutil.copyfile, cached, db)
    hot = hot_callers(db)
    say(f"working copy {db} ({time.monotonic() - t:.1f}s); {len(hot)} hot callers with history and open tickets")
    if args.explain:
        say("query plans of the pop's queries on this database (SQLite, no ANALYZE, as the app runs):")
        for line in await explain_queries(db, hot):
            say(line)

    env = cli_env(tmp, db, CTIDESK_AMI_SECRET=ami_settings.ami_secret)
    n_direct = max(levels)
    users = await asyncio.to_thread(add_users, env, db, n_direct)
    agents = [Agent(u, ext, q) for u, ext, q in users]
    direct, queued = agents[:n_direct], agents[n_direct:]

    await wait_port_free(AGI_PORT, args.wait_port)
    asterisk_pid = Sandbox(settings).pid()
    if not asterisk_pid:
        sys.exit("the sandbox Asterisk is not running: `python -m ctidesk.cli sandbox up`")
    ami = await Ami(ami_settings).open()
    cleanup.append(("ami", ami))
    for a in queued:  # a crashed earlier run may have left them in the queue
        await ami.act({"Action": "QueueRemove", "Queue": QUEUE, "Interface": f"Local/{a.extension}@agents/n"})
    for a in agents:
        await ami.set_phone(a.extension, reset=True, answer_delay="never")
    cleanup.append(("phones", [a.extension for a in agents]))

    server = Server(env, tmp, profile=args.profile_serve, trace=args.trace_serve)
    cleanup.append(("server", server))
    await server.start()
    serve_pid = server.proc.pid
    http = httpx.AsyncClient(base_url=server.base_url, timeout=30)
    cleanup.append(("agents", (http, agents)))
    t = time.monotonic()
    sem = asyncio.Semaphore(4)

    async def connect(a: Agent) -> None:
        async with sem:
            await a.connect(http, server.base_url)

    await asyncio.gather(*(connect(a) for a in agents))
    say(f"ctidesk serve pid {serve_pid} on {server.base_url}, Asterisk pid {asterisk_pid}; "
        f"{len(agents)} agents logged in with a desk websocket each ({time.monotonic() - t:.1f}s)")

    ctx = {"ami": ami, "http": http, "serve_pid": serve_pid, "asterisk_pid": asterisk_pid,
           "settings": settings, "server": server}
    # idle CPU over a few seconds, to show what the per-call figures hold besides the calls
    await ami.wait_no_channels(60)
    c0, t0 = (cpu_seconds(serve_pid), cpu_seconds(asterisk_pid)), time.monotonic()
    await asyncio.sleep(3)
    c1, t1 = (cpu_seconds(serve_pid), cpu_seconds(asterisk_pid)), time.monotonic()
    IDLE[:] = [(c1[0] - c0[0]) / (t1 - t0), (c1[1] - c0[1]) / (t1 - t0)]

    callers = Callers(hot, seed=int(time.time()))
    # Warm-up: the first calls after start pay one-off costs (SQL compilation, imports,
    # cold pages); one known and one unknown caller, one after the other, reported apart.
    warm = []
    for i, want_known in enumerate((True, False)):
        while True:
            number, cid, norm = callers.next()
            if (cid is not None) == want_known:
                break
        warm.append(PlannedCall(number, [direct[i % n_direct]], cid, norm, direct[i % n_direct].extension))
    one = await run_round(ctx, "warm-up (2 calls, 1 by 1)", warm, sequential=True, hold=args.hold,
                          pop_timeout=args.pop_timeout)
    results.append(one)
    say(f"  warm-up: {len(one.latencies)}/{one.expected_pops} pops, "
        + ", ".join(f"{x:.1f} ms" for x in one.latencies))
    callers.k = 0
    for n in levels:
        total = RoundResult(f"direct x{n}", n)
        results.append(total)
        for r in range(args.repeat):
            plan = []
            for i in range(n):
                number, cid, norm = callers.next()
                plan.append(PlannedCall(number, [direct[i]], cid, norm, direct[i].extension))
            one = await run_round(ctx, total.label, plan, sequential=False, hold=args.hold,
                                  pop_timeout=args.pop_timeout)
            lat = (f"p50 {pct(one.latencies, 50):.1f} ms, p99 {pct(one.latencies, 99):.1f} ms, "
                   f"max {max(one.latencies):.1f} ms" if one.latencies else "no pops")
            say(f"  {n} concurrent, round {r + 1}: {len(one.latencies)}/{one.expected_pops} pops, {lat}; "
                f"CPU bridge {one.bridge_cpu:.2f} s, Asterisk {one.asterisk_cpu:.2f} s")
            total.merge(one)
    for n in (x for x in levels if x > 1 and args.arrival_rate > 0):
        label = f"direct x{n} arriving {args.arrival_rate:g}/s"
        plan = []
        for i in range(n):
            number, cid, norm = callers.next()
            plan.append(PlannedCall(number, [direct[i]], cid, norm, direct[i].extension))
        one = await run_round(ctx, label, plan, sequential=False, hold=n / args.arrival_rate + args.hold,
                              pop_timeout=args.pop_timeout, rate=args.arrival_rate)
        say(f"  {n} in flight, arriving {args.arrival_rate:g}/s: {len(one.latencies)}/{one.expected_pops} pops, "
            f"p50 {pct(one.latencies, 50):.1f} ms, p99 {pct(one.latencies, 99):.1f} ms")
        results.append(one)
    if args.queue_calls:
        for a in queued:  # (again: someone may have emptied the queue since)
            r = await http.post("/api/v1/agent/login", headers={"Authorization": f"Bearer {a.token}"})
            r.raise_for_status()
        plan = []
        for _ in range(args.queue_calls):
            number, cid, norm = callers.next()
            plan.append(PlannedCall(number, list(queued), cid, norm, None))
        one = await run_round(ctx, f"queue ringall ({len(queued)} agents)", plan, sequential=True,
                              hold=max(args.hold, 8), pop_timeout=args.pop_timeout + 10)
        say(f"  queue: {len(one.latencies)}/{one.expected_pops} pops over {one.calls} calls (1 by 1)")
        results.append(one)
    return 0


def verdict(results: list) -> int:
    failed = [r for r in results if r.missing or r.wrong or r.failed_originates]
    for r in failed:
        say(f"!!! FAILURES in {r.label}:")
        for what, items in (("missing pop", r.missing), ("wrong pop", r.wrong),
                            ("originate failed", r.failed_originates)):
            for item in items[:20]:
                say(f"!!!   {what}: {item}")
            if len(items) > 20:
                say(f"!!!   ... and {len(items) - 20} more {what}s")
    at100 = next((r for r in results if r.label == "direct x100"), None)
    for r in results:
        if r.complete and len(r.complete) < len(r.latencies):
            say(f"({r.label}: counting only the {len(r.complete)} pops with the right content: "
                f"p50 {pct(r.complete, 50):.1f} ms, p99 {pct(r.complete, 99):.1f} ms)")
    ramp100 = next((r for r in results if r.label.startswith("direct x100 arriving")), None)
    if ramp100 and ramp100.latencies:
        say(f"screen pop p99 with 100 calls in flight, arriving {ramp100.label.split()[-1]}: "
            f"{pct(ramp100.latencies, 99):.1f} ms (target < 20 ms)")
    if at100 and at100.latencies:
        say(f"screen pop p99 at 100 concurrent calls placed at once (burst): {pct(at100.latencies, 99):.1f} ms "
            f"(target < 20 ms)")
    else:
        best = max((r for r in results if r.label.startswith("direct") and r.latencies),
                   key=lambda r: r.n, default=None)
        where = f"; largest N measured: {best.n}, p99 {pct(best.latencies, 99):.1f} ms" if best else ""
        say(f"screen pop p99 at 100 concurrent calls: not measured{where} (target < 20 ms)")
    return 1 if failed else 0


def report(results: list[RoundResult], args) -> None:
    say()
    say(f"screen pop latency, AMI read -> desk websocket receive ({args.customers:,} customers; "
        f"direct rounds repeated {args.repeat}x, samples pooled)")
    head = (f"{'round':<28}{'calls':>6}{'pops':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
            f"{'srv p50/p99':>15}{'net p50':>9}{'bridge s/call':>14}{'Asterisk s/call':>16}{'ratio':>7}"
            f"{'healthz p50':>12}")
    say(head)
    say("-" * len(head))
    for r in results:
        if r.latencies:
            lat = f"{pct(r.latencies, 50):>9.1f}{pct(r.latencies, 99):>9.1f}{max(r.latencies):>9.1f}"
            srv = f"{pct(r.build, 50):.1f}/{pct(r.build, 99):.1f}"
            net = f"{pct(r.transport, 50):>9.2f}"
        else:
            lat, srv, net = f"{'-':>9}{'-':>9}{'-':>9}", "-", f"{'-':>9}"
        b = r.bridge_cpu / r.calls if r.calls else 0.0
        a = r.asterisk_cpu / r.calls if r.calls else 0.0
        ratio = f"{b / a:.2f}" if a > 0 else "-"
        say(f"{r.label:<28}{r.calls:>6}{len(r.latencies):>4}/{r.expected_pops:<4}{lat}{srv:>15}{net}"
            f"{b:>14.4f}{a:>16.4f}{ratio:>7}{statistics.median(r.healthz) if r.healthz else math.nan:>12.2f}")
    say("-" * len(head))
    say("srv = server side (AMI read -> pop queued to the socket, timing.sent_at); net = sent_at -> received.")
    say(f"CPU = utime+stime over the whole round (ring, hang-up, call rows written) / calls; clock tick "
        f"{1000 / CLK_TCK:.0f} ms." + (f" Idle rates: bridge {IDLE[0] * 1000:.1f} ms/s, Asterisk {IDLE[1] * 1000:.1f} "
                                       "ms/s." if IDLE else ""))
    floor = [x for r in results for x in r.healthz] or [math.nan]
    say(f"transport floor, same run: HTTP GET /healthz round trip (keep-alive, idle) p50 "
        f"{statistics.median(floor):.2f} ms over {len(floor)} requests")


async def cleanup_all(cleanup: list) -> None:
    ami = None
    for kind, obj in reversed(cleanup):
        try:
            if kind == "agents":
                http, agents = obj
                await asyncio.gather(*(a.close(http, leave_queues=bool(a.queues)) for a in agents))
                await http.aclose()
            elif kind == "server":
                await asyncio.to_thread(obj.stop)
            elif kind == "phones":
                ami = next((o for k, o in cleanup if k == "ami"), None)
                for ext in obj:
                    await ami.set_phone(ext, reset=True)
                for ext in QUEUE_EXTS:
                    await ami.act({"Action": "QueueRemove", "Queue": QUEUE, "Interface": f"Local/{ext}@agents/n"})
            elif kind == "ami":
                obj.close()
        except Exception as exc:  # noqa: BLE001 - clean up the rest whatever happened
            say(f"cleanup of {kind} failed: {type(exc).__name__}: {exc}")


async def amain(args) -> int:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main_task.cancel)
    cleanup: list = []
    results: list = []
    code = 0
    with tempfile.TemporaryDirectory(prefix="ctidesk-bench-pop-") as tmp:
        started = time.monotonic()
        try:
            await asyncio.wait_for(bench(args, Path(tmp), cleanup, results), args.timeout)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            if time.monotonic() - started >= args.timeout - 1:
                say(f"!!! the benchmark did not finish within {args.timeout:g}s; stopped")
            else:
                say(f"!!! timed out waiting: {exc!r}")
            code = 2
        except (RuntimeError, OSError, httpx.HTTPError) as exc:
            say(f"!!! benchmark aborted: {type(exc).__name__}: {exc}")
            code = 2
        finally:
            server = next((o for k, o in cleanup if k == "server"), None)
            if server is not None and server.proc is not None and server.proc.poll() is not None:
                say(f"!!! ctidesk serve had exited ({server.proc.returncode}):\n{server.tail()}")
            await asyncio.wait_for(asyncio.shield(cleanup_all(cleanup)), 120)
            if server is not None:
                keep = ROOT / "var" / "bench" / "screen_pop-serve.log"
                with contextlib.suppress(OSError):
                    shutil.copyfile(server.log, keep)
                    say(f"server log: {keep.relative_to(ROOT)}")
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    if results:
        report(results, args)
        if args.trace_serve:
            for line in trace_breakdown(args.trace_serve, results):
                say(line)
        code = max(code, verdict(results))
    return code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", default="1,20,100", help="concurrent calls per round (comma-separated)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per concurrency level (samples pooled)")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--background-calls", type=int, default=50_000, help="past calls of other customers")
    ap.add_argument("--queue-calls", type=int, default=3, help="queue calls (ringall, 2 agents); 0 to skip")
    ap.add_argument("--arrival-rate", type=float, default=20.0,
                    help="also run each level with callers arriving at this many per second until all N are "
                         "in flight together (0: burst rounds only)")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds the caller stays on before hanging up")
    ap.add_argument("--pop-timeout", type=float, default=20.0)
    ap.add_argument("--wait-port", type=float, default=600.0, help="seconds to wait for 127.0.0.1:4573")
    ap.add_argument("--timeout", type=float, default=900.0, help="the whole run")
    ap.add_argument("--no-explain", dest="explain", action="store_false", help="skip the query plans")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    ap.add_argument("--trace-serve", metavar="FILE", help="time the pop's phases inside the server (wrappers "
                    "injected at start, spans to FILE) and print where the time goes")
    ap.add_argument("--profile-serve", metavar="FILE", help="run ctidesk serve under cProfile, stats to FILE "
                    "(diagnosis only: the profiler inflates CPU and latency)")
    args = ap.parse_args()
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    from sandbox.runner import exclusive_use  # one user of the sandbox Asterisk at a time

    try:
        with exclusive_use(who="(bench/screen_pop.py)"), runner:
            code = runner.run(amain(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
