"""Business hours: midnight, holidays, special days, time zones with and without DST."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from ctidesk.calendar import ScheduleError, parse_ranges, parse_schedule

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def schedule(**data):
    data.setdefault("timezone", "Asia/Shanghai")
    sched, errors = parse_schedule("t", data, "hours.t")
    assert errors == [], errors
    return sched


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


WEEKDAYS = {d: ["09:00-12:00", "13:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_opening_ranges_end_exclusive_and_lunch_break():
    s = schedule(weekly=WEEKDAYS)
    assert not s.is_open(sh(2026, 11, 23, 8, 59))  # Monday
    assert s.is_open(sh(2026, 11, 23, 9, 0))
    assert not s.is_open(sh(2026, 11, 23, 12, 0))  # lunch
    assert s.is_open(sh(2026, 11, 23, 17, 59)) and not s.is_open(sh(2026, 11, 23, 18, 0))
    assert not s.is_open(sh(2026, 11, 28, 10, 0))  # Saturday


def test_midnight_boundaries():
    s = schedule(weekly={"mon": ["20:00-24:00"], "tue": ["00:00-02:00"]})
    assert s.is_open(sh(2026, 11, 23, 23, 59, 59))
    assert s.is_open(sh(2026, 11, 24, 0, 0))  # Tuesday midnight: Tuesday's range
    assert not s.is_open(sh(2026, 11, 24, 2, 0))
    # 24:00 is the next day's midnight for next_open
    closed = schedule(weekly={"tue": ["00:00-01:00"]})
    assert closed.next_open(sh(2026, 11, 23, 23, 0)) == sh(2026, 11, 24, 0, 0).astimezone(timezone.utc)


def test_utc_instants_are_judged_in_the_schedules_zone():
    s = schedule(weekly=WEEKDAYS)
    # 01:30 UTC Monday = 09:30 in Shanghai (no DST there, ever)
    assert s.is_open(datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc))
    assert s.is_open(datetime(2026, 7, 20, 1, 30, tzinfo=timezone.utc))
    assert not s.is_open(datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc))
    # naive datetimes are taken as UTC
    assert s.is_open(datetime(2026, 11, 23, 1, 30))


def test_holidays_close_and_special_days_have_their_own_hours():
    s = schedule(weekly=WEEKDAYS, holidays=["2026-10-01", date(2026, 10, 2)],
                 special={"2026-12-24": ["08:00-12:00"], "2026-10-10": ["09:00-17:00"], "2026-12-31": []})
    assert not s.is_open(sh(2026, 10, 1, 10, 0)) and not s.is_open(sh(2026, 10, 2, 10, 0))
    assert s.is_open(sh(2026, 12, 24, 8, 30)) and not s.is_open(sh(2026, 12, 24, 13, 0))
    assert s.is_open(sh(2026, 10, 10, 10, 0))  # a make-up Saturday
    assert not s.is_open(sh(2026, 12, 31, 10, 0))  # special: closed all day


def test_next_open_skips_holidays_and_weekends():
    s = schedule(weekly=WEEKDAYS, holidays=["2026-10-01", "2026-10-02", "2026-10-05"])
    # Wednesday evening before the holidays: Thu, Fri holidays, Sat/Sun closed, Mon holiday -> Tue 09:00
    assert s.next_open(sh(2026, 9, 30, 19, 0)) == sh(2026, 10, 6, 9, 0).astimezone(timezone.utc)
    assert s.next_open(sh(2026, 9, 30, 12, 30)) == sh(2026, 9, 30, 13, 0).astimezone(timezone.utc)
    at = sh(2026, 9, 30, 10, 0)
    assert s.next_open(at) == at.astimezone(timezone.utc)  # open now
    assert schedule(weekly={}).next_open(at) is None  # never open: no callback time to give


def test_a_zone_with_dst():
    s = schedule(timezone="America/New_York", weekly={d: ["09:00-17:00"] for d in ("sat", "sun", "mon")})
    # 2026-03-08 is the spring-forward Sunday: 09:00 local is 13:00 UTC (EDT), the Saturday before 14:00 UTC
    assert s.next_open(datetime(2026, 3, 8, 5, 0, tzinfo=timezone.utc)) == datetime(2026, 3, 8, 13, 0, tzinfo=timezone.utc)
    assert s.next_open(datetime(2026, 3, 7, 5, 0, tzinfo=timezone.utc)) == datetime(2026, 3, 7, 14, 0, tzinfo=timezone.utc)
    assert s.is_open(datetime(2026, 3, 8, 13, 30, tzinfo=timezone.utc))


@pytest.mark.parametrize("value, words", [
    (["18:00-09:00"], "forward"), (["09:00-09:00"], "forward"), (["24:30-25:00"], "forward"),
    (["09:60-10:00"], "forward"), (["nine-ten"], "is not"), ("09:00-18:00", "expected a list"),
    (["09:00-12:00", "11:59-13:00"], "overlap"),
])
def test_bad_ranges(value, words):
    with pytest.raises(ScheduleError) as err:
        parse_ranges("k", value)
    assert words in str(err.value)


def test_every_problem_is_reported_with_its_key():
    sched, errors = parse_schedule("t", {"timezone": "Nowhere/City", "weekly": {"mon": ["x"], "xyz": []},
                                         "holidays": ["2026-02-30"], "special": {"2026-10-01": []},
                                         "colour": "blue"}, "hours.t")
    assert sched is None
    keys = {e.key for e in errors}
    assert keys == {"hours.t.timezone", "hours.t.weekly.mon", "hours.t.weekly.xyz", "hours.t.holidays[0]",
                    "hours.t.colour"}
    sched, errors = parse_schedule("t", {"timezone": "UTC", "weekly": {}, "holidays": ["2026-10-01"],
                                         "special": {"2026-10-01": []}}, "hours.t")
    assert [e.key for e in errors] == ['hours.t.special."2026-10-01"']
