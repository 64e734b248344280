"""The recordings store's contract, written once and run against both backends:
the local directory and an S3 bucket on moto's S3 server (a real HTTP peer on
loopback, started per module; if it cannot start the tests FAIL). Then the
whole path through the app with S3: ingest from the spool into the bucket,
playback with Range, access, and a failed upload that loses nothing."""
from __future__ import annotations

import base64
import hashlib
import os
import time

import httpx
import pytest

from cti import events as ev
from ctidesk.settings import ConfigError, Settings, load_settings
from recordings import storage as st
from recordings.models import Recording
from recordings.service import RecordingService
from tests.factories import bearer, make_app, quick_user
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server
from tests.unit.test_recordings_ingest import write_wav
from tests.live import until as wait_for

MIB = 1 << 20


@pytest.fixture(scope="module")
def s3():
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """A fresh, empty store of each kind. The S3 one uses S3's smallest part
    size, so files over 5 MiB go up as multipart uploads."""
    if request.param == "local":
        return st.LocalStorage(tmp_path / "store")
    s3 = request.getfixturevalue("s3")
    return st.S3Storage(bucket=s3.new_bucket(), prefix="site1/recordings", endpoint_url=s3.endpoint,
                        region="us-east-1", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                        multipart_threshold=5 * MIB, part_size=5 * MIB)


def a_file(tmp_path, name: str, size: int) -> tuple:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    data = os.urandom(size)
    path.write_bytes(data)
    return path, data


