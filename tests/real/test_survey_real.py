"""The post-call satisfaction survey (issue 14) with real calls through the sandbox.

Callers come in over the simulated carrier's SIP trunk; simulated agent phones
answer, talk and hang up; the caller stays on the line, the dialplan
(Queue option ``c``) sends them to ``[ctidesk-survey]`` and our FastAGI server
asks for a score. The caller keys it from the carrier's side (AMI ``PlayDTMF``
on the carrier's SIP channel: RFC 4733 over the trunk, as a phone sends it)
once the survey says it is asking (``SURVEY_ASKED`` on the PBX's channel), so
no key is timed by a guess.
"""
from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cti.oneshot import ami_action, ami_action_list
from sandbox.calls import ami_settings_for
from sandbox.runner import set_phone
from tests.realenv import call, serving, until, wait_no_channels

pytestmark = pytest.mark.asterisk

QUICK = Path(__file__).resolve().parents[1] / "fixtures" / "ivr" / "quick.toml"
SURVEY = """
[prompts.rate]
"zh-CN" = "请为本次服务评分，按1到5。"
en = "Please rate our service from 1 to 5."
[prompts.rate_again]
"zh-CN" = "请按1到5。"
en = "Please press 1 to 5."
[prompts.thanks]
"zh-CN" = "谢谢，再见。"
en = "Thank you, goodbye."

[survey]
queues = ["support", "sales"]
prompt = "rate"
thanks_prompt = "thanks"
invalid_prompt = "rate_again"
goodbye_prompt = "thanks"
timeout = 3
retries = 1
low_score = 2
"""


def number() -> str:
    return "137" + "".join(random.choice("0123456789") for _ in range(8))


async def _pbx_survey_channel(ami, caller: str) -> str | None:
    for row in await ami_action_list(ami, {"Action": "CoreShowChannels"}, timeout=10):
        if (row.get("Event") == "CoreShowChannel" and row.get("CallerIDNum") == caller
                and row.get("Application") == "AGI" and "/survey" in row.get("ApplicationData", "")):
            return row["Channel"]
    return None


async def asking(ami, caller: str, n: int) -> bool:
    """The survey of ``caller``'s call is asking its ``n``-th question."""
    channel = await _pbx_survey_channel(ami, caller)
    if channel is None:
        return False
    got = await ami_action(ami, {"Action": "Getvar", "Channel": channel, "Variable": "SURVEY_ASKED"})
    return got.get("Value") == str(n)


async def _carrier_channel(ami, caller: str) -> str | None:
    carrier = ami_settings_for(ami, "sip")
    for row in await ami_action_list(carrier, {"Action": "CoreShowChannels"}, timeout=10):
        if row.get("Channel", "").startswith("PJSIP/") and caller in (row.get("CallerIDNum"),
                                                                     row.get("ConnectedLineNum")):
            return row["Channel"]
    return None


async def key(ami, caller: str, digit: str) -> None:
    """The caller presses ``digit`` (sent by the carrier over the trunk)."""
    channel = await until(lambda: _carrier_channel(ami, caller), f"the carrier's channel of {caller}")
    resp = await ami_action(ami_settings_for(ami, "sip"),
                            {"Action": "PlayDTMF", "Channel": channel, "Digit": digit, "Duration": "250"})
    assert resp.get("Response") == "Success", resp


async def hang_up_caller(ami, caller: str) -> None:
    channel = await until(lambda: _carrier_channel(ami, caller), f"the carrier's channel of {caller}")
    resp = await ami_action(ami_settings_for(ami, "sip"), {"Action": "Hangup", "Channel": channel})
    assert resp.get("Response") == "Success", resp


async def call_of(client, caller: str, ready) -> dict:
    async def found():
        rows = (await client.get("/api/v1/calls", number=caller)).json()["items"]
        return next((r for r in rows if ready(r)), None)
    return await until(found, f"the call of {caller}", timeout=90)


