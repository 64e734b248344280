"""The base data in force in this process, and the one way it changes.

Four kinds of document, each shaped like its TOML file (``config/sla.toml``,
``config/calendar.toml``, the ``[pause_reasons]`` table of
``config/supervisor.toml``, ``config/ivr.toml``). A document is checked by the
loader its file goes through (``tickets.sla.check_policy``,
``ctidesk.calendar.check_center``, ``supervisor.config.check_pause_reasons``,
``ivr.config.check_menu_data``): no second set of rules. A checked document
becomes live objects that are swapped in with plain assignments, so a caller,
a ticket or a pause sees either the old version or the new one, never half.

What reads what: the calendar is the center's business calendar (the SLAs
count in it, the IVR's ``hours = "center"`` is it), so a new calendar also
rebuilds the SLA policy and the IVR menu on it, checked before anything is
stored. With no document saved, a kind is its file (version 0), which keeps
working for sites that edit files.
"""
from __future__ import annotations

import asyncio
import logging
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from ctidesk import calendar as center_calendar
from ivr.config import check_menu_data
from supervisor import config as sup_config
from tickets import sla

log = logging.getLogger(__name__)

KINDS = ("sla", "calendar", "pause_reasons", "ivr")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: ``path`` is the dotted key inside it."""

    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Checked:
    """A document that passed its checks: the live objects it becomes."""

    kind: str
    body: dict
    objects: dict = field(default_factory=dict)  # what to swap in: calendar, sla, pause, ivr
    warnings: list[Problem] = field(default_factory=list)


class DocumentInvalid(ValueError):
    def __init__(self, kind: str, problems: list[Problem]) -> None:
        super().__init__(f"{kind}: " + "; ".join(map(str, problems)))
        self.kind, self.problems = kind, problems


@dataclass(frozen=True)
class Current:
    """The document of a kind in force: version 0 is its file."""

    kind: str
    version: int
    body: dict
    source: str  # file | database
    saved_by: str | None = None
    saved_at: datetime | None = None
    comment: str = ""


def jsonable(value: Any) -> Any:
    """TOML data as JSON data: dates and times as ISO text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return value


def _relative(prefix: str, key: str) -> str:
    return key[len(prefix) + 1:] if key.startswith(prefix + ".") else key


