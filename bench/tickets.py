#!/usr/bin/env python3
"""Desk queries at scale: 1,000,000 customers and 5,000,000 tickets in SQLite.

p50/p99/max latency of four desk operations, each measured through the
application's own service functions on an async SQLAlchemy session (the way
the HTTP handlers run them, one session per request):

  phone lookup   customers.service.find_by_phone (numbers written many ways)
  360 view       customers.service.timeline (random and heavy customers)
  ticket lists   tickets.service.list_tickets: open states due before now+1d,
                 one state due before now+1d, open states due in a 1-day window
  ticket create  tickets.service.create + commit (SLA hooks run, as in the app)

Baseline, same run: every SQL statement the service issued for a sample is
captured and replayed on a bare sqlite3 connection (same database, same
pragmas), so the ratio is what the ORM + async layer costs on top of SQLite.
Target: every operation under 50 ms p99.

    python bench/tickets.py [--samples 400] [--budget 25] [--rebuild]

The database is built once with plain sqlite3 and cached under var/bench/
(the key is the row counts and the migrations); each run works on a copy.
It is ANALYZEd at the end of the build.
"""
from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.common import building, built, check_phones, migrate, migrations_key, pct, say  # noqa: E402
from ctidesk.db import make_engine, make_sessionmaker  # noqa: E402

DB_FORMAT = 1  # bump when the generated data changes
TARGET_MS = 50.0
HEAVY = 1000  # customers with hundreds of tickets and calls
OPEN_STATES = ("new", "assigned", "dispatched", "in_progress", "pending_customer", "reopened")
OPEN_WEIGHTS = (15, 20, 20, 25, 15, 5)
TICKET_TYPES = ("repair", "install", "complaint", "consultation", "suggestion", "callback")
TYPE_WEIGHTS = (45, 15, 12, 18, 5, 5)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国文红玉梅晶丹玲萍鹏辉斌宇浩凯婷雪琳欣怡轩涵诺思雨俊"
T = "datetime(?, 'unixepoch') || '.000000'"  # epoch seconds -> how UTCDateTime is stored in SQLite


def raw_forms(mobile: str) -> tuple[str, ...]:
    """How people, spreadsheets and carriers write one mobile number."""
    a, b, c = mobile[:3], mobile[3:7], mobile[7:]
    return (mobile, f"{a}-{b}-{c}", f"{a} {b} {c}", f"+86 {a} {b} {c}", f"+86{mobile}",
            f"0086-{mobile}", f"(+86) {a}-{b}-{c}", f"86{mobile}", f"0086{mobile}")


# ---------------------------------------------------------------- the database

