"""The menu engine on the demo menu and small menus, through a scripted caller.

The fake channel plays the caller: each ``wait_digit`` takes the next scripted
key (None = silence until the timeout), a key written ``!k`` interrupts the
prompt being played, ``HANGUP`` hangs up at that point.
"""
from __future__ import annotations

from collections import deque
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ivr.config import load_menu
from ivr.engine import CallerHungUp, Engine

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "ivr.toml"
OPEN = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)  # a Monday, noon in Shanghai


class FakeChannel:
    def __init__(self, *script) -> None:
        self.script = deque(script)
        self.played: list[str] = []
        self.recorded: list[dict] = []
        self.vars: dict = {}
        self.record_outcome = "dtmf"

    def _next(self):
        if not self.script:
            return None
        item = self.script.popleft()
        if item == "HANGUP":
            raise CallerHungUp("scripted hang-up")
        return item

    async def play(self, sound, escape):
        self.played.append(sound)
        if self.script and self.script[0] == "HANGUP":
            self._next()
        if escape and self.script and isinstance(self.script[0], str) and self.script[0].startswith("!"):
            key = self.script.popleft()[1:]
            assert key in escape
            return key
        return None

    async def wait_digit(self, timeout_s):
        item = self._next()
        return item.lstrip("!") if item else None

    async def record(self, path, *, max_s, silence_s, escape):
        self.recorded.append({"path": path, "max_s": max_s, "silence_s": silence_s})
        if self.record_outcome == "HANGUP":
            raise CallerHungUp("hung up while recording")
        return self.record_outcome

    async def set_var(self, name, value):
        self.vars[name] = value


class FakeServices:
    def __init__(self, now=OPEN, products=None, tickets=None, fail_lookup=False) -> None:
        self._now = now
        self.products = products or {}
        self.tickets = tickets or {}
        self.fail_lookup = fail_lookup
        self.said: list[tuple[str, str]] = []
        self.voicemails: list[dict] = []

    def sound(self, prompt, language):
        return f"{language}/{prompt}"

    async def say(self, text, language):
        self.said.append((text, language))
        return f"tts/{len(self.said)}"

    async def lookup(self, what, digits, session):
        if self.fail_lookup:
            raise RuntimeError("database down")
        return (self.products if what == "product" else self.tickets).get(digits)

    def voicemail_path(self, session):
        return f"/spool/{session.call_id}"

    async def leave_voicemail(self, session, *, intent, path, started, ended):
        self.voicemails.append({"intent": intent, "path": path, "language": session.language})
        return "42"

    def now(self):
        return self._now


@pytest.fixture(scope="module")
def demo():
    return load_menu(DEMO)


async def run(menu, *script, services=None, channel=None, **session):
    services = services or FakeServices()
    engine = Engine(menu, services)
    channel = channel or FakeChannel(*script)
    s = engine.new_session(call_id="c1", **session)
    await engine.run(channel, s)
    return s, channel, services


def path_of(session, node=None):
    return [(p["node"], p["digits"], p["outcome"]) for p in session.path if node is None or p["node"] == node]


async def test_each_route_of_the_demo_menu(demo):
    for key, queue in (("1", "support"), ("2", "sales"), ("0", "operator")):
        s, ch, _ = await run(demo, key)
        assert (s.action, s.queue) == ("queue", queue)
        assert path_of(s)[:2] == [("welcome", None, "open"), ("main", key, "route")]
        assert ch.played == ["zh-CN/welcome", "zh-CN/main_menu"]
    s, _, _ = await run(demo, "0")
    assert s.priority == 5


async def test_a_key_during_the_greeting_interrupts_it(demo):
    s, ch, _ = await run(demo, "!2")
    assert ch.played == ["zh-CN/welcome"] and s.queue == "sales"


