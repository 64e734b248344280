"""What the IVR does in the database: voicemail -> ticket + recording + callback,
product information, ticket status only to the ticket's own customer."""
from __future__ import annotations

import json
import math
import struct
import wave
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.config import load_menu
from ivr.engine import Session
from ivr.services import LiveServices
from tests.factories import make_app, make_customer
from tests.unit.test_ivr_engine import DEMO


@pytest.fixture
async def app(tmp_path):
    app = await make_app(tmp_path, asterisk_fs_root=tmp_path / "ast")
    yield app
    await app.state.container.engine.dispose()


class Kick:
    def __init__(self) -> None:
        self.kicks = 0

    def kick(self) -> None:
        self.kicks += 1


def services_for(app, menu_path: Path = DEMO, now: datetime | None = None):
    menu = load_menu(menu_path)
    services = LiveServices(app.state.container, lambda: menu)
    if now is not None:
        services.now = lambda: now
    return services


def write_wav(path: Path, seconds: float, amplitude: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        n = int(seconds * 8000)
        w.writeframes(b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * 440 * i / 8000)))
                               for i in range(n)))


async def test_voicemail_makes_a_ticket_a_recording_and_a_callback_for_a_new_caller(app, tmp_path):
    from recordings.models import Recording, RecordingTicket
    from tickets.models import Callback, Ticket

    container = app.state.container
    container.recordings = kick = Kick()
    events: list = []
    container.bus.subscribe(events.append)
    holiday_menu = tmp_path / "m.toml"
    holiday_menu.write_text(DEMO.read_text(encoding="utf-8").replace(
        'holidays = []', 'holidays = ["2026-11-23"]'), encoding="utf-8")
    now = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)  # noon on a holiday in Shanghai
    services = services_for(app, holiday_menu, now)
    session = Session(call_id="1795.1", caller_number="13912345678", caller_name="Li Si", called_number="4000",
                      uniqueid="1795.2", language="en", intent="complaint")
    path = services.voicemail_path(session)
    assert path.startswith("/var/spool/asterisk/ctidesk-voicemail/") and path.endswith("__complaint__complaint__1795.1")
    write_wav(container.settings.host_path(path + ".wav"), 2.0)
    reference = await services.leave_voicemail(session, intent="complaint", path=path, started=1795.0, ended=1797.0)
    async with container.sessionmaker() as db:
        ticket = (await db.execute(select(Ticket))).scalar_one()
        assert str(ticket.id) == reference
        assert (ticket.type, ticket.priority, ticket.state, ticket.call_id) == ("complaint", "high", "new", "1795.1")
        rec = (await db.execute(select(Recording))).scalar_one()
        assert (rec.kind, rec.status, rec.intent, rec.call_id, rec.customer_id) == (
            "voicemail", "pending", "complaint", "1795.1", ticket.customer_id)
        assert rec.source_path == str(container.settings.host_path(path + ".wav"))
        assert rec.caller_number == "+8613912345678" and rec.called_number_raw == "4000"
        link = (await db.execute(select(RecordingTicket))).scalar_one()
        assert (link.recording_id, link.ticket_id) == (rec.id, ticket.id)
        callback = (await db.execute(select(Callback))).scalar_one()
        assert (callback.reason, callback.state, callback.ticket_id) == ("voicemail", "pending", ticket.id)
        # next opening after the holiday: 2026-11-24 00:00 in Shanghai
        assert callback.due_at == datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc)
        from customers.models import Customer
        customer = await db.get(Customer, ticket.customer_id)
        assert customer.provisional and customer.name == "Li Si"
    assert kick.kicks == 1
    (event,) = [e for e in events if e.type == "call_voicemail_left"]
    assert (event.ticket_id, event.recording_id, event.intent) == (ticket.id, rec.id, "complaint")


async def test_voicemail_of_a_known_anonymous_or_silent_caller(app):
    from recordings.models import Recording
    from tickets.models import Callback, Ticket

    container = app.state.container
    async with container.sessionmaker() as db:
        known = await make_customer(db, name="Wang Wu", phones=["13700000000"])
    services = services_for(app)
    known_session = Session(call_id="c-known", caller_number="13700000000", language="zh-CN")
    # nothing recorded (no file): a ticket still, no recording row
    ref = await services.leave_voicemail(known_session, intent="repair", path="/var/spool/x/none", started=1.0,
                                         ended=2.0)
    anon = Session(call_id="c-anon", caller_number=None, language="en")
    ref2 = await services.leave_voicemail(anon, intent="suggestion", path="/var/spool/x/none2", started=1.0,
                                          ended=2.0)
    async with container.sessionmaker() as db:
        t1 = await db.get(Ticket, int(ref))
        t2 = await db.get(Ticket, int(ref2))
        assert t1.customer_id == known.id and t1.type == "repair" and "No message was recorded" in t1.description
        assert t2.type == "suggestion" and t2.customer_id != known.id
        assert (await db.execute(select(Recording))).first() is None
        callbacks = (await db.execute(select(Callback))).scalars().all()
        assert [c.ticket_id for c in callbacks] == [t1.id]  # nobody to call back for an anonymous caller


