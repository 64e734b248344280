"""SLA: business-time arithmetic, due times on new tickets, and the scheduler."""
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ctidesk.bus import EventBus
from tickets import hooks, sla
from tickets.models import Ticket, TicketHistory
from tickets.sla import (BusinessCalendar, Span, SlaConfigError, TicketSlaBreached,
                         TicketSlaWarning, add_business_days, add_business_time,
                         business_time_between, load_policy, parse_span)

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc

CALENDAR_TOML = """
timezone = "Asia/Shanghai"
holidays = ["2026-05-01"]
makeup_workdays = ["2026-05-09"]

[weekly]
mon = ["09:00-18:00"]
tue = ["09:00-18:00"]
wed = ["09:00-18:00"]
thu = ["09:00-18:00"]
fri = ["09:00-18:00"]
"""

POLICY_TOML = """
[levels.standard]
respond_within = "4h"
resolve_within = "72h"
warn_before = 0.2

[levels.complaint]
respond_within = "2h"
resolve_within = "48h"
warn_before = 0.25

[levels.complaint_vip]
respond_within = "1h"
resolve_within = "24h"
warn_before = "15m"

[levels.round_the_clock]
resolve_within = "24h"
warn_before = "1h"
hours = "24x7"

[types]
repair = "standard"
complaint = "complaint"
consultation = "standard"
install = "round_the_clock"

[classes.vip]
complaint = "complaint_vip"

[callbacks]
revisit_after = "1d"
retry_after = "2h"
max_attempts = 3
"""


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    d = tmp_path_factory.mktemp("sla")
    (d / "calendar.toml").write_text(CALENDAR_TOML, encoding="utf-8")
    (d / "sla.toml").write_text(POLICY_TOML, encoding="utf-8")
    return load_policy(d / "sla.toml", calendar=d / "calendar.toml")


@pytest.fixture
def cal(policy):
    return policy.calendar


# --- business time ---------------------------------------------------------------
# 2026-03-02 is a Monday; 2026-05-01 (Friday) a holiday; 2026-05-09 (Saturday) a workday.

@pytest.mark.parametrize("start,hours,due", [
    (local(2026, 3, 2, 10, 0), 2, local(2026, 3, 2, 12, 0)),      # within the day
    (local(2026, 3, 2, 17, 0), 2, local(2026, 3, 3, 10, 0)),      # across the night
    (local(2026, 3, 2, 18, 0), 1, local(2026, 3, 3, 10, 0)),      # starting at closing
    (local(2026, 3, 2, 7, 0), 1, local(2026, 3, 2, 10, 0)),       # before opening
    (local(2026, 3, 2, 23, 30), 0.5, local(2026, 3, 3, 9, 30)),   # late at night
    (local(2026, 3, 3, 0, 0), 1, local(2026, 3, 3, 10, 0)),       # at midnight
    (local(2026, 3, 6, 17, 0), 2, local(2026, 3, 9, 10, 0)),      # over the weekend
    (local(2026, 3, 7, 12, 0), 1, local(2026, 3, 9, 10, 0)),      # starting on Saturday
    (local(2026, 3, 8, 23, 59), 1, local(2026, 3, 9, 10, 0)),     # Sunday night
    (local(2026, 3, 2, 9, 0), 9, local(2026, 3, 2, 18, 0)),       # ends exactly at closing
    (local(2026, 3, 2, 9, 0), 48, local(2026, 3, 9, 12, 0)),      # 5 days of 9h, then 3h
    (local(2026, 3, 2, 12, 0), 0.25, local(2026, 3, 2, 12, 15)),
    (local(2026, 4, 30, 17, 0), 2, local(2026, 5, 4, 10, 0)),     # over a holiday and weekend
    (local(2026, 5, 1, 10, 0), 1, local(2026, 5, 4, 10, 0)),      # starting on a holiday
    (local(2026, 5, 8, 17, 0), 2, local(2026, 5, 9, 10, 0)),      # make-up Saturday is worked
])
def test_add_business_time(cal, start, hours, due):
    got = add_business_time(start, timedelta(hours=hours), cal)
    assert got == due
    assert got.tzinfo == UTC  # stored as UTC, like the columns


