"""Reports computed from STORED data only (calls, queue_calls, agent_state_log, tickets).

Never from live counters: a report for yesterday must give the same figures
after a restart, and the live wallboard only knows its sliding window. Each
report returns named tables (``columns`` + ``rows``) and the formula of every
KPI column, so the API, the CSV/XLSX exports and the pages show the same thing.

Time: ``start <= t < end`` on the row's own time (call created, queue entry
entered, ticket created); agent state durations are clipped to the period.
Intervals are aligned in the requested time zone (a day in Shanghai starts at
16:00 UTC).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from cti.models import CallRecord
from supervisor.kpi import FORMULAS as QUEUE_FORMULAS, QueueEntry, queue_kpis
from supervisor.models import AgentStateLog, QueueCall

INTERVALS = {"15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}
OUTCOMES = ("answered", "abandoned", "unanswered", "lost")
SPY_PREFIX = "ctidesk-spy-"  # supervisors' monitoring calls are not traffic

WORKLOAD_FORMULAS = {
    "calls_answered": "calls answered by the agent (calls.answered_at in the period)",
    "talk_s": "sum of (ended_at - answered_at) of those calls",
    "hold_s": "time in state on_hold (agent_state_log), clipped to the period",
    "wrap_up_s": "time in state wrap_up",
    "pause_s": "time in state paused (all reasons); pause_by_reason splits it",
    "available_s": "time in state available",
    "login_s": "time in any state other than logged_out",
    "occupancy_pct": "100 * (on_call + on_hold + ringing + wrap_up time) / (login_s - pause_s)",
    # issue 14: the post-call satisfaction survey (call_surveys, created_at in the period)
    "surveys": "post-call surveys of the agent's calls answered with a score (1-5) in the period",
    "avg_score": "mean of those scores (2 decimals; empty with no survey)",
    "low_scores": "those at or under [survey] low_score when given (each opened a callback)",
}
CALL_FORMULAS = {
    "total": "calls created in the interval (supervisor monitoring calls excluded)",
    "inbound/outbound": "by calls.direction",
    "answered/abandoned/unanswered/lost": "by calls.outcome (open calls count as 'open')",
}


def _epoch(dt: datetime) -> float:
    return dt.timestamp()


def bucket_start(at: datetime, interval_s: int, tz) -> datetime:
    local = at.astimezone(tz)
    naive = local.replace(tzinfo=None)
    base = datetime(2000, 1, 1)
    n = int((naive - base).total_seconds() // interval_s)
    start = base + timedelta(seconds=n * interval_s)
    return start.replace(tzinfo=tz)


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


async def call_volume(db, *, start: datetime, end: datetime, interval: str = "1h", tz=timezone.utc) -> dict:
    step = INTERVALS[interval]
    rows = (await db.execute(select(CallRecord.created_at, CallRecord.direction, CallRecord.outcome,
                                    CallRecord.queue)
                             .where(CallRecord.created_at >= start, CallRecord.created_at < end,
                                    ~CallRecord.call_id.startswith(SPY_PREFIX)))).all()
    cols = ["total", "inbound", "outbound", *OUTCOMES, "open"]
    buckets: dict[datetime, Counter] = defaultdict(Counter)
    by_queue: dict[str, Counter] = defaultdict(Counter)
    for created, direction, outcome, queue in rows:
        b = bucket_start(created, step, tz)
        for counter in (buckets[b], by_queue[queue or "(none)"]):
            counter["total"] += 1
            counter[direction or "inbound"] += 1
            counter[outcome or "open"] += 1
    # every interval of the period appears, calls or not (a chart needs the zeros)
    b = bucket_start(start, step, tz)
    while b < end:
        buckets.setdefault(b, Counter())
        b = bucket_start(b + timedelta(seconds=step), step, tz) if step < 86400 else \
            (b + timedelta(days=1)).replace(tzinfo=tz)
    interval_rows = [[_iso(k)] + [buckets[k][c] for c in cols] for k in sorted(buckets)]
    queue_rows = [[q] + [by_queue[q][c] for c in cols] for q in sorted(by_queue)]
    totals = Counter()
    for c in by_queue.values():
        totals.update(c)
    return {"report": "calls", "formulas": CALL_FORMULAS, "interval": interval,
            "totals": {c: totals[c] for c in cols},
            "tables": {"by_interval": {"columns": ["interval_start", *cols], "rows": interval_rows},
                       "by_queue": {"columns": ["queue", *cols], "rows": queue_rows}}}


async def business_volume(db, *, start: datetime, end: datetime, tz=timezone.utc) -> dict:
    from tickets.models import Ticket

    rows = (await db.execute(select(Ticket.type, Ticket.state).where(Ticket.created_at >= start,
                                                                    Ticket.created_at < end))).all()
    counts = Counter((t, s) for t, s in rows)
    states = sorted({s for _, s in counts})
    types = sorted({t for t, _ in counts})
    matrix = [[t] + [counts[(t, s)] for s in states] + [sum(counts[(t, s)] for s in states)] for t in types]
    faults = await repairs_by_fault(db, start=start, end=end)
    return {"report": "business", "formulas": {"count": "tickets created in the period, by type and current state",
                                               "repairs_by_fault": REPAIRS_BY_FAULT_FORMULA},
            "totals": {"tickets": len(rows), "repairs": sum(r[-1] for r in faults["rows"])},
            "tables": {"by_type_state": {"columns": ["type", *states, "total"], "rows": matrix},
                       "flat": {"columns": ["type", "state", "count"],
                                "rows": [[t, s, n] for (t, s), n in sorted(counts.items())]},
                       "repairs_by_fault": faults}}


REPAIRS_BY_FAULT_FORMULA = ("repair tickets created in the period, by fault class and phenomenon code "
                            "(labels as the taxonomy says now; empty code: not classified yet)")


async def repairs_by_fault(db, *, start: datetime, end: datetime) -> dict:
    """Repair tickets by fault class and phenomenon (issue 14): grouped by the stable
    codes, labelled in both languages from the taxonomy as it is now, so a renamed
    label renames the line instead of splitting it. Most frequent first within a class."""
    from catalog import service as catalog
    from tickets.models import Ticket

    n = func.count(Ticket.id)
    rows = (await db.execute(select(Ticket.fault_class_code, Ticket.fault_phenomenon_code, n)
                             .where(Ticket.type == "repair", Ticket.created_at >= start, Ticket.created_at < end)
                             .group_by(Ticket.fault_class_code, Ticket.fault_phenomenon_code))).all()
    classes, phenomena = await catalog.fault_labels(db=db)
    none = ("", "")
    out = [[c or "", *classes.get(c, none), p or "", *phenomena.get(p, none), count] for c, p, count in rows]
    out.sort(key=lambda r: (r[0] == "", r[0], -r[-1], r[3]))
    return {"columns": ["fault_class_code", "fault_class_zh", "fault_class_en", "fault_phenomenon_code",
                        "fault_phenomenon_zh", "fault_phenomenon_en", "count"], "rows": out}


def state_durations(changes: list[tuple[float, str, str | None]], start: float, end: float) -> dict:
    """Seconds per state (and per pause reason) within [start, end).

    ``changes`` are (at, state, reason) of one agent in time order, including
    the last change before ``start`` (the state the period opens in). A state
    lasts until the next change; the last one until ``end``.
    """
    out: Counter = Counter()
    reasons: Counter = Counter()
    for i, (at, state, reason) in enumerate(changes):
        until = changes[i + 1][0] if i + 1 < len(changes) else end
        secs = min(until, end) - max(at, start)
        if secs <= 0:
            continue
        out[state] += secs
        if state == "paused":
            reasons[reason or "(none)"] += secs
    return {"states": dict(out), "pause_by_reason": dict(reasons)}


def workload_row(username: str, durations: dict, calls_answered: int, talk_s: float) -> dict:
    s = durations["states"]
    login = sum(v for k, v in s.items() if k != "logged_out")
    pause = s.get("paused", 0.0)
    handling = s.get("on_call", 0.0) + s.get("on_hold", 0.0) + s.get("ringing", 0.0) + s.get("wrap_up", 0.0)
    staffed = login - pause
    return {"agent": username, "calls_answered": calls_answered, "talk_s": round(talk_s, 1),
            "hold_s": round(s.get("on_hold", 0.0), 1), "wrap_up_s": round(s.get("wrap_up", 0.0), 1),
            "pause_s": round(pause, 1), "available_s": round(s.get("available", 0.0), 1),
            "login_s": round(login, 1),
            "occupancy_pct": None if staffed <= 0 else round(100 * handling / staffed, 1),
            "pause_by_reason": {k: round(v, 1) for k, v in durations["pause_by_reason"].items()}}


async def workload(db, *, start: datetime, end: datetime, now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    stop = min(end, now)
    calls = (await db.execute(select(CallRecord.agent_username, CallRecord.answered_at, CallRecord.ended_at)
                              .where(CallRecord.answered_at >= start, CallRecord.answered_at < end,
                                     CallRecord.agent_username.is_not(None),
                                     ~CallRecord.call_id.startswith(SPY_PREFIX)))).all()
    answered: Counter = Counter()
    talk: Counter = Counter()
    for user, a, e in calls:
        answered[user] += 1
        talk[user] += max(0.0, ((e or stop) - a).total_seconds())
    # the changes inside the period, plus each agent's last change before it (the state it opens in)
    opening = (select(AgentStateLog.username, func.max(AgentStateLog.at).label("at"))
               .where(AgentStateLog.at < start).group_by(AgentStateLog.username).subquery())
    log_rows = (await db.execute(
        select(AgentStateLog.username, AgentStateLog.at, AgentStateLog.state, AgentStateLog.reason)
        .outerjoin(opening, and_(opening.c.username == AgentStateLog.username, opening.c.at == AgentStateLog.at))
        .where(AgentStateLog.at < end, or_(AgentStateLog.at >= start, opening.c.at.is_not(None)))
        .order_by(AgentStateLog.username, AgentStateLog.at, AgentStateLog.id))).all()
    per: dict[str, list] = defaultdict(list)
    for user, at, state, reason in log_rows:
        per[user].append((_epoch(at), state, reason))
    from ivr.survey import agent_figures  # issue 14: post-call satisfaction per agent

    surveys = await agent_figures(db=db, start=start, end=end)
    users = sorted(set(per) | set(answered) | set(surveys))
    rows = [workload_row(u, state_durations(per.get(u, []), _epoch(start), _epoch(stop)), answered[u], talk[u])
            | surveys.get(u, {"surveys": 0, "avg_score": None, "low_scores": 0}) for u in users]
    columns = ["agent", "calls_answered", "talk_s", "hold_s", "wrap_up_s", "pause_s", "available_s", "login_s",
               "occupancy_pct", "surveys", "avg_score", "low_scores"]
    return {"report": "workload", "formulas": WORKLOAD_FORMULAS, "agents": rows,
            "tables": {"by_agent": {"columns": columns, "rows": [[r[c] for c in columns] for r in rows]}}}


async def queue_quality(db, *, start: datetime, end: datetime, config) -> dict:
    rows = (await db.execute(select(QueueCall.queue, QueueCall.entered_at, QueueCall.outcome, QueueCall.wait_s,
                                    QueueCall.talk_s)
                             .where(QueueCall.entered_at >= start, QueueCall.entered_at < end))).all()
    entries = [QueueEntry(q, _epoch(at), o, w, t) for q, at, o, w, t in rows]
    by_queue: dict[str, list] = defaultdict(list)
    for e in entries:
        by_queue[e.queue].append(e)
    columns = ["queue", "offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "other",
               "service_level_pct", "abandonment_rate_pct", "asa_s", "aht_s", "max_wait_s"]
    out = []
    for q in sorted(by_queue):
        k = queue_kpis(by_queue[q], service_level_s=config.service_level_s, short_abandon_s=config.short_abandon_s,
                       wrapup_s=config.wrapup_s(q))
        out.append([q] + [k[c] for c in columns[1:]])
    return {"report": "queues", "formulas": QUEUE_FORMULAS,
            "parameters": {"service_level_s": config.service_level_s, "short_abandon_s": config.short_abandon_s,
                           "wrapup_s": dict(config.wrapup)},
            "tables": {"by_queue": {"columns": columns, "rows": out}}}


def parse_tz(name: str | None):
    if not name or name.upper() == "UTC":
        return timezone.utc
    return ZoneInfo(name)
