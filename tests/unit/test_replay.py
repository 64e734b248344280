"""Recorded AMI scenarios through the live code path: exact domain event sequences.

Named by topology, as cacofonisk's own tests are. Each capture is raw wire bytes
from an Asterisk 22 (the sandbox); the expected lists were checked by hand
against the capture.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cti.model import LiveModel
from cti.replay import load_trace, replay

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "ami-traces" / "cacofonisk"
if not SHARED.exists():
    SHARED = Path("/work/shared/ami-traces/cacofonisk")


def summary(events, keys=("agent", "queue", "caller_number", "caller_name", "outcome", "state",
                          "paused_reason")):
    out = []
    for e in events:
        d = e.to_dict()
        out.append((d["type"], d["call_id"]) + tuple(d[k] for k in keys if k in d))
    return out


def of_call(events, call_id: str) -> list:
    """The :func:`summary` of the events of one call."""
    return [s for s in summary(events) if s[1] == call_id]


def test_queue_ivr_answered():
    events = replay(load_trace(FIXTURES / "queue_ivr_answered.ami"))
    c = "1795449613.96"
    assert summary(events) == [
        ("call_created", c, None, None),
        ("call_updated", c, "13800138000", "Zhang San"),  # the caller ID arrives after Newchannel
        ("queue_caller_joined", c, "support", "13800138000", "Zhang San"),
        ("call_ringing", c, "Agent 1001", "support", "13800138000", "Zhang San"),
        ("queue_caller_left", c, "support"),
        ("recording_started", c, None),  # MixMonitor in the queue's answer gosub, before AgentConnect
        ("agent_status_changed", None, "Agent 1001", "support", "on_call", None),
        ("call_answered", c, "Agent 1001", "support"),
        ("agent_status_changed", None, "Agent 1001", "support", "available", None),
        ("recording_stopped", c, "Agent 1001"),  # no MixMonitorStop on hangup: the call's end stops it
        ("call_ended", c, "Agent 1001", "support", "answered"),
    ]


def test_agent_login_pause_logout():
    events = replay(load_trace(FIXTURES / "agent_login_pause_logout.ami"))
    assert summary(events) == [
        ("agent_status_changed", None, "Agent 1003", "support", "available", None),
        ("agent_status_changed", None, "Agent 1003", "support", "paused", "meal"),
        ("agent_status_changed", None, "Agent 1003", "support", "available", None),
        ("agent_status_changed", None, "Agent 1003", "support", "logged_out", None),
    ]


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_chunking_does_not_change_the_result(chunk):
    data = load_trace(FIXTURES / "queue_ivr_answered.ami")
    assert summary(replay(data, chunk=chunk)) == summary(replay(data))


def test_utf8_split_across_reads_is_decoded_whole():
    name = "张三".encode()
    data = (b"Event: Newchannel\r\nChannel: PJSIP/t-00000001\r\nUniqueid: 9.1\r\nLinkedid: 9.1\r\n"
            b"CallerIDNum: 13800138000\r\nCallerIDName: " + name + b"\r\n\r\n")
    for cut in range(len(data)):
        events = replay(data, chunk=max(1, cut))
        assert events[0].caller_name == "张三"


def _cacofonisk_traces():
    return sorted(glob.glob(str(SHARED / "**" / "*.json"), recursive=True))


def test_every_cacofonisk_scenario_balances():
    """51 real scenarios (transfers, pickups, queues): every call created ends,
    nothing is left in the model, no handler fails."""
    traces = _cacofonisk_traces()
    assert len(traces) >= 40, f"cacofonisk traces not found under {SHARED}"
    for path in traces:
        out = []
        model = LiveModel(out.append)
        replay(load_trace(path), model=model)
        counts = Counter(e.type for e in out)
        assert counts["call_created"] == counts["call_ended"] > 0, path
        assert model.calls == {} and model.channel_calls == {} and model.handler_errors == 0, path


def test_cacofonisk_queue_abandon():
    path = SHARED / "queue" / "queue_a_cancel.json"
    events = replay(load_trace(path))
    types = [e.type for e in events]
    assert "queue_caller_abandoned" in types
    assert events[-1].type == "call_ended" and events[-1].outcome == "abandoned"


def test_replay_cli_json_lines():
    out = subprocess.run([sys.executable, "-m", "ctidesk.cli", "replay", "--json",
                          str(FIXTURES / "queue_ivr_answered.ami")],
                         capture_output=True, text=True, check=True, env={**os.environ},
                         cwd=Path(__file__).resolve().parents[2]).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert [r["type"] for r in rows][:4] == ["call_created", "call_updated", "queue_caller_joined", "call_ringing"]
    ringing = rows[3]
    assert ringing["call_id"] == "1795449613.96" and ringing["interface"] == "Local/1001@agents/n"
    assert all("type" in r and "call_id" in r for r in rows)


def test_ringall_two_agents_answered():
    events = replay(load_trace(FIXTURES / "ringall_two_agents_answered.ami"))
    c = "1795451382.0"
    assert of_call(events, c) == [
        ("call_created", c, None, None),
        ("call_updated", c, "13912345678", "Li Si"),
        ("queue_caller_joined", c, "support", "13912345678", "Li Si"),
        ("call_ringing", c, "Agent 1002", "support", "13912345678", "Li Si"),
        ("call_ringing", c, "Agent 1001", "support", "13912345678", "Li Si"),
        ("queue_caller_left", c, "support"),
        ("recording_started", c, "Agent 1001"),
        ("call_answered", c, "Agent 1001", "support"),
        ("recording_stopped", c, "Agent 1001"),
        ("call_ended", c, "Agent 1001", "support", "answered"),
    ]
    answered = next(e for e in events if e.type == "call_answered")
    assert answered.hold_time_s == 2


def test_unknown_caller_abandoned():
    events = replay(load_trace(FIXTURES / "unknown_caller_abandoned.ami"))
    c = "1795451394.6"
    assert of_call(events, c) == [
        ("call_created", c, None, None),
        ("call_updated", c, "02155550123", None),
        ("queue_caller_joined", c, "support", "02155550123", None),
        ("call_ringing", c, "Agent 1001", "support", "02155550123", None),
        ("queue_caller_abandoned", c, "support"),
        ("queue_caller_left", c, "support"),
        ("call_ended", c, None, "support", "abandoned"),
    ]


def test_direct_dial_pops_a_known_agent_device():
    data = load_trace(FIXTURES / "direct_dial_agent.ami")
    c = "1795451405.10"
    events = replay(data, agent_devices={"Local/1001@agents": "alice"})
    assert of_call(events, c) == [
        ("call_created", c, None, None),
        ("call_updated", c, "13700137000", "Wang Wu"),
        ("call_ringing", c, "alice", None, "13700137000", "Wang Wu"),
        ("call_answered", c, "alice", None),
        ("call_ended", c, "alice", None, "answered"),
    ]
    # without accounts, the queue membership seen earlier names the phone's agent
    assert [e.agent for e in replay(data) if e.type == "call_ringing"] == ["Agent 1001"]
    # a phone nobody is known to own rings no screen pop
    unknown = data.replace(b"Event: QueueMemberAdded", b"Event: QueueMemberAddedX")
    assert "call_ringing" not in [e.type for e in replay(unknown)]


def test_hostile_callerid_name_passes_through_as_text():
    events = replay(load_trace(FIXTURES / "hostile_callerid_name.ami"))
    ringing = next(e for e in events if e.type == "call_ringing")
    assert ringing.caller_name == "<img src=x onerror=alert(1)>"
    assert ringing.caller_number == "13800138000"


def test_extra_crlf_between_blocks_loses_nothing():
    """Asterisk 22 sometimes ends a block with three CRLFs (seen in direct_dial_agent)."""
    data = load_trace(FIXTURES / "direct_dial_agent.ami")
    assert b"\r\n\r\n\r\n" in data
    for chunk in (5, 4096):
        out = []
        model = LiveModel(out.append)
        replay(data, chunk=chunk, model=model)
        assert model.handler_errors == 0
    from cti.protocol import FastAMIProtocol
    proto = FastAMIProtocol(lambda n, f: None, frozenset(), lambda e: None)
    proto.connection_made(type("T", (), {"write": lambda s, d: None, "close": lambda s: None})())
    proto.data_received(data)
    assert proto.malformed == 0


def test_asterisk_c_escaped_caller_name_is_unescaped():
    data = (b"Event: Newchannel\r\nChannel: PJSIP/t-00000001\r\nUniqueid: 9.2\r\nLinkedid: 9.2\r\n"
            b"CallerIDNum: 13800138000\r\nCallerIDName: O\\'Brien\\? \\\"boss\\\"\r\n\r\n")
    assert replay(data)[0].caller_name == "O'Brien? \"boss\""


def test_member_with_unknown_device_state_is_available():
    """A freshly started Asterisk reports Local devices as Status 0 (unknown); app_queue rings them."""
    data = (b"Event: QueueMemberAdded\r\nQueue: support\r\nMemberName: alice\r\nInterface: Local/1001@agents/n\r\n"
            b"StateInterface: Local/1001@agents\r\nStatus: 0\r\nPaused: 0\r\nPausedReason: \r\n\r\n")
    assert [e.state for e in replay(data)] == ["available"]
