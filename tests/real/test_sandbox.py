"""The real sandbox Asterisk 22 (real tier: ``pytest -m asterisk``).

These tests bring the sandbox up (provisioning it if needed, which needs root
and the Debian mirror) and leave it running for the rest of the suite. When
Asterisk cannot be provisioned or started they FAIL with the reason; they never
skip silently.
"""
from __future__ import annotations

import asyncio
import os
import random
import time

import pytest
from click.testing import CliRunner

from cti.oneshot import AmiLoginFailed, AmiUnreachable, ami_action, ami_action_list, ami_ping
from sandbox.calls import place_test_call
from sandbox.cli import call_command, sandbox_group
from tests.realenv import free_port

pytestmark = pytest.mark.asterisk

HOSTILE = "<img src=x onerror=alert(1)>"


# The `sandbox` and `ami` fixtures come from tests/realenv.py (via conftest).


def _number() -> str:
    # a caller number no other test uses at the same time
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


async def _queue_entry(settings, queue: str, number: str, deadline_s: float = 10.0) -> dict | None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        items = await ami_action_list(settings, {"Action": "QueueStatus", "Queue": queue}, timeout=5)
        for item in items:
            if item.get("Event") == "QueueEntry" and item.get("CallerIDNum") == number:
                return item
        await asyncio.sleep(0.2)
    return None


async def _hangup(settings, channel: str) -> None:
    await ami_action(settings, {"Action": "Hangup", "Channel": channel}, timeout=5)


def test_up_is_idempotent(sandbox):
    runner = CliRunner()
    first = runner.invoke(sandbox_group, ["up"], obj=sandbox.settings)
    assert first.exit_code == 0, first.output
    pid = sandbox.pid()
    second = runner.invoke(sandbox_group, ["up"], obj=sandbox.settings)
    assert second.exit_code == 0, second.output
    assert "already running" in second.output and "config unchanged" in second.output
    assert sandbox.pid() == pid


def test_status_reports_version_22(sandbox):
    result = CliRunner().invoke(sandbox_group, ["status"], obj=sandbox.settings)
    assert result.exit_code == 0, result.output
    assert "reachable" in result.output
    assert "version: Asterisk 22" in result.output
    out = sandbox.rx("core show version")
    assert out.startswith("Asterisk 22")


async def test_ami_ping_returns_the_version(ami):
    version = await ami_ping(ami, timeout=5)
    assert version and version.startswith("22")


async def test_timestamps_and_modules(sandbox, ami):
    shown = sandbox.rx("manager show settings")
    assert "127.0.0.1:" in [l for l in shown.splitlines() if "TCP Bindaddress:" in l][0]
    assert [line for line in shown.splitlines() if "Timestamp events:" in line][0].split()[-1] == "Yes"
    for module in ("app_queue.so", "res_agi.so", "app_mixmonitor.so", "func_db.so"):
        resp = await ami_action(ami, {"Action": "ModuleCheck", "Module": module}, timeout=5)
        assert resp["Response"] == "Success", module


async def test_wrong_secret_and_closed_port(ami):
    with pytest.raises(AmiLoginFailed) as info:
        await ami_action(ami.with_(ami_secret="definitely-wrong-secret"), {"Action": "Ping"}, timeout=5)
    assert "definitely-wrong-secret" not in str(info.value)
    with pytest.raises(AmiUnreachable):
        await ami_action(ami.with_(ami_port=free_port()), {"Action": "Ping"}, timeout=3)


