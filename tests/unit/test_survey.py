"""The post-call satisfaction survey (issue 14): its configuration, the DTMF
dialog, one row per call, the callback of a low score, the report figures,
the calls API and the FastAGI ``/survey`` script."""
from __future__ import annotations

import asyncio
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from accounts.models import AuditLog
from cti.models import CallRecord
from ivr import survey
from ivr.agi import FastAGIServer, MenuSource
from ivr.config import Survey, check_menu_data, load_menu
from ivr.models import CallSurvey
from tests.factories import bearer, make_customer, quick_user
from tests.unit.test_ivr_agi import FakeAsterisk, set_vars, until
from tests.unit.test_ivr_engine import DEMO, FakeChannel, FakeServices
from tickets.models import Callback, Ticket, TicketHistory

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "tests" / "fixtures" / "ivr" / "quick.toml"
SPEC = Survey(prompts=("rate",), thanks_prompt="thanks", invalid_prompt="again", no_input_prompt="no_input",
              goodbye_prompt="bye", timeout=3, retries=1, low_score=2)
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


# --- configuration ----------------------------------------------------------------

def _menu_data(**survey_keys) -> dict:
    data = tomllib.loads(QUICK.read_text(encoding="utf-8"))
    data["prompts"].update({"rate": {"zh-CN": "请评分", "en": "Rate us"}, "thanks": {"zh-CN": "谢谢", "en": "Thanks"}})
    data["survey"] = {"queues": ["support"], "prompt": "rate", "thanks_prompt": "thanks", **survey_keys}
    return data


def _errors(data) -> dict[str, str]:
    menu, problems = check_menu_data(data, source="m.toml")
    errors = {p.key: p.message for p in problems if p.severity == "error"}
    assert (menu is None) == bool(errors)
    return errors


def test_the_demo_menu_surveys_its_queues():
    spec = load_menu(DEMO).survey
    assert spec.enabled and set(spec.queues) == {"support", "sales", "operator"}
    assert spec.prompts == ("survey",) and spec.thanks_prompt == "survey_thanks" and spec.low_score == 2
    menu = load_menu(DEMO)
    assert {"zh-CN", "en"} <= set(menu.prompts["survey"]) and "5" in menu.prompts["survey"]["zh-CN"]


def test_a_menu_without_a_survey_section_offers_none():
    menu, _ = check_menu_data(tomllib.loads(QUICK.read_text(encoding="utf-8")))
    assert menu.survey is None


def test_a_good_survey_section_and_its_defaults():
    menu, problems = check_menu_data(_menu_data())
    assert not [p for p in problems if p.severity == "error"]
    s = menu.survey
    assert (s.queues, s.prompts, s.timeout, s.retries, s.low_score) == (("support",), ("rate",), 5.0, 1, 2)
    assert s.applies_to("support") and not s.applies_to("sales") and not s.applies_to(None)
    every = check_menu_data(_menu_data(queues=[]))[0].survey
    assert every.applies_to("sales") and every.applies_to("operator")
    off = check_menu_data(_menu_data(enabled=False))[0].survey
    assert not off.applies_to("support")


@pytest.mark.parametrize("keys, key, words", [
    ({"low_score": 5}, "survey.low_score", "0..4"),
    ({"low_score": "2"}, "survey.low_score", "0..4"),
    ({"queues": ["support", "nowhere"]}, "survey.queues[1]", "unknown queue 'nowhere'"),
    ({"queues": "support"}, "survey.queues", "a list of queue names"),
    ({"timeout": 0}, "survey.timeout", "between 1 and 60"),
    ({"retries": 9}, "survey.retries", "0..5"),
    ({"enabled": "yes"}, "survey.enabled", "true or false"),
    ({"colour": "red"}, "survey.colour", "unknown key"),
    ({"goodbye_prompt": "adieu"}, "survey.goodbye_prompt", "unknown prompt 'adieu'"),
    ({"prompt": "nope"}, "survey.prompts", "unknown prompt 'nope'"),
])
def test_each_bad_survey_key_is_named(keys, key, words):
    errors = _errors(_menu_data(**keys))
    assert key in errors and words in errors[key], errors


