"""Agents' SIP desk phones against the real sandbox Asterisk (issue 11).

The phone is baresip (``sandbox.baresip``): a SIP user agent nobody here
wrote, registering over UDP on loopback as the agent's extension with the
password ``ctidesk user add --phone sip`` printed once. It auto-answers and
"speaks" a steady 1 kHz tone, so the call's recording must hold that tone.
"""
from __future__ import annotations

import io
import json
import math
import random
import re
import sqlite3

import httpx
import pytest
from pydub import AudioSegment

from accounts.phones import ha1
from cti.oneshot import ami_action_list, ami_command
from sandbox.baresip import Baresip, available
from tests.realenv import call, until, wait_no_channels

pytestmark = pytest.mark.asterisk

REALM = "ctidesk"
TONE_HZ = 1000.0


@pytest.fixture
def phones(tmp_path):
    """Start baresip phones; every one is stopped (by its own pid) at the end."""
    reason = available()
    if reason:
        pytest.fail(f"{reason}: the SIP phone tests did NOT run", pytrace=False)
    started: list[Baresip] = []

    async def start(name: str, user: str, password: str, **kw) -> Baresip:
        phone = Baresip(tmp_path / f"baresip-{name}", user=user, password=password, **kw)
        started.append(phone)
        return await phone.start()
    try:
        yield start
    finally:
        for phone in started:
            phone.stop()


def number() -> str:
    return "136" + "".join(random.choice("0123456789") for _ in range(8))


def sip_password(result) -> str:
    found = re.search(r"realm \S+, password (\S+)", result.stdout)
    assert found, f"`ctidesk user add --phone sip` printed no password: {result.stdout!r}"
    return found.group(1)


async def contacts(ami, aor: str) -> list[str]:
    """The aor's registered contact URIs as Asterisk lists them (``pjsip show contacts``)."""
    out = await ami_command(ami, "pjsip show contacts", timeout=5)
    return re.findall(rf"Contact:\s+{aor}/(sip:\S+)", out)


async def contact_rows(ami, aor: str) -> list[dict]:
    """The same from AMI ``PJSIPShowContacts`` (call it only when there are contacts:
    with none, Asterisk answers an error that a list request waits past)."""
    rows = await ami_action_list(ami, {"Action": "PJSIPShowContacts"}, timeout=10)
    return [r for r in rows if r.get("Event") == "ContactList"
            and (r.get("Endpoint") == aor or (r.get("ObjectName") or "").startswith(aor + ";"))]


def goertzel_power(samples, rate: int, hz: float) -> float:
    """Power of one frequency in ``samples`` (normalised by length)."""
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / len(samples) ** 2


def tone_share(segment: AudioSegment, hz: float) -> tuple[float, float]:
    """(share of the segment's energy at ``hz`` ±1 bin, strongest of the other probe frequencies / it)."""
    seg = segment.set_channels(1)
    samples = [float(x) for x in seg.get_array_of_samples()]
    rate = seg.frame_rate
    total = sum(x * x for x in samples) / len(samples)
    at = goertzel_power(samples, rate, hz)
    # a pure sine of amplitude A: Goertzel power A^2/4, mean square A^2/2 -> share 0.5
    share = 2 * at / total if total else 0.0
    others = max(goertzel_power(samples, rate, f) for f in (300, 440, 600, 800, 1200, 1500, 2000, 3000))
    return share, others / at if at else math.inf


def audit_rows(server, action: str) -> list[dict]:
    with sqlite3.connect(server.state_dir / "real.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(
            "SELECT actor, action, target, ip, detail FROM audit_log WHERE action = ? ORDER BY id", (action,))]


async def stored_recording(client, call_id: str, timeout: float = 40) -> dict:
    async def get():
        items = (await client.get("/api/v1/recordings", call_id=call_id)).json()["items"]
        done = [i for i in items if i["status"] in ("stored", "failed", "missing")]
        return done[0] if done else None
    rec = await until(get, f"a finished recording of call {call_id}", timeout)
    assert rec["status"] == "stored", rec
    return rec


