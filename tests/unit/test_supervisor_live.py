"""Agent state derivation and live queue figures, from recorded and scripted AMI.

The recorded scenarios are raw Asterisk 22 captures from the sandbox
(tests/fixtures/ami); the expected sequences were checked by hand.
"""
from __future__ import annotations

from pathlib import Path

from agent_desk.directory import AgentDirectory
from cti.model import LiveModel
from cti.replay import load_trace, replay
from supervisor.config import SupervisorConfig
from supervisor.live import SupervisorLive

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def build(config=None, users=(), clock=None):
    frames, records = [], []
    holder = {}
    model = LiveModel(lambda e: holder["live"](e), clock=clock or Clock())
    directory = None
    if users:
        from ctidesk.settings import Settings

        class U:
            def __init__(self, username, extension, queues, role="agent"):
                self.username, self.extension, self.queue_list, self.role = username, extension, queues, role
                self.active, self.display_name = True, username.title()

        directory = AgentDirectory(Settings())
        directory.load([U(*u) for u in users])
        model.agent_devices.update(directory.device_names())
    live = SupervisorLive(model=model, config=config or SupervisorConfig(), directory=directory,
                          on_frame=lambda k, f: frames.append((k, f)),
                          on_record=lambda kind, row: records.append((kind, row)), clock=clock or Clock())
    holder["live"] = live
    return model, live, frames, records


def agent_states(frames):
    return [(f["agent"]["agent"], f["agent"]["state"], f["agent"]["paused_reason"])
            for _, f in frames if f["type"] == "agent_status_changed"]


TRACE_TIME = Clock(1_795_451_400.0)  # the captures were made around then (Asterisk's clock)


def test_ring_all_two_agents_one_answers():
    model, live, frames, records = build(clock=TRACE_TIME)
    replay(load_trace(FIXTURES / "ringall_two_agents_answered.ami"), model=model)
    assert agent_states(frames) == [
        ("Agent 1001", "available", None), ("Agent 1002", "available", None),
        ("Agent 1002", "ringing", None), ("Agent 1001", "ringing", None),
        ("Agent 1002", "available", None),  # bob's phone stopped ringing when alice took it
        ("Agent 1001", "on_call", None), ("Agent 1001", "available", None)]
    # every frame comes after the event that caused it: call_answered precedes alice's on_call
    types = [(f["type"], f.get("agent", {}).get("state") if f["type"] == "agent_status_changed" else None)
             for _, f in frames]
    assert types.index(("call_answered", None)) < types.index(("agent_status_changed", "on_call"))
    last_queue = [f["queue"] for _, f in frames if f["type"] == "queue_status_changed"][-1]
    assert (last_queue["answered"], last_queue["abandoned"], last_queue["agents_available"],
            last_queue["agents_logged_in"]) == (1, 0, 2, 2)
    (kind, row), = [r for r in records if r[0] == "queue_call"]
    assert row["outcome"] == "answered" and row["queue"] == "support" and row["wait_s"] > 0


def test_abandoned_caller_and_ringing_beats_the_local_phones_in_use():
    model, live, frames, records = build(clock=TRACE_TIME)
    replay(load_trace(FIXTURES / "unknown_caller_abandoned.ami"), model=model)
    assert agent_states(frames) == [("Agent 1001", "available", None), ("Agent 1001", "ringing", None),
                                    ("Agent 1001", "available", None)]
    q = [f["queue"] for _, f in frames if f["type"] == "queue_status_changed"][-1]
    assert (q["waiting"], q["answered"], q["abandoned"]) == (0, 0, 1)
    (kind, row), = [r for r in records if r[0] == "queue_call"]
    assert row["outcome"] == "abandoned" and 5 < row["wait_s"] < 8


def test_pause_with_reason_then_logout():
    model, live, frames, records = build()
    replay(load_trace(FIXTURES / "agent_login_pause_logout.ami"), model=model)
    assert agent_states(frames) == [("Agent 1003", "available", None), ("Agent 1003", "paused", "meal"),
                                    ("Agent 1003", "available", None), ("Agent 1003", "logged_out", None)]
    assert [r["state"] for k, r in records if k == "agent_state"] == ["available", "paused", "available",
                                                                      "logged_out"]


def member(model, queue, name, ext, status="1", paused="0", reason="", at=None):
    f = {"Queue": queue, "Interface": f"Local/{ext}@agents/n", "MemberName": name, "Status": status,
         "Paused": paused, "PausedReason": reason}
    if at is not None:
        f["Timestamp"] = str(at)
    model.handle("QueueMemberAdded", f)