def test_add_business_time_from_utc_and_edges(cal):
    # 01:00 UTC is 09:00 in Shanghai (UTC+8 all year: no DST to get wrong)
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(hours=1), cal) == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(0), cal) == start  # zero: unchanged, even off hours
    sunday = local(2026, 3, 8, 12, 0)
    assert add_business_time(sunday, timedelta(0), cal) == sunday
    with pytest.raises(ValueError, match="naive"):
        add_business_time(datetime(2026, 3, 2, 9, 0), timedelta(hours=1), cal)
    with pytest.raises(ValueError, match="negative"):
        add_business_time(start, timedelta(hours=-1), cal)


def test_lunch_break_and_round_the_clock():
    ranges = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))
    cal = BusinessCalendar(tz=SH, weekly=(ranges,) * 5 + ((), ()))
    assert add_business_time(local(2026, 3, 2, 11, 0), timedelta(hours=2), cal) == local(2026, 3, 2, 14, 0)
    assert add_business_time(local(2026, 3, 2, 12, 30), timedelta(minutes=30), cal) == local(2026, 3, 2, 13, 30)
    assert business_time_between(local(2026, 3, 2, 11, 0), local(2026, 3, 2, 14, 0), cal) == timedelta(hours=2)
    always = BusinessCalendar.always_open(SH)
    start = local(2026, 3, 7, 22, 0)
    assert add_business_time(start, timedelta(hours=30), always) == start + timedelta(hours=30)


def test_real_elapsed_time_across_a_dst_change():
    """Computed in UTC: the night Berlin springs forward has 23 hours."""
    berlin = ZoneInfo("Europe/Berlin")
    always = BusinessCalendar.always_open(berlin)
    start = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)
    got = add_business_time(start, timedelta(hours=24), always)
    assert got.astimezone(berlin) == datetime(2026, 3, 29, 13, 0, tzinfo=berlin)
    office = BusinessCalendar(tz=berlin, weekly=(((540, 1080),),) * 7)
    got = add_business_time(datetime(2026, 3, 28, 17, 0, tzinfo=berlin), timedelta(hours=2), office)
    assert got.astimezone(berlin) == datetime(2026, 3, 29, 10, 0, tzinfo=berlin)


def test_business_time_between(cal):
    assert business_time_between(local(2026, 3, 6, 17, 0), local(2026, 3, 9, 10, 0), cal) == timedelta(hours=2)
    assert business_time_between(local(2026, 3, 9, 10, 0), local(2026, 3, 6, 17, 0), cal) == timedelta(0)
    assert business_time_between(local(2026, 3, 7, 0, 0), local(2026, 3, 8, 23, 0), cal) == timedelta(0)
    assert business_time_between(local(2026, 3, 2, 0, 0), local(2026, 3, 9, 0, 0), cal) == timedelta(hours=45)


@pytest.mark.parametrize("start,days,due", [
    (local(2026, 3, 3, 15, 0), 1, local(2026, 3, 4, 15, 0)),    # Tuesday -> Wednesday
    (local(2026, 3, 6, 15, 0), 1, local(2026, 3, 9, 15, 0)),    # Friday -> Monday
    (local(2026, 3, 6, 20, 0), 1, local(2026, 3, 10, 9, 0)),    # after hours: from Monday's opening
    (local(2026, 4, 30, 15, 0), 1, local(2026, 5, 4, 15, 0)),   # over the holiday
    (local(2026, 3, 2, 10, 0), 5, local(2026, 3, 9, 10, 0)),
    (local(2026, 3, 7, 10, 0), 0, local(2026, 3, 9, 9, 0)),     # zero days: next opening
])
def test_add_business_days(cal, start, days, due):
    assert add_business_days(start, days, cal) == due


@pytest.mark.parametrize("text,span", [
    ("2h", Span(0, timedelta(hours=2))), ("30m", Span(0, timedelta(minutes=30))),
    ("1h30m", Span(0, timedelta(minutes=90))), ("1d", Span(1, timedelta(0))),
    ("2d 4h", Span(2, timedelta(hours=4))), ("1.5h", Span(0, timedelta(minutes=90))),
    ("45s", Span(0, timedelta(seconds=45))),
])
def test_parse_span(text, span):
    assert parse_span(text) == span


@pytest.mark.parametrize("text", ["", "2", "h", "2 hours", "1.5d", "-1h", "2h!", None, 3])
def test_parse_span_rejects(text):
    with pytest.raises(ValueError):
        parse_span(text)


