"""The recordings service: rows from MixMonitor events, the ingest worker, reconcile.

``container.recordings`` is this object. Why it is shaped so:

* **The bus never waits.** ``__call__`` (a bus subscriber) only puts events on
  a queue; one task applies them in order (a pause must land after its start).
* **A row before the file is final.** ``recording_started`` writes a row in
  status ``recording``; ``recording_stopped`` (or the call's end, or a resync
  that finds the call gone) turns it ``pending``; the ingest worker turns
  ``pending`` into ``stored``/``failed``. A crash at any point leaves a row the
  next start finishes, and ``reconcile`` adopts spool files that never got a
  row (our process died before the event was handled), including IVR
  voicemails, which it also files as tickets.
* **File work off the loop.** Verify/measure/hash/move run in a thread
  (``asyncio.to_thread``); the AMI bridge and HTTP keep going.
* **One store.** Ingested files go to ``self.storage``
  (:mod:`recordings.storage`: the local directory or an S3-compatible bucket,
  per ``recordings_storage``); a file leaves the spool only once the store has
  a verified copy, and a failed upload leaves the row ``pending`` for the next
  scan.
* ``kick()`` is non-blocking (sets an event), so the IVR can call it from its
  AGI handler after writing a voicemail row.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import or_, select, update

from cti.actions import ActionFailed
from ctidesk.aio import cancel_and_wait
from ctidesk.db import utcnow
from recordings.voicemail import file_voicemail, parse_voicemail_stem
from recordings import ingest as files
from recordings.models import Recording
from recordings.storage import StorageError, from_settings as storage_from_settings

log = logging.getLogger(__name__)

EVENTS = frozenset({"recording_started", "recording_paused", "recording_resumed", "recording_stopped",
                    "call_answered", "call_ended"})


def _ts(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


class RecordingService:
    def __init__(self, container, *, model=None, directory=None, normalize=None, storage=None) -> None:
        self.c = container
        self.settings = container.settings
        self.model = model
        self.directory = directory
        norm = normalize or (lambda n: n)
        # customers.phone.normalize gives a PhoneNumber; the column holds its text
        self.normalize = lambda n: (getattr(norm(n), "normalized", None) or n)[:32] if n else None
        self.root = self.settings.effective_recordings_dir
        self.storage = storage or storage_from_settings(self.settings)
        self.spool = self.settings.host_path(self.settings.recordings_spool)
        self._events: asyncio.Queue = asyncio.Queue()
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._expect_start: set[str] = set()  # channels we sent MixMonitor to: their row exists
        self.ingested = 0
        self._store_refused = False
        self.last_reconcile: dict | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self.storage.prepare()
        self._tasks = [asyncio.create_task(self._apply_events(), name="recordings-events"),
                       asyncio.create_task(self._worker(), name="recordings-ingest")]
        self.kick()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(*tasks)

    def kick(self) -> None:
        """Ingest every ``pending`` row soon. Never blocks."""
        self._kick.set()

    def __call__(self, event) -> None:
        if event.type in EVENTS:
            self._events.put_nowait(event)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until queued events are applied (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while not self._events.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # -- events -> rows ------------------------------------------------------

    async def _apply_events(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self._apply(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording event %s for call %s not applied", event.type, event.call_id)

    def _username(self, agent: str | None, channel: str | None) -> str | None:
        if self.directory is not None:
            return self.directory.username_for(agent, channel) or agent
        return agent

    def _live_call(self, call_id: str):
        return self.model.calls.get(call_id) if self.model is not None else None

    async def _apply(self, e) -> None:
        t = e.type
        if t == "recording_started":
            await self._started(e)
        elif t in ("recording_paused", "recording_resumed"):
            await self._paused(e, t == "recording_paused")
        elif t == "recording_stopped":
            await self._stopped(e.call_id, e.uniqueid, _ts(e.at))
        elif t == "call_ended":
            await self._stopped(e.call_id, "", _ts(e.at))
            await self._fill_from_call(e.call_id, agent=e.agent)
        elif t == "call_answered":
            await self._fill_from_call(e.call_id, agent=e.agent, interface=e.interface)
        if t.startswith("recording_"):
            self._push(e)

    def _push(self, e) -> None:
        username = self._username(e.agent, e.channel or None)
        call = self._live_call(e.call_id)
        if username is None and call is not None:
            username = self._username(call.agent, call.interface)
        hub = self.c.hub
        if username and hub is not None:
            state = {"recording_started": "recording", "recording_paused": "paused",
                     "recording_resumed": "recording", "recording_stopped": "off"}[e.type]
            if e.type == "recording_stopped" and call is not None and call.record_state != "off":
                state = call.record_state  # another recording of this call still runs
            hub.send(username, e.to_dict())
            hub.send(username, {"type": "record_state", "call_id": e.call_id, "state": state})

    async def _started(self, e) -> None:
        started = _ts(e.at)
        if e.uniqueid in self._expect_start:
            self._expect_start.discard(e.uniqueid)  # on-demand: start_on_demand wrote the row
            return
        async with self.c.sessionmaker() as db:
            path = await self._mixmonitor_file(e)
            exists = (await db.execute(select(Recording.id).where(Recording.source_path == str(path)))
                      ).scalar_one_or_none()
            if exists is not None:
                return  # a replay or a second start for the same file
            rec = Recording(call_id=e.call_id, uniqueid=e.uniqueid, kind="full", status="recording",
                            started_at=started, source_path=str(path),
                            agent_username=self._username(e.agent, e.channel))
            self._fill_live(rec, e.call_id)
            db.add(rec)
            await db.commit()

    async def _mixmonitor_file(self, e) -> Path:
        """The file MixMonitor writes: ``MIXMONITOR_FILENAME`` on the channel, else the
        dialplan's convention (``${REC}`` = spool/<first channel's uniqueid>.wav)."""
        if self.c.actions.connected and e.channel:
            with contextlib.suppress(ActionFailed):
                value = await self.c.actions.getvar(channel=e.channel, variable="MIXMONITOR_FILENAME") or ""
                if value.startswith("/"):
                    return self.settings.host_path(value)
        return self.spool / f"{e.call_id}.wav"

    def _fill_live(self, rec: Recording, call_id: str) -> None:
        call = self._live_call(call_id)
        if call is None:
            return
        if rec.caller_number_raw is None and call.caller_number:
            rec.caller_number_raw = call.caller_number
            rec.caller_number = self.normalize(call.caller_number)
        if rec.called_number_raw is None and call.called_number:
            rec.called_number_raw = call.called_number
            rec.called_number = self.normalize(call.called_number)
        if rec.agent_username is None and call.agent:
            rec.agent_username = self._username(call.agent, call.interface)

    async def _paused(self, e, paused: bool) -> None:
        async with self.c.sessionmaker() as db:
            q = select(Recording).where(Recording.call_id == e.call_id, Recording.status == "recording")
            if e.uniqueid:
                q = q.where(or_(Recording.uniqueid == e.uniqueid, Recording.uniqueid.is_(None)))
            for rec in (await db.execute(q)).scalars():
                offset = round(max(0.0, e.at - rec.started_at.timestamp()), 3)
                pauses = json.loads(rec.pauses or "[]")
                if paused and (not pauses or pauses[-1][1] is not None):
                    pauses.append([offset, None])
                elif not paused and pauses and pauses[-1][1] is None:
                    pauses[-1][1] = offset
                rec.pauses = json.dumps(pauses)
            await db.commit()

    async def _stopped(self, call_id: str, uniqueid: str, at: datetime) -> int:
        async with self.c.sessionmaker() as db:
            q = select(Recording).where(Recording.call_id == call_id, Recording.status == "recording")
            if uniqueid:
                q = q.where(Recording.uniqueid == uniqueid)
            n = 0
            for rec in (await db.execute(q)).scalars():
                _close_pauses(rec, at)
                rec.status, rec.ended_at = "pending", at
                n += 1
            await db.commit()
        if n:
            self.kick()
        return n

    async def recover(self, live_call_ids: set[str]) -> int:
        """After an AMI (re)login: rows still ``recording`` whose call Asterisk no
        longer has are finished (Asterisk closed the file when the call went)."""
        async with self.c.sessionmaker() as db:
            rows = (await db.execute(select(Recording).where(Recording.status == "recording"))).scalars().all()
            n = 0
            for rec in rows:
                if rec.call_id in live_call_ids:
                    continue
                _close_pauses(rec, utcnow())
                rec.status = "pending"
                rec.ended_at = rec.ended_at or utcnow()
                n += 1
            await db.commit()
        if n:
            log.info("recordings: %d recording(s) of calls that ended while we were away are now pending", n)
            self.kick()
        return n

    async def _fill_from_call(self, call_id: str, *, agent: str | None = None, interface: str | None = None) -> None:
        """Rows may exist before the call row: fill what they lack once the call is known."""
        username = self._username(agent, interface) if agent or interface else None
        async with self.c.sessionmaker() as db:
            rows = (await db.execute(select(Recording).where(Recording.call_id == call_id))).scalars().all()
            if not rows:
                return
            for rec in rows:
                if rec.agent_username is None and username:
                    rec.agent_username = username
                self._fill_live(rec, call_id)
            await _fill_rows_from_calls(db, rows, self.normalize)
            await db.commit()

    # -- on-demand control -----------------------------------------------------

    async def running_recording(self, db, call_id: str) -> Recording | None:
        """The latest recording still running on ``call_id``."""
        return (await db.execute(select(Recording).where(Recording.call_id == call_id,
                                                         Recording.status == "recording")
                                 .order_by(Recording.id.desc()))).scalars().first()

    async def start_on_demand(self, call, channel: str, username: str) -> int:
        uniqueid = next((u for u, ch in call.channels.items() if ch == channel), "")
        async with self.c.sessionmaker() as db:
            rec = Recording(call_id=call.id, uniqueid=uniqueid or None, kind="on_demand", status="recording",
                            agent_username=username, started_at=utcnow())
            self._fill_live(rec, call.id)
            db.add(rec)
            await db.flush()
            asterisk_path = f"{self.settings.recordings_spool.rstrip('/')}/ondemand-{rec.id}-{call.id}.wav"
            rec.source_path = str(self.settings.host_path(asterisk_path))
            await db.commit()
            rec_id = rec.id
        self._expect_start.add(uniqueid)
        try:
            await self.c.actions.mixmonitor_start(channel=channel, file=asterisk_path)
        except Exception:
            async with self.c.sessionmaker() as db:
                await db.execute(update(Recording).where(Recording.id == rec_id)
                                 .values(status="missing", error="Asterisk refused MixMonitor"))
                await db.commit()
            self._expect_start.discard(uniqueid)
            raise
        return rec_id

    async def continue_on_channel(self, call, from_channel: str, to_channel: str) -> bool:
        """Issue 11: a transfer hangs up the agent's leg, where the dialplan's
        MixMonitor runs. Keep one file for the whole call: the row now follows
        ``to_channel`` (the caller's), the agent leg's MixMonitor is stopped and
        one on ``to_channel`` appends (option ``a``) to the same file. The row's
        uniqueid moves first, so the agent leg's MixMonitorStop finishes nothing;
        the caller's MixMonitorStart finds the row by its file and adds none."""
        actions = self.c.actions
        from_uid = next((u for u, ch in call.channels.items() if ch == from_channel), None)
        to_uid = next((u for u, ch in call.channels.items() if ch == to_channel), None)
        if not actions.connected or to_uid is None:
            return False
        async with self.c.sessionmaker() as db:
            rows = (await db.execute(select(Recording).where(Recording.call_id == call.id,
                                                             Recording.status == "recording",
                                                             Recording.kind == "full"))).scalars().all()
            rec = next((r for r in rows if r.uniqueid == from_uid), None) or (rows[0] if rows else None)
            if rec is None:
                return False
            if rec.uniqueid == to_uid:  # moved by an earlier transfer: it runs there already
                return True
            path = None
            for channel, variable in ((from_channel, "MIXMONITOR_FILENAME"), (to_channel, "REC")):
                with contextlib.suppress(ActionFailed):
                    value = await actions.getvar(channel=channel, variable=variable) or ""
                    if value.startswith("/"):
                        path = value
                        break
            if path is None:
                path = f"{self.settings.recordings_spool.rstrip('/')}/{call.id}.wav"
            rec.uniqueid = to_uid
            await db.commit()
        with contextlib.suppress(ActionFailed):  # the leg may already be gone: its MixMonitor with it
            await actions.mixmonitor_stop(channel=from_channel, timeout=3)
        await actions.mixmonitor_start(channel=to_channel, file=path, append=True)
        return True

    # -- ingest ----------------------------------------------------------------

    async def _worker(self) -> None:
        first = True
        while True:
            idle = False
            try:
                await asyncio.wait_for(self._kick.wait(), self.settings.recordings_scan_interval_s)
            except asyncio.TimeoutError:
                idle = True
            self._kick.clear()
            try:
                if first:
                    self.last_reconcile = await self.reconcile()
                    first = False
                elif idle:  # files that landed while no row could be written (cheap: a directory listing)
                    await self.reconcile(spool_only=True)
                again = await self.ingest_pending()
            except asyncio.CancelledError:
                raise
            except StorageError as exc:  # the store is down (an S3 endpoint away): one line, the next scan retries
                log.warning("recordings store %r unavailable: %s; retrying in %.0f s", self.storage, exc,
                            self.settings.recordings_scan_interval_s)
                again = False
            except Exception:
                log.exception("recordings ingest pass failed; retrying later")
                again = True
            if again:
                await asyncio.sleep(0.5)  # a file still being written: look again shortly
                self._kick.set()

    async def ingest_pending(self, limit: int = 200) -> bool:
        """Ingest pending rows; True if some must be retried soon (still being written)."""
        async with self.c.sessionmaker() as db:
            rows = (await db.execute(select(Recording).where(Recording.status == "pending")
                                     .order_by(Recording.id).limit(limit))).scalars().all()
        retry = False
        self._store_refused = False
        for rec in rows:
            retry |= await self.ingest_one(rec)
            if self._store_refused:  # the store is down: the rest would wait on it too; next scan
                return False
        return retry or len(rows) == limit

    async def ingest_one(self, rec: Recording) -> bool:
        src = Path(rec.source_path) if rec.source_path else None
        if src is not None and not _inside(src, self.settings.effective_asterisk_fs_root) \
                and not _inside(src, self.root):
            return await self._finish(rec.id, status="failed", error=f"source path outside Asterisk's root: {src}")
        rel = files.storage_name(rec.id, rec.started_at)
        try:
            stored = await asyncio.to_thread(files.ingest, src, self.storage, rel,
                                             settle_s=self.settings.recordings_settle_s)
        except files.NotReady:
            return True
        except files.RetryLater as exc:
            self._store_refused = True
            log.warning("recording %s not stored yet: %s", rec.id, exc)
            await self._finish(rec.id, status="pending", error=str(exc))
            return False
        except FileNotFoundError:
            return await self._finish(rec.id, status="missing",
                                      error=f"the recording file never appeared at {src}")
        except files.BadFile as exc:
            kept = await asyncio.to_thread(files.quarantine, src, self.storage, rec.id) if src else None
            return await self._finish(rec.id, status="failed", error=str(exc), storage_path=kept)
        # keep how it came to be (adopted by reconcile) and what was repaired; drop transient errors
        remarks = [r for r in ((rec.error or "") if (rec.error or "").startswith("adopted") else None, stored.note) if r]
        await self._finish(rec.id, status="stored", error="; ".join(remarks) or None,
                           storage_path=stored.storage_path,
                           size_bytes=stored.size_bytes, sha256=stored.sha256, duration_ms=stored.duration_ms)
        self.ingested += 1
        codec = self.settings.recordings_compress
        if codec:
            await self._compress(rec.id, stored, codec)
        return False

    async def _compress(self, rec_id: int, stored, codec: str) -> None:
        """Optional: replace the stored WAV by a verified MP3/Opus copy (see ingest.compress)."""
        if codec not in files.CODECS:
            log.error("recordings_compress=%r: use mp3 or opus; recording %s kept as WAV", codec, rec_id)
            return
        try:
            small = await asyncio.to_thread(files.compress, self.storage, stored.storage_path, codec,
                                            stored.duration_ms)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the WAV stays and the recording is safe
            log.warning("recording %s not compressed: %s", rec_id, exc)
            return
        await self._finish(rec_id, storage_path=small.storage_path, size_bytes=small.size_bytes,
                           sha256=small.sha256, format=codec)
        try:
            await asyncio.to_thread(self.storage.delete, stored.storage_path)
        except Exception as exc:  # noqa: BLE001 - a spare WAV costs space, not evidence; reconcile lists it
            log.warning("recording %s: the WAV replaced by its %s copy was not deleted: %s", rec_id, codec, exc)

    async def _finish(self, rec_id: int, **values) -> bool:
        async with self.c.sessionmaker() as db:
            rec = await db.get(Recording, rec_id)
            if rec is None:
                return False
            for k, v in values.items():
                setattr(rec, k, v)
            if rec.ended_at is None and rec.duration_ms:
                rec.ended_at = rec.started_at + timedelta(milliseconds=rec.duration_ms)
            await _fill_rows_from_calls(db, [rec], self.normalize)
            await db.commit()
        return False

    # -- reconcile -------------------------------------------------------------

    async def reconcile(self, *, dry_run: bool = False, spool_only: bool = False) -> dict:
        """Files without rows get rows; rows without files are marked. Says what it did."""
        return await reconcile(self.c.sessionmaker, self.settings, dry_run=dry_run, spool_only=spool_only,
                               normalize=self.normalize, after=self.kick, storage=self.storage)


def _settled_spool_files(spool: Path, settle_s: float) -> list[Path]:
    """``*.wav`` in the spool not written to for ``settle_s`` (MixMonitor writes
    continuously while a call is up, so a still file is a finished one)."""
    now = time.time()
    out = []
    if spool.is_dir():
        for p in sorted(spool.glob("*.wav")):
            try:
                if now - p.stat().st_mtime >= settle_s:
                    out.append(p)
            except FileNotFoundError:
                continue
    return out


async def _file_orphan_voicemail(db, rec: Recording, settings) -> int:
    """File a voicemail whose row the IVR never wrote, as the IVR would have
    (``recordings.voicemail.file_voicemail``): a message nobody files is a customer
    nobody calls back. The caller comes from the call row if there is one."""
    from customers.phone import DIALABLE_KINDS, normalize as normalize_number
    from customers.service import get_or_create_provisional

    intent, ticket_type, _ = parse_voicemail_stem(Path(rec.source_path).stem)
    if rec.customer_id is None:
        customer = await get_or_create_provisional(db=db, number_raw=rec.caller_number_raw, caller_name=None,
                                                   call_id=rec.call_id, country_code=settings.default_country_code)
        rec.customer_id = customer.id
    who = rec.caller_number_raw or "an unknown caller"
    caller = normalize_number(rec.caller_number_raw, country_code=settings.default_country_code)
    ticket, _ = await file_voicemail(
        db, actor="reconcile", ticket_type=ticket_type, customer_id=rec.customer_id, call_id=rec.call_id,
        intent=intent, priority="high", recording=rec, dialable=caller.kind in DIALABLE_KINDS, due=None,
        description=(f"After-hours voicemail ({intent or 'no intent recorded'}) from {who}, recovered by the "
                     f"recordings reconcile: the IVR could not file it when it was left (call {rec.call_id})."),
        notes="Recovered voicemail", audit_extra={"recovered": True})
    return ticket.id


def _close_pauses(rec: Recording, at: datetime) -> None:
    if rec.pauses:
        pauses = json.loads(rec.pauses)
        if pauses and pauses[-1][1] is None:
            pauses[-1][1] = round(max(0.0, (at - rec.started_at).total_seconds()), 3)
            rec.pauses = json.dumps(pauses)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


async def _fill_rows_from_calls(db, rows, normalize) -> None:
    from cti.models import CallRecord

    need = {r.call_id for r in rows if r.call_id and (r.agent_username is None or r.caller_number is None
                                                      or r.customer_id is None)}
    if not need:
        return
    calls = {c.call_id: c for c in (await db.execute(select(CallRecord).where(CallRecord.call_id.in_(need))))
             .scalars()}
    for r in rows:
        c = calls.get(r.call_id)
        if c is None:
            continue
        r.agent_username = r.agent_username or c.agent_username or c.agent
        if r.caller_number is None and c.caller_number_raw:
            r.caller_number_raw, r.caller_number = c.caller_number_raw, c.caller_number
        if r.called_number is None and c.called_number:
            r.called_number_raw, r.called_number = c.called_number, normalize(c.called_number)
        r.customer_id = r.customer_id or c.customer_id


async def reconcile(sessionmaker, settings, *, dry_run: bool = False, spool_only: bool = False,
                    normalize=None, after=None, storage=None) -> dict:
    """The consistency check behind ``ctidesk recordings reconcile`` (and every start).

    * spool files (``*.wav`` in ``recordings_spool``) no row points at, still for
      ``recordings_settle_s``: adopted as a ``pending`` full recording of the call
      their name gives (our process died before it wrote the row);
    * IVR voicemail files (``ivr_voicemail_dir``) no row points at: adopted as a
      ``voicemail`` recording *and* filed as the ticket (plus callback) the IVR
      would have made, its type and intent read from the file name;
    * ``stored`` rows whose file is gone from the store: ``missing`` (the store
      is listed once, not asked per row: one request per 1000 keys on S3);
    * ``pending``/``recording`` rows older than a day whose source is gone and
      which were never stored: ``missing``.
    """
    normalize = normalize or (lambda n: n)
    spool = settings.host_path(settings.recordings_spool)
    storage = storage or storage_from_settings(settings)
    report = {"adopted": [], "missing": [], "dry_run": dry_run}
    candidates = await asyncio.to_thread(_settled_spool_files, spool, settings.recordings_settle_s)
    voicemail_dir = settings.host_path(settings.ivr_voicemail_dir)
    candidates += await asyncio.to_thread(_settled_spool_files, voicemail_dir, settings.recordings_settle_s)
    async with sessionmaker() as db:
        if candidates:
            known = set((await db.execute(select(Recording.source_path).where(
                Recording.source_path.in_([str(p) for p in candidates])))).scalars())
            new = []
            for p in candidates:
                if str(p) in known:
                    continue
                stem = p.stem
                intent = None
                if p.parent == voicemail_dir:
                    kind, (intent, _, call_id) = "voicemail", parse_voicemail_stem(stem)
                elif stem.startswith("ondemand-"):
                    kind, call_id = "on_demand", stem.split("-")[-1]
                else:
                    kind, call_id = "full", stem
                started = datetime.fromtimestamp(p.stat().st_ctime, timezone.utc)
                report["adopted"].append({"file": p.name, "call_id": call_id, "kind": kind})
                if not dry_run:
                    new.append(Recording(call_id=call_id[:64], kind=kind, status="pending", started_at=started,
                                         source_path=str(p), intent=intent,
                                         description=f"voicemail: {intent}" if intent else None,
                                         error="adopted by reconcile: the file had no row"))
            if new:
                db.add_all(new)
                await db.flush()
                await _fill_rows_from_calls(db, new, normalize)
                for rec in new:
                    if rec.kind == "voicemail":
                        report.setdefault("voicemail_tickets", []).append(
                            await _file_orphan_voicemail(db, rec, settings))
        gone = []
        if not spool_only:
            stored = (await db.execute(select(Recording.id, Recording.storage_path)
                                       .where(Recording.status == "stored"))).all()
            present = await asyncio.to_thread(lambda: set(storage.keys())) if stored else set()
            gone = [rid for rid, rel in stored if not rel or rel not in present]
            day_ago = utcnow() - timedelta(days=1)
            stale = (await db.execute(select(Recording.id, Recording.source_path).where(
                Recording.status.in_(("pending", "recording")), Recording.started_at < day_ago))).all()
            gone += await asyncio.to_thread(lambda: [rid for rid, src in stale if not src or not Path(src).exists()])
        report["missing"] = gone
        if gone and not dry_run:
            await db.execute(update(Recording).where(Recording.id.in_(gone)).values(
                status="missing", error="reconcile: the file is gone"))
        if not dry_run:
            await db.commit()
    if report["adopted"] or report["missing"]:
        log.warning("recordings reconcile%s: adopted %d file(s) without rows, %d row(s) without files",
                    " (dry run)" if dry_run else "", len(report["adopted"]), len(report["missing"]))
    if after is not None and report["adopted"] and not dry_run:
        after()
    return report
