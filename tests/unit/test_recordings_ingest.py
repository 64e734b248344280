"""Ingest file work: verify, repair, measure, checksum, atomic move, faults."""
from __future__ import annotations

import errno
import hashlib
import os
import struct
import time
import wave
from datetime import datetime, timezone
from pathlib import Path

import pytest

from recordings import ingest, storage

RATE = 8000


def write_wav(path: Path, seconds: float, *, amplitude: int = 8000) -> bytes:
    """A real 8 kHz 16-bit mono WAV (what MixMonitor writes): a square wave."""
    n = int(RATE * seconds)
    frames = b"".join(struct.pack("<h", amplitude if (i // 20) % 2 else -amplitude) for i in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)
    return frames


def age(path: Path, seconds: float = 60) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def zero_header_sizes(path: Path) -> None:
    """What a file looks like when Asterisk dies before closing it."""
    with open(path, "r+b") as fh:
        fh.seek(4)
        fh.write(struct.pack("<I", 0))
        fh.seek(40)
        fh.write(struct.pack("<I", 0))


def refused_once_settled(path, reason: str) -> None:
    """Old enough to be done with, ``path`` is a bad file, for ``reason``."""
    age(path)
    with pytest.raises(ingest.BadFile, match=reason):
        ingest.check_wav(path, settle_s=5)


def test_a_good_file_is_measured_hashed_and_moved(tmp_path):
    src = tmp_path / "spool" / "1.wav"
    src.parent.mkdir()
    write_wav(src, 2.5)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    root = tmp_path / "store"
    rel = ingest.storage_name(7, datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc))
    assert rel == "2026/11/23/7.wav"
    stored = ingest.ingest(src, root, rel, settle_s=5)
    assert (stored.duration_ms, stored.sha256, stored.note) == (2500, digest, None)
    assert not src.exists() and (root / rel).exists()
    # a rerun after "moved, row not updated" (crash) finishes from the stored copy
    again = ingest.ingest(src, root, rel, settle_s=5)
    assert (again.sha256, again.duration_ms) == (digest, 2500)


def test_empty_file_is_bad_once_settled_and_not_ready_before(tmp_path):
    src = tmp_path / "e.wav"
    src.write_bytes(b"")
    with pytest.raises(ingest.NotReady):
        ingest.check_wav(src, settle_s=5)
    refused_once_settled(src, "empty file")


def test_truncated_header_and_header_without_audio_are_bad(tmp_path):
    src = tmp_path / "t.wav"
    write_wav(src, 1)
    src.write_bytes(src.read_bytes()[:20])
    refused_once_settled(src, "truncated")
    hdr = tmp_path / "h.wav"
    write_wav(hdr, 0)
    zero_header_sizes(hdr)
    refused_once_settled(hdr, "no audio")
    junk = tmp_path / "j.wav"
    junk.write_bytes(b"not a wav at all, just text" * 10)
    refused_once_settled(junk, "not a WAV")


def test_a_file_still_being_written_is_not_ready(tmp_path):
    src = tmp_path / "w.wav"
    write_wav(src, 1)
    zero_header_sizes(src)  # Asterisk writes sizes only on close
    with pytest.raises(ingest.NotReady):
        ingest.check_wav(src, settle_s=5)


def test_a_file_whose_writer_died_is_repaired_not_lost(tmp_path):
    src = tmp_path / "crash.wav"
    frames = write_wav(src, 1.5)
    zero_header_sizes(src)
    with open(src, "ab") as fh:
        fh.write(b"\x01")  # a torn last sample
    age(src)
    stored = ingest.ingest(src, tmp_path / "store", "x/1.wav", settle_s=5)
    assert stored.duration_ms == 1500 and "header repaired" in stored.note
    with wave.open(str(tmp_path / "store" / "x" / "1.wav")) as w:
        assert w.readframes(w.getnframes()) == frames


def test_a_header_claiming_more_than_the_file_holds_keeps_what_is_there(tmp_path):
    src = tmp_path / "short.wav"
    write_wav(src, 2)
    src.write_bytes(src.read_bytes()[:44 + RATE * 2])  # 1 s of 2
    age(src)
    stored = ingest.ingest(src, tmp_path / "s", "1.wav", settle_s=5)
    assert stored.duration_ms == 1000 and stored.note.startswith("truncated")


def test_disk_full_leaves_the_source_intact_and_asks_for_a_retry(tmp_path, monkeypatch):
    src = tmp_path / "d.wav"
    write_wav(src, 1)
    before = src.read_bytes()

    def cross_device(a, b):
        raise OSError(errno.EXDEV, "cross-device link")

    def full(fin, fout, length=0):
        fout.write(fin.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "rename", cross_device)
    monkeypatch.setattr(storage.shutil, "copyfileobj", full)
    with pytest.raises(ingest.RetryLater, match="disk full"):
        ingest.ingest(src, tmp_path / "store", "a/1.wav", settle_s=5)
    assert src.read_bytes() == before
    assert not list((tmp_path / "store").rglob("*.part")) and not (tmp_path / "store" / "a" / "1.wav").exists()


def test_copy_across_file_systems_verifies_and_removes_the_source(tmp_path, monkeypatch):
    src = tmp_path / "c.wav"
    write_wav(src, 1)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setattr(storage.os, "rename", lambda a, b: (_ for _ in ()).throw(OSError(errno.EXDEV, "x")))
    stored = ingest.ingest(src, tmp_path / "store", "1.wav", settle_s=5)
    assert stored.sha256 == digest and not src.exists()
    assert hashlib.sha256((tmp_path / "store" / "1.wav").read_bytes()).hexdigest() == digest


def test_peaks_are_computed_once_and_cached(tmp_path):
    src = tmp_path / "p.wav"
    write_wav(src, 1, amplitude=16384)
    values = ingest.cached_peaks(tmp_path, "p.wav", 50)
    assert len(values) == 50 and all(abs(v - 0.5) < 0.01 for v in values)
    cache = tmp_path / "p.wav.peaks.json"
    assert cache.exists()
    cache.write_text("[0.25]")  # proves the second call reads the cache
    assert ingest.cached_peaks(tmp_path, "p.wav", 50) == [0.25]