def test_a_survey_needs_its_question_and_its_thanks():
    data = _menu_data()
    del data["survey"]["prompt"], data["survey"]["thanks_prompt"]
    errors = _errors(data)
    assert "required" in errors["survey.prompt"] and "required" in errors["survey.thanks_prompt"]
    data["survey"] = "yes"
    assert "expected a table" in _errors(data)["survey"]


def test_ivr_check_names_the_key(tmp_path):
    from ivr.cli import ivr_check

    path = tmp_path / "m.toml"
    path.write_text(QUICK.read_text(encoding="utf-8") + '\n[survey]\nprompt = "hello"\nthanks_prompt = "hello"\n'
                    'low_score = 7\n', encoding="utf-8")
    result = CliRunner().invoke(ivr_check, [str(path)])
    assert result.exit_code == 1
    assert "survey.low_score: error: an integer 0..4" in result.output


# --- the DTMF dialog ------------------------------------------------------------------

async def ask(*script, spec=SPEC):
    channel = FakeChannel(*script)
    result = await survey.ask(channel, spec, lambda p: f"zh-CN/{p}")
    return result, channel


async def test_a_score_keyed_after_the_question_is_stored_and_thanked():
    result, ch = await ask("4")
    assert result == survey.SurveyResult(4, "4", "scored", 1)
    assert ch.played == ["zh-CN/rate", "zh-CN/thanks"] and ch.vars["SURVEY_ASKED"] == "1"


async def test_a_key_interrupts_the_question():
    result, ch = await ask("!5")
    assert (result.score, result.dtmf) == (5, "5") and ch.played == ["zh-CN/rate", "zh-CN/thanks"]


@pytest.mark.parametrize("bad", ["9", "0", "6", "*", "#"])
async def test_a_key_that_is_not_1_to_5_asks_again_then_a_score_counts(bad):
    result, ch = await ask(bad, "2")
    assert result == survey.SurveyResult(2, bad + "2", "scored", 2)
    assert ch.played == ["zh-CN/rate", "zh-CN/again", "zh-CN/rate", "zh-CN/thanks"]
    assert ch.vars["SURVEY_ASKED"] == "2"


async def test_nine_then_nothing_ends_politely_with_no_score():
    result, ch = await ask("9", None)
    assert result == survey.SurveyResult(None, "9", "no_input", 2)
    assert ch.played == ["zh-CN/rate", "zh-CN/again", "zh-CN/rate", "zh-CN/bye"]


async def test_silence_and_wrong_keys_until_the_retries_run_out():
    result, ch = await ask(None, None)
    assert result == survey.SurveyResult(None, "", "no_input", 2)
    assert ch.played == ["zh-CN/rate", "zh-CN/no_input", "zh-CN/rate", "zh-CN/bye"]
    result, _ = await ask("*", "#", "5")  # retries = 1: the 5 is never asked for
    assert result == survey.SurveyResult(None, "*#", "invalid", 2)
    result, ch = await ask("7", spec=Survey(prompts=("rate",), thanks_prompt="thanks", retries=0))
    assert result == survey.SurveyResult(None, "7", "invalid", 1) and ch.played == ["zh-CN/rate"]


async def test_a_hang_up_is_an_outcome_not_an_error():
    result, _ = await ask("HANGUP")
    assert result == survey.SurveyResult(None, "", "hangup", 1)
    result, _ = await ask("8", "HANGUP")
    assert (result.score, result.dtmf, result.outcome) == (None, "8", "hangup")
    result, _ = await ask("3", "HANGUP")  # hung up on the thank-you: the 3 counts
    assert (result.score, result.outcome) == (3, "scored")


def test_low_scores():
    assert [survey.is_low(s, 2) for s in (1, 2, 3, 5, None)] == [True, True, False, False, False]
    assert not survey.is_low(1, 0)  # 0: no callbacks at all


# --- storage: one row per call, exactly one callback ---------------------------------------

