"""Business calendars: weekly hours, holidays, make-up workdays and special days, in a time zone.

One module for every "is the center open?" question (issue 12.6): the center's
own calendar lives in ``config/calendar.toml`` (:func:`load_center`) and is
what ticket SLAs count business time in (``tickets.sla``) and what the IVR
means by ``hours = "center"``; the IVR may name further schedules (a queue
with its own hours, a round-the-clock hotline) with the same syntax.

The rule per local date is:

1. a date in ``holidays`` is closed all day;
2. a date in ``special`` uses its own ranges (an empty list is closed);
3. a date in ``makeup_workdays`` (调休: a weekend day worked to make up for a
   holiday bridge) gets ``makeup_hours`` (default: Monday's);
4. otherwise the weekday's ranges.

Ranges are ``"HH:MM-HH:MM"`` in local time, end exclusive, ``24:00`` allowed
as an end; a range may not cross midnight (write two). Local time comes from
``zoneinfo``, so zones without DST (Asia/Shanghai) and zones with it both work;
a wall-clock minute skipped by a DST jump simply never happens.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
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
    makeup_workdays: frozenset[date] = frozenset()
    makeup_hours: Ranges | None = None  # None: Monday's

    def __hash__(self) -> int:  # frozen with a dict inside: hash by identity (used as a cache key)
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other

    def ranges_on(self, day: date) -> Ranges:
        if day in self.holidays:
            return ()
        if day in self.special:
            return self.special[day]
        if day in self.makeup_workdays:
            return self.weekly[0] if self.makeup_hours is None else self.makeup_hours
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


def _date_list(data: dict, key: str, prefix: str, errors: list) -> set[date]:
    """The dates of list ``key``; each bad entry is an error naming its index."""
    raw = data.get(key, [])
    if not isinstance(raw, list):
        errors.append(ScheduleError(f"{prefix}.{key}", "expected a list of dates"))
        return set()
    days = set()
    for i, item in enumerate(raw):
        try:
            days.add(_date(f"{prefix}.{key}[{i}]", item))
        except ScheduleError as exc:
            errors.append(exc)
    return days


def parse_schedule(name: str, data, prefix: str) -> tuple[Schedule | None, list[ScheduleError]]:
    """Parse one ``[hours.NAME]`` table; every problem is collected, not just the first."""
    errors: list[ScheduleError] = []
    if not isinstance(data, dict):
        return None, [ScheduleError(prefix, "expected a table")]
    known = {"timezone", "weekly", "holidays", "special", "makeup_workdays", "makeup_hours"}
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
    holidays = _date_list(data, "holidays", prefix, errors)
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
    makeup = _date_list(data, "makeup_workdays", prefix, errors)
    for day in sorted(makeup & holidays):
        errors.append(ScheduleError(f"{prefix}.makeup_workdays", f"{day} is also listed in holidays; say which it is"))
    makeup_hours = None
    if "makeup_hours" in data:
        try:
            makeup_hours = parse_ranges(f"{prefix}.makeup_hours", data["makeup_hours"])
        except ScheduleError as exc:
            errors.append(exc)
    if errors or tz is None:
        return None, errors
    return Schedule(name=name, tz=tz, weekly=tuple(weekly), holidays=frozenset(holidays), special=special,
                    makeup_workdays=frozenset(makeup), makeup_hours=makeup_hours), []


# --- the center's calendar -----------------------------------------------------

CENTER = "center"
DEFAULT_CALENDAR = Path(__file__).resolve().parent.parent / "config" / "calendar.toml"


class CalendarError(ValueError):
    """The center's calendar file is invalid; the message lists every problem with its key."""


_cache: dict[Path, tuple[float, Schedule]] = {}
# Calendars saved in the browser (basedata): file path -> the schedule that
# replaces that file in this process. Keyed by the file it stands for, so every
# reader of that file (SLAs, the IVR's "center") sees the same calendar.
_live: dict[Path, Schedule] = {}


def check_center(data) -> tuple[Schedule | None, list[ScheduleError]]:
    """Parse the center's calendar from its data (the file's tables, or a
    document saved in the browser); every problem is collected with its key
    (``calendar.holidays[2]``). The one set of rules for both sources."""
    schedule, errors = parse_schedule(CENTER, data, "calendar")
    if errors:
        return None, errors
    if not any(schedule.weekly) and not schedule.special and not schedule.makeup_workdays:
        return None, [ScheduleError("calendar.weekly", "no business hours on any day")]
    return schedule, []


def use_center(path: Path | str | None, schedule: Schedule | None) -> None:
    """From now on, in this process, the calendar file ``path`` reads as
    ``schedule`` (a version saved in the browser); None: the file again."""
    key = Path(path or DEFAULT_CALENDAR).resolve()
    if schedule is None:
        _live.pop(key, None)
    else:
        _live[key] = schedule


def load_center(path: Path | str | None = None) -> Schedule:
    """The center's business calendar (``config/calendar.toml`` by default),
    read again only when the file changes; a calendar saved in the browser
    (:func:`use_center`) stands in for its file."""
    path = Path(path or DEFAULT_CALENDAR)
    live = _live.get(path.resolve()) if _live else None
    if live is not None:
        return live
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise CalendarError(f"{path}: cannot read the business calendar ({exc.strerror or exc})") from None
    hit = _cache.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{path}: {exc}") from None
    schedule, errors = check_center(data)
    if errors:
        raise CalendarError(f"{path}: " + "; ".join(str(e) for e in errors))
    _cache[path] = (mtime, schedule)
    return schedule
