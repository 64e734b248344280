"""The IVR menu as data: load ``config/ivr.toml`` and say precisely what is wrong with it.

A service center describes its menus in one file; nothing about a menu is in
code. Loading never stops at the first problem: every issue is collected as a
:class:`Problem` naming the file and the dotted key (``nodes.main.choices."7"``)
so ``ctidesk ivr check`` can list them all at once. Errors make the menu
unusable (the server refuses to start on it and keeps the last good one on a
reload); warnings (an unreachable node) do not.

Shape of the file (see ``config/ivr.toml`` for the demo)::

    [ivr]      start, languages, default_language, hours (default schedule),
               fallback (node when retries run out), intents {name = ticket type}
    [hours.NAME]   timezone, weekly.{mon..sun}, holidays, special."YYYY-MM-DD"
    [queues.NAME]  hours (closed outside them), closed (node to go to then)
    [prompts.NAME] one text per language, e.g. "zh-CN" = "...", en = "..."
    [nodes.NAME]   type = play | menu | hours | queue | lookup | voicemail | transfer | hangup
    [survey]       the post-call satisfaction survey: enabled, queues, prompt(s), thanks/invalid/
                   no_input/goodbye prompts, timeout, retries, low_score (see :class:`Survey`)

Checks: unknown node/queue/schedule/prompt/intent targets, unreachable nodes,
loops with no exit (nodes from which no path ever ends the IVR, or cycles the
caller cannot break because no node on them waits for a key), prompts missing
a language (unless a recorded file exists for it), bad schedules, bad numbers.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ctidesk.calendar import CENTER, CalendarError, Schedule, load_center, parse_schedule

NODE_TYPES = ("play", "menu", "hours", "queue", "lookup", "voicemail", "transfer", "hangup")
TERMINAL_TYPES = ("queue", "transfer", "hangup")  # the IVR ends there
INPUT_TYPES = ("menu", "lookup", "voicemail")  # they wait for the caller
LOOKUPS = ("product", "ticket")
DIGITS = set("0123456789*#")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_NUMBER = re.compile(r"^\+?[0-9]{1,32}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.severity}: {self.message}"


class MenuError(ValueError):
    """The menu file has errors; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in the IVR menu:\n" + "\n".join(str(p) for p in errors))


@dataclass(frozen=True)
class Choice:
    goto: str
    language: str | None = None
    intent: str | None = None


@dataclass(frozen=True)
class OnFail:
    """What happens on invalid input or on timeout: replay up to ``retries`` times, then ``then``."""

    retries: int
    then: str
    prompt: str | None = None  # played before each replay ("that is not a valid choice")


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    prompts: tuple[str, ...] = ()
    next: str | None = None
    # menu / lookup input
    choices: dict = field(default_factory=dict)  # key -> Choice
    max_digits: int = 1
    timeout: float = 4.0
    terminator: str = "#"
    interdigit: float = 3.0
    on_invalid: OnFail | None = None
    on_timeout: OnFail | None = None
    # hours
    schedule: str | None = None
    open: str | None = None
    closed: str | None = None
    # queue
    queue: str | None = None
    priority: int = 0
    # lookup
    lookup: str | None = None
    found: str | None = None
    not_found_prompt: str | None = None
    verify_caller: bool = True
    # voicemail
    intent: str | None = None
    max_seconds: int = 120
    silence_seconds: int = 5
    reference_prompt: str | None = None
    # transfer
    number: str | None = None

    def edges(self) -> list[tuple[str, str]]:
        """(key, target) for every node this one can go to."""
        out = []
        if self.next:
            out.append(("next", self.next))
        for key, choice in self.choices.items():
            out.append((f'choices."{key}"', choice.goto))
        for label, policy in (("on_invalid", self.on_invalid), ("on_timeout", self.on_timeout)):
            if policy is not None:
                out.append((f"{label}.then", policy.then))
        for label in ("open", "closed", "found"):
            value = getattr(self, label)
            if value:
                out.append((label, value))
        return out