async def test_invalid_key_then_valid_key_replays_with_the_invalid_prompt(demo):
    s, ch, _ = await run(demo, "7", "2")
    assert path_of(s, "main") == [("main", "7", "invalid"), ("main", "2", "route")]
    assert ch.played[2:] == ["zh-CN/invalid", "zh-CN/welcome", "zh-CN/main_menu"]
    assert s.queue == "sales"


async def test_star_and_hash_where_a_digit_is_expected_are_invalid_until_the_fallback(demo):
    s, _, _ = await run(demo, "*", "#", "8")
    assert path_of(s, "main") == [("main", "*", "invalid"), ("main", "#", "invalid"), ("main", "8", "invalid")]
    assert s.path[-2]["then"] == "to_operator" and s.queue == "operator"


async def test_silence_goes_to_the_timeout_target(demo):
    s, _, _ = await run(demo, None)
    assert path_of(s, "main") == [("main", None, "timeout")] and s.queue == "support"


async def test_language_choice_is_carried_and_timeout_replays_once(demo):
    s, ch, _ = await run(demo, "9", None, None)
    assert s.language == "en"
    assert [(p["outcome"], p.get("retry")) for p in s.path if p["node"] == "main_en"] == [("timeout", 1),
                                                                                           ("timeout", None)]
    assert "en/no_input" in ch.played and ch.played[-1] == "en/main_menu"
    assert s.queue == "support" and s.path[-1]["language"] == "en"


async def test_hangup_mid_menu_records_where_the_caller_was(demo):
    with pytest.raises(CallerHungUp):
        await run(demo, "HANGUP")
    engine = Engine(demo, FakeServices())
    session = engine.new_session(call_id="c2")
    with pytest.raises(CallerHungUp):
        await engine.run(FakeChannel("9", "HANGUP"), session)
    assert session.path[-1]["node"] == "main_en" and session.path[-1]["outcome"] == "hangup"


async def test_product_lookup_reads_the_product_then_offers_an_agent(demo):
    services = FakeServices(products={"8801": "Air conditioner. Six years of warranty."})
    s, ch, _ = await run(demo, "3", "8", "8", "0", "1", "#", "0", services=services)
    found = [p for p in s.path if p["node"] == "product"]
    assert [(p["digits"], p["outcome"]) for p in found] == [("8801", "found")]
    assert services.said == [("Air conditioner. Six years of warranty.", "zh-CN")]
    assert s.queue == "operator"  # 0 after the information: an agent


async def test_unknown_product_says_not_found_and_retries_then_the_operator(demo):
    s, ch, _ = await run(demo, "3", "1", "#", "2", "#", "3", "#")
    outcomes = [(p["digits"], p["outcome"]) for p in s.path if p["node"] == "product"]
    assert outcomes == [("1", "invalid"), ("2", "invalid"), ("3", "invalid")]
    assert ch.played.count("zh-CN/product_not_found") == 3 and s.queue == "operator"


async def test_a_failing_lookup_is_not_found_not_a_crash(demo):
    s, _, _ = await run(demo, "4", "5", "#", None, None, services=FakeServices(fail_lookup=True))
    assert [p["outcome"] for p in s.path if p["node"] == "ticket_status"][0] == "invalid"
    assert s.queue == "operator"


async def test_ticket_status_with_star_is_invalid(demo):
    s, _, _ = await run(demo, "4", "1", "*", "#", "0", "0", "#",
                        services=FakeServices(tickets={"100": "Ticket 100 is in progress."}))
    assert [(p["digits"], p["outcome"]) for p in s.path if p["node"] == "ticket_status"][0] == ("1*", "invalid")


async def test_lookup_keys_up_to_max_digits_without_terminator(demo):
    services = FakeServices(tickets={"1234567890": "Ticket found."})
    s, _, _ = await run(demo, "4", *"1234567890", None, services=services)
    assert [(p["digits"], p["outcome"]) for p in s.path if p["node"] == "ticket_status"] == [("1234567890", "found")]
    assert s.path[-1]["node"] == "goodbye" and s.action == "hangup"