def _exposed_sockets(pid: int) -> list[str]:
    """Sockets of ``pid`` a remote host could reach: TCP listeners and UDP
    sockets bound beyond loopback. pjlib (PJSIP) keeps two client UDP sockets
    on the wildcard address at ephemeral ports (>= 32768, chosen by the
    kernel, nothing served on them); a server socket on a fixed port beyond
    loopback is what this catches."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    exposed = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/net/{table}") as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if inode not in inodes:
                    continue
                if table.startswith("tcp") and state != "0A":  # only LISTEN sockets
                    continue
                addr, port = local.split(":")
                if addr in ("0100007F", "00000000000000000000000001000000"):
                    continue
                if table.startswith("udp") and int(port, 16) >= 32768:
                    continue  # a kernel-chosen client port (see the docstring)
                exposed.append(f"{table} {local}")
    return exposed


def test_asterisk_listens_on_loopback_only(sandbox):
    for instance in (sandbox, sandbox.carrier):
        pid = instance.pid()
        assert pid, f"{instance.title} is not running"
        exposed = _exposed_sockets(pid)
        assert not exposed, f"{instance.title} sockets bound beyond loopback: {exposed}"


def test_call_command_reaches_queue_support(sandbox, ami):
    """`ctidesk call` with no --to/--dtmf arrives as a SIP INVITE on the trunk and
    waits in `support` (the IVR falls back without an AGI server)."""
    number = _number()
    result = CliRunner().invoke(call_command, ["--from", number, "--name", "Real Test", "--hold", "8"],
                                obj=sandbox.settings)
    assert result.exit_code == 0, result.output
    assert "Originate: Success" in result.output
    call_id = result.output.split("test call id: ")[1].split()[0]
    entry = asyncio.run(_queue_entry(ami, "support", number))
    assert entry is not None, "the test call never showed up waiting in queue support"
    assert entry["Channel"].startswith("PJSIP/carrier-"), "it came in over the carrier's SIP trunk"
    var = asyncio.run(ami_action(ami, {"Action": "Getvar", "Channel": entry["Channel"],
                                       "Variable": "CTIDESK_TESTCALL"}, timeout=5))
    assert var.get("Value") == call_id
    shown = sandbox.rx("queue show support")
    assert entry["Channel"] in shown
    asyncio.run(_hangup(ami, entry["Channel"]))


async def test_hostile_caller_name_arrives_intact(ami):
    number = _number()
    name = 'x ' + HOSTILE + ' "q" \\ 李四'
    call = await place_test_call(ami, number, name=name, hold=8, via="local")  # SIP: see test_phones_real
    assert call.ok, call.response
    entry = await _queue_entry(ami, "support", number)
    assert entry is not None
    try:
        got = await ami_action(ami, {"Action": "Getvar", "Channel": entry["Channel"],
                                     "Variable": "CALLERID(name)"}, timeout=5)
        assert got.get("Value") == name
        num = await ami_action(ami, {"Action": "Getvar", "Channel": entry["Channel"],
                                     "Variable": "CALLERID(num)"}, timeout=5)
        assert num.get("Value") == number
    finally:
        await _hangup(ami, entry["Channel"])


async def test_phone_settings_in_astdb(sandbox, ami):
    runner = CliRunner()
    result = runner.invoke(sandbox_group, ["phone", "1998", "--answer-delay", "never", "--talk-time", "7"],
                           obj=sandbox.settings)
    assert result.exit_code == 0, result.output
    try:
        got = await ami_action(ami, {"Action": "Command", "Command": "database show simphone/1998"}, timeout=5)
        text = "\n".join(got["Output"]) if isinstance(got.get("Output"), list) else str(got.get("Output"))
        assert "/simphone/1998/answer_delay" in text and "never" in text
        assert "/simphone/1998/talk_time" in text and "7" in text
        bad = runner.invoke(sandbox_group, ["phone", "1998", "--answer-delay", "soon"], obj=sandbox.settings)
        assert bad.exit_code != 0
    finally:
        runner.invoke(sandbox_group, ["phone", "1998", "--reset"], obj=sandbox.settings)


async def test_direct_dial_rings_the_simulated_phone(sandbox, ami):
    """--to 1997 goes to Local/1997@agents (the phone never answers here)."""
    sandbox.set_phone("1997", answer_delay="never")
    number = _number()
    try:
        call = await place_test_call(ami, number, to="1997", hold=6)
        assert call.ok, call.response
        end = time.monotonic() + 10
        ringing = None
        while time.monotonic() < end and not ringing:
            items = await ami_action_list(ami, {"Action": "CoreShowChannels"}, timeout=5)
            ringing = [i for i in items if i.get("Event") == "CoreShowChannel"
                       and i.get("Channel", "").startswith("Local/1997@agents-")]
            await asyncio.sleep(0.2)
        assert ringing, "Local/1997@agents never appeared"
    finally:
        sandbox.set_phone("1997", reset=True)