def test_put_stat_ranges_list_delete(store, tmp_path):
    src, data = a_file(tmp_path, "a.wav", 200_000)
    kept = store.put_file(src, "2026/12/03/1.wav")
    assert (kept.size, kept.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert src.exists()  # copied, not moved
    assert store.exists("2026/12/03/1.wav") and store.stat("2026/12/03/1.wav").size == len(data)
    assert store.read_bytes("2026/12/03/1.wav") == data
    for first, last in ((0, 9), (1000, 70_000), (len(data) - 5, len(data) - 1)):
        assert b"".join(store.open_range("2026/12/03/1.wav", first, last)) == data[first:last + 1]
    assert b"".join(store.open_range("2026/12/03/1.wav", 150_000)) == data[150_000:]
    store.put_bytes("2026/12/03/1.wav.peaks.json", b"[0.5]")
    src2, _ = a_file(tmp_path, "b.wav", 10)
    store.put_file(src2, "failed/2.wav")
    assert sorted(store.keys()) == ["2026/12/03/1.wav", "2026/12/03/1.wav.peaks.json", "failed/2.wav"]
    assert list(store.keys("failed/")) == ["failed/2.wav"]
    with store.local_copy("2026/12/03/1.wav") as copy:
        assert copy.read_bytes() == data
    store.delete("2026/12/03/1.wav")
    store.delete("2026/12/03/1.wav")  # deleting what is gone is fine (retention may repeat)
    assert not store.exists("2026/12/03/1.wav")
    assert sorted(store.keys()) == ["2026/12/03/1.wav.peaks.json", "failed/2.wav"]


def test_move_removes_the_source_only_once_stored(store, tmp_path):
    src, data = a_file(tmp_path, "m.wav", 4096)
    kept = store.put_file(src, "x/m.wav", sha256=hashlib.sha256(data).hexdigest(), move=True)
    assert not src.exists() and store.read_bytes("x/m.wav") == data and kept.size == 4096


def test_a_large_file_goes_up_whole_and_verified(store, tmp_path):
    """11 MiB: three parts on S3 (its checksum is then the parts' checksum), one rename locally."""
    src, data = a_file(tmp_path, "big.wav", 11 * MIB + 123)
    kept = store.put_file(src, "big/1.wav", move=True)
    assert kept.sha256 == hashlib.sha256(data).hexdigest() and not src.exists()
    assert store.stat("big/1.wav").size == len(data)
    assert b"".join(store.open_range("big/1.wav", 5 * MIB - 10, 5 * MIB + 10)) == data[5 * MIB - 10:5 * MIB + 11]


def test_a_checksum_mismatch_is_detected_and_nothing_is_kept(store, tmp_path):
    src, data = a_file(tmp_path, "c.wav", 5000)
    with pytest.raises(st.ChecksumMismatch, match="expected " + "0" * 64):
        store.put_file(src, "c/1.wav", sha256="0" * 64, move=True)
    assert src.read_bytes() == data  # the source stays
    assert not store.exists("c/1.wav") and list(store.keys()) == []


def test_a_missing_key_is_a_clear_error(store):
    for call in (lambda: store.stat("no/such.wav"), lambda: store.open_range("no/such.wav"),
                 lambda: store.read_bytes("no/such.wav")):
        with pytest.raises(st.NotInStore, match="no/such.wav"):
            call()
    with pytest.raises(FileNotFoundError):  # NotInStore is one: callers that expect files keep working
        with store.local_copy("no/such.wav"):
            pass
    assert store.exists("no/such.wav") is False


@pytest.mark.parametrize("key", ["../etc/passwd", "/etc/passwd", "a//b.wav", "a/../../b.wav", "", "a\\b.wav"])
def test_keys_never_leave_the_store(store, tmp_path, key):
    src, _ = a_file(tmp_path, "k.wav", 10)
    for call in (lambda: store.stat(key), lambda: store.put_file(src, key), lambda: store.delete(key)):
        with pytest.raises(st.BadKey, match="outside the recordings store"):
            call()
    assert src.exists()


def test_a_half_written_object_is_not_a_recording(store, tmp_path, request):
    """What a crash mid-upload leaves (a ``.part`` file; an incomplete multipart
    upload with a part in it) is not listed, not found, not readable."""
    if isinstance(store, st.LocalStorage):
        half = store.root / "h" / ".1.wav.part"
        half.parent.mkdir(parents=True)
        half.write_bytes(b"RIFF half")
    else:
        client = request.getfixturevalue("s3").client()
        up = client.create_multipart_upload(Bucket=store.bucket, Key=store.prefix + "h/1.wav")
        client.upload_part(Bucket=store.bucket, Key=store.prefix + "h/1.wav", UploadId=up["UploadId"],
                           PartNumber=1, Body=os.urandom(5 * MIB))
        assert client.list_multipart_uploads(Bucket=store.bucket).get("Uploads")  # it is there, half done
    assert list(store.keys()) == [] and not store.exists("h/1.wav")
    with pytest.raises(st.NotInStore):
        store.stat("h/1.wav")


def test_a_store_that_fails_leaves_the_source_and_says_why(store, tmp_path, request):
    src, data = a_file(tmp_path, "f.wav", 3000)
    if isinstance(store, st.LocalStorage):
        store.root.parent.mkdir(parents=True, exist_ok=True)
        store.root.write_bytes(b"")  # a file where the directory should be
        broken = store
    else:
        s3 = request.getfixturevalue("s3")
        broken = st.S3Storage(bucket="no-such-bucket-here", endpoint_url=s3.endpoint, region="us-east-1",
                              access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    with pytest.raises(st.StoreUnavailable) as err:
        broken.put_file(src, "f/1.wav", move=True)
    assert src.read_bytes() == data
    assert SECRET_KEY not in str(err.value)


def test_s3_verification_catches_a_store_that_kept_other_bytes(tmp_path):
    """The check after upload (pure: the HEAD answer against the file's fingerprint)."""
    src, data = a_file(tmp_path, "v.wav", 12 * MIB)
    fp = st.fingerprint(src, 5 * MIB)
    whole = base64.b64encode(hashlib.sha256(data).digest()).decode()
    parts = base64.b64encode(hashlib.sha256(b"".join(fp.part_sha256)).digest()).decode()
    assert st.S3Storage._verify({"ContentLength": len(data), "ChecksumSHA256": whole}, fp) is None
    assert st.S3Storage._verify({"ContentLength": len(data), "ChecksumSHA256": f"{parts}-3"}, fp) is None
    assert "bytes in the store" in st.S3Storage._verify({"ContentLength": len(data) - 1,
                                                         "ChecksumSHA256": whole}, fp)
    other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    assert "not the file's" in st.S3Storage._verify({"ContentLength": len(data), "ChecksumSHA256": other}, fp)
    assert st.S3Storage._verify({"ContentLength": len(data), "ETag": f'"{fp.md5}"'}, fp) is None
    assert "ETag" in st.S3Storage._verify({"ContentLength": len(data), "ETag": '"abc"'}, fp)


def test_s3_settings_are_checked_at_start_and_keys_stay_secret(tmp_path, s3):
    env = {"CTIDESK_STATE_DIR": str(tmp_path), "CTIDESK_RECORDINGS_STORAGE": "s3",
           "CTIDESK_RECORDINGS_S3_SECRET_KEY": SECRET_KEY}
    with pytest.raises(ConfigError, match="recordings_s3_bucket.*name the bucket") as err:
        load_settings(tmp_path / "none.toml", env=env)
    assert SECRET_KEY not in str(err.value)
    with pytest.raises(ConfigError, match="recordings_s3_endpoint.*is a URL"):
        load_settings(tmp_path / "none.toml", env={**env, "CTIDESK_RECORDINGS_S3_BUCKET": "recs",
                                                   "CTIDESK_RECORDINGS_S3_ENDPOINT": "minio:9000"})
    settings = Settings(**s3.settings("recs-a"))
    store = st.from_settings(settings)
    assert isinstance(store, st.S3Storage) and store.prefix == "site1/recordings/"
    for text in (repr(settings), str(settings), repr(store)):
        assert SECRET_KEY not in text and ACCESS_KEY not in text
    assert isinstance(st.from_settings(Settings(state_dir=tmp_path)), st.LocalStorage)


# -- the app on S3 ------------------------------------------------------------------

async def the_row(app, call_id: str) -> Recording | None:
    from sqlalchemy import select

    async with app.state.container.sessionmaker() as db:
        return (await db.execute(select(Recording).where(Recording.call_id == call_id))).scalar_one_or_none()


@pytest.fixture
async def s3_app(tmp_path, s3):
    bucket = s3.new_bucket()
    app = await make_app(tmp_path, asterisk_fs_root=tmp_path / "ast", recordings_settle_s=0.3,
                         recordings_scan_interval_s=0.2, **s3.settings(bucket))
    spool = app.state.container.settings.host_path("/var/spool/asterisk/monitor")
    spool.mkdir(parents=True)
    svc = RecordingService(app.state.container)
    app.state.container.recordings = svc
    svc.start()
    yield app, svc, spool, bucket
    await svc.stop()
    await app.state.container.engine.dispose()


async def test_a_recording_in_s3_plays_with_range_for_its_agent_only(s3_app, s3, tmp_path):
    app, svc, spool, bucket = s3_app
    assert isinstance(svc.storage, st.S3Storage) and svc.storage.bucket == bucket
    # The row first, then the file, as in Asterisk (a file written first can be
    # taken for an orphan by the 0.3 s settle time on a loaded machine).
    svc(ev.RecordingStarted("s3call", time.time(), "s3call", "PJSIP/1001-1", "alice"))
    await wait_for(lambda: the_row(app, "s3call"), "the recording's row")
    write_wav(spool / "s3call.wav", 2)
    original = (spool / "s3call.wav").read_bytes()
    svc(ev.RecordingStopped("s3call", time.time(), "", "", "alice"))

    async def stored():
        rec = await the_row(app, "s3call")
        return rec if rec is not None and rec.status == "stored" else None
    rec = await wait_for(stored, "the recording stored in S3")
    assert not (spool / "s3call.wav").exists()  # left the spool once the bucket held it
    body = s3.client().get_object(Bucket=bucket, Key=f"site1/recordings/{rec.storage_path}")["Body"].read()
    assert body == original and rec.sha256 == hashlib.sha256(original).hexdigest()
    assert not (app.state.container.settings.effective_recordings_dir / rec.storage_path).exists()

    async with app.state.container.sessionmaker() as db:
        alice, bob = await quick_user(db, "alice", "agent"), await quick_user(db, "bob", "agent")
    settings = app.state.container.settings
    url = f"/api/v1/recordings/{rec.id}/audio"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.get(url, headers={**bearer(settings, alice), "Range": "bytes=100-1099"})
        assert r.status_code == 206 and r.content == original[100:1100]
        assert r.headers["content-range"] == f"bytes 100-1099/{len(original)}"
        assert r.headers["content-type"] == "audio/wav" and r.headers["cache-control"] == "private, no-store"
        r = await c.get(url, headers={**bearer(settings, alice), "Range": "bytes=-44"})
        assert r.status_code == 206 and r.content == original[-44:]
        r = await c.get(url, headers={**bearer(settings, alice), "Range": f"bytes={len(original)}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(original)}"
        play = (await c.post(f"/api/v1/recordings/{rec.id}/play", headers=bearer(settings, alice))).json()
        r = await c.get(play["url"])
        assert r.status_code == 200 and r.content == original
        assert (await c.get(url, headers={**bearer(settings, bob), "Range": "bytes=0-9"})).status_code == 404
        assert (await c.get(url, headers={"Range": "bytes=0-9"})).status_code == 401
        assert (await c.post(f"/api/v1/recordings/{rec.id}/play", headers=bearer(settings, bob))).status_code == 404
        peaks = await c.get(f"/api/v1/recordings/{rec.id}/peaks", headers=bearer(settings, alice))
        assert peaks.status_code == 200 and max(peaks.json()["peaks"]) > 0.2
        assert svc.storage.exists(rec.storage_path + ".peaks.json")  # cached in the bucket
        s3.client().delete_object(Bucket=bucket, Key=f"site1/recordings/{rec.storage_path}")
        r = await c.get(url, headers=bearer(settings, alice))
        assert r.status_code == 410 and "reconcile" in r.json()["detail"]


async def test_a_failed_upload_keeps_the_spool_file_and_is_retried(tmp_path, s3):
    """The bucket does not exist yet: the row stays pending with the reason and
    the file stays in the spool; once the bucket exists the next scan stores it.
    Retention then deletes it from the bucket; reconcile notices one that vanished."""
    from recordings.retention import purge
    from recordings.service import reconcile

    bucket = "ctidesk-recs-late"
    app = await make_app(tmp_path, asterisk_fs_root=tmp_path / "ast", recordings_settle_s=0.3,
                         recordings_scan_interval_s=0.2, recordings_retention_full_days=1, **s3.settings(bucket))
    spool = app.state.container.settings.host_path("/var/spool/asterisk/monitor")
    spool.mkdir(parents=True)
    svc = RecordingService(app.state.container)
    app.state.container.recordings = svc
    svc.start()
    try:
        svc(ev.RecordingStarted("late", time.time(), "late", "PJSIP/1-1", None))  # row first, as above
        await wait_for(lambda: the_row(app, "late"), "the recording's row")
        write_wav(spool / "late.wav", 1)
        svc(ev.RecordingStopped("late", time.time(), "", "", None))

        async def refused():
            rec = await the_row(app, "late")
            return rec if rec is not None and rec.error and "NoSuchBucket" in rec.error else None
        rec = await wait_for(refused, "the upload refused")
        assert rec.status == "pending" and (spool / "late.wav").exists()
        assert SECRET_KEY not in rec.error
        s3.client().create_bucket(Bucket=bucket)

        async def stored():
            rec = await the_row(app, "late")
            return rec if rec is not None and rec.status == "stored" else None
        rec = await wait_for(stored, "the retried upload")
        assert not (spool / "late.wav").exists() and svc.storage.exists(rec.storage_path)
        assert rec.error is None
    finally:
        await svc.stop()
    settings = app.state.container.settings
    from datetime import timedelta

    from sqlalchemy import update
    async with app.state.container.sessionmaker() as db:
        await db.execute(update(Recording).where(Recording.id == rec.id)
                         .values(started_at=rec.started_at - timedelta(days=3)))
        await db.commit()
    report = await purge(app.state.container.sessionmaker, settings, dry_run=False)
    assert [i["id"] for i in report["purged"]] == [rec.id] and not report["errors"]
    assert not svc.storage.exists(rec.storage_path)

    async with app.state.container.sessionmaker() as db:
        db.add(Recording(call_id="gone", kind="full", status="stored", started_at=rec.started_at,
                         storage_path="2020/01/01/999.wav"))
        await db.commit()
    report = await reconcile(app.state.container.sessionmaker, settings, dry_run=True)
    assert len(report["missing"]) == 1
    await app.state.container.engine.dispose()
