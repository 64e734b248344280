"""FastAGI server: one asyncio task per call runs the config-driven IVR.

One asyncio task per call (asyncio.start_server gives that). panoramisk's
``Application.handler`` spins forever if a caller hangs up before the AGI
headers arrive (``read`` returning b'' in a ``while`` loop), so we read the
headers ourselves, with a timeout, and use panoramisk's ``Request`` only to
send commands and parse their results.

The menu comes from :class:`MenuSource`: loaded and validated at start (the
server refuses to start on an invalid menu), re-checked when the file changes
(a cheap ``stat`` per new call); an invalid edit is logged with every problem
and the last good menu keeps serving.

When the IVR ends, the dialplan reads ``IVR_ACTION`` (queue | transfer |
hangup), ``IVR_QUEUE``/``IVR_PRIORITY``, ``IVR_TRANSFER``, ``IVR_LANG``. The
IVR path (nodes passed, digits keyed, timestamps) is written onto the live call
and published as ``call_ivr_completed`` whatever happened, hang-ups included;
the call writer stores it and the screen pop shows it.

``agi://.../survey`` (the dialplan's ``[ctidesk-survey]``, after the agent hung
up) runs the post-call satisfaction survey instead (:mod:`ivr.survey`).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from pathlib import Path

from panoramisk.fast_agi import Request

from cti.events import CallIvrCompleted
from ivr.config import Menu, MenuError, load_menu
from ivr.engine import CallerHungUp, Engine, Session

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "support"
COMMAND_TIMEOUT = 60.0
RECORD_TRIES = 4  # a survey's write is retried (0.5, 1, 2 s apart) before it is given up and logged
RECORD_BACKOFF = 0.5

__all__ = ["AGIChannel", "AGICommandError", "CallerHungUp", "FastAGIServer", "MenuSource"]


class AGICommandError(Exception):
    """Asterisk refused a command (510/520) on a live channel: end the IVR, let
    the dialplan's defaults route the caller."""


class MenuSource:
    """The menu in force, reloaded when its file changes; the last good one wins."""

    def __init__(self, path: Path | str, *, recorded_dir: Path | None = None, calendar: Path | None = None) -> None:
        self.path = Path(path)
        self.recorded_dir = recorded_dir
        self.calendar = calendar  # the center's business calendar (settings.calendar_config)
        # raises MenuError: refuse to start
        self.menu: Menu = load_menu(self.path, recorded_dir=recorded_dir, calendar=calendar)
        self._stamp = self._stat()
        self.reloads = 0
        self.last_error: str | None = None

    def _stat(self):
        try:
            st = os.stat(self.path)
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    # A menu saved in the browser (basedata) replaces the file: edits of the file
    # are not read meanwhile (two sources would fight). None: the file rules.
    installed: str | None = None

    def install(self, menu: Menu | None, origin: str | None = None) -> None:
        """Serve ``menu`` (already checked) from the next call on; ``origin`` says where
        it came from (``database v3``). None: back to the file, read now."""
        if menu is None:
            self.installed = None
            self._stamp = self._stat()
            self.reload()
            return
        self.menu = menu
        self.installed = origin or "installed"
        self.reloads += 1
        self.last_error = None
        log.info("IVR menu from %s now serving", self.installed)

    def current(self) -> Menu:
        if self.installed is not None:
            return self.menu
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            self.reload()
        return self.menu

    def reload(self) -> bool:
        try:
            menu = load_menu(self.path, recorded_dir=self.recorded_dir, calendar=self.calendar)
        except MenuError as exc:
            self.last_error = str(exc)
            log.error("IVR menu %s NOT reloaded, the last good menu keeps serving:\n%s", self.path, exc)
            return False
        self.menu = menu
        self.reloads += 1
        self.last_error = None
        log.info("IVR menu reloaded from %s", self.path)
        return True