# --- the policy --------------------------------------------------------------------

def test_shipped_config_loads():
    policy = load_policy()
    assert policy.calendar.tz.key == "Asia/Shanghai"
    complaint = policy.level_for("complaint")
    assert complaint.respond_within == Span(0, timedelta(hours=2))
    assert complaint.resolve_within == Span(0, timedelta(hours=48))
    assert policy.level_for("complaint", "VIP").name == "complaint_vip"
    assert policy.level_for("repair", "vip").name == "priority"  # the class's "*"
    assert policy.max_attempts == 3 and policy.revisit_after == Span(days=1)
    assert sla.default_policy() is sla.default_policy()  # read once


def test_level_lookup(policy):
    assert policy.level_for("complaint").name == "complaint"
    assert policy.level_for("complaint", "VIP").name == "complaint_vip"  # class names: any case
    assert policy.level_for("repair", "VIP").name == "standard"  # no entry for the class: the type's
    assert policy.level_for("complaint", "C").name == "complaint"
    assert policy.level_for("suggestion") is None  # no entry, no "*": no SLA


_BASE = {"tz": "Asia/Shanghai", "mon": '"09:00-18:00"', "fri": "", "resolve": '"8h"', "warn": "0.2",
         "level": '"std"', "attempts": "3"}
_CALENDAR = """
timezone = "{tz}"
[weekly]
mon = [{mon}]
fri = [{fri}]
"""
_TEMPLATE = """
[levels.std]
resolve_within = {resolve}
warn_before = {warn}
[types]
repair = {level}
[callbacks]
max_attempts = {attempts}
"""


@pytest.mark.parametrize("change,message", [
    ({"level": '"gold"'}, "types.repair: unknown level 'gold'"),
    ({"mon": '"18:00-09:00"'}, "calendar.weekly.mon"),
    ({"mon": '"09:00-12:00", "11:00-18:00"'}, "calendar.weekly.mon: ranges overlap"),
    ({"mon": ""}, "no business hours"),
    ({"tz": "Mars/Olympus"}, "calendar.timezone"),
    ({"resolve": '"soon"'}, "levels.std.resolve_within"),
    ({"warn": "1.5"}, "levels.std.warn_before"),
    ({"warn": '"1d"'}, "levels.std.warn_before"),
    ({"attempts": "0"}, "callbacks.max_attempts"),
])
def test_bad_config_names_the_key(tmp_path, change, message):
    path, cal = tmp_path / "sla.toml", tmp_path / "calendar.toml"
    values = {**_BASE, **change}
    path.write_text(_TEMPLATE.format(**values), encoding="utf-8")
    cal.write_text(_CALENDAR.format(**values), encoding="utf-8")
    with pytest.raises(SlaConfigError, match=re.escape(message)):
        load_policy(path, calendar=cal)
    path.write_text(_TEMPLATE.format(**_BASE), encoding="utf-8")
    cal.write_text(_CALENDAR.format(**_BASE), encoding="utf-8")
    assert load_policy(path, calendar=cal).level_for("repair").name == "std"


def test_a_calendar_left_in_the_sla_file_is_refused(tmp_path):
    path = tmp_path / "sla.toml"
    path.write_text('[calendar]\ntimezone = "Asia/Shanghai"\n' + _TEMPLATE.format(**_BASE), encoding="utf-8")
    with pytest.raises(SlaConfigError, match="moved to config/calendar.toml"):
        load_policy(path)


def test_sla_and_ivr_share_one_calendar(tmp_path):
    """The IVR's hours "center" and the SLA's business time are the same calendar:
    a make-up Saturday is open for both, a holiday closed for both, special
    hours count for both."""
    from ivr.config import load_menu
    from tests.unit.test_ivr_config import BASE

    cal = tmp_path / "calendar.toml"
    cal.write_text(CALENDAR_TOML + '[special]\n"2026-05-08" = ["09:00-12:00"]\n', encoding="utf-8")
    (tmp_path / "sla.toml").write_text(POLICY_TOML, encoding="utf-8")
    policy = load_policy(tmp_path / "sla.toml", calendar=cal)
    menu_file = tmp_path / "ivr.toml"
    menu_file.write_text(BASE.replace('hours = "office"', 'hours = "center"'), encoding="utf-8")
    center = load_menu(menu_file, calendar=cal).schedule_for(None)
    for moment, is_open in [(local(2026, 5, 9, 10, 0), True),     # make-up Saturday
                            (local(2026, 5, 1, 10, 0), False),    # holiday (a Friday)
                            (local(2026, 5, 8, 13, 0), False),    # special day: closes at noon
                            (local(2026, 5, 8, 11, 0), True),
                            (local(2026, 5, 10, 10, 0), False)]:  # an ordinary Sunday
        assert center.is_open(moment) is is_open, moment
        assert policy.calendar.is_open(moment) is is_open, moment
    # two business hours from Friday 11:00 before a special noon close: Saturday (make-up) 10:00
    assert add_business_time(local(2026, 5, 8, 11, 0), timedelta(hours=2), policy.calendar) == \
        local(2026, 5, 9, 10, 0).astimezone(UTC)


