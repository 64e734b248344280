"""Failed SIP authentication (issue 11): Asterisk's security events become
``sip_auth_failed`` domain events and audit rows with the source address.

The AMI blocks below are shaped like Asterisk 22's (res_security_events /
res_pjsip's security reporting); the real tier checks them against a real
REGISTER with a wrong password (tests/real/test_phones_real.py)."""
from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from accounts.models import AuditLog
from accounts.sip_audit import SipAuthAudit
from cti import events as ev
from cti.model import LiveModel
from tests.factories import settings_for
from tests.fakeami import FakeAMI, event
from tests.live import live_app


def security_event(name: str = "ChallengeResponseFailed", *, service: str = "PJSIP", account: str = "1002",
                   remote: str = "IPV4/UDP/127.0.0.1/40123", **extra) -> dict:
    fields = {"Event": name, "Privilege": "security,all", "Timestamp": "1764770000.123456",
              "EventTV": "2026-12-03T14:00:00.123+0000", "Severity": "Error", "Service": service,
              "EventVersion": "1", "AccountID": account, "SessionID": "0x7f0000000001",
              "LocalAddress": "IPV4/UDP/127.0.0.1/5060", "RemoteAddress": remote}
    if name == "ChallengeResponseFailed":
        fields.update(Challenge="1764770000/abcdef", Response="0123456789abcdef0123456789abcdef",
                      ExpectedResponse="")
    fields.update(extra)
    return fields


def model_events(*blocks: tuple[str, dict]) -> list:
    out = []
    model = LiveModel(out.append)
    for name, fields in blocks:
        model.handle(name, fields)
    assert model.handler_errors == 0
    return out


def test_wrong_password_becomes_sip_auth_failed_with_its_source():
    (e,) = model_events(("ChallengeResponseFailed", security_event()))
    assert e == ev.SipAuthFailed(1764770000.123456, "1002", "127.0.0.1", "PJSIP", 40123, "UDP", "wrong_password")
    assert e.to_dict()["type"] == "sip_auth_failed" and e.to_dict()["call_id"] is None
    assert ev.EVENT_TYPES["sip_auth_failed"] is ev.SipAuthFailed


def test_invalid_password_and_unknown_account_too_over_ipv6_and_tcp():
    got = model_events(
        ("InvalidPassword", security_event("InvalidPassword", remote="IPV6/TCP/::1/5070")),
        ("InvalidAccountID", security_event("InvalidAccountID", account="9999", remote="IPV4/UDP/10.1.2.3/5060")))
    assert [(e.account, e.remote_address, e.remote_port, e.transport, e.reason) for e in got] == [
        ("1002", "::1", 5070, "TCP", "wrong_password"), ("9999", "10.1.2.3", 5060, "UDP", "unknown_account")]


def test_ami_login_failures_and_odd_addresses_are_not_sip_failures():
    got = model_events(
        ("InvalidPassword", security_event("InvalidPassword", service="AMI")),  # an AMI login, not SIP
        ("ChallengeResponseFailed", security_event(remote="")),
        ("ChallengeResponseFailed", security_event(remote="garbage", account="")))
    assert [(e.account, e.remote_address, e.remote_port) for e in got] == [("1002", None, None), ("", None, None)]


async def _audit_rows(sessionmaker, action: str = "sip.auth_failed") -> list[AuditLog]:
    async with sessionmaker() as db:
        return list((await db.execute(select(AuditLog).where(AuditLog.action == action)
                                      .order_by(AuditLog.id))).scalars())


async def test_subscriber_writes_audit_rows_without_blocking_the_bus(app):
    sm = app.state.container.sessionmaker
    sub = SipAuthAudit(sm)
    sub.start()
    try:
        for port in (40001, 40002):
            sub(ev.SipAuthFailed(1.0, "1002", "127.0.0.1", "PJSIP", port, "UDP", "wrong_password"))
        sub(ev.CallCreated("c1", 1.0, "inbound", "PJSIP/x-1", None, None, None))  # not ours: ignored
        assert sub.queue.qsize() == 2  # only queued: the bus returns at once
    finally:
        await sub.stop()
    rows = await _audit_rows(sm)
    assert [(r.actor, r.target, r.ip, json.loads(r.detail)["port"]) for r in rows] == [
        ("1002", "1002", "127.0.0.1", 40001), ("1002", "1002", "127.0.0.1", 40002)]
    assert json.loads(rows[0].detail) == {"service": "PJSIP", "port": 40001, "transport": "UDP",
                                          "reason": "wrong_password", "asterisk_at": 1.0}


async def test_a_flood_is_bounded_and_what_was_dropped_is_counted(app):
    sm = app.state.container.sessionmaker
    sub = SipAuthAudit(sm, max_pending=10)
    for i in range(25):  # the writer is not started: everything beyond 10 is dropped
        sub(ev.SipAuthFailed(1.0, "1002", "192.0.2.7", "PJSIP", 1000 + i, "UDP", "wrong_password"))
    assert (sub.queue.qsize(), sub.dropped) == (10, 15)
    sub.start()
    await sub.stop()
    assert len(await _audit_rows(sm)) == 10
    (summary,) = await _audit_rows(sm, "sip.auth_failed_dropped")
    assert json.loads(summary.detail) == {"dropped": 15, "total_dropped": 15}


async def test_security_event_from_ami_reaches_the_audit_log(tmp_path):
    """The whole path in the running app: AMI bytes -> model -> bus -> audit row."""
    fake = await FakeAMI().start()
    settings = settings_for(tmp_path, ami_port=fake.port, ami_secret=fake.secret, agi_port=0,
                            ami_ping_interval=30.0, asterisk_fs_root=tmp_path / "ast")
    try:
        async with live_app(settings) as app:
            c = app.state.container
            assert await c.bridge.wait_ready(5)
            fields = security_event(remote="IPV4/UDP/127.0.0.1/45678")
            await fake.push(event(fields.pop("Event"), **fields))
            rows = []
            for _ in range(200):
                rows = await _audit_rows(c.sessionmaker)
                if rows:
                    break
                await asyncio.sleep(0.02)  # the audit write is asynchronous
            assert [(r.action, r.actor, r.ip) for r in rows] == [("sip.auth_failed", "1002", "127.0.0.1")]
    finally:
        await fake.stop()
