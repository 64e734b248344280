"""Retention: per-kind days, legal hold (manual and automatic on open
complaints), purge dry run then for real, and the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from accounts.models import AuditLog
from ctidesk.db import utcnow
from recordings.models import Recording, RecordingTicket
from recordings.retention import purge
from tests.factories import make_customer

ROOT = Path(__file__).resolve().parents[2]


async def seed(app) -> dict:
    from tickets.models import Ticket, TicketCall

    settings = app.state.container.settings
    store = settings.effective_recordings_dir
    old = utcnow() - timedelta(days=400)
    ids = {}
    async with app.state.container.sessionmaker() as db:
        customer = await make_customer(db)
        open_complaint = Ticket(customer_id=customer.id, type="complaint", state="in_progress",
                                description="x")
        closed_complaint = Ticket(customer_id=customer.id, type="complaint", state="closed",
                                  description="y")
        db.add_all([open_complaint, closed_complaint])
        await db.flush()
        specs = {"old": ("full", old, False), "old_linked_open": ("full", old, False),
                 "old_via_call": ("on_demand", old, False), "old_linked_closed": ("full", old, False),
                 "old_manual_hold": ("voicemail", old, True), "recent": ("full", utcnow(), False)}
        for name, (kind, started, hold) in specs.items():
            rel = f"x/{name}.wav"
            (store / "x").mkdir(parents=True, exist_ok=True)
            (store / rel).write_bytes(b"RIFF" + name.encode())
            rec = Recording(kind=kind, status="stored", started_at=started, storage_path=rel, legal_hold=hold,
                            call_id=f"call-{name}")
            db.add(rec)
            await db.flush()
            ids[name] = rec.id
        db.add(RecordingTicket(recording_id=ids["old_linked_open"], ticket_id=open_complaint.id))
        db.add(RecordingTicket(recording_id=ids["old_linked_closed"], ticket_id=closed_complaint.id))
        db.add(TicketCall(ticket_id=open_complaint.id, call_id="call-old_via_call"))
        await db.commit()
    return ids


async def states(app) -> dict[int, tuple]:
    async with app.state.container.sessionmaker() as db:
        return {r.id: (r.status, r.legal_hold, r.storage_path)
                for r in (await db.execute(select(Recording))).scalars()}


async def test_purge_dry_run_then_for_real(app):
    ids = await seed(app)
    before = await states(app)
    settings = app.state.container.settings
    dry = await purge(app.state.container.sessionmaker, settings, dry_run=True)
    assert sorted(i["id"] for i in dry["purged"]) == sorted([ids["old"], ids["old_linked_closed"]])
    assert sorted(dry["held"]) == sorted([ids["old_linked_open"], ids["old_via_call"]])
    assert await states(app) == before  # a dry run changes nothing
    done = await purge(app.state.container.sessionmaker, settings, dry_run=False, actor="tester")
    assert [i["id"] for i in done["purged"]] == [i["id"] for i in dry["purged"]]
    after = await states(app)
    store = settings.effective_recordings_dir
    for name in ("old", "old_linked_closed"):
        assert after[ids[name]][0] == "purged" and after[ids[name]][2] is None
        assert not (store / f"x/{name}.wav").exists()
    for name in ("old_linked_open", "old_via_call", "old_manual_hold"):
        assert after[ids[name]][:2] == ("stored", True) and (store / f"x/{name}.wav").exists()
    assert after[ids["recent"]][:2] == ("stored", False)
    async with app.state.container.sessionmaker() as db:
        purged = [a.target for a in (await db.execute(select(AuditLog).where(AuditLog.action == "recording.purge"))).scalars()]
    assert sorted(purged) == sorted([str(ids["old"]), str(ids["old_linked_closed"])])


async def test_zero_days_keeps_forever(app):
    ids = await seed(app)
    settings = app.state.container.settings.with_(recordings_retention_full_days=0)
    report = await purge(app.state.container.sessionmaker, settings, dry_run=False)
    assert [i["id"] for i in report["purged"]] == []
    assert (await states(app))[ids["old"]][0] == "stored"


async def test_cli_purge_dry_run_and_reconcile(app, tmp_path):
    ids = await seed(app)
    settings = app.state.container.settings
    env = {**os.environ, "CTIDESK_STATE_DIR": str(tmp_path), "CTIDESK_DATABASE_URL": settings.database_url,
           "CTIDESK_ASTERISK_FS_ROOT": str(tmp_path / "ast"), "CTIDESK_RECORDINGS_SETTLE_S": "0"}
    out = subprocess.run([sys.executable, "-m", "ctidesk.cli", "recordings", "purge", "--dry-run", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["dry_run"] is True and sorted(i["id"] for i in report["purged"]) == sorted(
        [ids["old"], ids["old_linked_closed"]])
    spool = tmp_path / "ast" / "var" / "spool" / "asterisk" / "monitor"
    spool.mkdir(parents=True)
    (spool / "1795449613.96.wav").write_bytes(b"RIFF")
    (settings.effective_recordings_dir / "x" / "recent.wav").unlink()
    out = subprocess.run([sys.executable, "-m", "ctidesk.cli", "recordings", "reconcile"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "adopted 1 file(s) without a row" in out.stdout and "1795449613.96.wav  call 1795449613.96" in out.stdout
    assert f"marked 1 row(s) whose file is gone as missing: {ids['recent']}" in out.stdout
    assert (await states(app))[ids["recent"]][0] == "missing"
