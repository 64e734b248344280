"""Reports from stored rows: hand-computed workload, call volume, queue quality, exports."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook

from cti.models import CallRecord
from supervisor.models import AgentStateLog, QueueCall
from supervisor.reports import state_durations
from tests.factories import bearer, make_customer, quick_user

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)  # 16:00 in Shanghai


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def headers(app, db):
    sam = await quick_user(db, "sam", "supervisor")
    alice = await quick_user(db, "alice", "agent")
    s = app.state.container.settings
    return {"sam": bearer(s, sam), "alice": bearer(s, alice)}


def test_state_durations_clip_to_the_period():
    changes = [(0, "available", None), (100, "paused", "meal"), (400, "available", None), (500, "on_call", None),
               (800, "logged_out", None)]
    d = state_durations(changes, 50, 700)
    # available 50..100 + 400..500, paused 100..400, on_call 500..700 (clipped)
    assert d["states"] == {"available": 150, "paused": 300, "on_call": 200}
    assert d["pause_by_reason"] == {"meal": 300}


async def test_workload_hand_computed(client, db, headers):
    # alice: logs in at 0, a 10-minute call (5..15), wrap-up 15..17, paused (meal) 30..60, logged out at 120
    for minute, state, reason in [(-30, "logged_out", None), (0, "available", None), (5, "on_call", None),
                                  (15, "wrap_up", None), (17, "available", None), (30, "paused", "meal"),
                                  (60, "available", None), (120, "logged_out", None)]:
        db.add(AgentStateLog(username="alice", at=at(minute), state=state, reason=reason, queues="support"))
    db.add(CallRecord(call_id="c1", direction="inbound", queue="support", agent_username="alice",
                      created_at=at(4), enqueued_at=at(4.5), answered_at=at(5), ended_at=at(15), outcome="answered"))
    db.add(CallRecord(call_id="ctidesk-spy-abc", direction="outbound", agent_username="alice",
                      created_at=at(20), answered_at=at(20), ended_at=at(25), outcome="answered"))  # not traffic
    await db.commit()
    r = await client.get("/api/v1/reports/workload", params={"from": at(0).isoformat(), "to": at(180).isoformat()},
                         headers=headers["sam"])
    assert r.status_code == 200, r.text
    (row,) = r.json()["agents"]
    assert row == {"agent": "alice", "calls_answered": 1, "talk_s": 600.0, "hold_s": 0.0, "wrap_up_s": 120.0,
                   "pause_s": 1800.0, "available_s": 5 * 60 + 13 * 60 + 60 * 60.0, "login_s": 7200.0,
                   # (600 on_call + 120 wrap-up) / (7200 login - 1800 pause) = 13.3 %
                   "occupancy_pct": 13.3, "pause_by_reason": {"meal": 1800.0},
                   "surveys": 0, "avg_score": None, "low_scores": 0}  # no post-call survey (issue 14)
    assert "occupancy_pct" in r.json()["formulas"]
    # a period that starts mid-pause opens in the paused state (the change before the period counts)
    r = await client.get("/api/v1/reports/workload", params={"from": at(45).isoformat(), "to": at(90).isoformat()},
                         headers=headers["sam"])
    (row,) = r.json()["agents"]
    assert (row["pause_s"], row["available_s"], row["login_s"]) == (900.0, 1800.0, 2700.0)


async def test_queue_quality_from_stored_entries_with_short_abandons(client, db, headers):
    rows = [("q1", "answered", 10, 100), ("q2", "answered", 30, 200), ("q3", "abandoned", 2, 0),
            ("q4", "abandoned", 40, 0)]
    for n, (cid, outcome, wait, talk) in enumerate(rows):
        db.add(QueueCall(call_id=cid, queue="support", entered_at=at(n), left_at=at(n + 1), outcome=outcome,
                         wait_s=wait, talk_s=talk, answered_at=at(n) if outcome == "answered" else None))
    db.add(QueueCall(call_id="old", queue="support", entered_at=at(-2000), left_at=at(-1999), outcome="abandoned",
                     wait_s=50, talk_s=0))  # outside the period
    await db.commit()
    r = await client.get("/api/v1/reports/queues", params={"from": at(0).isoformat(), "to": at(60).isoformat()},
                         headers=headers["sam"])
    body = r.json()
    row = dict(zip(body["tables"]["by_queue"]["columns"], body["tables"]["by_queue"]["rows"][0]))
    # SL 20 s, short abandon 5 s (config/supervisor.toml): 1 within / (2 answered + 1 abandoned)
    assert (row["offered"], row["answered"], row["abandoned"], row["short_abandoned"]) == (4, 2, 1, 1)
    assert (row["service_level_pct"], row["abandonment_rate_pct"], row["asa_s"], row["aht_s"]) == (
        33.3, 33.3, 20.0, 150.0)
    assert body["parameters"]["service_level_s"] == 20 and "service_level_pct" in body["formulas"]


async def test_call_volume_by_interval_in_a_time_zone_and_exports(client, db, headers):
    for n, (minute, direction, outcome, queue) in enumerate([(5, "inbound", "answered", "support"),
                                                             (50, "inbound", "abandoned", "support"),
                                                             (65, "outbound", "answered", None),
                                                             (70, "inbound", None, "sales")]):
        db.add(CallRecord(call_id=f"v{n}", direction=direction, outcome=outcome, queue=queue, created_at=at(minute)))
    await db.commit()
    params = {"from": "2026-11-23T16:00:00", "to": "2026-11-23T19:00:00", "tz": "Asia/Shanghai", "interval": "1h"}
    r = await client.get("/api/v1/reports/calls", params=params, headers=headers["sam"])
    assert r.status_code == 200, r.text
    t = r.json()["tables"]["by_interval"]
    rows = [dict(zip(t["columns"], row)) for row in t["rows"]]
    assert [x["interval_start"] for x in rows] == ["2026-11-23T16:00:00+08:00", "2026-11-23T17:00:00+08:00",
                                                   "2026-11-23T18:00:00+08:00"]
    assert [(x["total"], x["inbound"], x["outbound"], x["answered"], x["abandoned"], x["open"]) for x in rows] == [
        (2, 2, 0, 1, 1, 0), (2, 1, 1, 1, 0, 1), (0, 0, 0, 0, 0, 0)]
    r = await client.get("/api/v1/reports/calls", params={**params, "format": "csv", "table": "by_queue"},
                         headers=headers["sam"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    got = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert got[0][:3] == ["queue", "total", "inbound"]
    assert {row[0]: row[1] for row in got[1:]} == {"(none)": "1", "sales": "1", "support": "2"}
    r = await client.get("/api/v1/reports/calls", params={**params, "format": "xlsx"}, headers=headers["sam"])
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["by_interval", "by_queue", "formulas"]
    assert wb["by_interval"]["B2"].value == 2


async def test_business_volume_by_type_and_state(client, db, headers):
    from tickets.models import Ticket

    c = await make_customer(db)
    for type_, state in [("repair", "new"), ("repair", "closed"), ("repair", "new"), ("install", "new")]:
        db.add(Ticket(customer_id=c.id, type=type_, state=state, description="d", created_at=at(1)))
    await db.commit()
    r = await client.get("/api/v1/reports/business", params={"from": at(0).isoformat(), "to": at(10).isoformat()},
                         headers=headers["sam"])
    t = r.json()["tables"]["by_type_state"]
    assert t["columns"] == ["type", "closed", "new", "total"]
    assert t["rows"] == [["install", 0, 1, 1], ["repair", 1, 2, 3]]


async def test_reports_refuse_agents_and_bad_input(client, headers):
    r = await client.get("/api/v1/reports/queues", headers=headers["alice"])
    assert r.status_code == 403
    for params, needle in [({"from": "yesterday"}, "ISO 8601"), ({"interval": "7m"}, "interval must be"),
                           ({"format": "pdf"}, "format must be"), ({"tz": "Mars/Olympus"}, "unknown time zone"),
                           ({"from": "2026-11-23T10:00", "to": "2026-11-23T09:00"}, "before"),
                           ({"from": "2024-01-01", "to": "2026-01-01"}, "366 days"),
                           ({"format": "csv", "table": "nope"}, "unknown table")]:
        r = await client.get("/api/v1/reports/calls", params=params, headers=headers["sam"])
        assert r.status_code == 422, (params, r.text)
        assert needle in r.text, (params, r.text)
