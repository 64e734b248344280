"""The recordings service and API without Asterisk: events out of order, the
IVR's voicemail contract, crash recovery, reconcile, access, Range, audit."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select

from accounts.models import AuditLog
from cti import events as ev
from cti.models import CallRecord
from recordings.models import Recording
from recordings.service import RecordingService
from tests.factories import bearer, make_app, quick_user
from tests.unit.test_recordings_ingest import age, write_wav, zero_header_sizes
from tests.live import until as wait_for


@pytest.fixture
async def app(tmp_path):
    app = await make_app(tmp_path, asterisk_fs_root=tmp_path / "ast", recordings_settle_s=0.3,
                         recordings_scan_interval_s=0.2)
    (tmp_path / "ast" / "var" / "spool" / "asterisk" / "monitor").mkdir(parents=True)
    yield app
    await app.state.container.engine.dispose()


@pytest.fixture
async def service(app):
    svc = RecordingService(app.state.container)
    app.state.container.recordings = svc
    svc.start()
    yield svc
    await svc.stop()


def spool(app):
    return app.state.container.settings.host_path("/var/spool/asterisk/monitor")


async def rows(app, **where) -> list[Recording]:
    async with app.state.container.sessionmaker() as db:
        q = select(Recording).order_by(Recording.id)
        for k, v in where.items():
            q = q.where(getattr(Recording, k) == v)
        return list((await db.execute(q)).scalars())


async def stored(app, call_id: str) -> Recording:
    async def get():
        found = await rows(app, call_id=call_id)
        return found[0] if found and found[0].status not in ("recording", "pending") else None
    return await wait_for(get, f"a finished recording of {call_id}")


async def test_recording_before_its_call_row_is_filled_when_the_call_appears(app, service):
    now = time.time()
    service(ev.RecordingStarted("c1", now, "u1", "Local/1001@agents-0001;1", None))
    await wait_for(lambda: rows(app, call_id="c1"), "the row")
    (r,) = await rows(app, call_id="c1")
    assert (r.status, r.kind, r.agent_username) == ("recording", "full", None)
    write_wav(spool(app) / "c1.wav", 1.2)
    service(ev.RecordingStopped("c1", now + 2, "", "", None))
    rec = await stored(app, "c1")
    assert (rec.status, rec.duration_ms) == ("stored", 1200)
    assert not (spool(app) / "c1.wav").exists()
    # the call row lands afterwards (the call writer is asynchronous)
    async with app.state.container.sessionmaker() as db:
        db.add(CallRecord(call_id="c1", agent_username="alice", caller_number_raw="13800138000",
                          caller_number="+8613800138000", called_number="4000"))
        await db.commit()
    service(ev.CallEnded("c1", now + 3, "answered", None, "alice", "support"))
    await wait_for(lambda: rows(app, call_id="c1", agent_username="alice"), "metadata from the call row")
    (r,) = await rows(app, call_id="c1")
    assert (r.caller_number, r.caller_number_raw, r.called_number_raw) == ("+8613800138000", "13800138000", "4000")


async def test_pause_and_resume_are_recorded_as_intervals(app, service):
    t = time.time()
    service(ev.RecordingStarted("c2", t, "u2", "PJSIP/1001-1", "alice"))
    service(ev.RecordingPaused("c2", t + 2, "u2", "PJSIP/1001-1", "alice"))
    service(ev.RecordingResumed("c2", t + 5.5, "u2", "PJSIP/1001-1", "alice"))
    service(ev.RecordingPaused("c2", t + 7, "u2", "PJSIP/1001-1", "alice"))
    write_wav(spool(app) / "c2.wav", 9)
    service(ev.CallEnded("c2", t + 9, "answered", None, "alice", None))  # ends while paused
    rec = await stored(app, "c2")
    pauses = json.loads(rec.pauses)
    assert [[round(a, 1), round(b, 1)] for a, b in pauses] == [[2.0, 5.5], [7.0, 9.0]]


async def test_ivr_voicemail_contract_pending_row_and_kick(app, service):
    path = spool(app).parent / "vm-1.wav"
    write_wav(path, 3)
    async with app.state.container.sessionmaker() as db:
        db.add(Recording(kind="voicemail", status="pending", source_path=str(path), call_id="vm1",
                         caller_number_raw="13800138000", caller_number="+8613800138000",
                         started_at=datetime.now(timezone.utc), intent="complaint"))
        await db.commit()
    app.state.container.recordings.kick()
    rec = await stored(app, "vm1")
    assert (rec.status, rec.duration_ms, rec.kind) == ("stored", 3000, "voicemail")
    assert (app.state.container.settings.effective_recordings_dir / rec.storage_path).exists()


async def test_empty_and_truncated_files_fail_with_the_reason_and_are_kept(app, service):
    (spool(app) / "e1.wav").write_bytes(b"")
    bad = spool(app) / "t1.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    for call_id in ("e1", "t1"):
        service(ev.RecordingStarted(call_id, time.time(), call_id, "PJSIP/1-1", None))
        service(ev.RecordingStopped(call_id, time.time(), "", "", None))
    empty, trunc = await stored(app, "e1"), await stored(app, "t1")
    assert empty.status == "failed" and "empty" in empty.error
    assert trunc.status == "failed" and "truncated" in trunc.error
    root = app.state.container.settings.effective_recordings_dir
    assert (root / trunc.storage_path).read_bytes() == b"RIFF\x00\x00"  # kept as evidence


async def test_a_file_that_never_appears_is_missing_not_pending_forever(app, service):
    service(ev.RecordingStarted("m1", time.time(), "m1", "PJSIP/1-1", None))
    service(ev.RecordingStopped("m1", time.time(), "", "", None))
    rec = await stored(app, "m1")
    assert rec.status == "missing" and "never appeared" in rec.error


async def test_crash_recovery_rows_recording_of_ended_calls_and_files_without_rows(app):
    # our process died: a row still "recording" (its call ended while we were down),
    # and a file whose row was never written, with a header Asterisk never finished
    write_wav(spool(app) / "gone.wav", 2)
    orphan = spool(app) / "orphan.wav"
    write_wav(orphan, 1.5)
    zero_header_sizes(orphan)
    age(orphan)
    async with app.state.container.sessionmaker() as db:
        db.add(Recording(call_id="gone", kind="full", status="recording", source_path=str(spool(app) / "gone.wav"),
                         started_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
        db.add(CallRecord(call_id="orphan", agent_username="bob", caller_number_raw="13900000000",
                          caller_number="+8613900000000"))
        await db.commit()
    svc = RecordingService(app.state.container)
    svc.start()
    try:
        assert await svc.recover(live_call_ids=set()) == 1
        gone, adopted = await stored(app, "gone"), await stored(app, "orphan")
    finally:
        await svc.stop()
    assert gone.status == "stored" and gone.duration_ms == 2000
    assert adopted.status == "stored" and adopted.duration_ms == 1500 and adopted.agent_username == "bob"
    assert adopted.caller_number == "+8613900000000" and "header repaired" in adopted.error
    assert svc.last_reconcile["adopted"] == [{"file": "orphan.wav", "call_id": "orphan", "kind": "full"}]


# -- API ----------------------------------------------------------------------------

@pytest.fixture
async def people(app):
    async with app.state.container.sessionmaker() as db:
        alice = await quick_user(db, "alice", "agent")
        bob = await quick_user(db, "bob", "agent")
        sam = await quick_user(db, "sam", "supervisor")
    s = app.state.container.settings
    return {"alice": bearer(s, alice), "bob": bearer(s, bob), "sam": bearer(s, sam)}


@pytest.fixture
async def a_recording(app, service):
    # In Asterisk's order: the recording starts (its row), then the file is written.
    # A file written first, on a loaded machine, can be older than the 0.3 s
    # settle time at the next scan and be adopted as an orphan instead.
    service(ev.RecordingStarted("api1", time.time(), "api1", "PJSIP/1001-1", "alice"))
    await wait_for(lambda: rows(app, call_id="api1"), "the recording's row")
    write_wav(spool(app) / "api1.wav", 2)
    service(ev.RecordingStopped("api1", time.time(), "", "", "alice"))
    rec = await stored(app, "api1")
    assert rec.status == "stored"
    return rec


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_agents_see_only_their_own_recordings(client, people, a_recording):
    rid = a_recording.id
    assert (await client.get(f"/api/v1/recordings/{rid}", headers=people["alice"])).status_code == 200
    assert (await client.get(f"/api/v1/recordings/{rid}", headers=people["bob"])).status_code == 404
    assert (await client.get(f"/api/v1/recordings/{rid}/audio", headers=people["bob"])).status_code == 404
    assert (await client.get("/api/v1/recordings", headers=people["bob"])).json()["items"] == []
    r = await client.get("/api/v1/recordings", params={"agent": "alice"}, headers=people["bob"])
    assert r.status_code == 403
    assert [i["id"] for i in (await client.get("/api/v1/recordings", headers=people["sam"])).json()["items"]] == [rid]
    assert (await client.get("/api/v1/recordings")).status_code == 401
    assert (await client.get(f"/api/v1/recordings/{rid}/audio")).status_code == 401


async def test_audio_range_and_play_links_are_audited(app, client, people, a_recording):
    rid, size = a_recording.id, a_recording.size_bytes
    h = people["alice"]
    r = await client.get(f"/api/v1/recordings/{rid}/audio", headers={**h, "Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content[:4] == b"RIFF" and r.headers["content-range"] == f"bytes 0-9/{size}"
    r = await client.get(f"/api/v1/recordings/{rid}/audio", headers={**h, "Range": "bytes=99999999-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
    play = (await client.post(f"/api/v1/recordings/{rid}/play", headers=h)).json()
    r = await client.get(play["url"])  # no bearer: the audio element's request
    assert r.status_code == 200 and len(r.content) == size
    assert (await client.get(play["url"].replace(f"/{rid}/", "/999/"))).status_code == 401
    assert (await client.get(f"/api/v1/recordings/{rid}/audio?t=forged")).status_code == 401
    async with app.state.container.sessionmaker() as db:
        actions = [(a.actor, a.action, a.target) for a in (await db.execute(select(AuditLog))).scalars()]
    assert ("alice", "recording.play", str(rid)) in actions and ("alice", "recording.fetch", str(rid)) in actions
    peaks = (await client.get(f"/api/v1/recordings/{rid}/peaks", headers=h)).json()
    assert peaks["peaks"] and max(peaks["peaks"]) > 0.2


async def test_audio_ranges_download_and_which_fetches_are_audited(app, client, people, a_recording):
    rid, size = a_recording.id, a_recording.size_bytes
    url, h = f"/api/v1/recordings/{rid}/audio", people["alice"]
    whole = await client.get(url, headers=h)
    assert whole.status_code == 200 and len(whole.content) == size
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["cache-control"] == "private, no-store"
    assert "content-disposition" not in whole.headers
    for header, first, last in (("bytes=0-99", 0, 99), (f"bytes={size - 100}-", size - 100, size - 1),
                                ("bytes=-100", size - 100, size - 1), (f"bytes=10-{size + 5000}", 10, size - 1),
                                (f"bytes=-{size + 5000}", 0, size - 1)):
        r = await client.get(url, headers={**h, "Range": header})
        assert r.status_code == 206, header
        assert r.headers["content-range"] == f"bytes {first}-{last}/{size}", header
        assert r.content == whole.content[first:last + 1], header
        assert r.headers["cache-control"] == "private, no-store", header
    for header in (f"bytes={size}-", "bytes=-0"):
        r = await client.get(url, headers={**h, "Range": header})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}", header
    r = await client.get(url, params={"download": 1}, headers=h)
    assert r.status_code == 200 and r.headers["content-disposition"] == f'attachment; filename="recording-{rid}.wav"'
    async with app.state.container.sessionmaker() as db:
        actions = [a.action for a in (await db.execute(select(AuditLog).where(AuditLog.target == str(rid))))
                   .scalars()]
    # the whole file, bytes=0-99 and the suffix longer than the file, the download; not the seeks
    assert actions.count("recording.fetch") == 3 and actions.count("recording.download") == 1, actions
    play = (await client.post(f"/api/v1/recordings/{rid}/play", headers=h)).json()
    r = await client.get(play["url"], headers={"Range": "bytes=0-9"})  # signed link: audited once, as the play
    assert r.status_code == 206 and r.headers["cache-control"] == "private, no-store"


async def test_a_file_gone_from_storage_answers_410(app, client, people, a_recording):
    root = app.state.container.settings.effective_recordings_dir
    (root / a_recording.storage_path).unlink()
    r = await client.get(f"/api/v1/recordings/{a_recording.id}/audio", headers=people["sam"])
    assert r.status_code == 410 and "reconcile" in r.json()["detail"]


async def test_control_without_the_phone_system_says_so(client, people):
    r = await client.post("/api/v1/recordings/control", json={"action": "start"}, headers=people["alice"])
    assert r.status_code == 503 and "not connected" in r.json()["detail"]


async def test_a_storage_path_outside_the_recordings_dir_is_never_served(app, client, people, a_recording):
    async with app.state.container.sessionmaker() as db:
        rec = await db.get(Recording, a_recording.id)
        rec.storage_path = "../../../etc/passwd"
        await db.commit()
    r = await client.get(f"/api/v1/recordings/{a_recording.id}/audio", headers=people["sam"])
    assert r.status_code == 409 and "outside" in r.json()["detail"]


async def test_search_rejects_bad_input_with_specific_messages(client, people):
    h = people["sam"]
    cases = [({"from": "2026-11-23T08:00:00"}, "time zone"), ({"kind": "x"}, "kind"), ({"sort": "name"}, "sort"),
             ({"status": "nope"}, "status"), ({"number": "abc"}, "digits"),
             ({"min_duration": 9, "max_duration": 1}, "min_duration")]
    for params, word in cases:
        r = await client.get("/api/v1/recordings", params=params, headers=h)
        assert r.status_code == 422 and word in json.dumps(r.json()), (params, r.text)


async def test_edit_description_tags_and_legal_hold(client, people, a_recording):
    url = f"/api/v1/recordings/{a_recording.id}"
    r = await client.patch(url, json={"description": "客户 wants refund", "tags": ["vip", "refund"]},
                           headers=people["alice"])
    assert r.status_code == 200 and r.json()["tags"] == ["vip", "refund"]
    assert (await client.patch(url, json={"tags": ["a,b"]}, headers=people["alice"])).status_code == 422
    assert (await client.patch(url, json={"legal_hold": True}, headers=people["alice"])).status_code == 403
    assert (await client.patch(url, json={"legal_hold": True}, headers=people["sam"])).json()["legal_hold"] is True
    found = await client.get("/api/v1/recordings", params={"q": "refund"}, headers=people["sam"])
    assert [i["id"] for i in found.json()["items"]] == [a_recording.id]


async def test_number_search_whole_beginning_and_end_use_the_indexed_columns(app, client, people):
    async with app.state.container.sessionmaker() as db:
        rec = Recording(kind="full", status="stored", caller_number_raw="138 1234 5678",
                        caller_number="+8613812345678", called_number_raw="4000", called_number="4000")
        db.add(rec)
        await db.commit()
        assert rec.caller_number_rev == "8765432183168+"  # the ORM hook keeps the reversed copy
    h = people["sam"]

    async def ids(**params):
        r = await client.get("/api/v1/recordings", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]
    for params in ({"number": "+86 138 1234 5678"}, {"number": "13812345678"}, {"number": "5678"},
                   {"number": "1381"}, {"caller": "345678"}, {"called": "4000"}, {"number": "400"}):
        assert await ids(**params) == [rec.id], params
    for params in ({"called": "5678"}, {"caller": "4000"}, {"number": "2345"}, {"number": "13900000000"}):
        assert await ids(**params) == [], params
    r = await client.get("/api/v1/recordings", params={"number": "12"}, headers=h)
    assert r.status_code == 422 and "at least 3" in r.text


async def test_a_file_landing_while_serving_without_a_row_is_adopted_by_the_periodic_pass(app, service):
    await wait_for(lambda: asyncio.sleep(0, result=service.last_reconcile is not None), "the start-up reconcile")
    late = spool(app) / "late-call.wav"
    write_wav(late, 1)
    age(late)
    rec = await stored(app, "late-call")
    assert rec.status == "stored" and rec.error.startswith("adopted")


async def test_status_summary_is_for_supervisors(client, people, a_recording):
    r = await client.get("/api/v1/recordings-status", headers=people["sam"])
    assert r.status_code == 200 and r.json()["by_status"] == {"stored": 1}
    assert (await client.get("/api/v1/recordings-status", headers=people["alice"])).status_code == 403


@pytest.mark.parametrize("codec,suffix,mime", [("mp3", ".mp3", "audio/mpeg"), ("opus", ".ogg", "audio/ogg")])
async def test_optional_compression_replaces_the_wav_only_with_a_verified_copy(tmp_path, codec, suffix, mime):
    app = await make_app(tmp_path, asterisk_fs_root=tmp_path / "ast", recordings_settle_s=0.3,
                         recordings_compress=codec)
    (tmp_path / "ast" / "var" / "spool" / "asterisk" / "monitor").mkdir(parents=True)
    svc = RecordingService(app.state.container)
    app.state.container.recordings = svc
    svc.start()
    try:
        svc(ev.RecordingStarted("z1", time.time(), "z1", "PJSIP/1-1", None))  # row first, as in Asterisk
        await wait_for(lambda: rows(app, call_id="z1"), "the recording's row")
        write_wav(spool(app) / "z1.wav", 3)
        svc(ev.RecordingStopped("z1", time.time(), "", "", None))

        async def compressed():
            found = await rows(app, call_id="z1")
            return found[0] if found and found[0].format == codec else None
        rec = await wait_for(compressed, f"the {codec} copy", 30)
        root = app.state.container.settings.effective_recordings_dir
        assert rec.status == "stored" and rec.storage_path.endswith(suffix) and rec.duration_ms == 3000
        assert (root / rec.storage_path).stat().st_size == rec.size_bytes
        # The original goes after the row moved to the copy (a crash in between leaves
        # an orphan file, never a row without its audio): wait for that step too.
        original = (root / rec.storage_path).with_suffix(".wav")
        await wait_for(lambda: not original.exists(), "the original .wav removed after the row moved")
        async with app.state.container.sessionmaker() as db:
            sam = await quick_user(db, "sam", "supervisor")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            r = await c.get(f"/api/v1/recordings/{rec.id}/audio", headers={**bearer(app.state.container.settings, sam),
                                                                              "Range": "bytes=0-99"})
            assert r.status_code == 206 and r.headers["content-type"] == mime and len(r.content) == 100
            peaks = await c.get(f"/api/v1/recordings/{rec.id}/peaks", headers=bearer(app.state.container.settings, sam))
            assert peaks.status_code == 200 and peaks.json()["peaks"]
    finally:
        await svc.stop()
        await app.state.container.engine.dispose()