def scored(score: int | None, outcome: str = "scored") -> survey.SurveyResult:
    return survey.SurveyResult(score, str(score or ""), outcome, 1)


async def test_one_row_per_call_and_exactly_one_callback_for_a_low_score(db, customer):
    ticket = Ticket(type="repair", customer_id=customer.id, description="滚筒不转", call_id="call-1",
                    priority="normal", state="new")
    db.add(ticket)
    await db.commit()
    row, cb = await survey.record(db=db, call_id="call-1", agent_username="alice", queue="support",
                                  result=scored(1), language="zh-CN", low_score=2, customer_id=customer.id,
                                  dialable=True)
    await db.commit()
    assert (row.score, row.low, row.callback_id) == (1, True, cb.id)
    assert (cb.reason, cb.state, cb.customer_id, cb.ticket_id) == ("survey", "pending", customer.id, ticket.id)
    assert "1/5" in cb.notes and "alice" in cb.notes and "call-1" in cb.notes
    # the survey again for the same call (a retry, a second survey): nothing new
    again = await survey.record(db=db, call_id="call-1", agent_username="alice", queue="support",
                                result=scored(2), language="zh-CN", low_score=2, customer_id=customer.id,
                                dialable=True)
    await db.commit()
    assert again == (None, None)
    assert (await db.execute(select(func.count()).select_from(CallSurvey))).scalar_one() == 1
    assert (await db.execute(select(func.count()).select_from(Callback))).scalar_one() == 1
    assert (await db.execute(select(CallSurvey.score))).scalar_one() == 1
    assert await survey.already_surveyed(db=db, call_id="call-1")
    # audited as the system; the ticket's history shows the callback
    audit = (await db.execute(select(AuditLog).where(AuditLog.action == "ivr.survey"))).scalars().all()
    assert [(a.actor, a.target) for a in audit] == [("system:survey", "call:call-1")]
    history = (await db.execute(select(TicketHistory).where(TicketHistory.ticket_id == ticket.id,
                                                            TicketHistory.kind == "callback"))).scalars().all()
    assert len(history) == 1 and history[0].actor == "system:survey"


async def test_no_callback_for_good_scores_unreachable_callers_or_threshold_zero(db, customer):
    cases = [("c-good", scored(3), 2, True), ("c-anon", scored(1), 2, False), ("c-never", scored(1), 0, True),
             ("c-none", scored(None, "no_input"), 2, True)]
    for call_id, result, low, dialable in cases:
        row, cb = await survey.record(db=db, call_id=call_id, agent_username="bob", queue="sales", result=result,
                                      language="en", low_score=low, customer_id=customer.id, dialable=dialable)
        assert cb is None and row.callback_id is None
    await db.commit()
    lows = dict((await db.execute(select(CallSurvey.call_id, CallSurvey.low))).all())
    assert lows == {"c-good": False, "c-anon": True, "c-never": False, "c-none": False}
    assert (await db.execute(select(func.count()).select_from(Callback))).scalar_one() == 0


# --- reading: the report figures and the calls API --------------------------------------------

@pytest.fixture
async def headers(app, db):
    sam = await quick_user(db, "sam", "supervisor")
    alice = await quick_user(db, "alice", "agent")
    s = app.state.container.settings
    return {"sam": bearer(s, sam), "alice": bearer(s, alice)}