def test_the_ivr_may_not_redefine_the_center(tmp_path):
    from ivr.config import check_menu
    from tests.unit.test_ivr_config import BASE

    menu_file = tmp_path / "ivr.toml"
    menu_file.write_text(BASE.replace("[hours.office", "[hours.center"), encoding="utf-8")
    _menu, problems = check_menu(menu_file)
    assert any(p.key == "hours.center" and "reserved" in p.message for p in problems)


def test_missing_file(tmp_path):
    with pytest.raises(SlaConfigError, match="not found"):
        load_policy(tmp_path / "nope.toml")


# --- due times on tickets -----------------------------------------------------------

async def add_ticket(db, customer, policy, type="complaint", created=local(2026, 3, 2, 10, 0),
                     state="new", customer_class=None, **fields) -> Ticket:
    ticket = Ticket(customer_id=customer.id, type=type, state=state, created_at=created,
                    description="x", **fields)
    db.add(ticket)
    await db.flush()
    await sla.apply_sla(db=db, ticket=ticket, actor="agent1", customer_class=customer_class,
                        sla_policy=policy)
    await db.commit()
    return ticket


async def test_apply_sla_complaint_vs_consultation(db, customer, policy):
    complaint = await add_ticket(db, customer, policy, type="complaint")
    assert complaint.sla_level == "complaint"
    assert complaint.due_response_at == local(2026, 3, 2, 12, 0)
    assert complaint.due_resolve_at == local(2026, 3, 9, 13, 0)  # 48 business hours
    consult = await add_ticket(db, customer, policy, type="consultation",
                               created=local(2026, 3, 6, 16, 0))  # Friday afternoon
    assert consult.sla_level == "standard"
    assert consult.due_response_at == local(2026, 3, 9, 11, 0)
    assert consult.due_resolve_at == local(2026, 3, 18, 16, 0)   # 72h: 2h + 7 days of 9h + 7h
    stored = await db.get(Ticket, complaint.id)
    await db.refresh(stored)
    assert stored.due_response_at == local(2026, 3, 2, 12, 0)  # round-trips through UTC storage


async def test_apply_sla_class_override_and_no_level(db, customer, policy):
    vip = await add_ticket(db, customer, policy, type="complaint", customer_class="VIP")
    assert vip.sla_level == "complaint_vip"
    assert vip.due_response_at == local(2026, 3, 2, 11, 0)
    assert vip.due_resolve_at == local(2026, 3, 4, 16, 0)  # 24 business hours
    install = await add_ticket(db, customer, policy, type="install",
                               created=local(2026, 3, 7, 10, 0))  # a Saturday, 24x7 level
    assert install.due_response_at is None and install.due_resolve_at == local(2026, 3, 8, 10, 0)
    none = await add_ticket(db, customer, policy, type="suggestion")
    assert none.sla_level is None and none.due_resolve_at is None


async def test_apply_sla_reads_the_customers_class(db, customer, policy):
    from customers.models import Customer

    if not hasattr(Customer, "vip"):
        pytest.skip("customers have no VIP flag yet")
    customer.vip = True
    await db.commit()
    ticket = await add_ticket(db, customer, policy, type="complaint")
    assert ticket.sla_level == "complaint_vip"


