"""Queue KPIs against hand-computed cases (formulas in supervisor/kpi.py)."""
from __future__ import annotations

from supervisor.kpi import FORMULAS, QueueEntry, queue_kpis


def E(outcome, wait, talk=0.0):
    return QueueEntry("support", 0.0, outcome, wait, talk)


def test_hand_computed_day_with_short_and_real_abandons():
    entries = [
        E("answered", 5, 100),    # within SL (20 s)
        E("answered", 20, 200),   # exactly at the threshold: within
        E("answered", 21, 300),   # outside
        E("answered", 60, 400),   # outside
        E("abandoned", 3),        # short abandon (< 5 s): excluded from SL and abandonment rate
        E("abandoned", 4.99),     # short
        E("abandoned", 5),        # at the short threshold: a real abandon
        E("abandoned", 45),       # real abandon
        E("other", 300),          # queue timeout: offered, neither answered nor abandoned
    ]
    k = queue_kpis(entries, service_level_s=20, short_abandon_s=5, wrapup_s=10)
    assert k["offered"] == 9
    assert (k["answered"], k["answered_within_sl"], k["abandoned"], k["short_abandoned"], k["other"]) == (4, 2, 2, 2, 1)
    # SL = 2 within / (4 answered + 2 abandoned) = 33.3 %
    assert k["service_level_pct"] == 33.3
    # abandonment = 2 / (4 + 2) = 33.3 %
    assert k["abandonment_rate_pct"] == 33.3
    # ASA = (5 + 20 + 21 + 60) / 4 = 26.5 s
    assert k["asa_s"] == 26.5
    # AHT = (100 + 200 + 300 + 400 + 4 * 10 wrap-up) / 4 = 260 s
    assert k["aht_s"] == 260.0
    assert k["max_wait_s"] == 300


def test_thresholds_move_calls_between_buckets():
    entries = [E("answered", 25, 60), E("abandoned", 8)]
    strict = queue_kpis(entries, service_level_s=20, short_abandon_s=5)
    lenient = queue_kpis(entries, service_level_s=30, short_abandon_s=10)
    assert (strict["service_level_pct"], strict["abandoned"], strict["short_abandoned"]) == (0.0, 1, 0)
    # a 30 s SL takes the answer in; a 10 s short-abandon threshold takes the abandon out of the denominator
    assert (lenient["service_level_pct"], lenient["abandoned"], lenient["short_abandoned"]) == (100.0, 0, 1)
    assert lenient["abandonment_rate_pct"] == 0.0


def test_no_calls_is_no_figure_not_zero_or_hundred():
    k = queue_kpis([], service_level_s=20, short_abandon_s=5)
    assert (k["offered"], k["service_level_pct"], k["asa_s"], k["aht_s"], k["abandonment_rate_pct"]) == (
        0, None, None, None, None)
    only_short = queue_kpis([E("abandoned", 1)], service_level_s=20, short_abandon_s=5)
    assert only_short["service_level_pct"] is None and only_short["short_abandoned"] == 1


def test_every_kpi_has_a_stated_formula():
    k = queue_kpis([E("answered", 1, 1)], service_level_s=20, short_abandon_s=5)
    assert set(k) - {"answered_within_sl"} <= set(FORMULAS)
