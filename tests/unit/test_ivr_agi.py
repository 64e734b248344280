"""The FastAGI server over real TCP, with a scripted Asterisk on the other end:
commands and variables it sends, hang-ups at any point, odd replies."""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ctidesk.bus import EventBus
from ivr.agi import FastAGIServer, MenuSource
from tests.unit.test_ivr_engine import DEMO, FakeServices
from tests.live import until

HEADERS = ("agi_network: yes\nagi_request: agi://127.0.0.1/ivr\nagi_channel: Local/s@x-1;1\n"
           "agi_uniqueid: 1700000000.{n}\nagi_callerid: 13800138000\nagi_calleridname: Zhang San\n"
           "agi_dnid: 4000\nagi_extension: 4000\n\n")


class FakeAsterisk:
    """One call: answers commands with ``reply(command)``; a reply of None closes the socket."""

    def __init__(self, port: int, reply, n: int = 1) -> None:
        self.port, self.reply, self.n = port, reply, n
        self.commands: list[str] = []

    async def run(self, *, send_headers: bool = True) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            if not send_headers:
                return
            writer.write(HEADERS.format(n=self.n).encode())
            await writer.drain()
            while True:
                line = await asyncio.wait_for(reader.readline(), 10)
                if not line:
                    return
                command = line.decode().strip()
                self.commands.append(command)
                answer = self.reply(command)
                if answer is None:
                    return
                writer.write(answer.encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()


def keys(*pressed):
    """Asterisk that presses ``pressed`` one per STREAM FILE / WAIT FOR DIGIT (None = nothing)."""
    queue = list(pressed)

    def reply(command: str):
        if command.startswith("GET VARIABLE CHANNEL(linkedid)"):
            return "200 result=1 (1700000000.1)"
        if command.startswith(("STREAM FILE", "WAIT FOR DIGIT")):
            if not queue:
                return "200 result=0 endpos=800" if command.startswith("STREAM") else "200 result=0"
            key = queue.pop(0)
            if key == "CLOSE":
                return None
            if key == "HANGUP":
                return "HANGUP"
            if key is None:
                return "200 result=0 endpos=800" if command.startswith("STREAM") else "200 result=0"
            return f"200 result={ord(key)} endpos=400"
        if command.startswith("SET VARIABLE"):
            return "200 result=1"
        if command.startswith("CHANNEL STATUS"):
            return "200 result=6"
        return "510 Invalid or unknown command"
    return reply


@contextlib.asynccontextmanager
async def agi_server(menu):
    """A FastAGI server on a free ``port`` serving the menu file ``menu``; ``events``: what it published."""
    bus = EventBus()
    events: list = []
    bus.subscribe(events.append)
    server = FastAGIServer(host="127.0.0.1", port=0, bus=bus, model_getter=lambda: None,
                           menus=MenuSource(menu), services=FakeServices())
    await server.start()
    server.port = server.server.sockets[0].getsockname()[1]
    server.events = events
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def agi():
    async with agi_server(DEMO) as server:
        yield server


def set_vars(commands):
    return dict(c[len("SET VARIABLE "):].split(" ", 1) for c in commands if c.startswith("SET VARIABLE"))


async def test_a_call_keys_2_and_the_dialplan_gets_the_queue(agi):
    ast = FakeAsterisk(agi.port, keys("2"))
    await ast.run()
    await until(lambda: agi.events)
    assert ast.commands[0] == "GET VARIABLE CHANNEL(linkedid)"
    assert ast.commands[1] == 'STREAM FILE zh-CN/welcome "0123456789*#"'
    assert set_vars(ast.commands) == {"IVR_LANG": '"zh-CN"', "IVR_PRIORITY": '"0"', "IVR_QUEUE": '"sales"',
                                      "IVR_ACTION": '"queue"'}
    (event,) = agi.events
    assert event.type == "call_ivr_completed" and event.call_id == "1700000000.1" and event.queue == "sales"
    assert (event.caller_number, event.caller_name) == ("13800138000", "Zhang San")
    assert [(s["node"], s["digits"], s["outcome"]) for s in event.ivr_path][:2] == [
        ("welcome", None, "open"), ("main", "2", "route")]


async def test_hangup_mid_menu_ends_cleanly_and_the_next_call_is_served(agi):
    await FakeAsterisk(agi.port, keys(None, None, "CLOSE")).run()
    await until(lambda: agi.events)
    path = agi.events[0].ivr_path
    assert path[-1]["node"] == "main" and path[-1]["outcome"] == "hangup" and agi.events[0].queue is None
    await FakeAsterisk(agi.port, keys("HANGUP"), n=2).run()
    await until(lambda: len(agi.events) == 2)
    assert agi.events[1].ivr_path[-1]["outcome"] == "hangup"
    ast = FakeAsterisk(agi.port, keys("1"), n=3)
    await ast.run()
    await until(lambda: len(agi.events) == 3)
    assert agi.events[2].queue == "support" and agi.errors == 0 and agi.active == 0


async def test_a_caller_gone_before_the_headers(agi):
    await FakeAsterisk(agi.port, keys()).run(send_headers=False)
    await until(lambda: agi.active == 0 and agi.sessions == 1)
    assert agi.events == []


async def test_a_missing_sound_file_on_a_live_channel_does_not_end_the_call(agi):
    pressed = iter(["-1", "2"])

    def reply(command):
        if command.startswith("STREAM FILE"):
            k = next(pressed, None)
            if k == "-1":
                return "200 result=-1 endpos=0"  # no such file
            return f"200 result={ord(k)} endpos=10" if k else "200 result=0 endpos=10"
        return keys()(command)

    ast = FakeAsterisk(agi.port, reply)
    await ast.run()
    await until(lambda: agi.events)
    assert "CHANNEL STATUS" in ast.commands and agi.events[0].queue == "sales"


async def test_an_agi_error_reply_still_leaves_the_dialplan_its_default(agi):
    def reply(command):
        if command.startswith("GET VARIABLE"):
            return "200 result=1 (1700000000.1)"
        return "510 Invalid or unknown command"

    ast = FakeAsterisk(agi.port, reply)
    await ast.run()
    await until(lambda: agi.events)
    assert agi.events[0].queue is None and agi.active == 0  # the dialplan's own default (support) applies
    assert agi.events[0].ivr_path[-1]["outcome"] == "error" and agi.errors == 1


async def test_many_calls_at_once(agi):
    calls = [FakeAsterisk(agi.port, keys(str(1 + i % 2)), n=i) for i in range(50)]
    await asyncio.gather(*(c.run() for c in calls))
    await until(lambda: len(agi.events) == 50)
    assert sorted(e.queue for e in agi.events) == ["sales"] * 25 + ["support"] * 25
    assert len(agi.overhead) > 0 and agi.active == 0


async def test_menu_edits_are_picked_up_between_calls_and_a_bad_edit_is_ignored(tmp_path):
    path = tmp_path / "ivr.toml"
    text = Path(DEMO).read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    async with agi_server(path) as server:
        path.write_text(text.replace('"2" = "to_sales"', '"2" = "to_operator"'), encoding="utf-8")
        await FakeAsterisk(server.port, keys("2")).run()
        await until(lambda: len(server.events) == 1)
        assert server.events[0].queue == "operator"
        path.write_text(text.replace('"2" = "to_sales"', '"2" = "to_mars"'), encoding="utf-8")
        await FakeAsterisk(server.port, keys("2"), n=2).run()
        await until(lambda: len(server.events) == 2)
        assert server.events[1].queue == "operator"  # the last good menu
        assert "to_mars" in server.menus.last_error


def test_test_calls_can_speak_into_a_voicemail_and_key_after_it():
    from sandbox.calls import TestCallError, build_originate

    _, action = build_originate("13800138000", dtmf="1", say="hello-world&hello-world", say_after=8, dtmf2="#")
    assert action["Variable"][1:] == ["CALLER_DTMF=1", "CALLER_SAY=hello-world&hello-world", "CALLER_SAY_AFTER=8",
                                      "CALLER_DTMF2=#"]
    for bad in (dict(say="x,y"), dict(say="ok", say_after=-1), dict(say="ok", dtmf2="12x")):
        with pytest.raises(TestCallError):
            build_originate("13800138000", **bad)
