"""Recordings against the real sandbox Asterisk: MixMonitor files from real
calls, ingested by our server (a real process), searched, streamed with Range,
paused, and surviving an Asterisk restart and our own crash.

The simulated agent phone plays ``hello-world`` and then, with
``simphone/<ext>/tone`` set, a steady 440 Hz tone for its talk time before it
hangs up: the audio in the recording is known in length and content.
"""
from __future__ import annotations

import asyncio
import io
import random
import sqlite3
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from pydub import AudioSegment
from pydub.silence import detect_nonsilent

from cti.oneshot import ami_action
from sandbox.runner import Sandbox, set_phone
from tests.realenv import call, until, wait_no_channels

pytestmark = pytest.mark.asterisk


def number() -> str:
    return "137" + "".join(random.choice("0123456789") for _ in range(8))


async def tone(ami, ext: str, freq: str = "440") -> None:
    r = await ami_action(ami, {"Action": "DBPut", "Family": "simphone", "Key": f"{ext}/tone", "Val": freq}, timeout=5)
    assert r.get("Response") == "Success", r


def hello_world_s(sandbox) -> float:
    path = sandbox.settings.host_path("/usr/share/asterisk/sounds/en_US_f_Allison/hello-world.wav")
    return len(AudioSegment.from_file(path, format="wav")) / 1000


async def stored_recording(client, call_id: str, timeout: float = 40, kind: str | None = None) -> dict:
    async def get():
        params = {"call_id": call_id}
        if kind:
            params["kind"] = kind
        items = (await client.get("/api/v1/recordings", **params)).json()["items"]
        done = [i for i in items if i["status"] in ("stored", "failed", "missing")]
        return done[0] if done else None
    rec = await until(get, f"a finished recording of call {call_id}", timeout)
    assert rec["status"] == "stored", rec
    return rec


async def fetch(client, path: str, headers: dict | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=client.base_url, timeout=10) as http:
        return await http.get(path, headers={**client.headers, **(headers or {})})