async def test_survey_scores_low_score_callback_no_answer_and_caller_hanging_up_first(ami, tmp_path):
    menu = tmp_path / "survey.toml"
    menu.write_text(QUICK.read_text(encoding="utf-8") + SURVEY, encoding="utf-8")
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    async with serving(ami, tmp_path, {"CTIDESK_IVR_CONFIG": str(menu)}) as srv:
        for ext, talk in (("1001", 2), ("1002", 2), ("1003", 60)):
            await set_phone(ami, ext, answer_delay=1, talk_time=talk)
        desks = [await srv.desk(u) for u in ("alice", "bob", "carol")]
        sam = await srv.desk("sam", join_queues=False)
        happy, unhappy, silent, gone = number(), number(), number(), number()

        async def rate(caller: str, keys: list[str]) -> None:
            """Support (the IVR's timeout route); the agent hangs up after 2 s; the
            caller keys ``keys[i]`` when question i+1 is asked (None: says nothing)."""
            await call(ami, caller, name="Survey", hold=90)
            for n, digit in enumerate(keys, 1):
                await until(lambda n=n: asking(ami, caller, n), f"{caller}: question {n}", timeout=90)
                if digit is not None:
                    await key(ami, caller, digit)

        async def hang_up_first() -> None:
            """Sales (key 2): carol talks for a minute, the caller hangs up on her."""
            await call(ami, gone, name="Leaves", dtmf="2", hold=90)
            await call_of(sam, gone, lambda r: r["answered_at"])
            await hang_up_caller(ami, gone)

        await asyncio.gather(rate(happy, ["5"]), rate(unhappy, ["1"]), rate(silent, ["9", None]), hang_up_first())
        rows = {c: await call_of(sam, c, lambda r: r["ended_at"] and r["survey"])
                for c in (happy, unhappy, silent)}
        await wait_no_channels(ami, timeout=60)

        s = {c: rows[c]["survey"] for c in rows}
        assert (s[happy]["score"], s[happy]["outcome"], s[happy]["dtmf"], s[happy]["low"]) == (5, "scored", "5", False)
        assert (s[unhappy]["score"], s[unhappy]["outcome"], s[unhappy]["dtmf"], s[unhappy]["low"]) == (
            1, "scored", "1", True)
        # 9 is not a score: asked again, then silence: a polite goodbye and no score
        assert (s[silent]["score"], s[silent]["outcome"], s[silent]["dtmf"]) == (None, "no_input", "9")
        for c, row in rows.items():
            assert row["outcome"] == "answered" and row["queue"] == "support" and row["agent"] in ("alice", "bob")
            assert s[c]["agent"] == row["agent"] and s[c]["queue"] == "support" and s[c]["language"] == "zh-CN"
            # the call ended when the agent hung up, not when the caller finished the survey
            assert datetime.fromisoformat(row["ended_at"]) <= datetime.fromisoformat(s[c]["at"]), (row, s[c])
            assert row["duration_s"] < 8, row  # hello-world + 2 s of talk; the survey is not talk time
        assert s[happy]["callback_id"] is None and s[silent]["callback_id"] is None

        # the caller who hung up on carol was never surveyed
        left = await call_of(sam, gone, lambda r: r["ended_at"])
        assert left["agent"] == "carol" and left["answered_at"] and left["survey"] is None
        assert f"post-call survey of call {left['id']}" not in srv.tail(2000)

        # exactly one callback, for the 1
        cbs = [c for c in (await sam.get("/api/v1/callbacks", limit=200)).json()["items"] if c["reason"] == "survey"]
        assert [c["id"] for c in cbs] == [s[unhappy]["callback_id"]], cbs
        (cb,) = cbs
        assert cb["state"] == "pending" and cb["customer_id"] == rows[unhappy]["customer_id"]
        assert "1/5" in cb["notes"] and rows[unhappy]["agent"] in cb["notes"] and rows[unhappy]["id"] in cb["notes"]

        # the workload report: per agent, from the agents the calls really had
        expected: dict[str, list[int]] = {}
        for c in (happy, unhappy):
            expected.setdefault(rows[c]["agent"], []).append(s[c]["score"])
        r = await sam.get("/api/v1/reports/workload", **{"from": started.isoformat(),
                                                           "to": (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()})
        assert r.status_code == 200, r.text
        agents = {a["agent"]: a for a in r.json()["agents"]}
        for agent, scores in expected.items():
            got = agents[agent]
            assert (got["surveys"], got["avg_score"], got["low_scores"]) == (
                len(scores), round(sum(scores) / len(scores), 2), sum(x <= 2 for x in scores)), got
        assert agents["carol"]["surveys"] == 0 and agents["carol"]["avg_score"] is None

        assert "Traceback" not in srv.tail(2000)
        for d in desks:
            await d.close(leave_queues=True)
        await sam.close()
