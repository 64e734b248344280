"""Service levels: business-time arithmetic, due times, and the SLA scheduler.

The policy comes from ``config/sla.toml`` (see the comments there): a
business calendar (weekly hours in a time zone, holidays, make-up workdays),
named levels (``respond_within``, ``resolve_within``, ``warn_before``), and
which level a ticket type gets, optionally overridden per customer class.

Durations in a level are business time: two business hours asked for at
17:00 on a Friday fall due at 10:00 on Monday. Every datetime this module
returns is timezone-aware UTC, like the database columns.

The :class:`SlaScheduler` looks at open tickets every ``interval_s`` and
publishes :class:`TicketSlaWarning` when a due time is close and
:class:`TicketSlaBreached` when it has passed; a breached complaint is
escalated (``escalated``, priority ``urgent``). It fires each event at most
once per ticket and kind ("response", "resolve"): a ``ticket_history`` row
(kind ``sla``, field = the kind, new = ``warning``/``breached``) records what
fired, and is what makes a second tick a no-op. ``sla_warned`` and
``sla_breached`` on the ticket say that at least one warning/breach fired.
The response clock runs while ``responded_at`` is empty; both stop when the
ticket leaves the open states.

Ticket hooks (registered by ``tickets.hooks.install_defaults``):
:func:`apply_sla` (``on_created``) sets the level and due times;
:func:`restart_clock` (``on_transition``) gives a reopened ticket a fresh
resolve clock.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import ClassVar, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cti.events import DomainEvent
from ctidesk.aio import cancel_and_wait
from ctidesk.calendar import CalendarError, Schedule, load_center
from ctidesk.db import utcnow
from ctidesk.settings import PROJECT_ROOT, ConfigError
from tickets.models import OPEN_STATES, Ticket, TicketHistory

log = logging.getLogger(__name__)

DEFAULT_SLA_CONFIG = PROJECT_ROOT / "config" / "sla.toml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SYSTEM_ACTOR = "system:sla"
# A calendar with no opening for this long is a configuration mistake, not a
# reason to loop forever.
_MAX_SEARCH_DAYS = 3 * 366
_DAY_MINUTES = 24 * 60
UTC = timezone.utc


class SlaConfigError(ConfigError):
    """``config/sla.toml`` is missing a key or has a value that cannot be used."""


# --- durations -----------------------------------------------------------------

_SPAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_SPAN_FULL = re.compile(r"\s*(?:\d+(?:\.\d+)?\s*[dhms]\s*)+")
_UNITS = {"h": "hours", "m": "minutes", "s": "seconds"}


@dataclass(frozen=True)
class Span:
    """A business-time length: whole business ``days`` then ``time``."""

    days: int = 0
    time: timedelta = timedelta(0)

    def upper_bound(self) -> timedelta:
        """At least as long as the business time this span can cover."""
        return timedelta(days=self.days) + self.time


def parse_span(text: str) -> Span:
    """``"2h"``, ``"1h30m"``, ``"1d"`` (one business day), ``"90s"``.

    >>> parse_span("1d2h30m")
    Span(days=1, time=datetime.timedelta(seconds=9000))
    """
    if not isinstance(text, str) or not _SPAN_FULL.fullmatch(text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 2h, 30m, 1h30m, 1d)")
    days, rest = 0, timedelta(0)
    for number, unit in _SPAN_PART.findall(text):
        if unit == "d":
            if "." in number:
                raise ValueError(f"not a duration: {text!r} (business days are whole)")
            days += int(number)
        else:
            rest += timedelta(**{_UNITS[unit]: float(number)})
    return Span(days, rest)


# --- the calendar --------------------------------------------------------------

@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday (minutes of the local day, end exclusive,
    1440 = midnight), in ``tz``; ``holidays`` are closed, ``extra_workdays``
    (make-up days on a weekend) get Monday's hours."""

    tz: ZoneInfo
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    # The shared calendar this one reads its days from (special days,
    # make-up hours); None for a calendar built here (tests, round the clock).
    schedule: Schedule | None = None

    @classmethod
    def of(cls, schedule: Schedule) -> "BusinessCalendar":
        """Business time on the center's calendar (``ctidesk.calendar``): the same
        days and hours the IVR answers by."""
        return cls(tz=schedule.tz, weekly=schedule.weekly, holidays=schedule.holidays,
                   extra_workdays=schedule.makeup_workdays, schedule=schedule)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("weekly hours need one entry per weekday")
        if not any(self.weekly) and self.schedule is None:
            raise ValueError("the calendar has no business hours on any weekday")
        for ranges in self.weekly:
            for start, end in ranges:
                if not 0 <= start < end <= _DAY_MINUTES:
                    raise ValueError(f"bad opening range {start}-{end} (minutes of the day)")

    @classmethod
    def always_open(cls, tz: ZoneInfo | None = None) -> "BusinessCalendar":
        """Round the clock, every day: business time is wall-clock time."""
        return cls(tz=tz or ZoneInfo("UTC"), weekly=(((0, _DAY_MINUTES),),) * 7)

    def ranges_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The open ranges of local ``day`` as UTC datetimes, in order."""
        return _ranges_on(self, day)

    def _local_day(self, t: datetime) -> date:
        return _aware(t).astimezone(self.tz).date()

    def is_open(self, t: datetime) -> bool:
        t = _aware(t).astimezone(UTC)
        return any(s <= t < e for s, e in self.ranges_on(self._local_day(t)))

    def next_open(self, t: datetime) -> datetime:
        """``t`` if the desk is open then, else the next opening (UTC)."""
        t = _aware(t).astimezone(UTC)
        day = self._local_day(t)
        for _ in range(_MAX_SEARCH_DAYS):
            for s, e in self.ranges_on(day):
                if t < e:
                    return max(s, t)
            day += timedelta(days=1)
        raise ValueError(f"no business hours within {_MAX_SEARCH_DAYS} days of {t.isoformat()}")


@functools.lru_cache(maxsize=4096)
def _ranges_on(cal: BusinessCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if cal.schedule is not None:
        spec = cal.schedule.ranges_on(day)
    elif day in cal.holidays:
        return ()
    else:
        spec = cal.weekly[0] if day in cal.extra_workdays else cal.weekly[day.weekday()]
    return tuple((_local_minute(cal.tz, day, s), _local_minute(cal.tz, day, e)) for s, e in spec)


def _local_minute(tz: ZoneInfo, day: date, minute: int) -> datetime:
    day += timedelta(days=minute // _DAY_MINUTES)
    minute %= _DAY_MINUTES
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz).astimezone(UTC)


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime: business time needs an aware datetime")
    return t


def add_business_time(start: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """The moment ``duration`` of open time after ``start`` (UTC, aware).

    A start outside hours counts from the next opening; a duration that ends
    exactly at closing returns the closing time, not the next opening. A zero
    duration returns ``start`` unchanged.
    """
    if duration < timedelta(0):
        raise ValueError("negative business duration")
    cursor = _aware(start).astimezone(UTC)
    if not duration:
        return cursor
    remaining = duration
    day = calendar._local_day(cursor)
    for _ in range(_MAX_SEARCH_DAYS):
        for s, e in calendar.ranges_on(day):
            if e <= cursor:
                continue
            s = max(s, cursor)
            if remaining <= e - s:
                return s + remaining
            remaining -= e - s
        day += timedelta(days=1)
    raise ValueError(f"no business hours within {_MAX_SEARCH_DAYS} days of {cursor.isoformat()}")


def business_time_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> timedelta:
    """Open time from ``a`` to ``b`` (zero if ``b`` is not after ``a``)."""
    a, b = _aware(a).astimezone(UTC), _aware(b).astimezone(UTC)
    total = timedelta(0)
    if b <= a:
        return total
    day, last = calendar._local_day(a), calendar._local_day(b)
    while day <= last:
        for s, e in calendar.ranges_on(day):
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def add_business_days(start: datetime, days: int, calendar: BusinessCalendar) -> datetime:
    """The same point of the business day, ``days`` business days later.

    A start outside hours counts from the next opening: resolved on Friday
    at 20:00, one business day later is Tuesday at opening time (Monday's
    opening is the start).
    """
    t = calendar.next_open(start)
    if days <= 0:
        return t
    day = calendar._local_day(t)
    offset = business_time_between(calendar.ranges_on(day)[0][0], t, calendar)
    for _ in range(days):
        day += timedelta(days=1)
        for _ in range(_MAX_SEARCH_DAYS):
            if calendar.ranges_on(day):
                break
            day += timedelta(days=1)
    return add_business_time(calendar.ranges_on(day)[0][0], offset, calendar)


def add_span(start: datetime, span: Span, calendar: BusinessCalendar) -> datetime:
    if span.days:
        start = add_business_days(start, span.days, calendar)
    return add_business_time(start, span.time, calendar)


# --- the policy ----------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    name: str
    respond_within: Span | None
    resolve_within: Span | None
    # A fraction of the window (0.25: warn with a quarter left) or a fixed lead.
    warn_before: float | timedelta
    calendar: BusinessCalendar

    def due_times(self, start: datetime) -> tuple[datetime | None, datetime | None]:
        """(respond by, resolve by) for a ticket opened at ``start``."""
        return tuple(None if span is None else add_span(start, span, self.calendar)
                     for span in (self.respond_within, self.resolve_within))

    def warn_threshold(self, window: timedelta) -> timedelta:
        """How much business time left before the due time warrants a warning."""
        if isinstance(self.warn_before, timedelta):
            return self.warn_before
        return window * self.warn_before

    def max_threshold(self) -> timedelta:
        if isinstance(self.warn_before, timedelta):
            return self.warn_before
        spans = [s.upper_bound() for s in (self.respond_within, self.resolve_within) if s]
        return max(spans, default=timedelta(0)) * self.warn_before


@dataclass(frozen=True)
class SlaPolicy:
    """The whole of ``config/sla.toml``, parsed and checked."""

    calendar: BusinessCalendar
    levels: Mapping[str, Level]
    types: Mapping[str, str]
    classes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    revisit_after: Span = Span(days=1)
    retry_after: Span = Span(time=timedelta(hours=2))
    max_attempts: int = 3
    revisit_types: frozenset[str] | None = None  # None: every type

    def level_for(self, ticket_type: str, customer_class: str | None = None) -> Level | None:
        """The class's entry for the type, then the class's ``*``, then the
        type's, then the global ``*``; None when nothing applies (no SLA)."""
        chain: list[Mapping[str, str]] = []
        if customer_class:
            chain.append(self.classes.get(customer_class.strip().upper(), {}))
        chain.append(self.types)
        for table in chain:
            name = table.get(ticket_type) or table.get("*")
            if name:
                return self.levels[name]
        return None

    def revisit_due(self, resolved_at: datetime) -> datetime:
        return add_span(resolved_at, self.revisit_after, self.calendar)

    def retry_due(self, now: datetime) -> datetime:
        return add_span(now, self.retry_after, self.calendar)


