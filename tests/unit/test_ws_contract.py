"""The websocket contract: every frame the server sends is a model
(``agent_desk.notifier``, ``supervisor.notifier``), times are ISO 8601 with an
offset, and ``docs/ws-schema.json`` is what the models say.

Every unit test also checks the frames it made the server send (the autouse
``ws_frames`` fixture in conftest.py); these tests make sure that check bites.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from agent_desk.hub import AgentHub, Connection
from agent_desk.notifier import AGENT_FRAMES, PopCall, ScreenPop
from ctidesk.wire import check_times
from ctidesk.ws_schema import schema_text
from supervisor.feed import FeedClient, SupervisorFeed
from supervisor.notifier import SUPERVISOR_FRAMES
from tests import wscontract

ROOT = Path(__file__).resolve().parents[2]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def test_schema_file_is_up_to_date():
    assert (ROOT / "docs" / "ws-schema.json").read_text() == schema_text(), \
        "docs/ws-schema.json is stale: .venv/bin/python -m ctidesk.ws_schema > docs/ws-schema.json"


async def test_ws_schema_is_served(client):
    r = await client.get("/api/v1/ws-schema")
    assert r.status_code == 200
    assert set(r.json()["properties"]) == {"/ws/agent", "/ws/supervisor"}


def test_every_frame_type_a_producer_writes_has_a_model():
    """Grep the producers for the frame types they write: each is registered."""
    found: dict[str, set[str]] = {"agent": set(), "supervisor": set()}
    for path in ["agent_desk/http.py", "agent_desk/state.py", "agent_desk/screen_pop.py",
                 "agent_desk/transfer.py", "recordings/service.py"]:
        found["agent"].update(re.findall(r'\{"type": "(\w+)"', (ROOT / path).read_text()))
    for path in ["supervisor/live.py", "supervisor/feed.py"]:
        found["supervisor"].update(re.findall(r'\{"type": "(\w+)"', (ROOT / path).read_text()))
    sup_http = (ROOT / "supervisor/http.py").read_text()
    for t in re.findall(r'\{"type": "(\w+)"', sup_http):
        found["supervisor"].add(t)
        if t.startswith("monitoring_"):
            found["agent"].add(t)  # the notice to the agent's desk
    from cti import events as ev
    from supervisor.live import CALL_EVENTS
    found["supervisor"].update(CALL_EVENTS)
    found["supervisor"].update(("ticket_sla_warning", "ticket_sla_breached"))
    found["agent"].update(t for t in ev.EVENT_TYPES if t.startswith("recording_") or t == "call_transferred")
    assert found["agent"] - set(AGENT_FRAMES.models) == set()
    assert found["supervisor"] - set(SUPERVISOR_FRAMES.models) == set()


def test_the_pop_carries_ringing_at_as_iso_not_epoch():
    # the 1970 bug: the pop sent Asterisk's epoch seconds, the desk read them as milliseconds
    frame = json.loads(ScreenPop(call=PopCall(id="c1", ringing_at=1_796_306_700.123)).model_dump_json())
    assert ISO.match(frame["call"]["ringing_at"]), frame["call"]["ringing_at"]
    assert datetime.fromisoformat(frame["call"]["ringing_at"]).timestamp() == pytest.approx(1_796_306_700.123)
    assert check_times(frame) == []


def test_hub_serialises_once_and_converts_times():
    hub = AgentHub()
    a, b = Connection("alice", "agent"), Connection("alice", "agent")
    hub.add(a)
    hub.add(b)
    assert hub.send("alice", {"type": "call_transferred", "call_id": "c", "at": 1_796_306_700.5, "mode": "blind",
                              "from_agent": "alice", "to_agent": "bob", "to_queue": None}) == 2
    ta, tb = a.outbox.get_nowait(), b.outbox.get_nowait()
    assert ta is tb  # one text for every socket
    assert ISO.match(json.loads(ta)["at"])


def test_a_frame_that_breaks_its_model_is_caught(ws_frames):
    captured = ws_frames  # the autouse capture (tests/wscontract.py)
    hub = AgentHub()
    hub.add(Connection("alice", "agent"))
    hub.send("alice", {"type": "call_ended", "call_id": "c", "result": "answered"})  # renamed field
    hub.send("alice", {"type": "no_such_frame"})
    feed = SupervisorFeed()
    feed.add(FeedClient(lambda text: None, lambda: "{}"))
    feed.offer(("x",), {"type": "resync", "reason": "test", "at": "2026-12-03T14:05:00"})  # no offset: made UTC
    bad = wscontract.problems(captured)
    assert len(bad) == 2 and "call_ended does not validate" in bad[0] and "no model" in bad[1], bad
    assert ISO.match(json.loads(captured[-1][1])["at"])
    captured.clear()  # the autouse fixture checks what is left


def test_check_times_flags_epoch_and_naive_times():
    assert check_times({"at": 1.5, "agent": {"since": "2026-12-03T14:05:00"},
                        "timing": {"sent_at": 2.0}, "x": [{"created_at": "2026-12-03T14:05:00+08:00"}]}) \
        == ["at=1.5", "agent.since='2026-12-03T14:05:00' (no offset)"]


def test_desk_flow_frames_were_captured_and_checked(ws_frames):
    """The autouse capture sees the real hub: a hello pushed on a real Connection."""
    conn = Connection("alice", "agent")
    conn.push_json({"type": "hello", "user": {"username": "alice", "role": "agent"}, "agent_state": None})
    assert [json.loads(t)["type"] for s, t in ws_frames] == ["hello"]