def drop_indexes(con: sqlite3.Connection, tables: tuple[str, ...]) -> list[str]:
    marks = ",".join("?" * len(tables))
    rows = con.execute(f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                       f"AND tbl_name IN ({marks})", tables).fetchall()
    for name, _ in rows:
        con.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def build_db(path: Path, n_cust: int, n_tickets: int, n_calls: int, n_callbacks: int,
             seed: int = 20240607) -> None:
    t0 = time.monotonic()
    tmp = building(path)
    migrate(tmp, "ctidesk-bench-tickets-")
    rng = random.Random(seed)
    con = sqlite3.connect(tmp, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    con.execute("PRAGMA temp_store=MEMORY")
    # Secondary indexes are dropped during the load and recreated from their own SQL after.
    index_sql = drop_indexes(con, ("customers", "customer_phones", "tickets", "calls", "callbacks"))
    now = int(time.time())
    start = now - 4 * 365 * 86400
    chunk = 200_000

    # customers + one mobile each
    space = 60 * 10**8  # prefixes 130..189
    mobiles = [f"{130 + v // 10**8}{v % 10**8:08d}" for v in rng.sample(range(space), n_cust)]
    con.execute("BEGIN")
    for lo in range(0, n_cust, chunk):
        customers, phones = [], []
        for i in range(lo, min(n_cust, lo + chunk)):
            cid = i + 1
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
            at = start + (now - 30 * 86400 - start) * i // n_cust
            customers.append((cid, name, "company" if i % 23 == 0 else "person", at, at))
            m = mobiles[i]
            phones.append((cid, cid, raw_forms(m)[i % 9], "+86" + m))
        con.executemany(f"INSERT INTO customers (id, name, kind, provisional, notes, created_at, updated_at)"
                        f" VALUES (?,?,?,0,'',{T},{T})", customers)
        con.executemany("INSERT INTO customer_phones (id, customer_id, raw, normalized, kind, label)"
                        " VALUES (?,?,?,?,'mobile','')", phones)
    con.execute("COMMIT")
    say(f"  customers: {n_cust:,} ({time.monotonic() - t0:.0f}s)")

    heavy = rng.sample(range(1, n_cust + 1), min(HEAVY, n_cust))
    heavy_set = set(heavy)

    def pick_customer(heavy_share: float) -> int:
        if rng.random() < heavy_share:
            return heavy[rng.randrange(len(heavy))]
        return rng.randrange(1, n_cust + 1)

    # tickets: 70% closed/resolved over 4 years, 3% cancelled, 27% open (mostly recent,
    # due 1-30 days after creation, so a good part of them is overdue); ids in created order.
    n_open = int(n_tickets * 0.27)
    n_done = n_tickets - n_open
    done_times = (start + (now - 86400 - start) * i // n_done for i in range(n_done))
    open_times = sorted(now - min(int(rng.expovariate(1 / (30 * 86400))), 2 * 365 * 86400)
                        for _ in range(n_open))
    merged = heapq.merge(((t, 0) for t in done_times), ((t, 1) for t in open_times))
    cb_pool: list[tuple[int, int, int]] = []  # (ticket id, customer id, resolved at) for callbacks
    sql = (f"INSERT INTO tickets (id, customer_id, type, state, priority, description, assignee, sla_level,"
           f" due_response_at, due_resolve_at, responded_at, resolved_at, resolution, sla_warned,"
           f" sla_breached, escalated, created_by, version, created_at, updated_at)"
           f" VALUES (?,?,?,?,?,?,?,?,{T},{T},{T},{T},?,0,?,0,?,?,{T},{T})")
    tid = 0
    con.execute("BEGIN")
    rows = []
    for created, is_open in merged:
        tid += 1
        cid = pick_customer(0.10)
        ttype = rng.choices(TICKET_TYPES, TYPE_WEIGHTS)[0]
        agent = f"agent{rng.randrange(60):02d}"
        due_resp = created + 4 * 3600
        if is_open:
            state = rng.choices(OPEN_STATES, OPEN_WEIGHTS)[0]
            due = created + rng.randrange(86400, 30 * 86400)
            responded = None if state == "new" else created + rng.randrange(600, 4 * 3600)
            rows.append((tid, cid, ttype, state, "normal", "设备无法开机，客户要求上门", None if state == "new" else agent,
                         "standard", due_resp, due, responded, None, None, int(due < now), "agent", 1 + (state != "new"),
                         created, created + 600))
        else:
            r = rng.random()
            state = "closed" if r < 0.88 else ("resolved" if r < 0.96 else "cancelled")
            resolved = created + rng.randrange(3600, 10 * 86400)
            rows.append((tid, cid, ttype, state, "normal", "设备无法开机，客户要求上门", agent, "standard",
                         due_resp, created + 3 * 86400, created + 1800, None if state == "cancelled" else resolved,
                         None if state == "cancelled" else "更换主板", 0, "agent", 3, created, resolved))
            if state != "cancelled" and (tid % 31 == 0 or (cid in heavy_set and tid % 5 == 0)):
                cb_pool.append((tid, cid, resolved))
        if len(rows) >= chunk:
            con.executemany(sql, rows)
            rows.clear()
    con.executemany(sql, rows)
    con.execute("COMMIT")
    say(f"  tickets: {tid:,} ({n_open:,} open) ({time.monotonic() - t0:.0f}s)")

    # calls: 40% from heavy customers, 10% from numbers we never matched
    times = sorted(now - rng.randrange(3600, 2 * 365 * 86400) for _ in range(n_calls))
    rows = []
    for i, at in enumerate(times, 1):
        r = rng.random()
        cid = None if r < 0.10 else (heavy[rng.randrange(len(heavy))] if r < 0.50 else rng.randrange(1, n_cust + 1))
        mobile = mobiles[cid - 1] if cid else f"199{rng.randrange(10**8):08d}"
        answered = rng.random() < 0.8
        agent = f"agent{rng.randrange(60):02d}" if answered else None
        rows.append((i, f"bench-{i}", f"PJSIP/trunk-{i:08x}", rng.choice(raw_forms(mobile)[4:]), "+86" + mobile,
                     "support", agent, agent, cid, at, at + 4, at + 9 if answered else None,
                     at + 9 + rng.randrange(30, 600) if answered else at + 25,
                     "answered" if answered else "abandoned", at + 600))
    con.execute("BEGIN")
    con.executemany(f"INSERT INTO calls (id, call_id, direction, channel, caller_number_raw, caller_number,"
                    f" caller_kind, called_number, queue, agent, agent_username, customer_id, created_at,"
                    f" ringing_at, answered_at, ended_at, outcome, cause, updated_at) VALUES"
                    f" (?,?,'inbound',?,?,?,'mobile','4000',?,?,?,?,{T},{T},{T},{T},?,'Normal Clearing',{T})", rows)
    con.execute("COMMIT")
    say(f"  calls: {len(rows):,} ({time.monotonic() - t0:.0f}s)")

    # callbacks (revisits) of resolved tickets
    picked = rng.sample(cb_pool, min(n_callbacks, len(cb_pool)))
    picked.sort()
    rows = []
    for i, (ticket_id, cid, resolved) in enumerate(picked, 1):
        due = resolved + 2 * 86400
        done = due < now - 86400 and rng.random() < 0.9
        rows.append((i, ticket_id, cid, "done" if done else "pending", f"agent{rng.randrange(60):02d}", due,
                     1 if done else 0, "reached" if done else None, rng.randint(3, 5) if done else None,
                     resolved, due - 3600 if done else None))
    con.execute("BEGIN")
    con.executemany(f"INSERT INTO callbacks (id, ticket_id, customer_id, reason, state, assignee, due_at, attempts,"
                    f" outcome, satisfaction, created_at, done_at) VALUES (?,?,?,'revisit',?,?,{T},?,?,?,{T},{T})",
                    rows)
    con.execute("COMMIT")
    say(f"  callbacks: {len(rows):,} ({time.monotonic() - t0:.0f}s)")

    for s in index_sql:
        con.execute(s)
    say(f"  {len(index_sql)} indexes rebuilt ({time.monotonic() - t0:.0f}s)")
    con.execute("ANALYZE")
    check_phones(con)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    built(con, tmp, path)
    say(f"built {path.name}: {n_cust:,} customers, {tid:,} tickets, {len(times):,} calls, "
        f"{len(picked):,} callbacks in {time.monotonic() - t0:.1f}s ({path.stat().st_size / 1e9:.2f} GB)")


def cached_db(args) -> Path:
    name = f"tickets-{args.customers}-{args.tickets}-{args.calls}-{args.callbacks}-{migrations_key(DB_FORMAT)}.db"
    path = ROOT / "var" / "bench" / name
    if path.exists() and not args.rebuild:
        say(f"database: cached {path.relative_to(ROOT)} ({path.stat().st_size / 1e9:.2f} GB)")
    else:
        say(f"database: building {path.relative_to(ROOT)} ...")
        build_db(path, args.customers, args.tickets, args.calls, args.callbacks)
    return path


# ---------------------------------------------------------------- measuring

class Capture:
    """Every statement the engine sends to the driver while ``on``."""

    def __init__(self, engine) -> None:
        self.on = False
        self.stmts: list[tuple[str, object, bool]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.on:
            self.stmts.append((statement, parameters, executemany))

    def take(self) -> list[tuple[str, object, bool]]:
        out, self.stmts = self.stmts, []
        return out


class Op:
    def __init__(self, label: str, run, inputs: list, writes: bool = False) -> None:
        self.label, self.run, self.inputs, self.writes = label, run, inputs, writes
        self.orm: list[float] = []
        self.raw: list[float] = []
        self.captured: list[list] = []
        self.per_stmt: dict[str, list[float]] = {}


async def measure_orm(op: Op, sm, cap: Capture, warmup: int, budget: float) -> None:
    for arg in op.inputs[:warmup]:
        async with sm() as db:
            await op.run(db, arg)
    deadline = time.monotonic() + budget
    for arg in op.inputs[warmup:]:
        cap.take()
        cap.on = True
        t = time.perf_counter()
        async with sm() as db:
            await op.run(db, arg)
        dt = time.perf_counter() - t
        cap.on = False
        op.orm.append(dt * 1000)
        op.captured.append(cap.take())
        if time.monotonic() > deadline:
            break


def replay_raw(op: Op, db_path: Path) -> None:
    """The same statements, same parameters, on a bare sqlite3 connection."""
    con = sqlite3.connect(db_path)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON"):
        con.execute(f"PRAGMA {pragma}")
    for stmts in op.captured[:3]:  # warm-up, as the service had
        for sql, params, many in stmts:
            (con.executemany if many else con.execute)(sql, params).fetchall()
        con.commit()
    order = list(range(len(op.captured)))
    random.Random(7).shuffle(order)
    for i in order:
        t = time.perf_counter()
        for sql, params, many in op.captured[i]:
            s = time.perf_counter()
            (con.executemany if many else con.execute)(sql, params).fetchall()
            op.per_stmt.setdefault(sql, []).append((time.perf_counter() - s) * 1000)
        if op.writes:
            con.commit()
        op.raw.append((time.perf_counter() - t) * 1000)
    con.close()


def explain(db_path: Path, op: Op) -> list[str]:
    con = sqlite3.connect(db_path)
    out, seen = [], set()
    for stmts in op.captured[:5]:
        for sql, params, many in stmts:
            if sql in seen:
                continue
            seen.add(sql)
            times = op.per_stmt.get(sql, [0.0])
            out.append(f"  [{pct(times, 50):.2f}/{pct(times, 99):.2f} ms raw p50/p99] "
                       + " ".join(sql.split())[:400])
            if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                first = params[0] if many else params
                for row in con.execute("EXPLAIN QUERY PLAN " + sql, first).fetchall():
                    out.append(f"      plan: {row[-1]}")
    con.close()
    return out


async def bench(args, db_path: Path) -> list[Op]:
    import accounts.models  # noqa: F401  (every table known to the ORM, as in the app)
    import cti.models  # noqa: F401
    import customers.models  # noqa: F401
    import tickets.models  # noqa: F401
    from tickets import hooks

    hooks.install_defaults()  # the product's ticket hooks, as the app installs them
    from customers import service as customers
    from tickets import service as tickets

    rng = random.Random(args.seed)
    n = args.samples + args.warmup
    con = sqlite3.connect(db_path)
    n_cust = con.execute("SELECT max(id) FROM customers").fetchone()[0]
    ids = [rng.randrange(1, n_cust + 1) for _ in range(n)]
    marks = ",".join("?" * len(ids))
    phone_of = dict(con.execute(f"SELECT customer_id, normalized FROM customer_phones WHERE customer_id IN ({marks})",
                                ids).fetchall())
    heavy = [r[0] for r in con.execute("SELECT customer_id FROM calls WHERE customer_id IS NOT NULL "
                                       "GROUP BY customer_id HAVING count(*) >= 50").fetchall()]
    con.close()
    say(f"{len(heavy)} heavy customers (hundreds of tickets, >= 50 calls) among {n_cust:,}")
    now = datetime.now(timezone.utc)

    phones = [rng.choice(raw_forms(phone_of[c][3:])) for c in ids if c in phone_of]
    people = [heavy[rng.randrange(len(heavy))] if i % 2 else ids[i] for i in range(n)]
    open_due = [(list(OPEN_STATES), now + timedelta(days=1)) for _ in range(n)]
    one_due = [(rng.choice(OPEN_STATES), now + timedelta(days=1)) for _ in range(n)]
    window = []
    for _ in range(n):
        lo = now + timedelta(days=rng.randint(-20, 5), hours=rng.randint(0, 23))
        window.append((lo, lo + timedelta(days=1)))
    creates = [(rng.randrange(1, n_cust + 1), rng.choice(TICKET_TYPES)) for _ in range(n)]

    async def find(db, raw):
        found = await customers.find_by_phone(db=db, phone=raw)
        assert found, raw

    async def view(db, cid):
        await customers.timeline(db=db, customer_id=cid)

    async def list_open(db, a):
        await tickets.list_tickets(db=db, state=a[0], due_before=a[1], limit=50)

    async def list_window(db, a):
        await tickets.list_tickets(db=db, state=list(OPEN_STATES), due_after=a[0], due_before=a[1], limit=50)

    async def create(db, a):
        await tickets.create(db=db, actor="bench", type=a[1], customer_id=a[0],
                             description="打印机卡纸，客户来电报修")
        await db.commit()

    ops = [Op("find_by_phone", find, phones),
           Op("timeline (360 view)", view, people),
           Op("list open states, due<+1d", list_open, open_due),
           Op("list one state, due<+1d", list_open, one_due),
           Op("list open, due in 1-day window", list_window, window),
           Op("create ticket + commit", create, creates, writes=True)]
    engine = make_engine(f"sqlite+aiosqlite:///{db_path}")
    sm = make_sessionmaker(engine)
    cap = Capture(engine)
    try:
        for op in ops:
            t = time.monotonic()
            await measure_orm(op, sm, cap, args.warmup, args.budget)
            await asyncio.to_thread(replay_raw, op, db_path)
            say(f"  {op.label}: {len(op.orm)} samples ({time.monotonic() - t:.1f}s)")
    finally:
        await engine.dispose()
    return ops


def report(ops: list[Op], db_path: Path, args) -> int:
    say()
    say(f"desk operations, ms ({args.customers:,} customers, {args.tickets:,} tickets, SQLite; "
        "service = async SQLAlchemy session as the handlers use it; raw = the same statements on bare sqlite3)")
    head = (f"{'operation':<32}{'n':>5}{'stmts':>6}{'p50':>8}{'p99':>8}{'max':>8}"
            f"{'raw p50':>9}{'raw p99':>9}{'p99 ratio':>11}")
    say(head)
    say("-" * len(head))
    for op in ops:
        stmts = statistics.median(len(c) for c in op.captured)
        say(f"{op.label:<32}{len(op.orm):>5}{stmts:>6.0f}{pct(op.orm, 50):>8.2f}{pct(op.orm, 99):>8.2f}"
            f"{max(op.orm):>8.2f}{pct(op.raw, 50):>9.2f}{pct(op.raw, 99):>9.2f}"
            f"{pct(op.orm, 99) / pct(op.raw, 99):>10.2f}x")
    say("-" * len(head))
    failed = [op for op in ops if pct(op.orm, 99) >= TARGET_MS]
    for op in (ops if args.explain else failed):
        say(f"statements of {op.label} (raw per-statement time) and SQLite's plans:")
        for line in explain(db_path, op):
            say(line)
    for op in ops:
        p99 = pct(op.orm, 99)
        say(f"p99 {op.label}: {p99:.1f} ms (target < {TARGET_MS:.0f} ms) {'PASS' if p99 < TARGET_MS else 'FAIL'}")
    return 1 if failed else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--tickets", type=int, default=5_000_000)
    ap.add_argument("--calls", type=int, default=500_000)
    ap.add_argument("--callbacks", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=400, help="measured samples per operation")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured samples first")
    ap.add_argument("--budget", type=float, default=25.0, help="seconds of service samples per operation at most")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--explain", action="store_true", help="print statements and plans of every operation")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    args = ap.parse_args()
    cached = cached_db(args)
    bench_dir = ROOT / "var" / "bench"
    with tempfile.TemporaryDirectory(prefix="tickets-run-", dir=bench_dir) as tmp:
        db = Path(tmp) / "bench.db"
        t = time.monotonic()
        shutil.copyfile(cached, db)
        say(f"working copy {db.relative_to(ROOT)} ({time.monotonic() - t:.1f}s)")
        ops = asyncio.run(bench(args, db))
        code = report(ops, db, args)
    sys.exit(code)


if __name__ == "__main__":
    main()
