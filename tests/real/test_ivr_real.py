"""The IVR against the sandbox Asterisk: real calls whose caller leg keys DTMF
(``SendDTMF``, ``w`` = 0.5 s pause) at chosen moments into the demo menu
(config/ivr.toml) served by ``ctidesk serve`` as a real process.

Calls of one scenario run side by side (each with its own caller number), so
the FastAGI server also serves several IVR sessions at once.
"""
from __future__ import annotations

import asyncio
import random
import sqlite3
import time
import wave
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sandbox.runner import set_phone
from tests.realenv import Server, call, serving

pytestmark = pytest.mark.asterisk

DEMO_MENU = Path(__file__).resolve().parents[2] / "config" / "ivr.toml"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def number() -> str:
    return "136" + "".join(random.choice("0123456789") for _ in range(8))


def ivr_server(ami, state_dir: Path, menu: Path):
    """``ctidesk serve`` (as :func:`tests.realenv.serving`) on the IVR menu ``menu``."""
    return serving(ami, state_dir, {"CTIDESK_IVR_CONFIG": str(menu)})


async def finished_call(client, caller: str, *, timeout: float = 60) -> dict:
    """The stored call of ``caller`` once it has ended and its IVR path is in."""
    deadline = time.monotonic() + timeout
    rows: list = []
    while time.monotonic() < deadline:
        rows = (await client.get("/api/v1/calls", number=caller)).json()["items"]
        done = [r for r in rows if r["ended_at"] and r["ivr_path"]]
        if done:
            return done[0]
        await asyncio.sleep(0.3)  # polling the API under a deadline (writes are asynchronous)
    raise AssertionError(f"no finished call with an IVR path for {caller}: {rows}")


def steps(row: dict, node: str) -> list[dict]:
    return [s for s in row["ivr_path"] if s["node"] == node]


async def test_demo_menu_routes_bad_input_timeout_hangup_and_self_service(ami, tmp_path):
    async with ivr_server(ami, tmp_path, DEMO_MENU) as srv:
        sam = await srv.desk("sam", join_queues=False)
        r = srv.cli("ivr", "product", "8801", "--name", "Air conditioner KFR-35GW",
                    "--info", "zh-CN=一级能效，整机保修六年。", "--info", "en=Six years of warranty.")
        assert r.returncode == 0, r.stderr
        owner = number()
        customer = (await sam.post("/api/v1/customers", {"name": "王五", "kind": "person", "phones": [owner]})).json()
        ticket = await sam.post("/api/v1/tickets", {"type": "repair", "customer_id": customer["id"],
                                                    "description": "空调不制冷"})
        assert ticket.status_code == 201, ticket.text
        ticket_id = str(ticket.json()["id"])
        stranger = number()

        plan = {  # caller -> how they behave
            "support": (number(), dict(dtmf="1", hold=6)),
            "sales": (number(), dict(dtmf="2", hold=6)),
            "operator": (number(), dict(dtmf="0", hold=6)),
            # 7 is not in the menu: "invalid", the menu replays, then 2 (sent during the replay)
            "invalid_then_sales": (number(), dict(dtmf="7wwwwwwwwww2", hold=6)),
            # * where a menu digit is expected, three times: the operator queue
            "star_star_star": (number(), dict(dtmf="*wwwwwwwwww*wwwwwwwwww*", hold=6)),
            # English, then silence: replayed once (no_input), then the fallback (support)
            "english_timeout": (number(), dict(dtmf="9", hold=30)),
            # hangs up 3 s into the greeting
            "hangup": (number(), dict(hold=2)),
            "product": (number(), dict(dtmf="3wwwwwww8801#", hold=22)),
            "ticket": (owner, dict(dtmf="4wwwwwww" + ticket_id + "#", hold=22)),
            "strangers_ticket": (stranger, dict(dtmf="4wwwwwww" + ticket_id + "#", hold=8)),
        }
        await asyncio.gather(*(call(ami, caller, name=label, **kw) for label, (caller, kw) in plan.items()))
        rows = dict(zip(plan, await asyncio.gather(*(finished_call(sam, caller) for caller, _ in plan.values()))))

        for label, queue, key in (("support", "support", "1"), ("sales", "sales", "2"),
                                  ("operator", "operator", "0")):
            row = rows[label]
            assert row["queue"] == queue, (label, row)
            assert row["ivr_path"][0]["node"] == "welcome" and row["ivr_path"][0]["outcome"] == "open"
            (main,) = steps(row, "main")
            assert (main["digits"], main["outcome"]) == (key, "route")
            assert row["ivr_path"][-1]["type"] == "queue" and row["ivr_path"][-1]["queue"] == queue
        assert row["ivr_path"][-1]["priority"] == 5  # the operator queue's priority rides along

        main = steps(rows["invalid_then_sales"], "main")
        assert [(s["digits"], s["outcome"]) for s in main] == [("7", "invalid"), ("2", "route")]
        assert rows["invalid_then_sales"]["queue"] == "sales"

        main = steps(rows["star_star_star"], "main")
        assert [(s["digits"], s["outcome"]) for s in main] == [("*", "invalid")] * 3
        assert main[-1]["then"] == "to_operator" and rows["star_star_star"]["queue"] == "operator"

        row = rows["english_timeout"]
        assert [s["outcome"] for s in steps(row, "main")] == ["route"]
        assert steps(row, "main")[0]["language"] == "en"
        assert [(s["outcome"], s.get("retry")) for s in steps(row, "main_en")] == [("timeout", 1), ("timeout", None)]
        assert row["queue"] == "support" and row["ivr_path"][-1]["language"] == "en"

        row = rows["hangup"]
        assert row["ivr_path"][-1] == {**row["ivr_path"][-1], "node": "main", "outcome": "hangup"}
        assert row["queue"] is None and row["outcome"] != "answered"

        (found,) = [s for s in steps(rows["product"], "product") if s["outcome"] == "found"]
        assert found["digits"] == "8801"
        (found,) = [s for s in steps(rows["ticket"], "ticket_status") if s["outcome"] == "found"]
        assert found["digits"] == ticket_id
        # after the status, nothing keyed: the after-lookup menu says goodbye and the IVR hangs up
        assert rows["ticket"]["ivr_path"][-1]["outcome"] in ("hangup_by_ivr", "hangup")
        # someone else's ticket is "not found" (no probing tickets by phone)
        outcomes = [s["outcome"] for s in steps(rows["strangers_ticket"], "ticket_status")]
        assert "found" not in outcomes and outcomes[0] == "invalid"

        log = srv.tail(400)
        assert "Traceback" not in log, log
        await sam.close()