def _span(where: str, raw) -> Span:
    try:
        return parse_span(raw)
    except ValueError as exc:
        raise SlaConfigError(f"{where}: {exc}") from None


def _level(name: str, data: dict, calendar: BusinessCalendar) -> Level:
    where = f"levels.{name}"
    if not isinstance(data, dict):
        raise SlaConfigError(f"{where}: a table")
    respond = data.get("respond_within")
    resolve = data.get("resolve_within")
    if respond is None and resolve is None:
        raise SlaConfigError(f"{where}: needs respond_within and/or resolve_within")
    warn = data.get("warn_before", 0.2)
    if isinstance(warn, (int, float)) and not isinstance(warn, bool):
        if not 0 <= warn < 1:
            raise SlaConfigError(f"{where}.warn_before: a fraction must be in [0, 1)")
        warn_before: float | timedelta = float(warn)
    else:
        span = _span(f"{where}.warn_before", warn)
        if span.days:
            raise SlaConfigError(f"{where}.warn_before: use hours/minutes, not days")
        warn_before = span.time
    hours = data.get("hours", "business")
    if hours not in ("business", "24x7"):
        raise SlaConfigError(f"{where}.hours: \"business\" or \"24x7\"")
    cal = calendar if hours == "business" else BusinessCalendar.always_open(calendar.tz)
    return Level(name=name, calendar=cal, warn_before=warn_before,
                 respond_within=None if respond is None else _span(f"{where}.respond_within", respond),
                 resolve_within=None if resolve is None else _span(f"{where}.resolve_within", resolve))