@dataclass(frozen=True)
class QueueSpec:
    name: str
    hours: str | None = None
    closed: str | None = None


@dataclass(frozen=True)
class Survey:
    """The post-call satisfaction survey (满意度评价, ``[survey]``): offered after the
    agent hangs up, to callers of ``queues`` (empty: every queue).

    The caller keys 1-5; anything else (another digit, ``*``, ``#``) or silence
    replays the question after ``invalid_prompt``/``no_input_prompt`` up to
    ``retries`` times, then ``goodbye_prompt`` ends it with no score. A score of
    ``low_score`` or less opens a callback (0: never)."""

    enabled: bool = True
    queues: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    thanks_prompt: str | None = None
    invalid_prompt: str | None = None
    no_input_prompt: str | None = None
    goodbye_prompt: str | None = None
    timeout: float = 5.0
    retries: int = 1
    low_score: int = 2

    def applies_to(self, queue: str | None) -> bool:
        return self.enabled and (not self.queues or queue in self.queues)


@dataclass(frozen=True)
class Menu:
    source: str
    start: str
    languages: tuple[str, ...]
    default_language: str
    default_hours: str | None
    fallback: str
    intents: dict  # intent -> ticket type
    schedules: dict  # name -> Schedule
    queues: dict  # name -> QueueSpec
    prompts: dict  # name -> {language: text}
    nodes: dict  # name -> Node
    voicemail_priority: str = "high"
    max_steps: int = 100
    warnings: tuple[Problem, ...] = ()
    survey: "Survey | None" = None  # the post-call satisfaction survey ([survey]); None: not offered

    def schedule_for(self, name: str | None) -> Schedule | None:
        name = name or self.default_hours
        return self.schedules.get(name) if name else None


# --- loading -------------------------------------------------------------------

def load_menu(path: Path | str, *, recorded_dir: Path | None = None, ticket_types=None,
              calendar: Path | None = None) -> Menu:
    """Parse and validate; raises :class:`MenuError` listing every error."""
    menu, problems = check_menu(path, recorded_dir=recorded_dir, ticket_types=ticket_types, calendar=calendar)
    if menu is None:
        raise MenuError(problems)
    return menu


def check_menu(path: Path | str, *, recorded_dir: Path | None = None,
               ticket_types=None, calendar: Path | None = None) -> tuple[Menu | None, list[Problem]]:
    """Check a menu file. The schedule name ``center`` is the center's business
    calendar (``calendar``, default ``config/calendar.toml``), the one ticket
    SLAs count in: the IVR and the SLAs cannot disagree on when it is open."""
    path = Path(path)
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(src, "(file)", f"cannot read: {exc.strerror or exc}")]
    except UnicodeDecodeError:
        return None, [Problem(src, "(file)", "not UTF-8 text")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(src, "(syntax)", str(exc))]
    return check_menu_data(data, source=src, recorded_dir=recorded_dir, ticket_types=ticket_types,
                           calendar=calendar)


def check_menu_data(data, *, source: str = "(document)", recorded_dir: Path | None = None,
                    ticket_types=None, calendar: Path | None = None,
                    center: Schedule | None = None) -> tuple[Menu | None, list[Problem]]:
    """Check a menu given as data (the file's tables, or a version saved in the
    browser): the same checks as ``ctidesk ivr check``. ``center``, when given, is
    the business calendar to check against instead of the one ``calendar`` reads."""
    if not isinstance(data, dict):
        return None, [Problem(source, "(document)", "expected a table of sections")]
    if ticket_types is None:
        from tickets.models import TICKET_TYPES as ticket_types
    checker = _Checker(source, data, recorded_dir, tuple(ticket_types), calendar)
    checker.center = center
    return checker.run()


