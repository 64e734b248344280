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
            await _demo_articles(db)  # issue 14: the knowledge base the desk searches and the pop suggests
            await _demo_catalogue(db)  # issue 14: products, fault taxonomy, answer scripts
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


# (title, Markdown body, product models, fault codes, tags); published, written by erin (expert).
DEMO_ARTICLES = [
    ("洗衣机滚筒不转怎么办", "**现象**：洗衣机通电、进水正常，但滚筒不转。\n\n"
     "1. 确认门锁已关好（门锁指示灯亮）。\n2. 断电五分钟后重新开机。\n3. 检查皮带是否松脱或断裂。\n"
     "4. 若显示 E21，先清洗排水泵过滤器。\n\n仍不转：预约上门维修（保修期内免费）。",
     ["XQG100"], ["E21"], ["repair", "support", "product"]),
    ("Washing machine drum does not turn", "**Symptom**: the machine fills with water but the drum does not turn.\n\n"
     "1. Check that the door lock has clicked shut.\n2. Switch off at the wall for five minutes.\n"
     "3. Check the drive belt.\n4. On error E21, clean the drain pump filter first.\n\n"
     "Still not turning: book a technician (free under warranty).",
     ["XQG100"], ["E21"], ["repair", "support", "product"]),
    ("错误代码 E21：排水超时", "E21 表示排水超时。\n\n- 检查排水管是否弯折或堵塞\n- 清洗排水泵过滤器（机身右下角）\n"
     "- 排水管高度不超过 100 厘米\n\n清理后运行一次“单脱水”确认。",
     ["XQG100"], ["E21"], ["repair", "support"]),
    ("Error E21: drain timeout", "E21 means the water did not drain in time.\n\n- Check the drain hose for kinks\n"
     "- Clean the drain pump filter (bottom right)\n- Keep the hose end below 100 cm\n\n"
     "Then run a spin-only cycle to confirm.", ["XQG100"], ["E21"], ["repair", "support"]),
    ("空调 KFR-35GW 安装指南", "## 安装前\n\n- 墙体承重、预留专用插座（16A）\n- 室外机距离不超过 15 米\n\n"
     "## 安装后\n\n试机 30 分钟，出风温差应大于 8°C。安装免费，高空作业费另计。",
     ["KFR-35GW"], [], ["install", "sales"]),
    ("Air conditioner KFR-35GW installation guide", "## Before\n\n- A load-bearing wall and a dedicated 16 A socket\n"
     "- Outdoor unit at most 15 m away\n\n## After\n\nRun it for 30 minutes: the air should come out at least "
     "8 °C cooler. Installation is free; work at height is charged.", ["KFR-35GW"], [], ["install", "sales"]),
    ("保修政策说明", "整机保修三年，压缩机保修十年。保修凭购买发票或电子保修卡，人为损坏不在保修范围。",
     [], [], ["warranty", "support", "sales"]),
]


async def _demo_articles(db) -> None:
    from knowledge import service as kb
    from knowledge.models import KbArticle

    for title, body, products, faults, tags in DEMO_ARTICLES:
        if (await db.execute(select(KbArticle.id).where(KbArticle.title == title))).first() is not None:
            continue
        article = await kb.create(db=db, actor="erin", role="expert", title=title, body=body,
                                  products=products, fault_codes=faults, tags=tags)
        await kb.set_state(db=db, actor="erin", role="expert", article_id=article.id, state="published")
    await db.commit()


async def _demo_catalogue(db) -> None:
    from catalog import demo as catalog_demo
    from knowledge import demo as scripts_demo

    await catalog_demo.load(db)
    await scripts_demo.load(db)
    await db.commit()
