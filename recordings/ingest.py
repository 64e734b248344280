"""File work for one recording: verify, repair, measure, checksum, store.

Plain blocking functions (the service runs them in a thread, never on the
event loop). The store is a :mod:`recordings.storage` backend (a local
directory or an S3-compatible bucket). Each step is safe to repeat after a
crash at any point:

* the move into the store is all or nothing and verified (see
  :mod:`recordings.storage`): the spool file is removed only once the store
  holds a copy whose checksum matches, so an upload that fails or dies leaves
  the file in the spool for the next scan, and no half object is ever a
  recording;
* the storage name is a function of the row (``YYYY/MM/DD/<id>.wav`` from the
  row's start), so a rerun after "moved but row not yet updated" finds the
  file already stored and finishes the row from it.

Why repair headers: Asterisk writes WAV sizes only when it closes the file. A
file whose writer died (Asterisk killed mid-call) has every sample but a
header saying "0 bytes"; throwing it away would lose the evidence, so once the
file has been still for ``settle_s`` the sizes are rewritten from the file's
real length. A file still growing (header 0, written seconds ago) is "not
ready": the worker looks again later.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from recordings.storage import ChecksumMismatch, NotInStore, RecordingStorage, StoreUnavailable, as_storage

HEADER_MIN = 44
# A transient storage problem (disk full, permission, endpoint down): the source is intact.
RetryLater = StoreUnavailable


class NotReady(Exception):
    """The file is still being written: try again later."""


class BadFile(Exception):
    """The file is empty, truncated or not audio; the message says which."""


@dataclass
class Stored:
    storage_path: str  # relative to the recordings dir
    size_bytes: int
    sha256: str
    duration_ms: int
    note: str | None = None  # e.g. "header repaired" (kept in ``error`` as a remark)
    extra: dict = field(default_factory=dict)


def storage_name(rec_id: int, started_at: datetime, suffix: str = ".wav") -> str:
    return f"{started_at:%Y/%m/%d}/{rec_id}{suffix}"


def _chunks(fh, size: int):
    """(chunk_id, offset_of_chunk_data, declared_size) for every RIFF chunk."""
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return
        cid, csize = head[:4], struct.unpack("<I", head[4:])[0]
        yield cid, pos + 8, csize
        pos += 8 + csize + (csize & 1)


def check_wav(path: Path, *, settle_s: float, now: float | None = None) -> str | None:
    """Verify (and if needed repair) a PCM WAV; returns a remark or None.

    Raises BadFile, NotReady."""
    st = path.stat()
    size = st.st_size
    now = time.time() if now is None else now
    if size == 0:
        if now - st.st_mtime < settle_s:
            raise NotReady("empty so far")
        raise BadFile("empty file (0 bytes): nothing was recorded")
    with open(path, "r+b") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            if size < HEADER_MIN and now - st.st_mtime < settle_s:
                raise NotReady("header not written yet")
            raise BadFile(f"not a WAV file or truncated header ({size} bytes)")
        fmt = data = None
        for cid, off, csize in _chunks(fh, size):
            if cid == b"fmt ":
                fh.seek(off)
                raw = fh.read(16)
                if len(raw) < 16:
                    break
                fmt = struct.unpack("<HHIIHH", raw)
            elif cid == b"data":
                data = (off, csize)
                break
        if fmt is None or data is None:
            raise BadFile(f"truncated WAV: no {'fmt' if fmt is None else 'data'} chunk ({size} bytes)")
        audio_format, channels, rate, _byte_rate, block_align, bits = fmt
        if audio_format != 1 or not channels or not rate or not block_align:
            raise BadFile(f"unsupported WAV encoding (format {audio_format}, {channels} ch, {rate} Hz)")
        off, declared = data
        actual = size - off
        actual -= actual % block_align  # a torn last sample is dropped
        if declared == actual and actual > 0:
            return None
        if now - st.st_mtime < settle_s:
            raise NotReady("still being written (header not final)")
        if actual <= 0:
            raise BadFile("empty recording: a WAV header with no audio")
        if declared > actual and declared != 0:
            remark = f"truncated: header said {declared} audio bytes, file has {actual}; kept what is there"
        else:
            remark = f"header repaired: it said {declared} audio bytes, file has {actual} (writer stopped abruptly)"
        fh.seek(4)
        fh.write(struct.pack("<I", off + actual - 8))
        fh.seek(off - 4)
        fh.write(struct.pack("<I", actual))
        fh.truncate(off + actual)
        fh.flush()
        os.fsync(fh.fileno())
        return remark


def measure_ms(path: Path) -> int:
    """The real duration, decoded with pydub (not trusted from the header)."""
    from pydub import AudioSegment

    return len(AudioSegment.from_file(path, format="wav"))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ingest(src: Path | None, store: RecordingStorage | Path, rel: str, *, settle_s: float) -> Stored:
    """Verify, measure, checksum and store one file; idempotent (see module docstring)."""
    store = as_storage(store)
    if src is None or not src.exists():
        if store.exists(rel):
            # A previous run stored it and died before the row was updated.
            with store.local_copy(rel) as copy:
                return Stored(rel, copy.stat().st_size, sha256_of(copy), measure_ms(copy))
        raise FileNotFoundError(str(src))
    remark = check_wav(src, settle_s=settle_s)
    try:
        duration = measure_ms(src)
    except Exception as exc:  # pydub/wave could not decode it
        raise BadFile(f"unreadable audio: {exc}") from None
    try:
        kept = store.put_file(src, rel, move=True)
    except ChecksumMismatch as exc:  # the file changed under us, or the store mangled it: the source stays
        raise RetryLater(str(exc)) from None
    return Stored(rel, kept.size, kept.sha256, duration, remark)


def quarantine(src: Path, store: RecordingStorage | Path, rec_id: int) -> str | None:
    """Keep a bad file (evidence of what went wrong) under ``failed/``; returns its key."""
    if not src.exists():
        return None
    rel = f"failed/{rec_id}{src.suffix or '.bin'}"
    try:
        as_storage(store).put_file(src, rel, move=True)
    except (StoreUnavailable, ChecksumMismatch):
        return None
    return rel


def peaks(path: Path, count: int = 600) -> list[float]:
    """Waveform peaks (0..1) for the player: max |sample| per bucket."""
    from pydub import AudioSegment

    seg = AudioSegment.from_file(path, format=FORMATS.get(path.suffix, "wav")).set_channels(1)
    samples = seg.get_array_of_samples()
    n = len(samples)
    if n == 0:
        return []
    full = float(1 << (8 * seg.sample_width - 1))
    count = max(1, min(count, n))
    step = n / count
    out = []
    for i in range(count):
        chunk = samples[int(i * step):int((i + 1) * step)] or samples[int(i * step):int(i * step) + 1]
        out.append(round(max(abs(min(chunk)), abs(max(chunk))) / full, 3))
    return out


def peaks_key(rel: str) -> str:
    return rel + ".peaks.json"


def cached_peaks(store: RecordingStorage | Path, rel: str, count: int = 600) -> list[float]:
    """Peaks computed once and kept in the store beside the audio (``<key>.peaks.json``).
    A stored key never changes content (compression writes a new key), so the
    cache needs no invalidation; retention deletes it with the audio."""
    store = as_storage(store)
    try:
        return json.loads(store.read_bytes(peaks_key(rel)))
    except (NotInStore, ValueError):
        pass
    with store.local_copy(rel) as path:
        values = peaks(path, count)
    try:
        store.put_bytes(peaks_key(rel), json.dumps(values).encode())
    except StoreUnavailable:
        pass  # served anyway; computed again next time
    return values


# -- optional compression ---------------------------------------------------------

FORMATS = {".wav": "wav", ".mp3": "mp3", ".ogg": "ogg"}
CODECS = {  # setting -> (suffix, ffmpeg arguments, MIME type)
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3"], "audio/mpeg"),
    "opus": (".ogg", ["-c:a", "libopus", "-b:a", "24k", "-f", "ogg"], "audio/ogg"),
}
MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "opus": "audio/ogg"}


def compress(store: RecordingStorage | Path, rel: str, codec: str, duration_ms: int, *,
             tolerance_ms: int = 150) -> Stored:
    """Encode the stored WAV with ffmpeg (in the store's scratch space), verify
    the copy decodes to the same length, and store it under the WAV's key with
    the codec's suffix. The WAV is NOT removed here: the caller removes it only
    after the row points at the copy (a crash in between leaves a spare WAV,
    never a row without audio). Raises BadFile when the copy does not verify."""
    import subprocess

    from pydub import AudioSegment

    store = as_storage(store)
    suffix, args, _mime = CODECS[codec]
    new_rel = str(Path(rel).with_suffix(suffix))
    with store.local_copy(rel) as src, store.scratch() as work:
        part = work / ("encoded" + suffix)
        proc = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), *args, str(part)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise BadFile(f"ffmpeg could not encode {codec}: {proc.stderr.strip()[-300:]}")
        got = len(AudioSegment.from_file(part, format=FORMATS[suffix]))
        if abs(got - duration_ms) > tolerance_ms:
            raise BadFile(f"{codec} copy is {got} ms long, the original {duration_ms} ms: kept the original")
        kept = store.put_file(part, new_rel, move=True)
    return Stored(new_rel, kept.size, kept.sha256, duration_ms)
