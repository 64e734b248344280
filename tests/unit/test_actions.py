"""The one AMI action layer: one error mapping, the model's one "which leg" rule,
and no AMI action dict built outside cti/ (issue 12.2)."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from cti.actions import Actions, AsteriskRefused, PhoneSystemUnavailable
from cti.bridge import AMIError
from cti.model import LiveModel
from cti.protocol import AMIConnectionLost

ROOT = Path(__file__).resolve().parents[2]


class FakeBridge:
    def __init__(self, answer=None, error=None, connected=True):
        self.answer, self.error, self.connected = answer, error, connected
        self.sent: list[dict] = []

    async def action(self, action, timeout=10.0):
        self.sent.append(action)
        if self.error is not None:
            raise self.error
        return self.answer or {"Response": "Success"}


async def test_errors_map_once():
    bridge = FakeBridge(error=AMIError("Unable to add interface: Already there"))
    actions = Actions(lambda: bridge)
    await actions.queue_add(queue="support", interface="PJSIP/1001", member_name="alice",
                            state_interface="PJSIP/1001")  # "already there" is done, not an error
    assert bridge.sent[0]["Action"] == "QueueAdd" and bridge.sent[0]["MemberName"] == "alice"
    bridge.error = AMIError("Interface not found")
    with pytest.raises(AsteriskRefused) as refused:
        await actions.queue_pause(queue="support", interface="PJSIP/1001", paused=True, reason="meal")
    assert refused.value.status == 502 and "QueuePause" in refused.value.message
    for error in (AMIConnectionLost("gone"), asyncio.TimeoutError()):
        bridge.error = error
        with pytest.raises(PhoneSystemUnavailable) as lost:
            await actions.originate(channel="PJSIP/1001", context="ctidesk-outbound", exten="13800138000",
                                    caller_id="<1001>")
        assert lost.value.status == 503 and "check before trying again" in lost.value.message
    with pytest.raises(PhoneSystemUnavailable, match="not connected"):
        await Actions(lambda: None).mixmonitor_stop(channel="PJSIP/1001-1")
    assert not Actions(lambda: FakeBridge(connected=False)).connected


async def test_getvar_and_attended_transfer_fallback():
    bridge = FakeBridge(answer={"Response": "Success", "Value": "/var/spool/x.wav"})
    actions = Actions(lambda: bridge)
    assert await actions.getvar(channel="PJSIP/1001-1", variable="MIXMONITOR_FILENAME") == "/var/spool/x.wav"
    calls = []

    class NoCode(FakeBridge):
        async def action(self, action, timeout=10.0):
            calls.append(action["Action"])
            if action["Action"] == "Atxfer" and calls.count("Atxfer") == 1:
                raise AMIError("No feature code for atxfer")
            return {"Response": "Success"}

    await Actions(lambda: NoCode()).attended_transfer(channel="PJSIP/1001-1", context="ctidesk-xfer", exten="1003")
    assert calls == ["Atxfer", "Setvar", "Atxfer"]


def test_one_rule_for_the_agents_leg():
    model = LiveModel(lambda e: None)
    events = [
        ("Newchannel", {"Uniqueid": "1.1", "Linkedid": "1.1", "Channel": "PJSIP/carrier-00000001",
                        "CallerIDNum": "13800138000", "Exten": "4000", "Timestamp": "100.0"}),
        ("Newchannel", {"Uniqueid": "1.2", "Linkedid": "1.1", "Channel": "Local/1001@agents-00000001;1",
                        "Timestamp": "101.0"}),
        ("Newchannel", {"Uniqueid": "1.3", "Linkedid": "1.1", "Channel": "Local/1001@agents-00000001;2",
                        "Timestamp": "101.0"}),
        ("QueueMemberAdded", {"Queue": "support", "Interface": "Local/1001@agents/n", "MemberName": "alice",
                              "Status": "1", "Paused": "0"}),
        ("QueueMemberAdded", {"Queue": "sales", "Interface": "Local/1001@agents/n", "MemberName": "alice",
                              "Status": "1", "Paused": "0"}),
        ("AgentConnect", {"Uniqueid": "1.1", "Linkedid": "1.1", "Queue": "support", "MemberName": "alice",
                          "Interface": "Local/1001@agents/n", "HoldTime": "2", "Timestamp": "103.0"}),
    ]
    for name, fields in events:
        model.handle(name, fields)
    device = "Local/1001@agents"
    call = model.answered_call_of(device)
    assert call is not None and call.id == "1.1"
    assert model.agent_leg(call, device) == "Local/1001@agents-00000001;1"  # bridged with the caller
    assert model.caller_leg(call, device) == "PJSIP/carrier-00000001"
    assert model.member_queues("Local/1001@agents/n") == ["sales", "support"]
    assert model.answered_call_of("PJSIP/1002") is None
    assert model.answered_call_of(device, call_id="9.9") is None


def test_no_ami_action_dict_outside_cti():
    """Only cti/ speaks AMI (the sandbox's own tooling aside: it drives the sandbox, not calls)."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("cti", "sandbox", "tests", "bench", "tools", ".venv", "build"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"""["']Action["']\s*:""", line):
                offenders.append(f"{rel}:{n}")
    assert not offenders, f"AMI action dicts outside cti/: {offenders}"