class _Checker:
    def __init__(self, src: str, data: dict, recorded_dir: Path | None, ticket_types: tuple,
                 calendar: Path | None = None) -> None:
        self.src, self.data, self.recorded_dir, self.ticket_types = src, data, recorded_dir, ticket_types
        self.calendar = calendar
        self.center: Schedule | None = None  # the calendar to use instead of reading ``calendar``
        self.problems: list[Problem] = []

    def err(self, key: str, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(self.src, key, message, severity))

    @staticmethod
    def _uses_center(data: dict) -> bool:
        ivr = data.get("ivr") if isinstance(data.get("ivr"), dict) else {}
        tables = [ivr] + [v for section in ("queues", "nodes") if isinstance(data.get(section), dict)
                          for v in data[section].values() if isinstance(v, dict)]
        return any(t.get("hours") == CENTER or t.get("schedule") == CENTER for t in tables)

    def table(self, value, key: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.err(key, "expected a table")
            return {}
        return value

    def run(self) -> tuple[Menu | None, list[Problem]]:
        data = self.data
        for key in sorted(set(data) - {"ivr", "hours", "queues", "prompts", "nodes", "survey"}):
            self.err(key, "unknown section (use ivr, hours, queues, prompts, nodes, survey)")
        ivr = self.table(data.get("ivr"), "ivr")
        for key in sorted(set(ivr) - {"start", "languages", "default_language", "hours", "fallback", "intents",
                                      "voicemail_priority", "max_steps"}):
            self.err(f"ivr.{key}", "unknown key")
        languages = ivr.get("languages", ["zh-CN", "en"])
        if not isinstance(languages, list) or not languages or not all(
                isinstance(x, str) and _LANG.match(x) for x in languages):
            self.err("ivr.languages", 'a non-empty list of language tags, e.g. ["zh-CN", "en"]')
            languages = ["en"]
        default_language = ivr.get("default_language", languages[0])
        if default_language not in languages:
            self.err("ivr.default_language", f"{default_language!r} is not one of ivr.languages")
            default_language = languages[0]
        self.languages = tuple(languages)

        schedules = {}
        defined = self.table(data.get("hours"), "hours")
        for name, raw in defined.items():
            if name == CENTER:
                self.err(f"hours.{CENTER}", "reserved: \"center\" is the center's business calendar "
                         "(config/calendar.toml, shared with ticket SLAs); give this schedule another name")
                continue
            sched, errors = parse_schedule(name, raw, f"hours.{name}")
            for e in errors:
                self.err(e.key, e.message)
            if sched is not None:
                schedules[name] = sched
        self.schedule_names = set(defined) | {CENTER}
        if self._uses_center(data):
            try:
                schedules[CENTER] = self.center or load_center(self.calendar)
            except CalendarError as exc:
                self.err("(calendar)", f"hours \"center\" is the business calendar, which is invalid: {exc}")
        default_hours = ivr.get("hours")
        if default_hours is not None and default_hours not in self.schedule_names:
            self.err("ivr.hours", f"unknown schedule {default_hours!r} (define [hours.{default_hours}])")

        intents_raw = self.table(ivr.get("intents"), "ivr.intents")
        intents = {}
        for name, ttype in intents_raw.items():
            if ttype not in self.ticket_types:
                self.err(f"ivr.intents.{name}", f"{ttype!r} is not a ticket type ({', '.join(self.ticket_types)})")
            else:
                intents[name] = ttype
        priority = ivr.get("voicemail_priority", "high")
        if priority not in ("low", "normal", "high", "urgent"):
            self.err("ivr.voicemail_priority", "one of low, normal, high, urgent")
        max_steps = ivr.get("max_steps", 100)
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or not 5 <= max_steps <= 10000:
            self.err("ivr.max_steps", "an integer between 5 and 10000")
            max_steps = 100

        self.prompts = self.load_prompts(self.table(data.get("prompts"), "prompts"))
        self.intents = intents
        queues = {}
        for name, raw in self.table(data.get("queues"), "queues").items():
            raw = self.table(raw, f"queues.{name}")
            for key in sorted(set(raw) - {"hours", "closed"}):
                self.err(f"queues.{name}.{key}", "unknown key (use hours, closed)")
            if not _NAME.match(name):
                self.err(f"queues.{name}", "queue names are letters, digits, _ . -")
            hours = raw.get("hours")
            if hours is not None and hours not in self.schedule_names:
                self.err(f"queues.{name}.hours", f"unknown schedule {hours!r}")
            if hours is not None and not raw.get("closed"):
                self.err(f"queues.{name}.closed", "required when the queue has hours: where callers go when it is closed")
            queues[name] = QueueSpec(name, hours, raw.get("closed"))
        self.queues = queues

        nodes = {}
        for name, raw in self.table(data.get("nodes"), "nodes").items():
            node = self.load_node(name, self.table(raw, f"nodes.{name}"))
            if node is not None:
                nodes[name] = node
        self.nodes = nodes
        start = ivr.get("start")
        fallback = ivr.get("fallback")
        if not start:
            self.err("ivr.start", "required: the first node of every call")
        elif start not in nodes:
            self.err("ivr.start", f"unknown node {start!r}")
        if not fallback:
            self.err("ivr.fallback", "required: the node a caller goes to when nothing else applies "
                                     "(e.g. the operator queue)")
        elif fallback not in nodes:
            self.err("ivr.fallback", f"unknown node {fallback!r}")
        elif nodes[fallback].type not in TERMINAL_TYPES:
            self.err("ivr.fallback", f"{fallback!r} must end the IVR (a queue, transfer or hangup node)")
        for qname, spec in queues.items():
            if spec.closed and spec.closed not in nodes:
                self.err(f"queues.{qname}.closed", f"unknown node {spec.closed!r}")
        self.check_graph(start if start in nodes else None, fallback)

        survey = self.load_survey(data.get("survey"))

        if any(p.severity == "error" for p in self.problems):
            return None, self.problems
        menu = Menu(source=self.src, start=start, languages=self.languages, default_language=default_language,
                    default_hours=default_hours, fallback=fallback, intents=intents, schedules=schedules,
                    queues=queues, prompts=self.prompts, nodes=nodes, voicemail_priority=priority,
                    max_steps=max_steps, warnings=tuple(self.problems), survey=survey)
        return menu, self.problems

    # -- prompts -------------------------------------------------------------

    def load_prompts(self, raw: dict) -> dict:
        prompts = {}
        for name, texts in raw.items():
            key = f"prompts.{name}"
            if not _NAME.match(name):
                self.err(key, "prompt names are letters, digits, _ . -")
                continue
            texts = self.table(texts, key)
            clean = {}
            for lang, text in texts.items():
                if lang not in self.languages:
                    self.err(f'{key}."{lang}"', f"language not in ivr.languages ({', '.join(self.languages)})")
                elif not isinstance(text, str) or not text.strip():
                    self.err(f'{key}."{lang}"', "empty prompt text")
                else:
                    clean[lang] = text.strip()
            for lang in self.languages:
                if lang not in clean and not self.recorded(name, lang):
                    self.err(key, f"no text for {lang} and no recorded file "
                                  f"(config/prompts/{lang}/{name}.wav)")
            prompts[name] = clean
        return prompts

    def recorded(self, name: str, lang: str) -> bool:
        return bool(self.recorded_dir and (self.recorded_dir / lang / f"{name}.wav").is_file())

    def prompt_ref(self, key: str, name) -> str | None:
        if name is None:
            return None
        if not isinstance(name, str) or name not in self.prompts:
            if isinstance(name, str) and all(self.recorded(name, lang) for lang in self.languages):
                return name
            self.err(key, f"unknown prompt {name!r} (define [prompts.{name}] or record "
                          f"config/prompts/<lang>/{name}.wav)")
            return None
        return name

    # -- the post-call survey ----------------------------------------------------

    _SURVEY_KEYS = {"enabled", "queues", "prompt", "prompts", "thanks_prompt", "invalid_prompt", "no_input_prompt",
                    "goodbye_prompt", "timeout", "retries", "low_score"}

    def load_survey(self, raw) -> Survey | None:
        """``[survey]``: every problem named by its key (``survey.low_score``)."""
        if raw is None:
            return None
        raw = self.table(raw, "survey")
        for extra in sorted(set(raw) - self._SURVEY_KEYS):
            self.err(f"survey.{extra}", "unknown key (use " + ", ".join(sorted(self._SURVEY_KEYS)) + ")")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            self.err("survey.enabled", "true or false")
            enabled = False
        queues = raw.get("queues", [])
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            self.err("survey.queues", 'a list of queue names, e.g. ["support", "sales"] ([] = every queue)')
            queues = []
        for i, q in enumerate(queues):
            if q not in self.queues:
                self.err(f"survey.queues[{i}]", f"unknown queue {q!r} (declare [queues.{q}])")
        prompts_raw = raw.get("prompts", [])
        if "prompt" in raw:
            prompts_raw = [raw["prompt"], *(prompts_raw if isinstance(prompts_raw, list) else [])]
        if not isinstance(prompts_raw, list):
            self.err("survey.prompts", "a list of prompt names")
            prompts_raw = []
        prompts = tuple(p for p in (self.prompt_ref("survey.prompts", p) for p in prompts_raw) if p)
        if not prompts_raw:
            self.err("survey.prompt", "required: the question asking the caller to key 1 to 5")
        refs = {k: self.prompt_ref(f"survey.{k}", raw.get(k))
                for k in ("thanks_prompt", "invalid_prompt", "no_input_prompt", "goodbye_prompt")}
        if refs["thanks_prompt"] is None and "thanks_prompt" not in raw:
            self.err("survey.thanks_prompt", "required: what the caller hears after keying a score")
        timeout = self.number("survey.timeout", raw.get("timeout", 5), 1, 60)
        retries = raw.get("retries", 1)
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 5:
            self.err("survey.retries", "an integer 0..5 (times the question is asked again after a wrong "
                                       "key or silence)")
            retries = 1
        low = raw.get("low_score", 2)
        if not isinstance(low, int) or isinstance(low, bool) or not 0 <= low <= 4:
            self.err("survey.low_score", "an integer 0..4: a score of this or less opens a callback (0: never)")
            low = 2
        return Survey(enabled=enabled, queues=tuple(queues), prompts=prompts, timeout=timeout, retries=retries,
                      low_score=low, **refs)

    # -- nodes ---------------------------------------------------------------

    _KEYS = {
        "play": {"prompt", "prompts", "next"},
        "menu": {"prompt", "prompts", "choices", "max_digits", "timeout", "terminator", "interdigit",
                 "on_invalid", "on_timeout"},
        "hours": {"schedule", "open", "closed"},
        "queue": {"prompt", "prompts", "queue", "priority"},
        "lookup": {"prompt", "prompts", "lookup", "max_digits", "timeout", "terminator", "interdigit",
                   "on_invalid", "on_timeout", "found", "not_found_prompt", "verify_caller"},
        "voicemail": {"prompt", "prompts", "intent", "max_seconds", "silence_seconds", "reference_prompt", "next"},
        "transfer": {"prompt", "prompts", "number"},
        "hangup": {"prompt", "prompts"},
    }

    def load_node(self, name: str, raw: dict) -> Node | None:
        key = f"nodes.{name}"
        if not _NAME.match(name):
            self.err(key, "node names are letters, digits, _ . -")
            return None
        ntype = raw.get("type")
        if ntype not in NODE_TYPES:
            self.err(f"{key}.type", f"{ntype!r}: use one of {', '.join(NODE_TYPES)}")
            return None
        for extra in sorted(set(raw) - self._KEYS[ntype] - {"type"}):
            self.err(f"{key}.{extra}", f"unknown key for a {ntype} node")
        prompts_raw = raw.get("prompts", [])
        if "prompt" in raw:
            prompts_raw = [raw["prompt"], *(prompts_raw if isinstance(prompts_raw, list) else [])]
        if not isinstance(prompts_raw, list):
            self.err(f"{key}.prompts", "a list of prompt names")
            prompts_raw = []
        prompts = tuple(p for p in (self.prompt_ref(f"{key}.prompts", p) for p in prompts_raw) if p)
        kw: dict = {"name": name, "type": ntype, "prompts": prompts}
        if ntype in ("menu", "lookup"):
            kw.update(self.input_params(key, raw, ntype))
        if ntype == "play":
            kw["next"] = self.target(f"{key}.next", raw.get("next"), required=True)
            if not prompts:
                self.err(f"{key}.prompts", "a play node needs at least one prompt")
        elif ntype == "menu":
            choices = {}
            raw_choices = self.table(raw.get("choices"), f"{key}.choices")
            if not raw_choices:
                self.err(f"{key}.choices", "a menu needs at least one choice")
            for digits, value in raw_choices.items():
                ckey = f'{key}.choices."{digits}"'
                if not digits or set(digits) - DIGITS:
                    self.err(ckey, "keys are what the caller dials: 0-9, * and #")
                    continue
                if len(digits) > kw["max_digits"]:
                    self.err(ckey, f"longer than max_digits ({kw['max_digits']}): can never be dialled")
                if kw["terminator"] and kw["terminator"] in digits and digits != kw["terminator"]:
                    self.err(ckey, f"contains the terminator {kw['terminator']!r}: can never be dialled")
                choice = self.choice(ckey, value)
                if choice:
                    choices[digits] = choice
            kw["choices"] = choices
            if not prompts:
                self.err(f"{key}.prompts", "a menu needs a prompt telling the caller the choices")
        elif ntype == "hours":
            sched = raw.get("schedule")
            if sched is not None and sched not in self.schedule_names:
                self.err(f"{key}.schedule", f"unknown schedule {sched!r}")
            elif sched is None and not self.data.get("ivr", {}).get("hours"):
                self.err(f"{key}.schedule", "required (or set ivr.hours)")
            kw.update(schedule=sched, open=self.target(f"{key}.open", raw.get("open"), required=True),
                      closed=self.target(f"{key}.closed", raw.get("closed"), required=True))
        elif ntype == "queue":
            queue = raw.get("queue")
            if not queue:
                self.err(f"{key}.queue", "required")
            elif queue not in self.queues:
                self.err(f"{key}.queue", f"unknown queue {queue!r} (declare [queues.{queue}])")
            prio = raw.get("priority", 0)
            if not isinstance(prio, int) or isinstance(prio, bool) or not 0 <= prio <= 100:
                self.err(f"{key}.priority", "an integer 0..100 (higher is answered first)")
                prio = 0
            kw.update(queue=queue, priority=prio)
        elif ntype == "lookup":
            what = raw.get("lookup")
            if what not in LOOKUPS:
                self.err(f"{key}.lookup", f"{what!r}: use one of {', '.join(LOOKUPS)}")
            if not prompts:
                self.err(f"{key}.prompts", "a lookup needs a prompt asking for the number")
            verify = raw.get("verify_caller", True)
            if not isinstance(verify, bool):
                self.err(f"{key}.verify_caller", "true or false")
                verify = True
            kw.update(lookup=what, found=self.target(f"{key}.found", raw.get("found"), required=True),
                      not_found_prompt=self.prompt_ref(f"{key}.not_found_prompt", raw.get("not_found_prompt")),
                      verify_caller=verify)
            if kw["on_invalid"] is None:
                self.err(f"{key}.on_invalid", "required: what happens after repeated unknown numbers")
        elif ntype == "voicemail":
            intent = raw.get("intent")
            if intent is not None and intent not in self.intents:
                self.err(f"{key}.intent", f"unknown intent {intent!r} (declare it in ivr.intents)")
            max_s = self.number(f"{key}.max_seconds", raw.get("max_seconds", 120), 5, 600)
            silence = self.number(f"{key}.silence_seconds", raw.get("silence_seconds", 5), 0, 60)
            kw.update(intent=intent, max_seconds=int(max_s), silence_seconds=int(silence),
                      reference_prompt=self.prompt_ref(f"{key}.reference_prompt", raw.get("reference_prompt")),
                      next=self.target(f"{key}.next", raw.get("next"), required=True))
            if not self.intents:
                self.err("ivr.intents", "a voicemail node needs at least one intent mapped to a ticket type")
        elif ntype == "transfer":
            number = raw.get("number")
            if not isinstance(number, str) or not _NUMBER.match(number):
                self.err(f"{key}.number", "a dialable number (digits, optional leading +), as a string")
            kw["number"] = number
        return Node(**kw)

    def input_params(self, key: str, raw: dict, ntype: str) -> dict:
        default_digits = 1 if ntype == "menu" else 12
        max_digits = raw.get("max_digits", default_digits)
        if not isinstance(max_digits, int) or isinstance(max_digits, bool) or not 1 <= max_digits <= 32:
            self.err(f"{key}.max_digits", "an integer 1..32")
            max_digits = default_digits
        terminator = raw.get("terminator", "#")
        if terminator not in ("", "#", "*"):
            self.err(f"{key}.terminator", 'one of "#", "*" or "" (none)')
            terminator = "#"
        return {
            "max_digits": max_digits, "terminator": terminator,
            "timeout": self.number(f"{key}.timeout", raw.get("timeout", 4), 0.5, 60),
            "interdigit": self.number(f"{key}.interdigit", raw.get("interdigit", 3), 0.5, 30),
            "on_invalid": self.on_fail(f"{key}.on_invalid", raw.get("on_invalid")),
            "on_timeout": self.on_fail(f"{key}.on_timeout", raw.get("on_timeout")),
        }

    def number(self, key: str, value, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            self.err(key, f"a number between {lo:g} and {hi:g} (seconds)")
            return lo
        return float(value)

    def on_fail(self, key: str, raw) -> OnFail | None:
        if raw is None:
            return None
        raw = self.table(raw, key)
        for extra in sorted(set(raw) - {"retries", "then", "prompt"}):
            self.err(f"{key}.{extra}", "unknown key (use retries, then, prompt)")
        retries = raw.get("retries", 2)
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
            self.err(f"{key}.retries", "an integer 0..10")
            retries = 0
        then = self.target(f"{key}.then", raw.get("then"), required=True)
        return OnFail(retries, then or "", self.prompt_ref(f"{key}.prompt", raw.get("prompt")))

    def choice(self, key: str, value) -> Choice | None:
        if isinstance(value, str):
            return Choice(value)
        value = self.table(value, key)
        for extra in sorted(set(value) - {"goto", "language", "intent"}):
            self.err(f"{key}.{extra}", "unknown key (use goto, language, intent)")
        goto = self.target(f"{key}.goto", value.get("goto"), required=True)
        lang = value.get("language")
        if lang is not None and lang not in self.languages:
            self.err(f"{key}.language", f"{lang!r} is not one of ivr.languages")
        intent = value.get("intent")
        if intent is not None and intent not in self.intents:
            self.err(f"{key}.intent", f"unknown intent {intent!r} (declare it in ivr.intents)")
        return Choice(goto or "", lang, intent) if goto else None

    def target(self, key: str, value, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.err(key, "required")
            return None
        if not isinstance(value, str) or not value:
            self.err(key, "a node name")
            return None
        return value  # existence is checked once every node is loaded

    # -- graph ---------------------------------------------------------------

    def check_graph(self, start: str | None, fallback: str | None) -> None:
        nodes = self.nodes
        for name, node in nodes.items():
            for key, target in node.edges():
                if target not in nodes:
                    self.err(f"nodes.{name}.{key}", f"unknown target {target!r}")
        if start is None:
            return
        graph = {n: [t for _k, t in node.edges() if t in nodes] for n, node in nodes.items()}
        for node in nodes.values():  # a closed queue sends callers on
            if node.type == "queue" and node.queue in self.queues:
                closed = self.queues[node.queue].closed
                if closed in nodes:
                    graph[node.name].append(closed)
        roots = [start] + [n for n in (fallback,) if n in nodes]
        roots += [q.closed for q in self.queues.values() if q.closed in nodes]
        seen = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(graph[n])
        for name in nodes:
            if name not in seen:
                self.err(f"nodes.{name}", f"unreachable from ivr.start ({start!r})", "warning")
        # Loops with no exit: reachable nodes from which no path ends the IVR.
        exits = {n for n, node in nodes.items() if node.type in TERMINAL_TYPES}
        can_exit = set(exits)
        changed = True
        while changed:
            changed = False
            for n in seen - can_exit:
                if any(t in can_exit for t in graph[n]):
                    can_exit.add(n)
                    changed = True
        for name in sorted(seen - can_exit):
            self.err(f"nodes.{name}", "loop with no exit: no path from here ever reaches a queue, "
                                      "transfer or hangup node")
        # Cycles the caller cannot break: only nodes that never wait for a key.
        passive = {n for n, node in nodes.items() if node.type not in INPUT_TYPES and node.type not in TERMINAL_TYPES}
        for cycle in _cycles({n: [t for t in graph[n] if t in passive] for n in passive}):
            self.err(f"nodes.{cycle[0]}", "loop that never waits for the caller: "
                                          + " -> ".join(cycle + [cycle[0]]))


def _cycles(graph: dict) -> list[list[str]]:
    """One representative cycle per strongly connected component that has a cycle (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def tree_lines(menu: Menu) -> list[str]:
    """The menu as an indented tree from ``ivr.start`` (``ctidesk ivr show``); a node
    already shown is referenced, not expanded again."""
    lines: list[str] = []
    shown: set[str] = set()

    def describe(node: Node) -> str:
        if node.type == "queue":
            return f"queue {node.queue} (priority {node.priority})"
        if node.type == "transfer":
            return f"transfer to {node.number}"
        if node.type == "lookup":
            return f"lookup {node.lookup} (up to {node.max_digits} digits)"
        if node.type == "voicemail":
            return f"voicemail (intent {node.intent or 'as chosen'}, max {node.max_seconds}s)"
        if node.type == "hours":
            return f"hours {node.schedule or menu.default_hours}"
        if node.type == "menu":
            return f"menu ({node.max_digits} digit(s), timeout {node.timeout:g}s)"
        return node.type

    def walk(name: str, label: str, depth: int) -> None:
        node = menu.nodes[name]
        pad = "  " * depth
        prompts = f"  [{', '.join(node.prompts)}]" if node.prompts else ""
        if name in shown:
            lines.append(f"{pad}{label}-> {name} (see above)")
            return
        shown.add(name)
        lines.append(f"{pad}{label}{name}: {describe(node)}{prompts}")
        for key, target in node.edges():
            if key.startswith("choices."):
                choice = node.choices[key[9:-1]]
                extra = "".join(f" {k}={v}" for k, v in (("language", choice.language), ("intent", choice.intent)) if v)
                walk(target, f"{key[9:-1]}{extra}: ", depth + 1)
            else:
                walk(target, f"{key}: ", depth + 1)
        if node.type == "queue" and node.queue in menu.queues and menu.queues[node.queue].closed:
            walk(menu.queues[node.queue].closed, "when closed: ", depth + 1)

    walk(menu.start, "", 0)
    for name in menu.nodes:
        if name not in shown:
            walk(name, "(unreachable) ", 0)
    survey = menu.survey
    if survey is not None:
        lines.append(f"after the agent hangs up: survey 1-5 ({'on' if survey.enabled else 'off'}; queues "
                     f"{', '.join(survey.queues) or 'all'}; {survey.retries} retry(ies), {survey.timeout:g}s; "
                     f"a score <= {survey.low_score} opens a callback)  [{', '.join(survey.prompts)}]")
    return lines