async def test_baresip_desk_phone_registers_answers_a_trunk_call_and_its_audio_is_recorded(server, ami, phones):
    password = sip_password(server.add_user("dave", extension="1004", queues="support", phone="sip"))
    phone = await phones("dave", "1004", password, tone_hz=TONE_HZ)
    await phone.wait_event("REGISTER_OK", timeout=15)

    (uri,) = await until(lambda: contacts(ami, "1004"), "baresip's contact in Asterisk")
    # baresip's contact user is its own (``1004-0x...``); the address is the phone's listener
    assert re.match(rf"sip:1004[^@]*@127\.0\.0\.1:{phone.sip_port}\b", uri), uri
    (row,) = await contact_rows(ami, "1004")
    assert f"@127.0.0.1:{phone.sip_port}" in row["Uri"] and "baresip" in row.get("UserAgent", ""), row

    dave = await server.desk("dave")  # joins `support` with his SIP phone's endpoint
    members = [r for r in await ami_action_list(ami, {"Action": "QueueStatus", "Queue": "support"}, timeout=10)
               if r.get("Event") == "QueueMember"]
    assert [(m.get("Name"), m.get("Location")) for m in members] == [("dave", "PJSIP/1004")], members
    caller = number()
    await call(ami, caller, name="Trunk Caller", hold=12)  # over the SIP trunk from the simulated carrier
    pop = await dave.next_of("screen_pop", timeout=25)
    assert pop["call"]["caller_number"] == caller and pop["call"]["queue"] == "support"
    # auto-answer: baresip goes straight to established (no CALL_INCOMING event), with the caller shown
    established = await phone.wait_event("CALL_ESTABLISHED", timeout=10)
    assert f"sip:{caller}@" in established.data.get("peeruri", ""), established.data
    assert established.data.get("direction", "incoming") == "incoming", established.data
    answered = await dave.next_of("call_answered", timeout=15)
    assert answered["call_id"] == pop["call"]["id"] and answered["agent"] == "dave"
    ended = await dave.next_of("call_ended", timeout=40)
    assert ended["outcome"] == "answered"
    await phone.wait_event("CALL_CLOSED", timeout=10)

    rec = await stored_recording(dave, pop["call"]["id"])
    assert rec["agent"] == "dave" and rec["duration_s"] >= 3, rec
    play = (await dave.post(f"/api/v1/recordings/{rec['id']}/play")).json()
    async with httpx.AsyncClient(base_url=dave.base_url, timeout=10) as http:
        wav = await http.get(play["url"], headers=dave.headers)
    assert wav.status_code == 200, wav.text[:200]
    audio = AudioSegment.from_file(io.BytesIO(wav.content), format="wav")
    middle = audio[1000:-1000]
    assert len(middle) >= 1000
    # audio, not silence: the phone's tone is about -12 dBFS (a 0.35 full-scale sine)
    assert middle.dBFS > -30, middle.dBFS
    share, others = tone_share(middle, TONE_HZ)
    assert share > 0.3 and others < 0.05, (share, others)  # most of it is the phone's 1 kHz tone
    await dave.close(leave_queues=True)
    await wait_no_channels(ami)


async def test_wrong_sip_password_is_refused_and_audited_with_its_source(server, ami, phones):
    sip_password(server.add_user("erin", extension="1005", queues="support", phone="sip"))
    phone = await phones("erin-wrong", "1005", "not-the-password", regint=600)
    failed = await phone.wait_event("REGISTER_FAIL", "REGISTER_OK", timeout=20)
    assert failed.type == "REGISTER_FAIL", failed
    assert not await contacts(ami, "1005")

    async def audited():
        rows = [r for r in audit_rows(server, "sip.auth_failed") if r["actor"] == "1005"]
        return rows or None
    rows = await until(audited, "an audit row for the refused REGISTER", 15)
    row = rows[0]
    detail = json.loads(row["detail"])
    assert (row["target"], row["ip"], detail["port"], detail["transport"], detail["service"]) == (
        "1005", "127.0.0.1", phone.sip_port, "UDP", "PJSIP"), row
    assert detail["reason"] == "wrong_password"
    log = server.log.read_text(errors="replace")
    assert f"from 127.0.0.1:{phone.sip_port}" in log  # and logged, with its source
    assert "not-the-password" not in log


async def test_agent_gets_only_their_own_sip_credentials(server):
    pw_dave = sip_password(server.add_user("dave", extension="1004", queues="support", phone="sip"))
    sip_password(server.add_user("erin", extension="1005", queues="support", phone="sip"))
    dave = await server.desk("dave", join_queues=False)
    mine = await dave.get("/api/v1/agents/dave/phone")
    assert mine.status_code == 200, mine.text
    assert mine.json()["ha1"] == ha1("1004", REALM, pw_dave)
    theirs = await dave.get("/api/v1/agents/erin/phone")
    assert theirs.status_code == 403 and "ha1" not in theirs.text
    await dave.close()