class AGIChannel:
    """The engine's :class:`ivr.engine.Channel` over one FastAGI connection.

    Measures its own overhead: the time from the moment a response from
    Asterisk has been read to the moment the next command is written
    (``overhead`` samples, seconds), which is what ``bench/ivr.py`` reports.
    """

    def __init__(self, request: Request, overhead: collections.deque | None = None) -> None:
        self.request = request
        self.overhead = overhead
        self._answered_at: float | None = None

    async def command(self, command: str, timeout: float = COMMAND_TIMEOUT) -> dict:
        if self.overhead is not None and self._answered_at is not None:
            self.overhead.append(time.perf_counter() - self._answered_at)
        try:
            async with asyncio.timeout(timeout):  # no extra task per command, unlike wait_for on 3.11
                result = await self.request.send_command(command)
        except ValueError:  # panoramisk parsing the empty line of a closed socket
            raise CallerHungUp(f"{command!r}: connection closed") from None
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise CallerHungUp(f"{command!r}: {exc!r}") from None
        self._answered_at = time.perf_counter()
        if result.get("error") == "AGIResultHangup" or result.get("status_code") == 511:
            raise CallerHungUp(f"{command!r} -> {result}")
        return result

    async def _checked(self, command: str, timeout: float = COMMAND_TIMEOUT) -> dict:
        result = await self.command(command, timeout)
        if result.get("status_code") != 200:
            if result.get("error") == "AGIAppError":  # result=-1: hangup, or a failure on a live channel
                await self._still_there(command)
                return {"status_code": 200, "result": ("-1", ""), "failed": True}
            if result.get("status_code") in (510, 520):
                raise AGICommandError(f"{command!r} -> {result.get('status_code')} {result.get('msg', '')}".strip())
            raise CallerHungUp(f"{command!r} -> {result}")
        return result

    async def _still_there(self, command: str) -> None:
        probe = await self.command("CHANNEL STATUS")
        if probe.get("status_code") != 200 or probe.get("error"):
            raise CallerHungUp(f"{command!r} failed and the channel is gone")
        log.warning("AGI %r failed on a live channel (missing sound file?)", command)

    @staticmethod
    def _key(result: dict) -> str | None:
        value = result.get("result", ("0", ""))[0]
        try:
            code = int(value)
        except ValueError:
            return None
        return chr(code) if code > 0 else None

    async def play(self, sound: str, escape: str) -> str | None:
        result = await self._checked(f'STREAM FILE {sound} "{escape}"', COMMAND_TIMEOUT * 5)
        return None if result.get("failed") else self._key(result)

    async def wait_digit(self, timeout_s: float) -> str | None:
        result = await self._checked(f"WAIT FOR DIGIT {int(timeout_s * 1000)}", timeout_s + COMMAND_TIMEOUT)
        if result.get("failed"):
            raise CallerHungUp("WAIT FOR DIGIT failed")
        return self._key(result)

    async def record(self, path: str, *, max_s: int, silence_s: int, escape: str) -> str:
        silence = f" s={silence_s}" if silence_s else ""
        result = await self._checked(f'RECORD FILE {path} wav "{escape}" {max_s * 1000} BEEP{silence}',
                                     max_s + COMMAND_TIMEOUT)
        if result.get("failed"):
            return "failed"
        value, data = result.get("result", ("0", ""))
        if data == "dtmf":
            return "dtmf"
        return "timeout" if data == "timeout" or value == "0" else (data or "done")

    async def set_var(self, name: str, value: str) -> None:
        clean = str(value).replace('"', "").replace("\n", " ").replace("\\", "")
        await self._checked(f'SET VARIABLE {name} "{clean}"')

    async def get_variable(self, name: str) -> str | None:
        result = await self._checked(f"GET VARIABLE {name}")
        value = result.get("result", ("0", ""))
        return value[1] or None if value[0] == "1" else None


def _caller(headers: dict) -> tuple[str | None, str | None]:
    number = headers.get("agi_callerid")
    name = headers.get("agi_calleridname")
    number = None if number in (None, "", "unknown") else number
    name = None if name in (None, "", "unknown") else name
    return number, name


def _script(headers: dict) -> str:
    """The script of ``agi://host:port/<script>``: ``ivr`` (the menu) or ``survey``."""
    script = headers.get("agi_network_script") or headers.get("agi_request", "").rsplit("/", 1)[-1]
    return script.strip("/").split("?", 1)[0]