def test_on_a_call_in_one_queue_is_not_free_in_another():
    model, live, frames, _ = build(users=[("dave", "1004", ["support", "sales"])])
    member(model, "support", "dave", "1004")
    member(model, "sales", "dave", "1004")
    c = dict(Channel="PJSIP/trunk-1", Uniqueid="9.1", Linkedid="9.1", CallerIDNum="13800138000")
    model.handle("Newchannel", c)
    model.handle("QueueCallerJoin", {**c, "Queue": "support", "Position": "1"})
    model.handle("AgentConnect", {**c, "Queue": "support", "Interface": "Local/1004@agents/n",
                                  "MemberName": "dave", "HoldTime": "3"})
    assert live.agents["dave"].state == "on_call"
    sales = live.queue_stats("sales")
    assert (sales["agents_logged_in"], sales["agents_available"], sales["agents_on_call"]) == (1, 0, 1)


def test_paused_in_one_queue_only_is_still_available():
    model, live, frames, _ = build()
    member(model, "support", "erin", "1005")
    member(model, "sales", "erin", "1005")
    model.handle("QueueMemberPause", {"Queue": "sales", "Interface": "Local/1005@agents/n", "MemberName": "erin",
                                      "Status": "1", "Paused": "1", "PausedReason": "training"})
    assert live.agents["erin"].state == "available"
    model.handle("QueueMemberPause", {"Queue": "support", "Interface": "Local/1005@agents/n", "MemberName": "erin",
                                      "Status": "1", "Paused": "1", "PausedReason": "training"})
    assert (live.agents["erin"].state, live.agents["erin"].reason) == ("paused", "training")


def test_wrap_up_after_a_queue_call_for_the_configured_time():
    clock = Clock()
    config = SupervisorConfig(wrapup={"*": 0, "support": 30})
    model, live, frames, records = build(config=config, clock=clock)
    member(model, "support", "fay", "1006")
    c = dict(Channel="PJSIP/trunk-2", Uniqueid="9.2", Linkedid="9.2", CallerIDNum="13800138000")
    t0 = clock.t
    model.handle("Newchannel", {**c, "Timestamp": str(t0)})
    model.handle("QueueCallerJoin", {**c, "Queue": "support", "Position": "1", "Timestamp": str(t0)})
    model.handle("AgentConnect", {**c, "Queue": "support", "Interface": "Local/1006@agents/n",
                                  "MemberName": "fay", "HoldTime": "12", "Timestamp": str(t0 + 12)})
    model.handle("Hangup", {**c, "Timestamp": str(t0 + 100)})
    clock.t = t0 + 100
    assert (live.agents["fay"].state, live.agents["fay"].since) == ("wrap_up", t0 + 100)
    q = live.queue_stats("support")
    assert (q["answered"], q["asa_s"], q["aht_s"]) == (1, 12.0, 88.0 + 30.0)
    clock.t = t0 + 131
    live._wrap_over("fay")
    assert live.agents["fay"].state == "available"
    assert [r["state"] for k, r in records if k == "agent_state"] == ["available", "on_call", "wrap_up",
                                                                      "available"]


def test_window_slides():
    clock = Clock()
    model, live, _, _ = build(config=SupervisorConfig(window_s=600), clock=clock)
    c = dict(Channel="PJSIP/trunk-3", Uniqueid="9.3", Linkedid="9.3")
    t0 = clock.t
    model.handle("Newchannel", {**c, "Timestamp": str(t0)})
    model.handle("QueueCallerJoin", {**c, "Queue": "support", "Position": "1", "Timestamp": str(t0)})
    model.handle("QueueCallerAbandon", {**c, "Queue": "support", "HoldTime": "40", "Timestamp": str(t0 + 40)})
    model.handle("Hangup", {**c, "Timestamp": str(t0 + 40)})
    clock.t = t0 + 599
    assert live.queue_stats("support")["abandoned"] == 1
    clock.t = t0 + 601
    assert live.queue_stats("support")["abandoned"] == 0


def test_snapshot_lists_directory_agents_not_supervisors():
    model, live, _, _ = build(users=[("alice", "1001", ["support"]), ("sam", "1009", [], "supervisor")])
    member(model, "support", "alice", "1001")
    snap = live.snapshot()
    assert [a["agent"] for a in snap["agents"]] == ["alice"]
    assert snap["agents"][0]["state"] == "available" and snap["agents"][0]["display_name"] == "Alice"
    assert [q["queue"] for q in snap["queues"]] == ["support"]
    assert "break" in snap["config"]["pause_reasons"]


def test_ticket_sla_events_ride_on_the_feed():
    from tickets.sla import TicketSlaBreached, TicketSlaWarning

    model, live, frames, _ = build()
    live(TicketSlaWarning(ticket_id=7, at=1.0, due_at="2026-11-23T10:00:00+00:00", kind="response",
                          ticket_type="repair"))
    live(TicketSlaBreached(ticket_id=7, at=2.0, due_at="2026-11-23T10:00:00+00:00", kind="response",
                           ticket_type="repair", escalated=True))
    assert [(k, f["type"], f["ticket_id"]) for k, f in frames] == [
        (("t", 7, "ticket_sla_warning"), "ticket_sla_warning", 7),
        (("t", 7, "ticket_sla_breached"), "ticket_sla_breached", 7)]
    assert frames[1][1]["escalated"] is True
