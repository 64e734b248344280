"""The supervisor store: journal replay after a crash writes nothing twice; a failing write is retried, not dropped."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from supervisor.models import AgentStateLog, QueueCall
from supervisor.store import SupervisorStore

ROW = {"call_id": "1.1", "queue": "support", "entered_at": 1_800_000_000.0, "answered_at": 1_800_000_010.0,
       "left_at": 1_800_000_100.0, "outcome": "answered", "wait_s": 10.0, "talk_s": 90.0, "agent_username": "alice"}
STATE = {"username": "alice", "at": 1_800_000_010.0, "state": "on_call", "reason": None, "queues": "support"}


async def counts(sessionmaker):
    async with sessionmaker() as db:
        return ((await db.execute(select(func.count()).select_from(QueueCall))).scalar(),
                (await db.execute(select(func.count()).select_from(AgentStateLog))).scalar())


async def test_journal_left_by_a_crash_is_replayed_once(app, tmp_path):
    sm = app.state.container.sessionmaker
    journal = tmp_path / "supervisor.journal"
    store = SupervisorStore(sm, journal=journal)
    store.start()
    store.record("queue_call", ROW)
    store.record("agent_state", STATE)
    await store.flush()
    assert await counts(sm) == (1, 1)
    await store.stop()
    # a crash right after the write, before the journal was truncated: same lines again, plus one new
    journal.write_text("\n".join(json.dumps(x) for x in (["queue_call", ROW], ["agent_state", STATE],
                                                          ["agent_state", {**STATE, "at": 1_800_000_100.0,
                                                                           "state": "available"}])) + "\n"
                       + '["agent_state", {"torn')
    again = SupervisorStore(sm, journal=journal)
    assert again.start() == 3
    await again.flush()
    assert await counts(sm) == (1, 2)
    await again.stop()
    assert journal.read_text() == ""


async def test_a_failing_write_is_retried_not_dropped(app):
    sm = app.state.container.sessionmaker
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        return sm()

    store = SupervisorStore(flaky)
    store.start()
    store.record("queue_call", ROW)
    await store.flush(timeout=5)
    assert await counts(sm) == (1, 0) and store.failed == 1
    await store.stop()


async def test_a_restart_refills_the_wallboard_window_from_stored_entries(app):
    import time
    from datetime import datetime, timezone

    from cti.model import LiveModel
    from supervisor.service import Supervisor

    now = time.time()
    ts = lambda t: datetime.fromtimestamp(t, tz=timezone.utc)  # noqa: E731
    async with app.state.container.sessionmaker() as db:
        for cid, entered, outcome, wait in [("a", now - 600, "answered", 8.0), ("b", now - 300, "abandoned", 30.0),
                                            ("old", now - 7200, "answered", 5.0)]:  # outside the 1 h window
            db.add(QueueCall(call_id=cid, queue="support", entered_at=ts(entered), left_at=ts(entered + 60),
                             outcome=outcome, wait_s=wait, talk_s=50.0 if outcome == "answered" else 0.0))
        await db.commit()
    sup = Supervisor(app.state.container, model=LiveModel(lambda e: None), directory=None)
    sup.start()
    await sup._warm
    q = sup.live.queue_stats("support")
    assert (q["answered"], q["abandoned"], q["asa_s"], q["service_level_pct"]) == (1, 1, 8.0, 50.0)
    await sup.stop()
