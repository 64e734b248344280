"""Demo data for ``ctidesk demo``: agents on the sandbox phones, customers
with history and open tickets. Idempotent: a second run adds nothing.

Passwords are generated on the first run and kept in ``var/demo-logins.txt``
(mode 0600), never hard-coded.
"""
from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta

from sqlalchemy import select

from accounts import service as accounts
from cti.models import CallRecord
from ctidesk.db import make_engine, make_sessionmaker, utcnow
from ctidesk.schema import import_all_models
from customers import service as customers
from customers.models import CustomerPhone
from customers.phone import normalize
from tickets.models import Ticket

# alice and erin talk through the desk's browser softphone (WebRTC); bob's
# phone is a simulated one that answers by itself (the no-audio demo).
DEMO_USERS = [
    ("alice", "agent", "1001", "support", "Alice Wang 王丽", "webrtc"),
    ("bob", "agent", "1002", "support,sales", "Bob Chen 陈波", "local"),
    ("erin", "expert", "1003", "operator", "Erin Liu 刘娥", "webrtc"),
    ("sam", "supervisor", None, "", "Sam Zhao 赵山", "local"),
    ("admin", "admin", None, "", "Administrator", "local"),
]

DEMO_CUSTOMERS = [
    ("张三 Zhang San", "person", ["13800138000"], "VIP since 2019; prefers Mandarin",
     [("repair", "Washing machine E21 error, drum does not spin"), ("callback", "Call back after technician visit")]),
    ("李四 Li Si", "person", ["13912345678", "021-5555-0188"], "", [("install", "Install new air conditioner, 3F")]),
    ("上海华东电器有限公司 East China Appliances", "company", ["+86 21 6888 1234", "4008001234"],
     "Dealer account, contact Ms. Zhou", [("complaint", "Late delivery of spare parts")]),
    ("Wang Wu", "person", ["0086 135 0000 1111"], "", []),
]


def _logins_file(settings):
    return settings.state_dir / "demo-logins.txt"


def _load_passwords(settings) -> dict:
    path = _logins_file(settings)
    if path.exists():
        return json.loads(path.read_text())
    return {}


def _save_passwords(settings, passwords: dict) -> None:
    path = _logins_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(passwords, fh, indent=1)


async def load_demo_data(settings) -> list[tuple[str, str, str, str | None]]:
    import_all_models()
    engine = make_engine(settings.effective_database_url)
    sm = make_sessionmaker(engine)
    passwords = _load_passwords(settings)
    logins = []
    try:
        async with sm() as db:
            for username, role, ext, queues, display, phone in DEMO_USERS:
                existing = await accounts.get_by_username(db=db, username=username)
                if existing is None:
                    password = passwords.get(username) or f"demo-{secrets.token_urlsafe(9)}"
                    await accounts.create_user(db=db, username=username, password=password, role=role,
                                               extension=ext, queues=queues.split(",") if queues else [],
                                               display_name=display, phone=phone,
                                               sip_realm=settings.sip_realm)
                    passwords[username] = password
                logins.append((username, role, passwords.get(username, "(set before; unchanged)"), ext))
            await db.commit()
            _save_passwords(settings, passwords)
            for name, kind, phones, notes, tickets in DEMO_CUSTOMERS:
                first = normalize(phones[0], country_code=settings.default_country_code).normalized
                found = (await db.execute(select(CustomerPhone).where(CustomerPhone.normalized == first))).first()
                if found:
                    continue
                customer = await customers.create(db=db, name=name, kind=kind, phones=phones, notes=notes)
                await db.flush()
                for ttype, description in tickets:
                    db.add(Ticket(customer_id=customer.id, type=ttype, state="new", description=description,
                                  created_by="demo"))
                for days in (3, 17):
                    start = utcnow() - timedelta(days=days, hours=2)
                    db.add(CallRecord(call_id=f"demo-{customer.id}-{days}", direction="inbound",
                                      caller_number_raw=phones[0], caller_number=first, caller_kind="mobile",
                                      caller_name=name, called_number="4000", queue="support",
                                      agent_username="alice", agent="alice", customer_id=customer.id,
                                      created_at=start, enqueued_at=start, ringing_at=start,
                                      answered_at=start + timedelta(seconds=12),
                                      ended_at=start + timedelta(minutes=4), outcome="answered"))
            await db.commit()
            await _demo_products(db)  # issue 3: what the IVR's product lookup (key 3) reads out
    finally:
        await engine.dispose()
    return logins


DEMO_PRODUCTS = [
    ("8801", "KFR-35GW", "空调 KFR-35GW", {"zh-CN": "一级能效，整机保修六年，压缩机保修十年。",
                                          "en": "Energy class one. Six years of warranty, ten on the compressor."}),
    ("8802", "XQG100", "滚筒洗衣机 XQG100", {"zh-CN": "十公斤容量，整机保修三年。",
                                           "en": "Ten kilograms. Three years of warranty."}),
]


async def _demo_products(db) -> None:
    from ivr.models import CatalogProduct

    for code, model, name, info in DEMO_PRODUCTS:
        if (await db.execute(select(CatalogProduct.id).where(CatalogProduct.code == code))).first() is None:
            db.add(CatalogProduct(code=code, model=model, name=name, info=json.dumps(info, ensure_ascii=False)))
    await db.commit()