def closed(menu_text: str, tmp_path: Path):
    path = tmp_path / "m.toml"
    path.write_text(menu_text, encoding="utf-8")
    return load_menu(path)


@pytest.fixture
def closed_demo(tmp_path):
    text = DEMO.read_text(encoding="utf-8").replace('holidays = []', 'holidays = ["2026-11-23"]')
    return closed(text, tmp_path)


async def test_after_hours_voicemail_with_intent_and_reference_read_back(closed_demo):
    services = FakeServices()
    s, ch, _ = await run(closed_demo, "!3", services=services)
    assert path_of(s)[0] == ("welcome", None, "closed") and s.closed_by == "hotline"
    assert services.voicemails == [{"intent": "repair", "path": "/spool/c1", "language": "zh-CN"}]
    assert ch.recorded == [{"path": "/spool/c1", "max_s": 120, "silence_s": 5}]
    assert ("4 2", "zh-CN") in services.said and "zh-CN/reference" in ch.played
    vm = [p for p in s.path if p["node"] == "leave_message"][0]
    assert (vm["outcome"], vm["reference"], vm["intent"]) == ("recorded", "42", "repair")
    assert s.action == "hangup" and s.reference == "42"


async def test_hanging_up_while_recording_still_leaves_the_voicemail(closed_demo):
    services = FakeServices()
    channel = FakeChannel("1")
    channel.record_outcome = "HANGUP"
    engine = Engine(closed_demo, services)
    session = engine.new_session(call_id="c9")
    with pytest.raises(CallerHungUp):
        await engine.run(channel, session)
    assert services.voicemails and services.voicemails[0]["intent"] == "complaint"
    assert session.path[-1]["node"] == "leave_message" and session.path[-1]["outcome"] == "hangup"


async def test_a_closed_queue_sends_callers_to_its_closed_node(tmp_path):
    text = DEMO.read_text(encoding="utf-8").replace(
        "\n[queues.sales]\n", '\n[queues.sales]\nhours = "sales_hours"\nclosed = "closed_menu"\n').replace(
        "\n[queues.support]\n", '\n[hours.sales_hours]\ntimezone = "Asia/Shanghai"\n'
                                  '[hours.sales_hours.weekly]\nmon = ["13:00-14:00"]\n\n[queues.support]\n')
    menu = closed(text, tmp_path)
    s, _, _ = await run(menu, "2", None, None)  # noon Monday: sales opens at 13:00
    assert [p["outcome"] for p in s.path if p["node"] == "to_sales"] == ["queue_closed"]
    assert any(p["node"] == "closed_menu" for p in s.path)
    assert s.closed_by == "sales_hours"  # a voicemail left now is called back when sales opens
    s, _, _ = await run(menu, "2", services=FakeServices(now=OPEN.replace(hour=5, minute=30)))
    assert s.queue == "sales"


async def test_transfer_node_ends_with_a_transfer(tmp_path):
    text = DEMO.read_text(encoding="utf-8").replace('"0" = "to_operator"\n\n# The same',
                                                    '"0" = "to_operator"\n"8" = "to_hotline"\n\n# The same')
    text += '\n[nodes.to_hotline]\ntype = "transfer"\nnumber = "4008001234"\n'
    menu = closed(text, tmp_path)
    s, _, _ = await run(menu, "8")
    assert (s.action, s.transfer_to, s.queue) == ("transfer", "4008001234", None)


async def test_the_step_guard_stops_a_caller_looping_through_menus(tmp_path):
    text = DEMO.read_text(encoding="utf-8").replace("voicemail_priority", "max_steps = 6\nvoicemail_priority")
    menu = closed(text, tmp_path)
    # 9 -> main_en, 1 back to ... a caller bouncing main_en -> product -> after_lookup -> main ...
    services = FakeServices(products={"1": "p"})
    s, _, _ = await run(menu, "3", "1", "#", "1", "3", "1", "#", "1", "3", "1", "#", services=services)
    assert any(p["outcome"] == "too_many_steps" for p in s.path) and s.queue == "operator"

