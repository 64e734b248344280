"""The bridge against a fake AMI server: reconnects, resync, garbage, duplicates."""
from __future__ import annotations

import asyncio

import pytest

from cti.bridge import Bridge
from cti.model import LiveModel
from cti.protocol import AMIConnectionLost
from tests.fakeami import FakeAMI, call_events, event


class Collector:
    """Domain events as an awaitable stream (no sleeps: wait for the event)."""

    def __init__(self) -> None:
        self.events: list = []
        self._queue: asyncio.Queue = asyncio.Queue()

    def __call__(self, e) -> None:
        self.events.append(e)
        self._queue.put_nowait(e)

    async def next_of(self, type_: str, timeout: float = 5.0):
        async def _wait():
            while True:
                e = await self._queue.get()
                if e.type == type_:
                    return e
        return await asyncio.wait_for(_wait(), timeout)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


@pytest.fixture
async def fake():
    server = await FakeAMI().start()
    yield server
    await server.stop()


@pytest.fixture
async def bridge(fake):
    collector = Collector()
    model = LiveModel(collector)
    b = Bridge(host="127.0.0.1", port=fake.port, username="cti", secret="s3cret", model=model,
               ping_interval=0.2, ping_timeout=0.3, reconnect_max=0.2)
    b.collector = collector
    b.start()
    assert await b.wait_ready(5), b.last_error
    yield b
    await b.stop()


async def _reconnected(fake: FakeAMI, bridge: Bridge, n: int) -> None:
    while (await asyncio.wait_for(fake.connections.get(), 5)) < n:
        pass
    assert await bridge.wait_ready(5)


async def _disconnected(bridge: Bridge) -> None:
    while bridge.connected:
        await asyncio.sleep(0.01)  # polling a condition under a deadline, not a fixed wait


async def test_login_resyncs_and_events_flow(fake, bridge):
    assert fake.count("CoreShowChannels") == 1 and fake.count("QueueStatus") == 1
    for data in call_events():
        await fake.push(data)
    ringing = await bridge.collector.next_of("call_ringing")
    assert (ringing.agent, ringing.queue, ringing.caller_number) == ("alice", "support", "13800138000")


async def test_wrong_secret_is_reported_and_retried(fake):
    model = LiveModel(lambda e: None)
    b = Bridge(host="127.0.0.1", port=fake.port, username="cti", secret="wrong", model=model,
               reconnect_max=0.1)
    b.start()
    try:
        assert not await b.wait_ready(1.0)
        assert "login refused" in (b.last_error or "")
        assert "wrong" not in (b.last_error or "") and "wrong" not in repr(b)
    finally:
        await b.stop()


async def test_connection_dropped_mid_call_resync_closes_orphan(fake, bridge):
    for data in call_events():
        await fake.push(data)
    await bridge.collector.next_of("call_ringing")
    fake.channels = []  # when we come back, Asterisk has no channel for that call
    await fake.drop()
    await _reconnected(fake, bridge, 2)
    ended = await bridge.collector.next_of("call_ended")
    assert (ended.call_id, ended.outcome) == ("1700000000.1", "lost")
    assert bridge.model.calls == {} and bridge.connects == 2 and bridge.resyncs == 2


async def test_resync_adopts_a_call_that_survived_the_outage(fake, bridge):
    await fake.drop()
    fake.channels = [dict(Channel="PJSIP/trunk-00000009", Uniqueid="1700000009.1", Linkedid="1700000009.1",
                          CallerIDNum="13912345678", CallerIDName="Li Si", Exten="4000",
                          ChannelStateDesc="Up", Duration="00:00:07", BridgeId="")]
    await _reconnected(fake, bridge, 2)
    created = await bridge.collector.next_of("call_created")
    assert created.call_id == "1700000009.1" and created.caller_number == "13912345678"
    assert bridge.model.calls["1700000009.1"].synthetic


async def test_half_open_socket_detected_by_watchdog(fake, bridge):
    fake.answer_ping = False  # the peer is "there" but never answers
    await _reconnected(fake, bridge, 2)  # the watchdog gave up on the silent connection
    fake.answer_ping = True
    assert "no reply to Ping" in (bridge.last_disconnect or "")


async def test_malformed_input_is_counted_and_the_stream_goes_on(fake, bridge):
    await fake.push(b"this is not AMI\r\n\r\n")
    await fake.push(b"Event: Newchannel\r\ngarbage line without separator\r\nUniqueid: 1.1\r\n"
                    b"Linkedid: 1.1\r\nChannel: PJSIP/x-00000001\r\nCallerIDNum: 10086\r\n\r\n")
    await fake.push(b"\xff\xfe\r\n\r\n")
    created = await bridge.collector.next_of("call_created")
    assert created.call_id == "1.1" and created.caller_number == "10086"
    assert bridge.protocol.malformed == 3
    assert bridge.connected and bridge.connects == 1


async def test_duplicated_events_produce_one_domain_event_each(fake, bridge):
    for data in call_events():
        await fake.push(data)
        await fake.push(data)  # every event twice
    await fake.push(event("Hangup", Channel="PJSIP/trunk-00000001", Uniqueid="1700000000.1",
                          Linkedid="1700000000.1", Cause="16"))
    await fake.push(event("Hangup", Channel="PJSIP/trunk-00000001", Uniqueid="1700000000.1",
                          Linkedid="1700000000.1", Cause="16"))
    await bridge.collector.next_of("call_ended")
    types = bridge.collector.types()
    assert types.count("call_created") == 1
    assert types.count("call_ringing") == 1
    assert types.count("call_ended") == 1


async def test_handler_error_is_skipped_not_fatal(fake, bridge):
    def boom(fields):
        raise RuntimeError("odd event")

    bridge.model.HANDLERS["QueueCallerJoin"] = boom
    for data in call_events():
        await fake.push(data)
    ringing = await bridge.collector.next_of("call_ringing")
    assert ringing.call_id == "1700000000.1"
    assert bridge.model.handler_errors == 1 and bridge.connects == 1


async def test_originate_pending_at_disconnect_fails_and_is_never_resent(fake, bridge):
    fake.answer_originate = False
    pending = asyncio.create_task(bridge.action({"Action": "Originate", "Channel": "Local/s@x",
                                                 "Exten": "4000", "Context": "c", "Priority": "1"}))
    await bridge.action({"Action": "Ping"})  # answered after the fake has read the Originate
    assert fake.count("Originate") == 1
    await fake.drop()
    with pytest.raises(AMIConnectionLost):
        await asyncio.wait_for(pending, 5)
    await _reconnected(fake, bridge, 2)
    assert fake.count("Originate") == 1


async def test_action_while_disconnected_raises_clearly(fake, bridge):
    await fake.stop()  # no server: reconnects keep failing
    await fake.drop()
    await asyncio.wait_for(_disconnected(bridge), 5)
    with pytest.raises(AMIConnectionLost, match="not connected"):
        await bridge.action({"Action": "QueueStatus"})