def _closed_menu(tmp_path: Path) -> tuple[Path, date]:
    """The demo menu on a closed day: yesterday, today and tomorrow (Shanghai) are holidays."""
    today = datetime.now(SHANGHAI).date()
    days = [today + timedelta(days=d) for d in (-1, 0, 1)]
    text = DEMO_MENU.read_text(encoding="utf-8").replace(
        "holidays = []", "holidays = [" + ", ".join(f'"{d.isoformat()}"' for d in days) + "]")
    assert text != DEMO_MENU.read_text(encoding="utf-8")
    # 9 after hours: through to the duty engineer's phone (extension 1001) by a transfer node
    text = text.replace('"3" = { goto = "leave_message", intent = "repair" }',
                        '"3" = { goto = "leave_message", intent = "repair" }\n"9" = "to_duty"')
    text += '\n[nodes.to_duty]\ntype = "transfer"\nnumber = "1001"\n'
    path = tmp_path / "closed.toml"
    path.write_text(text, encoding="utf-8")
    return path, today + timedelta(days=2)


def _audio_rms(path: Path) -> tuple[float, float]:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.readframes(w.getnframes())
        seconds = w.getnframes() / w.getframerate()
    samples = memoryview(frames).cast("h")
    rms = (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5
    return seconds, rms


async def test_after_hours_voicemail_becomes_a_ticket_with_a_playable_recording(ami, tmp_path):
    menu, reopens = _closed_menu(tmp_path)
    async with ivr_server(ami, tmp_path, menu) as srv:
        sam = await srv.desk("sam", join_queues=False)
        await set_phone(ami, "1001", answer_delay=1, talk_time=2)
        complainer, repairer, urgent = number(), number(), number()
        await asyncio.gather(
            call(ami, urgent, name="Transfer Me", dtmf="9", hold=12),
            # 1 = complaint (during the greeting); speaks after the beep, then # ends the message
            call(ami, complainer, name="After Hours", dtmf="1", say="hello-world&hello-world", say_after=8,
                 dtmf2="#", hold=25),
            # 3 = repair; speaks, then hangs up in the middle of the message
            call(ami, repairer, name="Hangs Up", dtmf="3", say="hello-world&hello-world", say_after=8, hold=0.5),
        )
        rows = await asyncio.gather(finished_call(sam, complainer), finished_call(sam, repairer))
        transferred = await finished_call(sam, urgent)
        assert transferred["ivr_path"][-1] == {**transferred["ivr_path"][-1], "node": "to_duty",
                                               "outcome": "transfer", "number": "1001"}
        assert transferred["answered_at"] and transferred["agent"] == "alice"  # 1001 picked up
        db = sqlite3.connect(tmp_path / "real.db")
        try:
            for row, intent, caller, read_back in ((rows[0], "complaint", complainer, True),
                                                   (rows[1], "repair", repairer, False)):
                path = row["ivr_path"]
                assert path[0]["node"] == "welcome" and path[0]["outcome"] == "closed"
                (menu_step,) = steps(row, "closed_menu")
                assert menu_step["intent"] == intent
                (vm,) = [s for s in steps(row, "leave_message") if s["outcome"] != "hangup"]
                assert vm["outcome"] == "recorded" and vm["intent"] == intent
                reference = vm["reference"]
                ticket = (await sam.get(f"/api/v1/tickets/{reference}")).json()
                assert ticket["type"] == intent and ticket["priority"] == "high" and ticket["state"] == "new"
                assert ticket["call_id"] == row["id"]
                customer = (await sam.get(f"/api/v1/customers/{ticket['customer_id']}")).json()
                assert customer["provisional"] is True
                assert customer["phones"][0]["normalized"] == "+86" + caller
                if read_back:  # the caller stayed: reference read back, goodbye, the IVR hung up
                    assert path[-1]["node"] == "goodbye" and path[-1]["outcome"] == "hangup_by_ivr"
                else:  # hung up while recording: still a ticket, and the path says where they were
                    assert path[-1]["node"] == "leave_message" and path[-1]["outcome"] == "hangup"
                rec = db.execute("SELECT r.id, r.kind, r.status, r.source_path, r.storage_path, r.intent, "
                                 "r.customer_id, r.call_id FROM recordings r JOIN recording_tickets t "
                                 "ON t.recording_id = r.id WHERE t.ticket_id = ?", (int(reference),)).fetchall()
                assert len(rec) == 1, rec
                rid, kind, status, source, storage, rintent, rcustomer, rcall = rec[0]
                assert (kind, rintent, rcustomer, rcall) == ("voicemail", intent, ticket["customer_id"], row["id"])
                assert status in ("pending", "stored"), status
                audio = Path(source)
                if status == "stored":  # the recordings worker already ingested it
                    audio = (tmp_path / "recordings" / storage) if not Path(storage).is_absolute() else Path(storage)
                assert audio.is_file(), (status, source, storage)
                seconds, rms = _audio_rms(audio)
                assert seconds >= 1.0 and rms > 300, (seconds, rms)  # the caller's voice is in it
                callbacks = db.execute("SELECT reason, state, due_at FROM callbacks WHERE ticket_id = ?",
                                       (int(reference),)).fetchall()
                assert len(callbacks) == 1 and callbacks[0][:2] == ("voicemail", "pending")
                due = datetime.fromisoformat(str(callbacks[0][2]))
                due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
                assert due.astimezone(SHANGHAI) == datetime(reopens.year, reopens.month, reopens.day, tzinfo=SHANGHAI)
        finally:
            db.close()
        assert "Traceback" not in srv.tail(400)
        await sam.close()


async def test_an_invalid_menu_stops_the_server_from_starting(ami, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO_MENU.read_text(encoding="utf-8").replace('"2" = "to_sales"', '"2" = "to_nowhere"'),
                   encoding="utf-8")
    srv = Server(ami, tmp_path)
    srv.env["CTIDESK_IVR_CONFIG"] = str(bad)
    r = srv.cli("serve")
    assert r.returncode != 0
    assert 'nodes.main.choices."2": error: unknown target \'to_nowhere\'' in r.stderr, r.stderr