async def test_a_silent_message_file_is_removed_once_its_ticket_is_filed(app):
    from recordings.service import reconcile
    from tickets.models import Ticket

    container = app.state.container
    services = services_for(app)
    session = Session(call_id="c-silent", caller_number="13700000009", language="en", intent="repair")
    path = services.voicemail_path(session)
    host = container.settings.host_path(path + ".wav")
    write_wav(host, 0.05)  # under the 0.1 s that counts as a message
    ref = await services.leave_voicemail(session, intent="repair", path=path, started=1.0, ended=2.0)
    assert ref is not None and not host.exists()
    # so the reconcile has nothing to mistake for an unfiled message
    report = await reconcile(container.sessionmaker, container.settings.with_(recordings_settle_s=0))
    assert report["adopted"] == []
    async with container.sessionmaker() as db:
        assert len((await db.execute(select(Ticket))).scalars().all()) == 1


async def test_a_voicemail_the_ivr_could_not_file_is_filed_by_the_reconcile(app, monkeypatch):
    """The commit failed (or we died) after RECORD FILE: the file alone is enough."""
    from cti.models import CallRecord
    from recordings.models import Recording, RecordingTicket
    from recordings.service import reconcile
    from tickets import service as tickets
    from tickets.models import Callback, Ticket

    container = app.state.container
    services = services_for(app)
    session = Session(call_id="1796.1", caller_number="13912340000", language="zh-CN", intent="suggestion")
    path = services.voicemail_path(session)
    write_wav(container.settings.host_path(path + ".wav"), 1.0)

    async def broken(**kw):
        raise RuntimeError("database went away")
    monkeypatch.setattr(tickets, "create", broken)
    with pytest.raises(RuntimeError):
        await services.leave_voicemail(session, intent="suggestion", path=path, started=1.0, ended=2.0)
    monkeypatch.undo()
    async with container.sessionmaker() as db:
        assert (await db.execute(select(Ticket))).first() is None
        db.add(CallRecord(call_id="1796.1", caller_number_raw="13912340000", caller_number="+8613912340000"))
        await db.commit()

    settings = container.settings.with_(recordings_settle_s=0)
    report = await reconcile(container.sessionmaker, settings)
    assert [(a["kind"], a["call_id"]) for a in report["adopted"]] == [("voicemail", "1796.1")]
    async with container.sessionmaker() as db:
        ticket = (await db.execute(select(Ticket))).scalar_one()
        assert (ticket.type, ticket.priority, ticket.call_id) == ("suggestion", "high", "1796.1")
        assert "recovered by the recordings reconcile" in ticket.description
        rec = (await db.execute(select(Recording))).scalar_one()
        assert (rec.kind, rec.status, rec.intent, rec.customer_id) == (
            "voicemail", "pending", "suggestion", ticket.customer_id)
        assert rec.caller_number == "+8613912340000"
        link = (await db.execute(select(RecordingTicket))).scalar_one()
        assert (link.recording_id, link.ticket_id) == (rec.id, ticket.id)
        callback = (await db.execute(select(Callback))).scalar_one()
        assert (callback.reason, callback.ticket_id) == ("voicemail", ticket.id)
    assert report["voicemail_tickets"] == [ticket.id]
    # a second pass files nothing twice
    again = await reconcile(container.sessionmaker, settings)
    assert again["adopted"] == []


async def test_ticket_status_only_for_the_tickets_own_caller(app):
    from tickets import service as tickets

    container = app.state.container
    async with container.sessionmaker() as db:
        owner = await make_customer(db, name="Zhao", phones=["13600000001"])
        ticket = await tickets.create(db=db, actor="alice", type="repair", customer_id=owner.id, description="x")
        await tickets.transition(db=db, actor="alice", ticket_id=ticket.id, to="assigned")
        await db.commit()
        tid = ticket.id
    services = services_for(app)
    text = await services.lookup_ticket(str(tid), "+86 136 0000 0001", "zh-CN")
    assert text.startswith(f"工单{tid}，当前状态：已分派。最后更新：") and "状态已更新" in text
    text = await services.lookup_ticket(str(tid), "13600000001", "en")
    assert text.startswith(f"Ticket {tid} is assigned to an agent. Last update on ")
    assert await services.lookup_ticket(str(tid), "13600000002", "en") is None  # somebody else
    assert await services.lookup_ticket(str(tid), None, "en") is None  # anonymous
    assert await services.lookup_ticket("999999", "13600000001", "en") is None  # no such ticket
    assert await services.lookup_ticket("9" * 20, "13600000001", "en") is None  # absurdly long
    assert (await services.lookup_ticket(str(tid), None, "en", verify=False)).startswith(f"Ticket {tid}")


async def test_product_information_in_the_callers_language(app):
    from ivr.models import CatalogProduct

    container = app.state.container
    async with container.sessionmaker() as db:
        db.add(CatalogProduct(code="8801", model="KFR-35GW", name="空调 KFR-35GW",
                              info=json.dumps({"zh-CN": "整机保修六年。", "en": "Six years of warranty."})))
        db.add(CatalogProduct(code="8802", model="X1", name="", info="{}"))
        await db.commit()
    services = services_for(app)
    assert await services.lookup_product("8801", "zh-CN") == "空调 KFR-35GW. 整机保修六年。"
    assert await services.lookup_product("8801", "en") == "空调 KFR-35GW. Six years of warranty."
    assert await services.lookup_product("8802", "en") == "X1"
    assert await services.lookup_product("1234", "en") is None
