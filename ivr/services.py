"""What the IVR engine needs from the rest of ctidesk, for real calls.

* prompt sound names and text to speech (:mod:`ivr.prompts`);
* self-service look-ups: a product from the catalogue by its code, a ticket's
  status and last update by its number;
* the after-hours voicemail: a ``voicemail`` recording row for the recordings
  worker to ingest, a ticket of the type the caller's intent maps to (for
  the caller's customer record, provisional if the number is unknown), the
  two linked, a callback due at the next opening, ``call_voicemail_left`` on
  the bus.

All database work goes through the async sessionmaker, so a look-up never
blocks the loop that serves every other caller.

Privacy: a ticket's status is read out only to a caller whose number belongs
to the ticket's customer (``verify_caller``, on by default); anyone else hears
"not found", the same as for a number that does not exist, so ticket numbers
cannot be probed by phone. Internal comment text is never read out.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cti.events import DomainEvent
from customers.phone import DIALABLE_KINDS, normalize
from ivr import prompts
from ivr.engine import Session
from recordings.voicemail import file_voicemail, voicemail_stem

log = logging.getLogger(__name__)

STATE_WORDS = {
    "zh-CN": {"new": "已受理", "assigned": "已分派", "dispatched": "已派工", "in_progress": "处理中",
              "pending_customer": "等待您的回复", "resolved": "已解决", "closed": "已关闭",
              "reopened": "重新处理中", "cancelled": "已取消"},
    "en": {"new": "received", "assigned": "assigned to an agent", "dispatched": "dispatched to a technician",
           "in_progress": "in progress", "pending_customer": "waiting for your reply", "resolved": "resolved",
           "closed": "closed", "reopened": "being worked on again", "cancelled": "cancelled"},
}
UPDATE_WORDS = {
    "zh-CN": {"created": "工单已创建", "transition": "状态已更新", "dispatch": "已安排技术人员",
              "field": "工单信息已更新", "comment": "客服已跟进", "link": "客服已跟进", "callback": "已安排回访"},
    "en": {"created": "the ticket was opened", "transition": "its status changed", "dispatch": "a technician was arranged",
           "field": "its details were updated", "comment": "an agent followed it up", "link": "an agent followed it up",
           "callback": "a call back was arranged"},
}
_SPOKEN_KINDS = tuple(UPDATE_WORDS["en"])


def _lang_key(lang: str) -> str:
    return "zh-CN" if lang.startswith("zh") else "en"


@dataclass(frozen=True, slots=True)
class CallVoicemailLeft(DomainEvent):
    """An after-hours caller left a message: a ticket and a callback exist for it."""

    type: ClassVar[str] = "call_voicemail_left"
    call_id: str | None
    at: float
    ticket_id: int
    recording_id: int | None
    customer_id: int
    intent: str
    callback_id: int | None


def ticket_status_text(ticket, last, lang: str, tz: ZoneInfo) -> str:
    key = _lang_key(lang)
    state = STATE_WORDS[key].get(ticket.state, ticket.state)
    if key == "zh-CN":
        text = f"工单{ticket.id}，当前状态：{state}。"
        if last is not None:
            at = last.at.astimezone(tz)
            text += f"最后更新：{at.month}月{at.day}日{at.hour}点{at.minute:02d}分，{UPDATE_WORDS[key][last.kind]}。"
        return text
    text = f"Ticket {ticket.id} is {state}."
    if last is not None:
        at = last.at.astimezone(tz)
        text += f" Last update on {at.strftime('%B')} {at.day} at {at.hour}:{at.minute:02d}: {UPDATE_WORDS[key][last.kind]}."
    return text


class LiveServices:
    def __init__(self, container, menu_getter) -> None:
        self.container = container
        self.settings = container.settings
        self.menu_getter = menu_getter
        self._sounds: dict = {}
        self._sounds_of = None

    @property
    def menu(self):
        return self.menu_getter()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sound(self, prompt: str, language: str) -> str:
        menu = self.menu
        if self._sounds_of is not menu:  # once per menu (re)load, not per prompt
            self._sounds, self._sounds_of = prompts.sound_map(menu, self.settings), menu
        found = self._sounds.get((prompt, language)) or self._sounds.get((prompt, menu.default_language))
        return found[0] if found else f"{prompts.SUBDIR}/{language}/{prompt}"

    async def say(self, text: str, language: str) -> str | None:
        try:
            return await prompts.say(self.settings, text, language)
        except prompts.PromptError as exc:
            log.error("IVR text to speech failed: %s", exc)
            return None

    def _tz(self) -> ZoneInfo:
        sched = self.menu.schedule_for(None)
        return sched.tz if sched else ZoneInfo("Asia/Shanghai")

    # -- self-service ------------------------------------------------------

    async def lookup(self, what: str, digits: str, session: Session) -> str | None:
        if what == "product":
            return await self.lookup_product(digits, session.language)
        if what == "ticket":
            node = self.menu.nodes.get(session.node or "")
            verify = node.verify_caller if node is not None else True
            return await self.lookup_ticket(digits, session.caller_number if verify else None, session.language,
                                            verify=verify)
        return None

    async def lookup_product(self, code: str, lang: str) -> str | None:
        from ivr import catalog

        async with self.container.sessionmaker() as db:
            product = await catalog.find(db=db, code=code)
        if product is None:
            return None
        info = catalog.info_of(product)
        spoken = info.get(lang) or info.get(_lang_key(lang)) or next(iter(info.values()), "")
        name = product.name or product.model
        return f"{name}. {spoken}".strip() if spoken else name

    async def lookup_ticket(self, digits: str, caller_number: str | None, lang: str, *,
                            verify: bool = True) -> str | None:
        from customers.models import CustomerPhone
        from tickets.models import Ticket, TicketHistory

        if len(digits) > 12:
            return None
        ticket_id = int(digits)
        async with self.container.sessionmaker() as db:
            ticket = await db.get(Ticket, ticket_id)
            if ticket is None:
                return None
            if verify:
                number = normalize(caller_number, country_code=self.settings.default_country_code).normalized
                if not number:
                    return None
                owner = (await db.execute(select(CustomerPhone.id).where(
                    CustomerPhone.customer_id == ticket.customer_id, CustomerPhone.normalized == number).limit(1))
                         ).scalar_one_or_none()
                if owner is None:
                    return None
            last = (await db.execute(select(TicketHistory).where(
                TicketHistory.ticket_id == ticket_id, TicketHistory.kind.in_(_SPOKEN_KINDS))
                .order_by(TicketHistory.at.desc(), TicketHistory.id.desc()).limit(1))).scalar_one_or_none()
            return ticket_status_text(ticket, last, lang, self._tz())

    # -- voicemail -----------------------------------------------------------

    def voicemail_path(self, session: Session) -> str:
        """Where ``RECORD FILE`` writes (no extension); see :func:`voicemail_stem`."""
        intent = session.intent or next(iter(self.menu.intents), "")
        stem = voicemail_stem(intent, self.menu.intents.get(intent) or "callback",
                              session.call_id or session.uniqueid or "call")
        return f"{self.settings.ivr_voicemail_dir.rstrip('/')}/{stem}"

    async def leave_voicemail(self, session: Session, *, intent: str, path: str, started: float,
                              ended: float) -> str | None:
        """The reference number (the ticket's number) read back to the caller."""
        from recordings.models import Recording

        menu = self.menu
        settings = self.settings
        call_id = session.call_id
        host = settings.host_path(path + ".wav")
        has_audio = host.is_file() and host.stat().st_size > 44 + 1600  # header + 0.1 s of 8 kHz audio
        customer_id = await self._customer_for(session)
        ticket_type = menu.intents.get(intent) or next(iter(menu.intents.values()))
        cc = settings.default_country_code
        caller = normalize(session.caller_number, country_code=cc)
        called = normalize(session.called_number, country_code=cc)
        when = datetime.fromtimestamp(started, timezone.utc).astimezone(self._tz())
        who = session.caller_number or "an anonymous caller"
        description = (f"After-hours voicemail ({intent}) from {who} at {when:%Y-%m-%d %H:%M %Z}, "
                       f"language {session.language}."
                       + ("" if has_audio else " No message was recorded (the caller did not speak)."))
        # call back when whatever was closed opens again (the center, or the caller's queue)
        schedule = menu.schedules.get(session.closed_by or "") or menu.schedule_for(None)
        due = schedule.next_open(self.now()) if schedule else None
        recording = None
        if has_audio:
            recording = Recording(call_id=call_id, uniqueid=session.uniqueid, kind="voicemail", status="pending",
                                  customer_id=customer_id, caller_number_raw=session.caller_number,
                                  caller_number=caller.normalized, called_number_raw=session.called_number,
                                  called_number=called.normalized,
                                  started_at=datetime.fromtimestamp(started, timezone.utc),
                                  ended_at=datetime.fromtimestamp(ended, timezone.utc),
                                  source_path=str(host), format="wav", intent=intent,
                                  description=f"voicemail: {intent}")
        async with self.container.sessionmaker() as db:
            ticket, callback = await file_voicemail(
                db, actor="ivr", ticket_type=ticket_type, customer_id=customer_id, call_id=call_id,
                intent=intent, description=description, priority=menu.voicemail_priority,
                recording=recording, dialable=caller.kind in DIALABLE_KINDS, due=due,
                notes=f"After-hours {intent} voicemail")
            await db.commit()
            ticket_id, recording_id = ticket.id, recording.id if recording else None
            callback_id = callback.id if callback else None
        if recording_id is None:
            # nothing worth keeping; left in place it would look like an orphan
            # to the reconcile and become a second ticket
            host.unlink(missing_ok=True)
        kick = getattr(self.container.recordings, "kick", None)
        if recording_id is not None and kick is not None:
            try:
                kick()
            except Exception:
                log.exception("recordings kick failed (the pending row stays for the next run)")
        self.container.bus.publish(CallVoicemailLeft(call_id, time.time(), ticket_id, recording_id, customer_id,
                                                     intent, callback_id))
        log.info("IVR voicemail: call %s -> ticket %s, recording %s", call_id, ticket_id, recording_id)
        return str(ticket_id)

    async def _customer_for(self, session: Session) -> int:
        resolver = self.container.resolver
        store = self.container.store
        call_id = session.call_id or session.uniqueid or ""
        if resolver is not None:
            res = await resolver.resolve(call_id, session.caller_number, session.caller_name)
            if res.customer_id is not None:
                return res.customer_id
        if store is not None:
            return await store.create_provisional(call_id, session.caller_number, session.caller_name)
        from customers.service import find_by_phone, get_or_create_provisional

        async with self.container.sessionmaker() as db:  # no live resolver (tools, tests): same rules
            if session.caller_number:
                found = await find_by_phone(db=db, phone=session.caller_number,
                                            country_code=self.settings.default_country_code)
                found.sort(key=lambda c: c.provisional)
                if found:
                    return found[0].id
            customer = await get_or_create_provisional(
                db=db, number_raw=session.caller_number, caller_name=session.caller_name, call_id=call_id,
                country_code=self.settings.default_country_code)
            await db.commit()
            return customer.id

    # -- the post-call survey (issue 14) ------------------------------------------

    def agent_username(self, agent: str | None, interface: str | None) -> str | None:
        """The desk user behind a queue member (its MemberName or interface)."""
        directory = getattr(self.container, "directory", None)
        if directory is not None:
            found = directory.username_for(agent, interface)
            if found:
                return found
        return agent or None

    async def survey_done(self, call_id: str) -> bool:
        from ivr import survey

        async with self.container.sessionmaker() as db:
            return await survey.already_surveyed(db=db, call_id=call_id)

    async def record_survey(self, session: Session, *, agent: str | None, queue: str | None, result,
                            low_score: int) -> tuple[int | None, int | None]:
        """Store the survey (and the callback of a low score): ``(survey id, callback id)``;
        ``(None, None)`` when the call already had one."""
        from cti.models import CallRecord
        from ivr import survey

        customer_id = None
        dialable = False
        if survey.is_low(result.score, low_score):
            number = normalize(session.caller_number, country_code=self.settings.default_country_code)
            dialable = number.kind in DIALABLE_KINDS
            if dialable:
                async with self.container.sessionmaker() as db:  # the customer the pop showed for this call
                    customer_id = (await db.execute(select(CallRecord.customer_id).where(
                        CallRecord.call_id == session.call_id))).scalar_one_or_none()
                if customer_id is None:
                    customer_id = await self._customer_for(session)
        async with self.container.sessionmaker() as db:
            row, callback = await survey.record(
                db=db, call_id=session.call_id, agent_username=agent, queue=queue, result=result,
                language=session.language, low_score=low_score, customer_id=customer_id, dialable=dialable)
            await db.commit()
        return (row.id if row else None), (callback.id if callback else None)