async def patch(client, path: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(base_url=client.base_url, timeout=10) as http:
        return await http.patch(path, json=body, headers=client.headers)


def audit_rows(server, action: str) -> list[tuple]:
    with sqlite3.connect(server.state_dir / "real.db") as db:
        return db.execute("SELECT actor, target FROM audit_log WHERE action = ?", (action,)).fetchall()


async def test_answered_queue_call_is_recorded_measured_searchable_and_seekable(server, ami, sandbox):
    talk = 3
    await set_phone(ami, "1001", answer_delay=1, talk_time=talk)
    await tone(ami, "1001")
    alice = await server.desk("alice")
    bob = await server.desk("bob", join_queues=False)
    sam = await server.desk("sam", join_queues=False)
    caller = number()
    await call(ami, caller, name="Rec Test", hold=30)
    pop = await alice.next_of("screen_pop", timeout=20)
    call_id = pop["call"]["id"]
    started = await alice.next_of("record_state", timeout=20)
    assert started == {**started, "call_id": call_id, "state": "recording"}
    await alice.next_of("call_ended", timeout=30)
    rec = await stored_recording(sam, call_id)
    expected = hello_world_s(sandbox) + talk
    assert abs(rec["duration_s"] - expected) <= 0.3, (rec["duration_s"], expected)
    assert (rec["kind"], rec["agent"], rec["caller_number_normalized"]) == ("full", "alice", "+86" + caller)
    assert len(rec["sha256"]) == 64 and rec["size_bytes"] > 1000

    # the stream: whole file via a play link (what the audio element uses), then Range
    play = await alice.post(f"/api/v1/recordings/{rec['id']}/play")
    assert play.status_code == 200, play.text
    whole = await fetch(alice, play.json()["url"])
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert len(whole.content) == rec["size_bytes"]
    audio = AudioSegment.from_file(io.BytesIO(whole.content), format="wav")
    assert abs(len(audio) / 1000 - rec["duration_s"]) < 0.05
    # what was played is in the file: sound from the start, then a steady tone for the talk time
    assert detect_nonsilent(audio, min_silence_len=200, silence_thresh=-45)[0][0] < 300
    levels = [audio[ms:ms + 100].dBFS for ms in range(len(audio) - talk * 1000 + 200, len(audio) - 200, 100)]
    assert levels and max(levels) - min(levels) < 3 and min(levels) > -30, levels
    size = rec["size_bytes"]
    part = await fetch(alice, play.json()["url"], {"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes 1000-1999/{size}"
    assert part.content == whole.content[1000:2000]
    tail = await fetch(alice, play.json()["url"], {"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == whole.content[-100:]
    bad = await fetch(alice, play.json()["url"], {"Range": f"bytes={size}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{size}"
    assert ("alice", str(rec["id"])) in audit_rows(server, "recording.play")

    # access: bob (another agent) neither finds nor hears it
    assert (await bob.get(f"/api/v1/recordings/{rec['id']}")).status_code == 404
    assert (await bob.get("/api/v1/recordings", call_id=call_id)).json()["items"] == []
    assert (await bob.post(f"/api/v1/recordings/{rec['id']}/play")).status_code == 404
    assert (await fetch(bob, play.json()["url"].split("?")[0])).status_code == 404

    # search finds it by each filter
    r = await patch(alice, f"/api/v1/recordings/{rec['id']}",
                    {"description": "客户投诉 billing dispute", "tags": ["vip"]})
    assert r.status_code == 200, r.text
    ticket = await sam.post("/api/v1/tickets", {"type": "complaint", "customer_id": pop["provisional_customer"]["id"]
                                                if pop.get("provisional_customer") else pop["customer"]["id"],
                                                "description": "recording test", "call_id": call_id})
    assert ticket.status_code == 201, ticket.text
    t0 = datetime.fromisoformat(rec["started_at"])
    filters = [
        {"agent": "alice"}, {"number": caller}, {"number": "+86 " + caller}, {"number": caller[-5:]},
        {"caller": caller[:7]}, {"kind": "full"}, {"q": "billing"}, {"q": "投诉"}, {"q": "vip"},
        {"ticket_id": ticket.json()["id"]},
        {"from": (t0 - timedelta(seconds=1)).isoformat(), "to": (t0 + timedelta(seconds=1)).isoformat()},
        {"min_duration": rec["duration_s"] - 0.5, "max_duration": rec["duration_s"] + 0.5},
    ]
    for f in filters:
        items = (await sam.get("/api/v1/recordings", **f, limit=500)).json()["items"]
        assert rec["id"] in [i["id"] for i in items], f
    for f in ({"number": "99999999"}, {"q": "nothing-like-this"}, {"kind": "voicemail"},
              {"min_duration": rec["duration_s"] + 5}, {"agent": "bob"}):
        items = (await sam.get("/api/v1/recordings", **f, limit=500)).json()["items"]
        assert rec["id"] not in [i["id"] for i in items], f
    detail = (await sam.get(f"/api/v1/recordings/{rec['id']}")).json()
    assert detail["tickets"] == [ticket.json()["id"]]
    for c in (alice, bob, sam):
        await c.close(leave_queues=True)


async def control(client, action: str) -> None:
    r = await client.post("/api/v1/recordings/control", {"action": action})
    assert r.status_code == 202, r.text


async def test_on_demand_recording_with_a_pause_leaves_silence_where_paused(server, ami):
    await set_phone(ami, "1001", answer_delay=1, talk_time=15)
    await tone(ami, "1001")
    alice = await server.desk("alice", join_queues=False)
    await call(ami, number(), name="Card Details", to="1001", hold=30)  # a direct call: no full recording
    answered = await alice.next_of("call_answered", timeout=20)
    call_id = answered["call_id"]
    r = await alice.post("/api/v1/recordings/control", {"action": "pause"})
    assert r.status_code == 409 and "not being recorded" in r.text
    await control(alice, "start")
    await alice.next_of("record_state", timeout=10, state="recording")
    r = await alice.post("/api/v1/recordings/control", {"action": "start"})
    assert r.status_code == 409 and "already" in r.text
    await asyncio.sleep(1.5)  # audio to record before the pause (not synchronisation)
    await control(alice, "pause")
    await alice.next_of("record_state", timeout=10, state="paused")
    await asyncio.sleep(2.0)  # the paused stretch
    await control(alice, "resume")
    await alice.next_of("record_state", timeout=10, state="recording")
    await asyncio.sleep(1.5)  # audio after the pause
    await control(alice, "stop")
    await alice.next_of("record_state", timeout=10, state="off")
    rec = await stored_recording(alice, call_id, kind="on_demand")
    assert rec["agent"] == "alice" and len(rec["pauses"]) == 1
    start, end = rec["pauses"][0]
    assert 1.7 <= end - start <= 2.5, rec["pauses"]
    play = (await alice.post(f"/api/v1/recordings/{rec['id']}/play")).json()
    audio = AudioSegment.from_file(io.BytesIO((await fetch(alice, play["url"])).content), format="wav")
    assert abs(len(audio) / 1000 - rec["duration_s"]) < 0.05
    ms = lambda s: int(s * 1000)  # noqa: E731
    paused = audio[ms(start) + 200:ms(end) - 200]
    assert len(paused) > 1000 and (paused.max == 0 or paused.dBFS < -60), paused.dBFS
    after = audio[ms(end) + 200:ms(end) + 1200]
    assert after.dBFS > -30, after.dBFS  # the tone again once resumed
    before = audio[max(0, ms(start) - 1200):ms(start) - 200]
    assert before.max_dBFS > -30, before.max_dBFS
    await alice.close()
    await wait_no_channels(ami)


async def recording_row(client, call_id: str, status: str, timeout: float = 20) -> dict:
    async def get():
        items = (await client.get("/api/v1/recordings", call_id=call_id)).json()["items"]
        return next((i for i in items if i["status"] == status), None)
    return await until(get, f"a {status} recording of {call_id}", timeout)


async def test_asterisk_restart_mid_recording_keeps_the_recording(server, ami):
    await set_phone(ami, "1001", answer_delay=1, talk_time=120)
    await tone(ami, "1001")
    alice = await server.desk("alice")
    sam = await server.desk("sam", join_queues=False)
    await call(ami, number(), name="Restart Rec", hold=120)
    answered = await alice.next_of("call_answered", timeout=20)
    await recording_row(sam, answered["call_id"], "recording")
    await asyncio.sleep(2)  # two seconds of tone in the file before Asterisk goes away
    await asyncio.to_thread(Sandbox(ami).restart)
    await server.wait_ami(60)
    rec = await stored_recording(sam, answered["call_id"], timeout=60)
    assert rec["duration_s"] >= 2, rec
    play = (await sam.post(f"/api/v1/recordings/{rec['id']}/play")).json()
    audio = AudioSegment.from_file(io.BytesIO((await fetch(sam, play["url"])).content), format="wav")
    assert audio[-1500:-500].dBFS > -30  # the tone up to the end: nothing cut off
    await alice.close()
    await sam.close()


async def test_our_crash_loses_no_recording(server, ami, sandbox):
    """Killed mid-recording (row written, call ends while we are down), and a
    whole call recorded while we are down (the file lands, no row at all)."""
    talk = 2
    await set_phone(ami, "1001", answer_delay=1, talk_time=talk)
    await tone(ami, "1001")
    alice = await server.desk("alice")
    await call(ami, number(), name="Crash One", hold=30)
    answered = await alice.next_of("call_answered", timeout=20)
    server.kill()  # SIGKILL while recording: no shutdown code runs
    await wait_no_channels(ami)
    await call(ami, number(), name="Crash Two", hold=30)  # alice is still a queue member in Asterisk
    await until(lambda: _has_channels(ami), "the second call to start", 10)
    await wait_no_channels(ami)
    server.env["CTIDESK_RECORDINGS_SETTLE_S"] = "1"
    await server.start()
    sam = await server.desk("sam", join_queues=False)
    first = await stored_recording(sam, answered["call_id"], timeout=40)
    expected = hello_world_s(sandbox) + talk
    assert abs(first["duration_s"] - expected) <= 0.3, first

    async def adopted():
        items = (await sam.get("/api/v1/recordings", status="stored", limit=500)).json()["items"]
        return [i for i in items if (i["error"] or "").startswith("adopted")
                and abs(i["duration_s"] - expected) <= 0.3]
    (second,) = (await until(adopted, "the recording made while we were down", 40))[-1:]
    assert second["call_id"] and second["kind"] == "full"
    await sam.close()


async def _has_channels(ami) -> bool:
    from cti.oneshot import ami_command

    return "0 active channels" not in await ami_command(ami, "core show channels count", timeout=5)


async def test_click_to_dial_call_is_recorded_with_the_dialled_number(server, ami):
    await set_phone(ami, "1001", answer_delay=1, talk_time=20)
    alice = await server.desk("alice")
    r = await alice.post("/api/v1/agent/dial", {"number": "+86 135 0000 4444"})
    assert r.status_code == 202, r.text

    async def outbound():
        items = (await alice.get("/api/v1/recordings", called="13500004444")).json()["items"]
        return next((i for i in items if i["status"] == "stored"), None)
    rec = await until(outbound, "the outbound call's recording", 40)
    assert (rec["kind"], rec["agent"], rec["called_number_normalized"]) == ("full", "alice", "+8613500004444")
    # the simulated callee answers after 1 s, plays hello-world and stays 6 s
    assert 6 <= rec["duration_s"] <= 10, rec
    await alice.close(leave_queues=True)
