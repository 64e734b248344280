"""Business hours for the IVR: a weekly schedule, holidays and special days, in a time zone.

Why not ``tickets.sla.BusinessCalendar``: the IVR needs *special days* with
their own hours (Christmas Eve closes at noon, a make-up Saturday opens 9-17),
several named schedules (the center and each queue may differ), and a precise
error per key for ``ctidesk ivr check``. The rule per local date is:

1. a date in ``holidays`` is closed all day;
2. a date in ``special`` uses its own ranges (an empty list is closed);
3. otherwise the weekday's ranges.

Ranges are ``"HH:MM-HH:MM"`` in local time, end exclusive, ``24:00`` allowed
as an end; a range may not cross midnight (write two). Local time comes from
``zoneinfo``, so zones without DST (Asia/Shanghai) and zones with it both work;
a wall-clock minute skipped by a DST jump simply never happens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
_RANGE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


class ScheduleError(ValueError):
    """One problem in a schedule, with the key it is about."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Schedule:
    name: str
    tz: ZoneInfo
    weekly: tuple[Ranges, ...]  # index 0 = Monday
    holidays: frozenset[date] = frozenset()
    special: dict = field(default_factory=dict)  # date -> Ranges

    def ranges_on(self, day: date) -> Ranges:
        if day in self.holidays:
            return ()
        if day in self.special:
            return self.special[day]
        return self.weekly[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        local = _aware(at).astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return any(s <= minute < e for s, e in self.ranges_on(local.date()))

    def next_open(self, at: datetime, *, max_days: int = 400) -> datetime | None:
        """``at`` if open then, else the start of the next open range (UTC); None if never."""
        at = _aware(at).astimezone(timezone.utc)
        if self.is_open(at):
            return at
        local = at.astimezone(self.tz)
        day = local.date()
        for _ in range(max_days):
            for start, _end in self.ranges_on(day):
                begin = _local(self.tz, day, start)
                if begin > at:
                    return begin
            day += timedelta(days=1)
        return None


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _local(tz: ZoneInfo, day: date, minute: int) -> datetime:
    base = datetime(day.year, day.month, day.day, tzinfo=tz)
    if minute >= DAY_MINUTES:
        nxt = day + timedelta(days=1)
        return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(timezone.utc)
    local = base.replace(hour=minute // 60, minute=minute % 60)
    return local.astimezone(timezone.utc)


def parse_ranges(key: str, value) -> Ranges:
    if not isinstance(value, list):
        raise ScheduleError(key, 'expected a list of "HH:MM-HH:MM" ranges')
    ranges = []
    for item in value:
        m = _RANGE.fullmatch(str(item))
        if not m:
            raise ScheduleError(key, f'{item!r} is not "HH:MM-HH:MM"')
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or h1 > 24 or h2 > 24 or not 0 <= start < end <= DAY_MINUTES:
            raise ScheduleError(key, f"{item!r} must run forward within one day (end at most 24:00; "
                                     "split a range that crosses midnight in two)")
        ranges.append((start, end))
    ranges.sort()
    for (s1, e1), (s2, _e2) in zip(ranges, ranges[1:]):
        if s2 < e1:
            raise ScheduleError(key, f"ranges overlap ({_fmt(s1, e1)} and the next)")
    return tuple(ranges)


def _fmt(s: int, e: int) -> str:
    return f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"


def _date(key: str, raw) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise ScheduleError(key, f"{raw!r} is not a date (YYYY-MM-DD)") from None


def parse_schedule(name: str, data, prefix: str) -> tuple[Schedule | None, list[ScheduleError]]:
    """Parse one ``[hours.NAME]`` table; every problem is collected, not just the first."""
    errors: list[ScheduleError] = []
    if not isinstance(data, dict):
        return None, [ScheduleError(prefix, "expected a table")]
    known = {"timezone", "weekly", "holidays", "special"}
    for key in sorted(set(data) - known):
        errors.append(ScheduleError(f"{prefix}.{key}", f"unknown key (use {', '.join(sorted(known))})"))
    tz = None
    tzname = data.get("timezone")
    if not tzname:
        errors.append(ScheduleError(f"{prefix}.timezone", "required (e.g. \"Asia/Shanghai\")"))
    else:
        try:
            tz = ZoneInfo(str(tzname))
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(ScheduleError(f"{prefix}.timezone", f"unknown time zone {tzname!r}"))
    weekly_raw = data.get("weekly")
    weekly: list[Ranges] = [()] * 7
    if not isinstance(weekly_raw, dict):
        errors.append(ScheduleError(f"{prefix}.weekly", "required: one key per weekday (mon..sun)"))
    else:
        for key in sorted(set(weekly_raw) - set(WEEKDAYS)):
            errors.append(ScheduleError(f"{prefix}.weekly.{key}", "unknown weekday (use mon..sun)"))
        for i, day in enumerate(WEEKDAYS):
            try:
                weekly[i] = parse_ranges(f"{prefix}.weekly.{day}", weekly_raw.get(day, []))
            except ScheduleError as exc:
                errors.append(exc)
    holidays: set[date] = set()
    raw_holidays = data.get("holidays", [])
    if not isinstance(raw_holidays, list):
        errors.append(ScheduleError(f"{prefix}.holidays", "expected a list of dates"))
    else:
        for i, raw in enumerate(raw_holidays):
            try:
                holidays.add(_date(f"{prefix}.holidays[{i}]", raw))
            except ScheduleError as exc:
                errors.append(exc)
    special: dict[date, Ranges] = {}
    raw_special = data.get("special", {})
    if not isinstance(raw_special, dict):
        errors.append(ScheduleError(f"{prefix}.special", 'expected a table: "YYYY-MM-DD" = ["HH:MM-HH:MM"]'))
    else:
        for raw_day, ranges in raw_special.items():
            key = f'{prefix}.special."{raw_day}"'
            try:
                day = _date(key, raw_day)
                special[day] = parse_ranges(key, ranges)
                if day in holidays:
                    errors.append(ScheduleError(key, "also listed in holidays; say which it is"))
            except ScheduleError as exc:
                errors.append(exc)
    if errors or tz is None:
        return None, errors
    return Schedule(name=name, tz=tz, weekly=tuple(weekly), holidays=frozenset(holidays), special=special), []