class LiveBaseData:
    """Per container (one per app): what is in force, and :meth:`check` / :meth:`apply`.

    ``container`` supplies the consumers to swap into when they exist:
    ``supervisor`` / ``supervisor_config`` (pause reasons) and ``ivr_menus``
    (the FastAGI server's menu source). Without them (API tests, a process
    without the IVR) the objects are still held here and seen by
    ``tickets.sla.default_policy`` and ``ctidesk.calendar.load_center``.
    """

    def __init__(self, container) -> None:
        self.container = container
        self.settings = container.settings
        self.stored: dict[str, Current] = {}  # kinds whose database version is in force
        self.ivr_menu = None  # the menu of the stored IVR document, when there is one
        self.hydrated = False
        self.locks = {kind: asyncio.Lock() for kind in KINDS}
        # A fresh app starts from the files: forget what an earlier app in this process installed.
        center_calendar.use_center(self.settings.calendar_config, None)
        sla.use_policy(None)

    # -- what is in force ------------------------------------------------------

    def current(self, kind: str) -> Current:
        if kind in self.stored:
            return self.stored[kind]
        return Current(kind=kind, version=0, body=self.file_body(kind), source="file")

    def file_body(self, kind: str) -> dict:
        path = {"sla": self.settings.sla_config, "calendar": self.settings.calendar_config,
                "pause_reasons": self.settings.supervisor_config, "ivr": self.settings.ivr_config}[kind]
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        if kind == "pause_reasons":
            data = data.get("pause_reasons") or dict(sup_config.SupervisorConfig().pause_reasons)
        return jsonable(data)

    def center(self):
        return center_calendar.load_center(self.settings.calendar_config)

    def supervisor_config(self):
        from supervisor.service import get_config

        return get_config(self.container)

    # -- checking --------------------------------------------------------------

    def check(self, kind: str, body) -> Checked:
        """Check ``body`` as the next version of ``kind``; raises :class:`DocumentInvalid`
        listing every problem. Nothing is changed."""
        if kind not in KINDS:
            raise DocumentInvalid(kind, [Problem("kind", f"unknown kind {kind!r} (use {', '.join(KINDS)})")])
        if not isinstance(body, dict):
            raise DocumentInvalid(kind, [Problem("(document)", "expected an object")])
        return getattr(self, f"_check_{kind}")(body)

    def _check_calendar(self, body: dict) -> Checked:
        schedule, errors = center_calendar.check_center(body)
        if schedule is None:
            raise DocumentInvalid("calendar", [Problem(_relative("calendar", e.key), e.message) for e in errors])
        objects = {"calendar": schedule}
        # What counts business time on the calendar is rebuilt on it now, so a
        # calendar that breaks them is refused before anything is stored.
        problems: list[Problem] = []
        if "sla" in self.stored:
            policy, sla_problems = sla.check_policy(self.stored["sla"].body, schedule)
            problems += [Problem(f"(sla) {k}", m) for k, m in sla_problems]
            objects["sla"] = policy
        if "ivr" in self.stored:
            menu, ivr_problems = self._menu(self.stored["ivr"].body, schedule)
            problems += [Problem(f"(ivr) {p.key}", p.message) for p in ivr_problems if p.severity == "error"]
            objects["ivr"] = menu
        if problems:
            raise DocumentInvalid("calendar", problems)
        return Checked("calendar", body, objects)

    def _check_sla(self, body: dict) -> Checked:
        policy, problems = sla.check_policy(body, self.center())
        if policy is None:
            raise DocumentInvalid("sla", [Problem(k, m) for k, m in problems])
        return Checked("sla", body, {"sla": policy})

    def _check_pause_reasons(self, body: dict) -> Checked:
        problems = sup_config.check_pause_reasons(body)
        if problems:
            raise DocumentInvalid("pause_reasons", [Problem(_relative("pause_reasons", k), m) for k, m in problems])
        return Checked("pause_reasons", body, {"pause": sup_config.with_pause_reasons(self.supervisor_config(), body)})

    def _menu(self, body: dict, center):
        return check_menu_data(body, source="ivr", recorded_dir=self.settings.ivr_prompts_dir,
                               calendar=self.settings.calendar_config, center=center)

    def _check_ivr(self, body: dict) -> Checked:
        menu, problems = self._menu(body, self.center())
        if menu is None:
            raise DocumentInvalid("ivr", [Problem(p.key, p.message, p.severity) for p in problems])
        return Checked("ivr", body, {"ivr": menu},
                       warnings=[Problem(p.key, p.message, p.severity) for p in problems])

    # -- swapping --------------------------------------------------------------

    def apply(self, checked: Checked, current: Current) -> None:
        """Put a checked document in force in this process (plain assignments, no I/O
        that can fail half-way: everything was built by :meth:`check`)."""
        objects = checked.objects
        self.stored[checked.kind] = current
        if "calendar" in objects:
            center_calendar.use_center(self.settings.calendar_config, objects["calendar"])
            if "sla" not in objects:
                sla.use_policy(None)  # the SLA file, read again on the new calendar
        if "sla" in objects:
            sla.use_policy(objects["sla"])
        if "pause" in objects:
            cfg = objects["pause"]
            self.container.supervisor_config = cfg
            sup = self.container.supervisor
            if sup is not None:
                sup.config = cfg
                sup.live.config = cfg
        menus = self.container.ivr_menus
        if "ivr" in objects:
            self.ivr_menu = objects["ivr"]
            if menus is not None:
                menus.install(self.ivr_menu, f"database v{self.stored['ivr'].version}")
        elif "calendar" in objects and menus is not None:
            menus.reload()  # the menu file, checked again on the new calendar
        log.info("base data %s version %d in force (saved by %s)", checked.kind, current.version,
                 current.saved_by)

    def bind_ivr(self, menus) -> None:
        """The FastAGI server's menu source started: serve the stored menu, if any."""
        if self.ivr_menu is not None and menus is not None:
            menus.install(self.ivr_menu, f"database v{self.stored['ivr'].version}")
