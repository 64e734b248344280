"""Expert seat transfer (issue 11) against the real sandbox Asterisk.

The 3-way consult (last test): alice consults erin, brings the caller in, then
her phone leaves; the one recording on the caller's channel hears alice's
tone alone, then both tones mixed, then erin's alone.

alice (a simulated phone that answers by itself) takes a trunk call from the
support queue and hands it to erin, an expert on extension 1004, first blind
(AMI BlindTransfer), then attended (AMI Atxfer: erin answers the consult, alice's
phone hangs up, the caller is connected to erin). Each time: erin's desk pops
the same call with the caller and what alice handed over, both desks hear
``call_transferred``, the call row names both agents, and the call has exactly
one recording, whose length is the whole answered call (both legs).
"""
from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from sandbox.runner import set_phone
import io

from pydub import AudioSegment

from tests.real.test_recordings_real import fetch, number, stored_recording, tone, until
from tests.real.test_phones_real import phones  # noqa: F401  (the baresip fixture)
from tests.realenv import call

pytestmark = pytest.mark.asterisk

ERIN = "1004"


async def _setup(server, ami, *, alice_talk: float, erin_talk: float):
    await set_phone(ami, ERIN, reset=True)
    await set_phone(ami, "1001", answer_delay=1, talk_time=alice_talk)
    await set_phone(ami, ERIN, answer_delay=1, talk_time=erin_talk)
    await tone(ami, "1001", "440")
    await tone(ami, ERIN, "660")
    server.add_user("erin", role="expert", extension=ERIN)
    alice = await server.desk("alice")
    erin = await server.desk("erin", join_queues=False)
    sam = await server.desk("sam", join_queues=False)
    return alice, erin, sam