async def test_registered_on_the_ticket_hooks(db, customer):
    """Through the registry: tickets.service.create runs it with the shipped policy."""
    assert sla.apply_sla in hooks.on_created and sla.restart_clock in hooks.on_transition
    from tickets import service

    ticket = await service.create(db=db, actor="agent1", type="complaint", customer_id=customer.id,
                                  description="rude technician")
    await db.commit()
    level = sla.default_policy().level_for("complaint")
    assert ticket.sla_level == level.name
    assert (ticket.due_response_at, ticket.due_resolve_at) == level.due_times(ticket.created_at)


# --- the scheduler ------------------------------------------------------------------

@pytest.fixture
def bus_events():
    bus, seen = EventBus(), []
    bus.subscribe(seen.append)
    return bus, seen


@pytest.fixture
def scheduler(app, policy, bus_events):
    return sla.SlaScheduler(app.state.container.sessionmaker, bus_events[0], policy, interval_s=0.01)


async def history(app, ticket_id, kind="sla"):
    async with app.state.container.sessionmaker() as s:
        rows = (await s.execute(select(TicketHistory).where(
            TicketHistory.ticket_id == ticket_id, TicketHistory.kind == kind)
            .order_by(TicketHistory.id))).scalars().all()
    return [(r.field, r.old, r.new) for r in rows]


async def reload(app, ticket_id) -> Ticket:
    async with app.state.container.sessionmaker() as s:
        return await s.get(Ticket, ticket_id)


def summary(events):
    return [(e.type, e.ticket_id, e.kind) for e in events]


async def test_tick_warns_once_breaches_once_and_escalates_complaints(app, db, customer, policy,
                                                                       scheduler, bus_events):
    _, seen = bus_events
    t = await add_ticket(db, customer, policy, type="complaint")  # respond by 12:00, resolve 03-09 13:00
    assert await scheduler.tick(local(2026, 3, 2, 11, 20)) == []  # 40 min left of 2h: not yet (25%)
    warned = await scheduler.tick(local(2026, 3, 2, 11, 31))
    assert summary(warned) == [("ticket_sla_warning", t.id, "response")]
    assert seen == warned
    w = warned[0]
    assert isinstance(w, TicketSlaWarning) and w.due_at == local(2026, 3, 2, 12, 0).astimezone(UTC).isoformat()
    assert w.at == local(2026, 3, 2, 11, 31).timestamp() and w.ticket_type == "complaint"
    assert w.to_dict() == {"type": "ticket_sla_warning", "call_id": None, "ticket_id": t.id,
                           "at": w.at, "due_at": w.due_at, "kind": "response",
                           "ticket_type": "complaint", "sla_level": "complaint", "assignee": None}
    assert await scheduler.tick(local(2026, 3, 2, 11, 45)) == []  # warned once only
    row = await reload(app, t.id)
    assert row.sla_warned and not row.sla_breached and row.version == 1
    assert row.updated_at == t.updated_at  # a flag is not an edit

    breached = await scheduler.tick(local(2026, 3, 2, 12, 0, 1))
    assert summary(breached) == [("ticket_sla_breached", t.id, "response")]
    assert isinstance(breached[0], TicketSlaBreached) and breached[0].escalated is True
    assert await scheduler.tick(local(2026, 3, 2, 13, 0)) == []  # breached once only
    row = await reload(app, t.id)
    assert row.sla_breached and row.escalated and row.priority == "urgent"
    assert row.version == 2  # the escalation changed what the desk shows
    assert await history(app, t.id) == [("response", None, "warning"), ("response", None, "breached"),
                                        ("priority", "normal", "urgent")]

    # the resolve clock is watched on its own: warned, then breached, not escalated again
    late = await scheduler.tick(local(2026, 3, 9, 11, 0))   # 2h left of 48h (< 25%)
    assert summary(late) == [("ticket_sla_warning", t.id, "resolve")]
    late = await scheduler.tick(local(2026, 3, 9, 13, 0))
    assert summary(late) == [("ticket_sla_breached", t.id, "resolve")] and late[0].escalated is False
    assert await scheduler.tick(local(2026, 3, 10, 9, 0)) == []
    assert (await reload(app, t.id)).version == 2
    assert summary(seen) == summary(warned + breached) + [
        ("ticket_sla_warning", t.id, "resolve"), ("ticket_sla_breached", t.id, "resolve")]