def load_policy(path: Path | str | None = None, *, calendar: Path | str | None = None) -> SlaPolicy:
    """Parse and check an SLA file (default ``config/sla.toml``); business time
    runs on the center's calendar (``calendar``, default ``config/calendar.toml``)."""
    path = Path(path or DEFAULT_SLA_CONFIG)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SlaConfigError(f"{path}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SlaConfigError(f"{path}: {exc}") from None
    if "calendar" in data:
        raise SlaConfigError(f"{path}: [calendar] moved to config/calendar.toml, the one business "
                             "calendar the SLAs and the IVR share (rename extra_workdays to makeup_workdays)")
    try:
        center = load_center(calendar)
    except CalendarError as exc:
        raise SlaConfigError(str(exc)) from None
    try:
        return _policy(data, BusinessCalendar.of(center))
    except SlaConfigError as exc:
        raise SlaConfigError(f"{path}: {exc}") from None


def _policy(data: dict, calendar: BusinessCalendar) -> SlaPolicy:
    policy, problems = _checked_policy(data, calendar)
    if policy is None:
        raise SlaConfigError("; ".join(f"{key}: {message}" for key, message in problems))
    return policy


def check_policy(data, center: Schedule) -> tuple[SlaPolicy | None, list[tuple[str, str]]]:
    """Check SLA data (the file's tables, or a document saved in the browser) on
    the center's calendar ``center``: the policy, or every problem as
    ``(key, message)`` (``("levels.complaint.respond_within", "not a duration: '2x' ...")``).
    The same rules :func:`load_policy` applies to the file."""
    if not isinstance(data, dict):
        return None, [("(document)", "a table of levels, types, classes, callbacks")]
    if "calendar" in data:
        return None, [("calendar", "the business calendar is its own document (config/calendar.toml)")]
    return _checked_policy(data, BusinessCalendar.of(center))


def _split(exc: SlaConfigError) -> tuple[str, str]:
    key, _, message = str(exc).partition(": ")
    return (key, message) if message else ("(document)", key)


def _checked_policy(data: dict, calendar: BusinessCalendar) -> tuple[SlaPolicy | None, list[tuple[str, str]]]:
    """Every problem, not just the first (the browser shows each next to its field)."""
    problems: list[tuple[str, str]] = []

    def attempt(fn, *args):
        try:
            return fn(*args)
        except SlaConfigError as exc:
            problems.append(_split(exc))
            return None

    raw_levels = data.get("levels") or {}
    if not isinstance(raw_levels, dict):
        return None, [("levels", "a table of level name = {respond_within, resolve_within, warn_before}")]
    levels = {name: attempt(_level, name, spec, calendar) for name, spec in raw_levels.items()}
    bad_levels = {name for name, level in levels.items() if level is None}

    def mapping(where: str, table) -> dict[str, str]:
        if not isinstance(table, dict):
            raise SlaConfigError(f"{where}: a table of ticket type = level name")
        for ticket_type, level in table.items():
            if level not in levels:
                problems.append((f"{where}.{ticket_type}", f"unknown level {level!r}"))
        return dict(table)

    types = attempt(mapping, "types", data.get("types") or {})
    raw_classes = data.get("classes") or {}
    if not isinstance(raw_classes, dict):
        problems.append(("classes", "a table of customer class = {ticket type = level name}"))
        raw_classes = {}
    classes = {str(cls).strip().upper(): attempt(mapping, f"classes.{cls}", table)
               for cls, table in raw_classes.items()}
    cb = data.get("callbacks") or {}
    if not isinstance(cb, dict):
        problems.append(("callbacks", "a table: revisit_after, retry_after, max_attempts, revisit_types"))
        cb = {}
    max_attempts = cb.get("max_attempts", 3)
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
        problems.append(("callbacks.max_attempts", "a whole number >= 1"))
    revisit_after = attempt(_span, "callbacks.revisit_after", cb.get("revisit_after", "1d"))
    retry_after = attempt(_span, "callbacks.retry_after", cb.get("retry_after", "2h"))
    revisit_types = cb.get("revisit_types")
    if revisit_types is not None and not isinstance(revisit_types, list):
        problems.append(("callbacks.revisit_types", "a list of ticket types"))
    if problems or bad_levels:
        return None, problems
    return SlaPolicy(
        calendar=calendar, levels=levels, types=types, classes=classes,
        revisit_after=revisit_after, retry_after=retry_after, max_attempts=max_attempts,
        revisit_types=None if revisit_types is None else frozenset(map(str, revisit_types))), []


# Where default_policy reads: the settings the composition root gave
# (use_settings); None only for library use without settings (the config/ files).
_settings_source = None


# A policy saved in the browser (basedata), in force instead of the file; None: the file.
_live_policy: SlaPolicy | None = None


def use_policy(policy: SlaPolicy | None) -> None:
    """From now on, in this process, :func:`default_policy` is ``policy`` (a
    version saved in the browser, already checked); None: the file again (read
    anew, on the calendar in force). Callers of ``default_policy`` and the
    scheduler see it at their next use: no restart."""
    global _live_policy
    _live_policy = policy
    default_policy.cache_clear()


def use_settings(settings) -> None:
    """Read the policy from ``settings.sla_config`` on ``settings.calendar_config``.
    ``settings`` may be a callable returning the settings, called on first use
    (a command loads its configuration only when it writes a ticket). A policy
    saved in the browser for an earlier app is forgotten."""
    global _settings_source, _live_policy
    _live_policy = None
    old, _settings_source = _settings_source, settings
    same = old is not None and settings is not None and not callable(old) and not callable(settings) and (
        (old.sla_config, old.calendar_config) == (settings.sla_config, settings.calendar_config))
    if not same:
        default_policy.cache_clear()


@functools.lru_cache(maxsize=1)
def default_policy() -> SlaPolicy:
    """The SLA file the composition root named (:func:`use_settings`), read once per process,
    or the version saved in the browser (:func:`use_policy`)."""
    if _live_policy is not None:
        return _live_policy
    source = _settings_source
    settings = source() if callable(source) else source
    if settings is None:
        return load_policy(DEFAULT_SLA_CONFIG)
    return load_policy(settings.sla_config, calendar=settings.calendar_config)


# --- due times on a ticket -----------------------------------------------------

_CLASS_COLUMNS = ("vip", "value_class", "customer_class")


async def class_of_customer(db: AsyncSession, customer_id: int | None) -> str | None:
    """The class a customer's SLA override is looked up by: "VIP" for a VIP,
    else the value class (A..D); None when the customer has none.

    Reads whichever of the columns exist, so it works before and after the
    customers package grew them.
    """
    from customers.models import Customer

    names = [n for n in _CLASS_COLUMNS if hasattr(Customer, n)]
    if not names or customer_id is None:
        return None
    row = (await db.execute(select(*(getattr(Customer, n) for n in names))
                            .where(Customer.id == customer_id))).first()
    if row is None:
        return None
    values = dict(zip(names, row))
    if values.get("vip"):
        return "VIP"
    return values.get("value_class") or values.get("customer_class") or None


async def apply_sla(*, db: AsyncSession, ticket: Ticket, actor: str | None = None,
                    customer_class: str | None = None, sla_policy: SlaPolicy | None = None,
                    now: datetime | None = None, **kw) -> Level | None:
    """``on_created`` hook: set ``sla_level``, ``due_response_at``, ``due_resolve_at``.

    Counted from ``ticket.created_at`` (or ``now`` when not flushed yet).
    ``customer_class`` picks a class override; when not given it is read from
    the customer (:func:`class_of_customer`). A type with no level leaves the SLA
    columns empty. Adds nothing to the session.
    """
    policy = sla_policy or default_policy()
    if customer_class is None:
        customer_class = await class_of_customer(db, ticket.customer_id)
    level = policy.level_for(ticket.type, customer_class)
    if level is None:
        return None
    start = ticket.created_at or now or utcnow()
    ticket.sla_level = level.name
    ticket.due_response_at, ticket.due_resolve_at = level.due_times(start)
    return level


# --- events --------------------------------------------------------------------

_ev = dataclass(frozen=True, slots=True)


@_ev
class _SlaEvent(DomainEvent):
    """What both SLA events carry (not itself an event: no ``type``)."""

    ticket_id: int
    at: float
    due_at: str
    kind: str
    ticket_type: str
    sla_level: str | None = None
    assignee: str | None = None


@_ev
class TicketSlaWarning(_SlaEvent):
    """A due time is near (``kind``: "response" or "resolve")."""

    type: ClassVar[str] = "ticket_sla_warning"


@_ev
class TicketSlaBreached(_SlaEvent):
    """A due time has passed; ``escalated`` when this breach escalated the ticket."""

    type: ClassVar[str] = "ticket_sla_breached"
    escalated: bool = False


EVENT_TYPES = {cls.type: cls for cls in (TicketSlaWarning, TicketSlaBreached)}
KINDS = ("response", "resolve")
ESCALATE_TYPES = frozenset({"complaint"})


# --- the scheduler -------------------------------------------------------------

def _fired(kind: str, what: str):
    """An SLA history row says ``what`` fired for ``kind`` since its clock last restarted."""
    row, restart = aliased(TicketHistory), aliased(TicketHistory)
    return exists().where(
        row.ticket_id == Ticket.id, row.kind == "sla", row.field == kind, row.new == what,
        ~exists().where(restart.ticket_id == row.ticket_id, restart.kind == "sla",
                        restart.field == kind, restart.new == "restarted", restart.id > row.id))


async def restart_clock(*, db: AsyncSession, ticket: Ticket, actor: str, old: str, new: str,
                        sla_policy: SlaPolicy | None = None, **kw) -> None:
    """``on_transition`` hook: a reopened ticket gets a fresh resolve clock.

    The new resolve due time counts from now at the ticket's level; warnings
    and breaches may fire again (a ``restarted`` history row re-arms them).
    ``escalated`` and the response clock stay as they were.
    """
    if new != "reopened" or not ticket.sla_level:
        return
    level = (sla_policy or default_policy()).levels.get(ticket.sla_level)
    if level is None or level.resolve_within is None:
        return
    now = utcnow()
    before = ticket.due_resolve_at
    ticket.due_resolve_at = add_span(now, level.resolve_within, level.calendar)
    ticket.sla_warned = ticket.sla_breached = False
    db.add(TicketHistory(ticket_id=ticket.id, at=now, actor=actor or SYSTEM_ACTOR, kind="sla",
                         field="resolve", old=before and before.isoformat(), new="restarted",
                         note=f"resolve due {ticket.due_resolve_at.isoformat()}"))


class SlaScheduler:
    """Every ``interval_s``: warn about near due times, flag and escalate breaches.

    ``tick(now)`` does one pass and returns the events it published, so tests
    drive it with an injected clock. Each ticket is written and committed on
    its own, then its event published: a failure is logged and the pass goes
    on with the next ticket.
    """

    def __init__(self, sessionmaker, bus, policy: SlaPolicy | None = None,
                 interval_s: float = 60.0) -> None:
        self.sessionmaker = sessionmaker
        self.bus = bus
        self._policy = policy  # None: the policy in force at each pass (default_policy)
        self.interval_s = interval_s
        self._task: asyncio.Task | None = None

    @property
    def policy(self) -> SlaPolicy:
        """The policy given, else the one in force now: a level saved in the browser
        applies from the next pass."""
        return self._policy or default_policy()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sla-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("SLA pass failed; next one in %.0fs", self.interval_s)
            await asyncio.sleep(self.interval_s)

    def _warn_bound(self, now: datetime) -> datetime:
        """No ticket whose due time is later than this can need a warning now."""
        bound = now
        for level in self.policy.levels.values():
            lead = level.max_threshold()
            if lead:
                cal = level.calendar
                bound = max(bound, cal.next_open(add_business_time(now, lead, cal)))
        return bound

    async def tick(self, now: datetime | None = None) -> list:
        now = _aware(now).astimezone(UTC) if now is not None else utcnow()
        bound = self._warn_bound(now)
        published: list = []
        async with self.sessionmaker() as db:
            # Plain rows, not ORM objects: a rollback after one ticket must not
            # leave the others expired (async sessions cannot lazy-load).
            cols = (Ticket.id, Ticket.type, Ticket.sla_level, Ticket.assignee, Ticket.priority,
                    Ticket.escalated, Ticket.created_at)
            open_ = Ticket.state.in_(OPEN_STATES)
            # Both walk ix_tickets_state_due (state, due_resolve_at); the
            # response one then filters the open tickets not responded to yet.
            queries = (
                ("response", select(*cols, Ticket.due_response_at).where(
                    open_, Ticket.responded_at.is_(None), Ticket.due_response_at <= bound,
                    ~_fired("response", "breached"))),
                ("resolve", select(*cols, Ticket.due_resolve_at).where(
                    open_, Ticket.due_resolve_at <= bound, ~_fired("resolve", "breached"))),
            )
            work = []
            for kind, stmt in queries:
                work.extend((kind, row) for row in (await db.execute(stmt)).all())
            if not work:
                return published
            warned: set[tuple[int, str]] = set()
            for tid, kind, what in (await db.execute(
                    select(TicketHistory.ticket_id, TicketHistory.field, TicketHistory.new)
                    .where(TicketHistory.ticket_id.in_(sorted({row.id for _, row in work})),
                           TicketHistory.kind == "sla",
                           TicketHistory.new.in_(("warning", "restarted")))
                    .order_by(TicketHistory.id))).all():
                (warned.add if what == "warning" else warned.discard)((tid, kind))
            for kind, row in work:
                due = row[-1]
                try:
                    if due <= now:
                        event = await self._breach(db, row, kind, due, now)
                    elif (row.id, kind) not in warned and self._near(row, due, now):
                        event = await self._warn(db, row, kind, due, now)
                    else:
                        continue
                    if event is None:  # resolved or cancelled meanwhile
                        await db.rollback()
                        continue
                    await db.commit()
                except Exception:
                    log.exception("SLA check of ticket %s (%s) failed", row.id, kind)
                    await db.rollback()
                    continue
                published.append(event)
                self.bus.publish(event)
        return published

    def _near(self, row, due: datetime, now: datetime) -> bool:
        level = self.policy.levels.get(row.sla_level or "")
        if level is None:  # level renamed or removed since: breaches only
            return False
        window = business_time_between(row.created_at or now, due, level.calendar)
        threshold = level.warn_threshold(window)
        return bool(threshold) and business_time_between(now, due, level.calendar) <= threshold

    @staticmethod
    def _still_open(ticket_id: int):
        return update(Ticket).where(Ticket.id == ticket_id, Ticket.state.in_(OPEN_STATES)) \
            .execution_options(synchronize_session=False)

    async def _warn(self, db, row, kind, due, now) -> TicketSlaWarning | None:
        # updated_at kept: a flag the scheduler sets is not an edit.
        result = await db.execute(self._still_open(row.id).values(
            sla_warned=True, updated_at=Ticket.updated_at))
        if result.rowcount != 1:
            return None
        db.add(TicketHistory(ticket_id=row.id, at=now, actor=SYSTEM_ACTOR, kind="sla", field=kind,
                             new="warning", note=f"{kind} due {due.isoformat()}"))
        return TicketSlaWarning(ticket_id=row.id, at=now.timestamp(), due_at=due.isoformat(),
                                kind=kind, ticket_type=row.type, sla_level=row.sla_level,
                                assignee=row.assignee)

    async def _breach(self, db, row, kind, due, now) -> TicketSlaBreached | None:
        escalate = row.type in ESCALATE_TYPES and not row.escalated
        stmt = self._still_open(row.id)
        if escalate:
            # A field the desk shows changes: bump the version so that an agent
            # saving a stale copy gets a conflict instead of undoing it.
            stmt = stmt.where(Ticket.escalated.is_(False)).values(
                sla_breached=True, escalated=True, priority="urgent",
                version=Ticket.version + 1, updated_at=now)
        else:
            stmt = stmt.values(sla_breached=True, updated_at=Ticket.updated_at)
        result = await db.execute(stmt)
        if result.rowcount != 1:  # closed meanwhile, or escalated by another writer
            return None
        db.add(TicketHistory(ticket_id=row.id, at=now, actor=SYSTEM_ACTOR, kind="sla", field=kind,
                             new="breached", note=f"{kind} due {due.isoformat()}"))
        if escalate:
            db.add(TicketHistory(ticket_id=row.id, at=now, actor=SYSTEM_ACTOR, kind="sla",
                                 field="priority", old=row.priority, new="urgent",
                                 note=f"escalated: complaint {kind} SLA breached"))
        return TicketSlaBreached(ticket_id=row.id, at=now.timestamp(), due_at=due.isoformat(),
                                 kind=kind, ticket_type=row.type, sla_level=row.sla_level,
                                 assignee=row.assignee, escalated=escalate)