class FastAGIServer:
    def __init__(self, *, host: str, port: int, bus, model_getter, menus: MenuSource, services) -> None:
        self.host, self.port = host, port
        self.bus = bus
        self.model_getter = model_getter
        self.menus = menus
        self.services = services
        self.server: asyncio.base_events.Server | None = None
        self.sessions = 0
        self.active = 0
        self.errors = 0
        self.overhead: collections.deque = collections.deque(maxlen=100_000)
        self._engine: Engine | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.host, self.port)
        log.info("FastAGI listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def engine(self) -> Engine:
        menu = self.menus.current()
        if self._engine is None or self._engine.menu is not menu:
            self._engine = Engine(menu, self.services)
        return self._engine

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        self.active += 1
        try:
            await self._session(reader, writer)
        finally:
            self.active -= 1

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\n\n"), 10)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        headers = dict(line.split(": ", 1) for line in raw.decode("utf-8", "replace").splitlines()
                       if ": " in line)
        channel = AGIChannel(Request(app=None, headers=headers, reader=reader, writer=writer), self.overhead)
        if _script(headers) == "survey":
            try:
                await self._survey(channel, headers)
            except (CallerHungUp, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError,
                    AGICommandError) as exc:
                log.info("post-call survey of %s ended early: %s", headers.get("agi_uniqueid"), exc or type(exc).__name__)
            except Exception:
                self.errors += 1
                log.exception("post-call survey failed for %s", headers.get("agi_uniqueid"))
            finally:
                writer.close()
            return
        engine = self.engine()
        number, name = _caller(headers)
        session = engine.new_session(call_id=None, caller_number=number, caller_name=name,
                                     called_number=headers.get("agi_dnid") or headers.get("agi_extension"),
                                     uniqueid=headers.get("agi_uniqueid"))
        try:
            session.call_id = await channel.get_variable("CHANNEL(linkedid)") or session.uniqueid
            await engine.run(channel, session)
            await self._finish(channel, session)
        except CallerHungUp:
            if not session.path or session.path[-1].get("outcome") != "hangup":
                session.step(session.node or "start", None, outcome="hangup")
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError, AGICommandError) as exc:
            self.errors += 1
            log.error("IVR session %s ended at %s: %s", session.call_id, session.node, exc or type(exc).__name__)
            session.step(session.node or "start", None, outcome="error", error=type(exc).__name__)
        except Exception:
            self.errors += 1
            log.exception("IVR session failed for %s", headers.get("agi_uniqueid"))
            session.step(session.node or "start", None, outcome="error")
            # the caller is still there: send them to the fallback queue rather than drop them
            try:
                await channel.set_var("IVR_QUEUE", DEFAULT_QUEUE)
            except Exception:
                pass
        finally:
            writer.close()
        queue = session.queue if session.action == "queue" else None
        self._record(session.call_id or headers.get("agi_uniqueid"), session.path, queue, number, name)

    async def _survey(self, channel: AGIChannel, headers: dict) -> None:
        """The post-call satisfaction survey (issue 14; :mod:`ivr.survey`).

        The dialplan passes the queue and the member who answered (``IVR_QUEUE``,
        ``MEMBERINTERFACE``, ``MEMBERNAME``); the live call knows better after a
        transfer (the agent who had the caller last), so it is asked first. The
        call ends for everyone else before the question is played: the agent is
        free, the talk time and the call row stop at the agent's hang-up.
        ``SURVEY_RESULT`` tells the dialplan what happened (skipped, already,
        scored, invalid, no_input, hangup)."""
        from ivr import survey as surveys

        args = [headers.get(f"agi_arg_{i}", "").strip() for i in (1, 2, 3)]
        call_id = await channel.get_variable("CHANNEL(linkedid)") or headers.get("agi_uniqueid")
        menu = self.menus.current()
        spec = menu.survey
        model = self.model_getter()
        live = model.calls.get(call_id) if model is not None and call_id else None
        queue = (live.queue if live is not None else None) or args[0] or None
        if not call_id or spec is None or not spec.applies_to(queue):
            await channel.set_var("SURVEY_RESULT", "skipped")
            return
        if live is not None and (live.agent or live.interface):
            agent = self.services.agent_username(live.agent, live.interface)
        else:
            agent = self.services.agent_username(args[2] or None, args[1] or None)
        if await self.services.survey_done(call_id):  # asked once per call, whatever happened since
            await channel.set_var("SURVEY_RESULT", "already")
            return
        if model is not None:
            model.end_after_agent(call_id, time.time())
        language = await channel.get_variable("IVR_LANG")
        if language not in menu.languages:
            language = menu.default_language
        number, name = _caller(headers)
        session = Session(call_id=call_id, caller_number=number, caller_name=name, language=language,
                          uniqueid=headers.get("agi_uniqueid"))
        result = await surveys.ask(channel, spec, lambda prompt: self.services.sound(prompt, language))
        survey_id = callback_id = None
        for attempt in range(RECORD_TRIES):  # a busy or briefly failing database: try again
            try:
                survey_id, callback_id = await self.services.record_survey(
                    session, agent=agent, queue=queue, result=result, low_score=spec.low_score)
                break
            except Exception:
                if attempt + 1 == RECORD_TRIES:
                    # the whole answer in the log, so it can be entered by hand
                    log.exception("post-call survey of call %s NOT stored: agent=%s queue=%s score=%s outcome=%s "
                                  "keys=%r language=%s", call_id, agent, queue, result.score, result.outcome,
                                  result.dtmf, language)
                    raise
                await asyncio.sleep(RECORD_BACKOFF * 2 ** attempt)
        log.info("post-call survey of call %s (agent %s): %s score %s, keys %r; row %s, callback %s", call_id,
                 agent, result.outcome, result.score, result.dtmf, survey_id, callback_id)
        if result.outcome != "hangup":
            await channel.set_var("SURVEY_RESULT", result.outcome)

    async def _finish(self, channel: AGIChannel, session: Session) -> None:
        await channel.set_var("IVR_LANG", session.language)
        if session.intent:
            await channel.set_var("IVR_INTENT", session.intent)
        if session.reference:
            await channel.set_var("IVR_REFERENCE", session.reference)
        if session.action == "transfer":
            await channel.set_var("IVR_TRANSFER", session.transfer_to or "")
        elif session.action == "queue":
            await channel.set_var("IVR_PRIORITY", str(session.priority))
            await channel.set_var("IVR_QUEUE", session.queue or DEFAULT_QUEUE)
        await channel.set_var("IVR_ACTION", session.action)

    def _record(self, call_id: str | None, path: list[dict], queue: str | None, caller_number: str | None = None,
                caller_name: str | None = None) -> None:
        if not call_id:
            return
        model = self.model_getter()
        call = model.calls.get(call_id) if model else None
        if call is not None:
            call.ivr_path = list(path)
        self.bus.publish(CallIvrCompleted(call_id, time.time(), tuple(path), queue, caller_number, caller_name))