async def test_warning_counts_business_time_left(db, customer, policy, scheduler):
    # resolve by Monday 03-09 12:00 (48 business hours from Monday 03-02 09:00);
    # warned with 12 business hours (25%) left, i.e. from Friday 09:00, three days ahead
    t = await add_ticket(db, customer, policy, type="complaint", created=local(2026, 3, 2, 9, 0),
                         responded_at=local(2026, 3, 2, 9, 30))
    assert t.due_resolve_at == local(2026, 3, 9, 12, 0)
    assert await scheduler.tick(local(2026, 3, 5, 17, 30)) == []   # 12h30m left
    warned = await scheduler.tick(local(2026, 3, 6, 9, 30))          # 11h30m left
    assert summary(warned) == [("ticket_sla_warning", t.id, "resolve")]
    assert await scheduler.tick(local(2026, 3, 7, 12, 0)) == []


async def test_breach_of_non_complaint_does_not_escalate(app, db, customer, policy, scheduler):
    t = await add_ticket(db, customer, policy, type="repair", assignee="agent1")
    [event] = await scheduler.tick(local(2026, 3, 2, 14, 1))  # response due 14:00
    assert (event.type, event.kind, event.escalated, event.assignee) == \
        ("ticket_sla_breached", "response", False, "agent1")
    row = await reload(app, t.id)
    assert row.sla_breached and not row.escalated and row.priority == "normal" and row.version == 1


async def test_ignores_closed_responded_and_slaless_tickets(app, db, customer, policy, scheduler):
    for state in ("resolved", "closed", "cancelled"):
        await add_ticket(db, customer, policy, type="complaint", state=state)
    responded = await add_ticket(db, customer, policy, type="complaint",
                                 responded_at=local(2026, 3, 2, 10, 30))
    await add_ticket(db, customer, policy, type="suggestion")  # no level
    events = await scheduler.tick(local(2026, 3, 2, 15, 0))
    assert events == []  # the responded one: response clock stopped, resolve far away
    events = await scheduler.tick(local(2026, 3, 20, 9, 0))
    assert summary(events) == [("ticket_sla_breached", responded.id, "resolve")]


async def test_reopen_restarts_the_resolve_clock(app, db, customer, policy, scheduler):
    t = await add_ticket(db, customer, policy, type="repair", responded_at=local(2026, 3, 2, 10, 5))
    other = await add_ticket(db, customer, policy, type="repair", responded_at=local(2026, 3, 2, 10, 5))
    events = await scheduler.tick(local(2026, 3, 20, 9, 0))
    assert summary(events) == [("ticket_sla_breached", t.id, "resolve"),
                               ("ticket_sla_breached", other.id, "resolve")]
    ticket = await db.get(Ticket, t.id)
    await db.refresh(ticket)
    ticket.state = "reopened"
    await sla.restart_clock(db=db, ticket=ticket, actor="agent1", old="closed", new="reopened",
                            sla_policy=policy)
    await db.commit()
    assert ticket.due_resolve_at > datetime.now(UTC) and not ticket.sla_breached
    assert await scheduler.tick(datetime.now(UTC)) == []
    again = await scheduler.tick(ticket.due_resolve_at + timedelta(minutes=1))
    assert summary(again) == [("ticket_sla_breached", t.id, "resolve")]  # not the other one
    assert [h[2] for h in await history(app, t.id)] == ["breached", "restarted", "breached"]


async def test_a_failing_subscriber_does_not_stop_the_pass(db, customer, policy, app):
    bus, seen = EventBus(), []

    def broken(event):
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    a = await add_ticket(db, customer, policy, type="repair")
    b = await add_ticket(db, customer, policy, type="repair")
    scheduler = sla.SlaScheduler(app.state.container.sessionmaker, bus, policy)
    await scheduler.tick(local(2026, 3, 2, 14, 1))
    assert sorted(e.ticket_id for e in seen) == [a.id, b.id]


async def test_start_and_stop(app, db, customer, policy, bus_events):
    import asyncio

    bus, seen = bus_events
    t = await add_ticket(db, customer, policy, type="repair")  # long overdue by now
    scheduler = sla.SlaScheduler(app.state.container.sessionmaker, bus, policy, interval_s=0.01)
    scheduler.start()
    for _ in range(500):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # a few more passes
    await scheduler.stop()
    await scheduler.stop()  # twice is harmless
    assert {(e.type, e.ticket_id) for e in seen} == {("ticket_sla_breached", t.id)}
    assert len(seen) == 2  # response and resolve, each once, however many passes ran