async def _call_row(sam, call_id: str) -> dict:
    seen = {}

    async def done():
        row = seen["row"] = (await sam.get(f"/api/v1/calls/{call_id}")).json()
        return row if row.get("ended_at") and row.get("agents") == ["alice", "erin"] else None
    try:
        return await until(done, f"call {call_id} ended and naming alice then erin", 30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the row: {seen.get('row')}") from None


async def _one_recording_of_the_whole_call(sam, call_id: str, row: dict) -> dict:
    rec = await stored_recording(sam, call_id)
    items = (await sam.get("/api/v1/recordings", call_id=call_id)).json()["items"]
    assert len(items) == 1, items  # one file for both legs
    answered = datetime.fromisoformat(row["answered_at"])
    ended = datetime.fromisoformat(row["ended_at"])
    talk = (ended - answered).total_seconds()
    assert abs(rec["duration_s"] - talk) <= 1.0, (rec["duration_s"], talk)
    # the file's end is the last seat's phone (its steady tone), not silence after alice left
    audio = await _recording_audio(sam, rec)
    levels = [audio[ms:ms + 100].dBFS for ms in range(len(audio) - 3000, len(audio) - 200, 100)]
    assert levels and min(levels) > -30, levels
    return rec


async def _check_pop(erin, alice, call_id: str, caller: str, mode: str, notes: str, draft: dict) -> None:
    pop = await erin.next_of("screen_pop", timeout=20)
    assert pop["call"]["id"] == call_id
    assert pop["call"]["caller_number_normalized"] == "+86" + caller
    assert pop["handoff"]["from_agent"] == "alice" and pop["handoff"]["mode"] == mode
    assert pop["handoff"]["notes"] == notes and pop["handoff"]["draft"] == draft
    assert "customer" in pop and "ivr_path" in pop["call"]
    # erin's phone answers (attended: alice hangs up after the consult): her pop says she has the call
    async def handed_over():
        return next((m for m in erin.of_type("call_answered") if m.get("call_id") == call_id), None)
    answered = await until(handed_over, "call_answered (handed over) on erin's desk", 30)
    assert answered["agent"] == "erin" and answered["handed_over_by"] == "alice"


@pytest.mark.parametrize("mode,alice_talk,erin_talk,talk,notes,draft", [
    ("blind", 40, 5, 2, "Wants an engineer on Friday; E21 again",
     {"type": "repair", "description": "E21 错误, 第三次", "priority": "high"}),
    # attended: alice's phone hangs up ~10 s after answering (hello-world + 9 s); by
    # then erin has answered the consult, so the caller is connected to erin
    ("attended", 9, 12, 1, "Consulted: needs the billing expert",
     {"type": "complaint", "description": "double charge"}),
], ids=["blind", "attended"])
async def test_transfer_to_an_expert(server, ami, sandbox, mode, alice_talk, erin_talk, talk, notes, draft):
    alice, erin, sam = await _setup(server, ami, alice_talk=alice_talk, erin_talk=erin_talk)
    try:
        caller, call_id = await _answered_by_alice(ami, alice, f"{mode.title()} Transfer")
        await asyncio.sleep(talk)  # alice talks to the caller
        r = await alice.post("/api/v1/agent/transfer", {"mode": mode, "target": {"expert": "erin"},
                                                        "notes": notes, "draft": draft})
        assert r.status_code == 202, r.text
        await _check_pop(erin, alice, call_id, caller, mode, notes, draft)
        moved = await until(lambda: _transferred(alice, call_id), "call_transferred on alice's desk", 20)
        assert (moved["from_agent"], moved["to_agent"], moved["mode"]) == ("alice", "erin", mode)
        assert await until(lambda: _transferred(erin, call_id), "call_transferred on erin's desk", 10)
        await erin.next_of("call_ended", timeout=40)
        row = await _call_row(sam, call_id)
        assert row["transferred_from"] == "alice" and row["agent"] == "erin"
        assert [(t["mode"], t["from_agent"], t["to_agent"], t["status"]) for t in row["transfers"]] == [
            (mode, "alice", "erin", "completed")]
        await _one_recording_of_the_whole_call(sam, call_id, row)
        assert (await alice.get(f"/api/v1/calls/{call_id}")).status_code == 200
        assert (await erin.get(f"/api/v1/calls/{call_id}")).status_code == 200
    finally:
        await set_phone(ami, ERIN, reset=True)


async def _answered_by_alice(ami, alice, name: str) -> tuple[str, str]:
    """A trunk call alice's phone answered and the dialplan records: (caller, call id)."""
    caller = number()
    await call(ami, caller, name=name, hold=60)
    pop = await alice.next_of("screen_pop", timeout=20)
    call_id = pop["call"]["id"]
    await alice.next_of("call_answered", timeout=20)
    await until(lambda: _recording_started(alice, call_id), "alice's leg recording", 10)
    return caller, call_id


async def _recording_audio(client, rec: dict):
    play = await client.post(f"/api/v1/recordings/{rec['id']}/play")
    return AudioSegment.from_file(io.BytesIO((await fetch(client, play.json()["url"])).content), format="wav")


async def test_blind_transfer_to_a_queue(server, ami, sandbox):
    """carol (sales) takes it from the queue: her pop has the handoff, no second recording starts."""
    await set_phone(ami, "1003", answer_delay=1, talk_time=5)
    await tone(ami, "1003", "660")
    await set_phone(ami, "1001", answer_delay=1, talk_time=40)
    await tone(ami, "1001", "440")
    alice = await server.desk("alice")
    carol = await server.desk("carol")
    sam = await server.desk("sam", join_queues=False)
    _, call_id = await _answered_by_alice(ami, alice, "Queue Transfer")
    await asyncio.sleep(1)
    r = await alice.post("/api/v1/agent/transfer", {"mode": "blind", "target": {"queue": "sales"},
                                                    "notes": "a sales question"})
    assert r.status_code == 202, r.text
    carol_pop = await carol.next_of("screen_pop", timeout=20)
    assert carol_pop["call"]["id"] == call_id and carol_pop["handoff"]["notes"] == "a sales question"
    assert carol_pop["handoff"]["to_queue"] == "sales"
    moved = await until(lambda: _transferred(alice, call_id), "call_transferred on alice's desk", 10)
    assert (moved["to_queue"], moved["to_agent"]) == ("sales", None)
    await carol.next_of("call_ended", timeout=40)

    async def done():
        row = (await sam.get(f"/api/v1/calls/{call_id}")).json()
        return row if row.get("ended_at") and row.get("agents") == ["alice", "carol"] else None
    row = await until(done, "the call row naming alice then carol", 30)
    await _one_recording_of_the_whole_call(sam, call_id, row)


async def _recording_started(client, call_id: str):
    return any(m.get("call_id") == call_id and m.get("state") == "recording" for m in client.of_type("record_state"))


async def _transferred(client, call_id: str):
    found = [m for m in client.of_type("call_transferred") if m.get("call_id") == call_id]
    return found[-1] if found else None


def _tones(audio, window_ms: int = 250, tones: dict | None = None) -> list[str]:
    """Per window of the recording: which phones are heard, by their steady
    tones: "a" alice's 440 Hz, "e" erin's 660 Hz, "ae" both (a 3-way)."""
    from tests.real.test_phones_real import goertzel_power

    tones = tones or {"a": 440, "e": 660}
    out = []
    mono = audio.set_channels(1)
    for ms in range(0, len(mono) - window_ms, window_ms):
        seg = mono[ms:ms + window_ms]
        samples = [float(x) for x in seg.get_array_of_samples()]
        total = sum(x * x for x in samples) / len(samples)
        if total <= 0:
            out.append("")
            continue
        out.append("".join(mark for mark, hz in tones.items()
                           if 2 * goertzel_power(samples, seg.frame_rate, hz) / total > 0.1))
    return out


def _longest_run(marks: list[str], mark: str) -> int:
    best = run = 0
    for m in marks:
        run = run + 1 if m == mark else 0
        best = max(best, run)
    return best


async def _phone_up(ami, exten: str) -> bool:
    from cti.oneshot import ami_action_list

    rows = await ami_action_list(ami, {"Action": "CoreShowChannels"}, timeout=5)
    return any(r.get("Channel", "").startswith(f"Local/{exten}@agents-") and r.get("ChannelState") == "6"
               for r in rows)


async def test_threeway_consult_with_an_expert(server, ami, sandbox):
    """alice consults erin (attended), brings the caller in (3-way), then leaves:
    the recording hears alice alone, then alice and erin together, then erin alone."""
    alice, erin, sam = await _setup(server, ami, alice_talk=12, erin_talk=20)
    try:
        caller, call_id = await _answered_by_alice(ami, alice, "Three Way")
        r = await alice.post("/api/v1/agent/transfer", {"mode": "attended", "target": {"expert": "erin"},
                                                        "notes": "3-way: the billing expert"})
        assert r.status_code == 202, r.text
        handoff_id = r.json()["handoff_id"]
        erin_pop = await erin.next_of("screen_pop", timeout=20)
        assert erin_pop["call"]["id"] == call_id and erin_pop["handoff"]["mode"] == "attended"
        await until(lambda: _phone_up(ami, ERIN), "erin's phone answered the consult", 20)
        r = await alice.post("/api/v1/agent/transfer/consult", {"action": "threeway"})
        assert r.status_code == 202, r.text
        for desk in (alice, erin):
            moved = await until(lambda d=desk: _transferred(d, call_id), "call_transferred (threeway)", 10)
            assert (moved["mode"], moved["from_agent"], moved["to_agent"], moved["handoff_id"]) == (
                "threeway", "alice", "erin", handoff_id)
        # alice's phone hangs up after its talk time: erin has the caller
        async def handed_over():
            return next((m for m in erin.of_type("call_answered") if m.get("call_id") == call_id), None)
        answered = await until(handed_over, "call_answered (handed over) on erin's desk", 30)
        assert answered["agent"] == "erin" and answered["handed_over_by"] == "alice"
        await erin.next_of("call_ended", timeout=40)
        row = await _call_row(sam, call_id)
        assert row["transferred_from"] == "alice" and row["agent"] == "erin"
        assert [(t["mode"], t["from_agent"], t["to_agent"], t["status"]) for t in row["transfers"]] == [
            ("threeway", "alice", "erin", "completed")]
        rec = await stored_recording(sam, call_id)
        items = (await sam.get("/api/v1/recordings", call_id=call_id)).json()["items"]
        assert len(items) == 1, items
        audio = await _recording_audio(sam, rec)
        marks = _tones(audio)
        seen = " ".join(m or "." for m in marks)  # e.g. ". . a a a ae ae ... ae e e ... e"
        # 250 ms windows: alice alone first, then all three (both tones), then erin alone
        assert _longest_run(marks, "a") >= 2, seen
        assert _longest_run(marks, "ae") >= 12, seen  # >= 3 s of a real 3-way mix
        assert _longest_run(marks, "e") >= 12, seen
        first = {m: marks.index(m) for m in ("a", "ae", "e")}
        assert first["a"] < first["ae"] < max(i for i, m in enumerate(marks) if m == "e"), seen
    finally:
        await set_phone(ami, ERIN, reset=True)


async def test_attended_transfer_between_two_sip_desk_phones(server, ami, sandbox, phones):
    """Real SIP phones on both seats (baresip, auto-answer): dave (1 kHz tone)
    consults erin (660 Hz) and hands over from the desk (``complete``); Asterisk
    hangs up dave's phone, erin's keeps the caller; one recording hears dave,
    then erin."""
    from tests.real.test_phones_real import sip_password

    dave_pw = sip_password(server.add_user("dave", extension="1004", queues="support", phone="sip"))
    erin_pw = sip_password(server.add_user("erin", role="expert", extension="1005", phone="sip"))
    dave_phone = await phones("dave", "1004", dave_pw, tone_hz=1000.0)
    erin_phone = await phones("erin", "1005", erin_pw, tone_hz=660.0)
    await dave_phone.wait_event("REGISTER_OK", timeout=15)
    await erin_phone.wait_event("REGISTER_OK", timeout=15)
    dave = await server.desk("dave")
    erin = await server.desk("erin", join_queues=False)
    sam = await server.desk("sam", join_queues=False)
    caller = number()
    await call(ami, caller, name="SIP Transfer", hold=25)
    pop = await dave.next_of("screen_pop", timeout=25)
    call_id = pop["call"]["id"]
    await dave_phone.wait_event("CALL_ESTABLISHED", timeout=10)
    await until(lambda: _recording_started(dave, call_id), "dave's leg recording", 10)
    await asyncio.sleep(1.5)  # dave talks to the caller
    r = await dave.post("/api/v1/agent/transfer", {"mode": "attended", "target": {"expert": "erin"},
                                                   "notes": "SIP to SIP", "draft": {"type": "consultation"}})
    assert r.status_code == 202, r.text
    erin_pop = await erin.next_of("screen_pop", timeout=20)
    assert erin_pop["call"]["id"] == call_id and erin_pop["handoff"]["notes"] == "SIP to SIP"
    await erin_phone.wait_event("CALL_ESTABLISHED", timeout=15)  # erin's phone answered the consult
    r = await dave.post("/api/v1/agent/transfer/consult", {"action": "complete"})
    assert r.status_code == 202 and r.json()["status"] == "completing", r.text
    moved = await until(lambda: _transferred(dave, call_id), "call_transferred on dave's desk", 15)
    assert (moved["mode"], moved["from_agent"], moved["to_agent"]) == ("attended", "dave", "erin")
    await dave_phone.wait_event("CALL_CLOSED", timeout=15)  # Asterisk hung up dave's leg
    await erin.next_of("call_ended", timeout=40)  # the caller hangs up after its hold time
    await erin_phone.wait_event("CALL_CLOSED", timeout=15)

    async def done():
        row = (await sam.get(f"/api/v1/calls/{call_id}")).json()
        return row if row.get("ended_at") and row.get("agents") == ["dave", "erin"] else None
    row = await until(done, "the call row naming dave then erin", 30)
    assert [(t["mode"], t["to_agent"], t["status"]) for t in row["transfers"]] == [("attended", "erin", "completed")]
    rec = await stored_recording(sam, call_id)
    assert len((await sam.get("/api/v1/recordings", call_id=call_id)).json()["items"]) == 1
    audio = await _recording_audio(sam, rec)
    marks = _tones(audio, tones={"d": 1000, "e": 660})
    seen = " ".join(m or "." for m in marks)
    assert _longest_run(marks, "d") >= 3 and _longest_run(marks, "e") >= 12, seen
    assert marks.index("d") < max(i for i, m in enumerate(marks) if m == "e"), seen