async def test_workload_report_per_agent_figures(client, db, headers):
    def at(m):
        return T0 + timedelta(minutes=m)
    for i, (agent, score, low, minute) in enumerate([("alice", 5, False, 1), ("alice", 1, True, 2),
                                                     ("alice", None, False, 3), ("alice", 2, True, 4),
                                                     ("bob", 4, False, 5), ("bob", 1, True, 500)]):
        db.add(CallSurvey(call_id=f"c{i}", agent_username=agent, queue="support", score=score, dtmf=str(score or ""),
                          outcome="scored" if score else "no_input", low=low, created_at=at(minute)))
    await db.commit()
    figures = await survey.agent_figures(db=db, start=at(0), end=at(60))
    assert figures == {"alice": {"surveys": 3, "avg_score": 2.67, "low_scores": 2},
                       "bob": {"surveys": 1, "avg_score": 4.0, "low_scores": 0}}
    r = await client.get("/api/v1/reports/workload", params={"from": at(0).isoformat(), "to": at(60).isoformat()},
                         headers=headers["sam"])
    assert r.status_code == 200, r.text
    body = r.json()
    by_agent = {a["agent"]: a for a in body["agents"]}
    assert (by_agent["bob"]["surveys"], by_agent["bob"]["avg_score"], by_agent["bob"]["low_scores"]) == (1, 4.0, 0)
    table = body["tables"]["by_agent"]
    assert table["columns"][-3:] == ["surveys", "avg_score", "low_scores"]
    assert [r[-3:] for r in table["rows"]] == [[3, 2.67, 2], [1, 4.0, 0]]
    assert {"surveys", "avg_score", "low_scores"} <= set(body["formulas"])
    csv = await client.get("/api/v1/reports/workload", headers=headers["sam"],
                           params={"from": at(0).isoformat(), "to": at(60).isoformat(), "format": "csv"})
    assert csv.status_code == 200 and "avg_score" in csv.text


async def test_the_calls_api_shows_each_calls_survey(client, db, headers):
    for cid, agent in (("s1", "alice"), ("s2", "alice")):
        db.add(CallRecord(call_id=cid, queue="support", agent_username=agent, created_at=T0, answered_at=T0,
                          ended_at=T0 + timedelta(seconds=40), outcome="answered"))
    db.add(CallSurvey(call_id="s1", agent_username="alice", queue="support", score=4, dtmf="4", outcome="scored",
                      low=False, language="zh-CN", created_at=T0 + timedelta(seconds=45)))
    await db.commit()
    items = (await client.get("/api/v1/calls", headers=headers["alice"])).json()["items"]
    by_id = {c["id"]: c for c in items}
    assert by_id["s1"]["survey"]["score"] == 4 and by_id["s1"]["survey"]["outcome"] == "scored"
    assert by_id["s2"]["survey"] is None
    one = (await client.get("/api/v1/calls/s1", headers=headers["alice"])).json()
    assert one["survey"] == {"score": 4, "outcome": "scored", "dtmf": "4", "low": False, "agent": "alice",
                             "queue": "support", "language": "zh-CN", "callback_id": None,
                             "at": (T0 + timedelta(seconds=45)).isoformat()}


# --- the FastAGI /survey script ----------------------------------------------------------------

SURVEY_HEADERS = ("agi_network: yes\nagi_request: agi://127.0.0.1/survey\nagi_network_script: survey\n"
                  "agi_channel: PJSIP/carrier-1\nagi_uniqueid: 1700000000.{n}\nagi_callerid: 13800138000\n"
                  "agi_calleridname: Zhang San\nagi_arg_1: support\nagi_arg_2: Local/1001@agents/n\n"
                  "agi_arg_3: alice\n\n")


class SurveyServices(FakeServices):
    def __init__(self) -> None:
        super().__init__()
        self.done: set[str] = set()
        self.recorded: list[dict] = []

    def agent_username(self, agent, interface):
        return {"alice": "alice"}.get(agent)

    async def survey_done(self, call_id):
        return call_id in self.done

    async def record_survey(self, session, *, agent, queue, result, low_score):
        self.recorded.append({"call_id": session.call_id, "agent": agent, "queue": queue, "result": result,
                              "language": session.language, "low_score": low_score})
        self.done.add(session.call_id)
        return 1, None


class FakeModel:
    def __init__(self) -> None:
        self.calls: dict = {}
        self.ended: list[str] = []

    def end_after_agent(self, call_id, at):
        self.ended.append(call_id)
        return True


