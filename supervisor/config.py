"""Supervisor configuration (``config/supervisor.toml``): thresholds, reason codes, policy.

Loaded once per process and validated up front, so a typo in a reason code or a
threshold is a start-up error with the file and key named, not a wrong figure
on a wallboard days later.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ctidesk.settings import PROJECT_ROOT

DEFAULT_PATH = PROJECT_ROOT / "config" / "supervisor.toml"
MODES = ("listen", "whisper", "barge")


class SupervisorConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SupervisorConfig:
    service_level_s: float = 20
    short_abandon_s: float = 5
    window_s: float = 3600
    monitoring_notice: tuple[str, ...] = MODES
    pause_reasons: dict = field(default_factory=lambda: {"break": {"en": "Break", "zh-CN": "休息"}})
    wrapup: dict = field(default_factory=lambda: {"*": 0})
    colours: dict = field(default_factory=dict)

    def wrapup_s(self, queue: str | None) -> float:
        if not queue:
            return 0.0
        return float(self.wrapup.get(queue, self.wrapup.get("*", 0)))

    def public(self) -> dict:
        """What the wallboard needs to draw (no policy internals)."""
        return {"service_level_s": self.service_level_s, "short_abandon_s": self.short_abandon_s,
                "window_s": self.window_s, "pause_reasons": self.pause_reasons, "colours": self.colours,
                "monitoring_notice": list(self.monitoring_notice)}


def _num(where: str, value, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise SupervisorConfigError(f"{where}: expected a number between {lo} and {hi}, got {value!r}")
    return float(value)


def load(path: str | os.PathLike | None = None) -> SupervisorConfig:
    path = Path(path or DEFAULT_PATH)  # the caller passes settings.supervisor_config
    if not path.exists():
        return SupervisorConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SupervisorConfigError(f"{path}: {exc}") from None
    known = {"service_level_s", "short_abandon_s", "window_s", "monitoring_notice", "pause_reasons",
             "wrapup", "colours"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SupervisorConfigError(f"{path}: unknown key(s): {', '.join(unknown)}")
    kw: dict = {}
    for key, lo, hi in (("service_level_s", 1, 3600), ("short_abandon_s", 0, 600), ("window_s", 60, 7 * 86400)):
        if key in data:
            kw[key] = _num(f"{path}: {key}", data[key], lo, hi)
    notice = data.get("monitoring_notice", list(MODES))
    if not isinstance(notice, list) or any(m not in MODES for m in notice):
        raise SupervisorConfigError(f"{path}: monitoring_notice: a list of {', '.join(MODES)}")
    kw["monitoring_notice"] = tuple(notice)
    reasons = data.get("pause_reasons", {})
    problems = check_pause_reasons(reasons)
    if problems:
        key, message = problems[0]
        raise SupervisorConfigError(f"{path}: {key}: {message}")
    kw["pause_reasons"] = reasons
    wrapup = data.get("wrapup", {"*": 0})
    for queue, secs in wrapup.items():
        _num(f"{path}: wrapup.{queue}", secs, 0, 3600)
    kw["wrapup"] = dict(wrapup)
    kw["colours"] = dict(data.get("colours", {}))
    return SupervisorConfig(**kw)


def check_pause_reasons(reasons) -> list[tuple[str, str]]:
    """Every problem of a pause reason table (code = {en, zh-CN} labels) as
    ``(key, message)``: the rules of the file and of the browser's pause reason page."""
    if not isinstance(reasons, dict) or not reasons:
        return [("pause_reasons", "at least one reason code")]
    problems = []
    for code, labels in reasons.items():
        key = f"pause_reasons.{code}"
        if not code or not code.replace("_", "").replace("-", "").isalnum() or len(code) > 32:
            problems.append((key, "codes are letters, digits, _ and - (at most 32)"))
        if not isinstance(labels, dict) or not isinstance(labels.get("en"), str) or not labels["en"].strip():
            problems.append((f"{key}.en", "needs at least an en label"))
            continue
        for lang, text in labels.items():
            if not isinstance(text, str) or len(text) > 80:
                problems.append((f"{key}.{lang}", "a label of at most 80 characters"))
    return problems


def with_pause_reasons(config: SupervisorConfig, reasons: dict) -> SupervisorConfig:
    """``config`` with other pause reasons (checked with :func:`check_pause_reasons` first)."""
    return replace(config, pause_reasons={code: dict(labels) for code, labels in reasons.items()})
