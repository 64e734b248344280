"""Queue quality KPIs: one set of formulas for the live wallboard and the reports.

Both feed the same function with the same kind of record (one per queue
entry: when the caller entered, how it ended, how long they waited, how long
they talked), so the wallboard and the day's report can never disagree on what
"service level" means. Formulas (T = ``service_level_s``, S = ``short_abandon_s``):

* offered              = every queue entry that has ended
* answered             = entries an agent answered
* abandoned            = entries the caller hung up on while waiting, wait >= S
* short_abandoned      = entries the caller hung up on while waiting, wait < S
* other                = left the queue unanswered for another reason (timeout)
* service_level_pct    = 100 * answered with wait <= T / (answered + abandoned)
                         (short abandons are excluded: they never had a chance)
* abandonment_rate_pct = 100 * abandoned / (answered + abandoned)
* asa_s                = sum(wait of answered) / answered   (average speed of answer)
* aht_s                = (sum(talk of answered) + wrap-up) / answered, wrap-up being
                         the queue's configured after-call work per answered call
* max_wait_s           = the longest wait of any entry
Every ratio is ``None`` when its denominator is 0 (no calls is not 0 % or 100 %).
"""
from __future__ import annotations

from dataclasses import dataclass

FORMULAS = {
    "offered": "count of queue entries that ended in the period",
    "answered": "entries answered by an agent",
    "abandoned": "entries where the caller hung up while waiting, wait >= short_abandon_s",
    "short_abandoned": "entries where the caller hung up while waiting, wait < short_abandon_s",
    "other": "entries that left the queue unanswered for another reason (timeout, transfer)",
    "service_level_pct": "100 * answered with wait <= service_level_s / (answered + abandoned)",
    "abandonment_rate_pct": "100 * abandoned / (answered + abandoned)",
    "asa_s": "sum(wait of answered entries) / answered",
    "aht_s": "(sum(talk of answered entries) + answered * wrap-up seconds of the queue) / answered",
    "max_wait_s": "longest wait of any entry",
}


@dataclass(frozen=True, slots=True)
class QueueEntry:
    queue: str
    entered_at: float
    outcome: str  # answered | abandoned | other
    wait_s: float
    talk_s: float = 0.0


def _ratio(num: float, den: float, scale: float = 1.0, digits: int = 1):
    return None if den == 0 else round(scale * num / den, digits)


class KpiSums:
    """Running sums behind the KPIs; entries can be added and removed (a sliding window)."""

    __slots__ = ("service_level_s", "short_abandon_s", "answered", "within", "abandoned", "short", "other",
                 "wait_answered", "talk", "max_wait")

    def __init__(self, *, service_level_s: float, short_abandon_s: float) -> None:
        self.service_level_s = service_level_s
        self.short_abandon_s = short_abandon_s
        self.answered = self.within = self.abandoned = self.short = self.other = 0
        self.wait_answered = self.talk = 0.0
        self.max_wait = 0.0  # only meaningful when entries are never removed (reports)

    def add(self, e: QueueEntry, sign: int = 1) -> None:
        if sign > 0:
            self.max_wait = max(self.max_wait, e.wait_s)
        if e.outcome == "answered":
            self.answered += sign
            self.wait_answered += sign * e.wait_s
            self.talk += sign * e.talk_s
            if e.wait_s <= self.service_level_s:
                self.within += sign
        elif e.outcome == "abandoned":
            if e.wait_s < self.short_abandon_s:
                self.short += sign
            else:
                self.abandoned += sign
        else:
            self.other += sign

    def remove(self, e: QueueEntry) -> None:
        self.add(e, -1)

    def result(self, wrapup_s: float = 0.0) -> dict:
        answered, abandoned = self.answered, self.abandoned
        return {
            "offered": answered + abandoned + self.short + self.other,
            "answered": answered,
            "answered_within_sl": self.within,
            "abandoned": abandoned,
            "short_abandoned": self.short,
            "other": self.other,
            "service_level_pct": _ratio(self.within, answered + abandoned, 100),
            "abandonment_rate_pct": _ratio(abandoned, answered + abandoned, 100),
            "asa_s": _ratio(self.wait_answered, answered),
            "aht_s": _ratio(self.talk + answered * wrapup_s, answered),
            "max_wait_s": round(self.max_wait, 1),
        }


def queue_kpis(entries, *, service_level_s: float, short_abandon_s: float, wrapup_s: float = 0.0) -> dict:
    sums = KpiSums(service_level_s=service_level_s, short_abandon_s=short_abandon_s)
    for e in entries:
        sums.add(e)
    return sums.result(wrapup_s)