class SurveyAsterisk(FakeAsterisk):
    """Asterisk running ``AGI(agi://.../survey,support,Local/1001@agents/n,alice)``: the
    caller keys ``keys`` one per WAIT FOR DIGIT."""

    def __init__(self, port, *keys, linkedid="1700000000.1", lang="en") -> None:
        pressed = list(keys)

        def reply(command):
            if command.startswith("GET VARIABLE CHANNEL(linkedid)"):
                return f"200 result=1 ({linkedid})"
            if command.startswith("GET VARIABLE IVR_LANG"):
                return f"200 result=1 ({lang})"
            if command.startswith("STREAM FILE"):
                return "200 result=0 endpos=800"
            if command.startswith("WAIT FOR DIGIT"):
                key = pressed.pop(0) if pressed else None
                return f"200 result={ord(key)}" if key else "200 result=0"
            if command.startswith("SET VARIABLE"):
                return "200 result=1"
            return "510 Invalid or unknown command"
        super().__init__(port, reply)

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(SURVEY_HEADERS.encode())
            await writer.drain()
            while line := await asyncio.wait_for(reader.readline(), 10):
                command = line.decode().strip()
                self.commands.append(command)
                writer.write(self.reply(command).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()


async def _run_survey(menu_path, *keys, services=None, model=None, **kw):
    services = services or SurveyServices()
    server = FastAGIServer(host="127.0.0.1", port=0, bus=None, model_getter=lambda: model,
                           menus=MenuSource(menu_path), services=services)
    await server.start()
    try:
        ast = SurveyAsterisk(server.server.sockets[0].getsockname()[1], *keys, **kw)
        await ast.run()
        await until(lambda: server.active == 0)
        return ast, services, server
    finally:
        await server.stop()


async def test_agi_survey_scores_ends_the_call_for_the_desk_and_records(tmp_path):
    model = FakeModel()
    ast, services, server = await _run_survey(DEMO, "5", model=model)
    (rec,) = services.recorded
    assert (rec["call_id"], rec["agent"], rec["queue"], rec["language"], rec["low_score"]) == (
        "1700000000.1", "alice", "support", "en", 2)
    assert rec["result"] == survey.SurveyResult(5, "5", "scored", 1)
    assert model.ended == ["1700000000.1"]  # the agent is free before the question is asked
    assert set_vars(ast.commands)["SURVEY_RESULT"] == '"scored"'
    streams = [c for c in ast.commands if c.startswith("STREAM FILE")]
    assert streams[0].startswith("STREAM FILE en/survey ") and streams[-1].startswith("STREAM FILE en/survey_thanks")
    assert server.errors == 0


async def test_agi_survey_skips_uncovered_queues_menus_without_one_and_calls_already_asked(tmp_path):
    menu = tmp_path / "m.toml"
    menu.write_text(DEMO.read_text(encoding="utf-8").replace('queues = ["support", "sales", "operator"]',
                                                             'queues = ["sales"]'), encoding="utf-8")
    for path in (menu, QUICK):
        ast, services, _ = await _run_survey(path, "5")
        assert services.recorded == [] and set_vars(ast.commands) == {"SURVEY_RESULT": '"skipped"'}
        assert not [c for c in ast.commands if c.startswith("STREAM FILE")]
    services = SurveyServices()
    services.done.add("1700000000.1")
    ast, services, _ = await _run_survey(DEMO, "5", services=services)
    assert services.recorded == [] and set_vars(ast.commands) == {"SURVEY_RESULT": '"already"'}


async def test_the_survey_after_a_transfer_names_the_agent_who_had_the_caller_last(tmp_path):
    class Live:
        agent, interface, queue = "bob", "Local/1002@agents/n", "sales"

    model = FakeModel()
    model.calls["1700000000.1"] = Live()
    services = SurveyServices()
    services.agent_username = lambda agent, interface: agent
    _, services, _ = await _run_survey(DEMO, "3", services=services, model=model, lang="xx")
    (rec,) = services.recorded
    assert (rec["agent"], rec["queue"], rec["language"]) == ("bob", "sales", "zh-CN")  # unknown language: default


async def test_live_services_record_a_low_score_with_the_calls_customer(app, db):
    from ivr.engine import Session
    from ivr.services import LiveServices

    container = app.state.container
    customer = await make_customer(db, name="李四", phones=["13900139000"])
    db.add(CallRecord(call_id="L1", queue="support", agent_username="alice", customer_id=customer.id,
                      created_at=T0, answered_at=T0, ended_at=T0, outcome="answered"))
    await db.commit()
    services = LiveServices(container, lambda: load_menu(DEMO))
    session = Session(call_id="L1", caller_number="13900139000", language="zh-CN")
    survey_id, callback_id = await services.record_survey(session, agent="alice", queue="support",
                                                          result=scored(2), low_score=2)
    assert survey_id and callback_id
    assert await services.survey_done("L1")
    again = await services.record_survey(session, agent="alice", queue="support", result=scored(1), low_score=2)
    assert again == (None, None)
    async with container.sessionmaker() as s:
        cbs = (await s.execute(select(Callback))).scalars().all()
    assert [(c.id, c.customer_id, c.reason) for c in cbs] == [(callback_id, customer.id, "survey")]


def test_the_live_model_ends_the_call_at_the_agents_hang_up():
    from cti.model import LiveModel

    emitted: list = []
    model = LiveModel(emitted.append, agent_devices={"Local/1001@agents": "alice"})
    base = {"Linkedid": "L9", "Timestamp": "1700000000.0"}
    model.handle("Newchannel", {**base, "Uniqueid": "L9", "Channel": "PJSIP/carrier-01", "CallerIDNum": "13800138000",
                                "Exten": "4000"})
    assert not model.end_after_agent("L9", 1700000001.0)  # not answered: nothing to end
    model.handle("QueueCallerJoin", {**base, "Uniqueid": "L9", "Queue": "support", "CallerIDNum": "13800138000"})
    model.handle("Newchannel", {**base, "Uniqueid": "L9.1", "Channel": "Local/1001@agents-0001;1"})
    model.handle("AgentConnect", {**base, "Uniqueid": "L9", "Queue": "support", "MemberName": "alice",
                                  "Interface": "Local/1001@agents/n", "HoldTime": "2"})
    model.handle("Hangup", {**base, "Uniqueid": "L9.1", "Channel": "Local/1001@agents-0001;1"})
    assert "L9" in model.calls  # the caller's channel is still there (in the survey)
    assert model.end_after_agent("L9", 1700000005.0)
    (ended,) = [e for e in emitted if e.type == "call_ended"]
    assert (ended.call_id, ended.at, ended.outcome, ended.agent) == ("L9", 1700000005.0, "answered", "alice")
    assert "L9" not in model.calls and not model.calls_of_devices({"Local/1001@agents"})
    model.handle("Hangup", {**base, "Uniqueid": "L9", "Channel": "PJSIP/carrier-01"})  # the survey ends
    assert [e.type for e in emitted].count("call_ended") == 1
    assert not model.end_after_agent("L9", 1700000009.0)


def test_ivr_show_ends_with_the_survey():
    from ivr.config import tree_lines

    assert tree_lines(load_menu(DEMO))[-1].startswith("after the agent hangs up: survey 1-5 (on; queues support, "
                                                      "sales, operator; 1 retry(ies), 5s; a score <= 2 opens")
    assert not any("survey" in line for line in tree_lines(load_menu(QUICK)))


async def test_a_failing_write_is_retried_then_logged_whole(monkeypatch, caplog):
    import ivr.agi

    monkeypatch.setattr(ivr.agi, "RECORD_BACKOFF", 0.001)

    class Flaky(SurveyServices):
        fails = 2

        async def record_survey(self, session, **kw):
            if self.fails:
                self.fails -= 1
                raise RuntimeError("database is locked")
            return await super().record_survey(session, **kw)

    _, services, server = await _run_survey(DEMO, "4", services=Flaky())
    assert [r["result"].score for r in services.recorded] == [4] and server.errors == 0

    class Down(SurveyServices):
        async def record_survey(self, session, **kw):
            raise RuntimeError("disk full")

    _, _, server = await _run_survey(DEMO, "1", services=Down())
    assert server.errors == 1
    assert "NOT stored: agent=alice queue=support score=1 outcome=scored keys='1'" in caplog.text
