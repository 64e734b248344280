"""Expert seat transfer (issue 11) against the fake AMI: the endpoint's checks,
the AMI actions it sends, the handoff in the next seat's screen pop, the
call_transferred frames and the call row naming both agents. The same flow
runs against the real Asterisk in tests/real/test_transfer_real.py."""
from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text

from tests.fakeami import event
from tests.live import app_on_fake_ami, desks, push
from tests.live import until

CALL = "1700000100.1"
CALLER = dict(Channel="PJSIP/carrier-00000001", Uniqueid=CALL, Linkedid=CALL, CallerIDNum="13800138000",
              CallerIDName="Zhang San", Exten="4000", Context="ctidesk-inbound")
ALICE_1 = "Local/1001@agents-00000002;1"


async def _sql(c, statement: str) -> list[tuple]:
    """Rows of ``statement`` on the app's own database (SQLite, or PostgreSQL in that tier)."""
    async with c.sessionmaker() as db:
        return [tuple(row) for row in (await db.execute(text(statement))).all()]


def answered_call() -> list[bytes]:
    """A queue call alice answered (her Local pair is in the call)."""
    return [
        event("Newchannel", ChannelState="4", **CALLER),
        event("QueueCallerJoin", Queue="support", Position="1", Count="1", **CALLER),
        event("Newchannel", Channel=ALICE_1, Uniqueid=CALL + "1", Linkedid=CALL, Context="agents", Exten="1001"),
        event("Newchannel", Channel="Local/1001@agents-00000002;2", Uniqueid=CALL + "2", Linkedid=CALL,
              Context="agents", Exten="1001"),
        event("AgentCalled", Queue="support", Interface="Local/1001@agents/n", MemberName="alice",
              DestChannel=ALICE_1, **CALLER),
        event("QueueCallerLeave", Queue="support", Position="1", Count="0", **CALLER),
        event("AgentConnect", Queue="support", Interface="Local/1001@agents/n", MemberName="alice",
              HoldTime="2", RingTime="1", DestChannel=ALICE_1, **CALLER),
    ]


def erin_rings(context: str = "ctidesk-inbound") -> list[bytes]:
    return [
        event("Newchannel", Channel="Local/1003@agents-00000005;1", Uniqueid=CALL + "5", Linkedid=CALL,
              Context="agents", Exten="1003"),
        event("DialBegin", DestChannel="Local/1003@agents-00000005;1", DestLinkedid=CALL,
              DestUniqueid=CALL + "5", **{**CALLER, "Context": context, "Exten": "1003"}),
    ]


@pytest.fixture
async def env(tmp_path):
    users = [("alice", dict(extension="1001", queues=["support"])), ("bob", dict(extension="1002", queues=["support"])),
             ("erin", dict(role="expert", extension="1003")), ("sam", dict(role="supervisor", extension="1009")),
             ("nora", dict(role="agent"))]  # nora: no extension
    async with app_on_fake_ami(tmp_path, users) as (app, fake):
        async with desks(app.state.base_url, {"alice": True, "erin": False, "sam": False}) as clients:
            yield app, fake, clients


def transfer(mode="blind", target=None, **kw):
    return {"mode": mode, "target": target or {"expert": "erin"}, **kw}


async def test_transfer_needs_an_answered_call(env):
    app, fake, clients = env
    r = await clients["alice"].post("/api/v1/agent/transfer", transfer())
    assert r.status_code == 409 and "not on an answered call" in r.json()["detail"]


@pytest.mark.parametrize("body,status,words", [
    (transfer(mode="warm"), 422, "mode"),
    (transfer(target={"expert": "erin", "queue": "support"}), 422, "target must be"),
    (transfer(target={"phone": "1003"}), 422, "target must be"),
    (transfer(target={"expert": ""}), 422, "non-empty"),
    (transfer(target={"expert": "ghost"}), 404, "no active user"),
    (transfer(target={"expert": "nora"}), 404, "no active user"),  # no extension
    (transfer(target={"expert": "alice"}), 422, "yourself"),
    (transfer(target={"expert": "sam"}), 422, "supervisor"),
    (transfer(target={"queue": "billing"}), 422, "no such queue"),
    (transfer(notes="x" * 2001), 422, "2000"),
    (transfer(draft={"description": "y" * 9000}), 422, "8192"),
    (transfer(draft=["not", "an", "object"]), 422, ""),
])
async def test_transfer_checks_say_what_is_wrong(env, body, status, words):
    app, fake, clients = env
    await push(fake, answered_call())
    model = app.state.container.bridge.model
    await until(lambda: CALL in model.calls and model.calls[CALL].answered_at is not None)
    r = await clients["alice"].post("/api/v1/agent/transfer", body)
    assert r.status_code == status, r.text
    assert words in json.dumps(r.json()["detail"])
    assert fake.count("BlindTransfer") == 0 and fake.count("Atxfer") == 0


async def test_blind_transfer_to_an_expert_pops_the_handoff_and_names_both_agents(env, tmp_path):
    app, fake, clients = env
    alice, erin, sam = clients["alice"], clients["erin"], clients["sam"]
    c = app.state.container
    await push(fake, answered_call())
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].answered_at is not None)
    draft = {"type": "repair", "description": "E21 again, 客户很着急", "priority": "high"}
    r = await alice.post("/api/v1/agent/transfer", transfer(notes="Wants an engineer on Friday", draft=draft))
    assert r.status_code == 202, r.text
    assert r.json()["target"] == {"expert": "erin"} and r.json()["call_id"] == CALL
    sent = [a for a in fake.actions if a.get("Action") == "BlindTransfer"]
    assert sent and sent[-1]["Channel"] == ALICE_1 and sent[-1]["Context"] == "ctidesk-xfer" \
        and sent[-1]["Exten"] == "1003"

    # Asterisk: the transfer, then erin's phone rings for the same call (same Linkedid)
    await push(fake, [event("BlindTransfer", Result="Success", TransfererChannel=ALICE_1,
                            TransfererLinkedid=CALL, TransfereeChannel=CALLER["Channel"], TransfereeUniqueid=CALL,
                            TransfereeLinkedid=CALL, IsExternal="Yes", Context="ctidesk-xfer", Extension="1003"),
                      event("Hangup", Channel=ALICE_1, Uniqueid=CALL + "1", Linkedid=CALL, Cause="16")]
               + erin_rings())
    pop = await erin.next_of("screen_pop", timeout=5)
    assert pop["call"]["id"] == CALL and pop["call"]["caller_number"] == "13800138000"
    assert pop["handoff"]["from_agent"] == "alice" and pop["handoff"]["notes"] == "Wants an engineer on Friday"
    assert pop["handoff"]["draft"] == draft and pop["handoff"]["mode"] == "blind"
    await alice.next_of("call_transferred", timeout=5)
    await until(lambda: erin.of_type("call_transferred"))  # next_of above may have read past it
    for client in (alice, erin):
        moved = client.of_type("call_transferred")[-1]
        assert (moved["call_id"], moved["from_agent"], moved["to_agent"], moved["mode"]) == (
            CALL, "alice", "erin", "blind")
    await push(fake, [event("DialEnd", DestChannel="Local/1003@agents-00000005;1", DestLinkedid=CALL,
                            DialStatus="ANSWER", **CALLER)])
    await until(lambda: c.bridge.model.calls[CALL].agent == "erin")
    answered = await erin.next_of("call_answered", timeout=5)  # erin's pop: answered, by her
    assert (answered["call_id"], answered["agent"], answered["handed_over_by"]) == (CALL, "erin", "alice")
    live = c.supervisor.live  # the wallboard: erin is on the call now, alice is not
    assert live.agents["erin"].state == "on_call" and live.agents["alice"].state != "on_call"
    await push(fake, [event("Hangup", Channel="Local/1003@agents-00000005;1", Uniqueid=CALL + "5", Linkedid=CALL),
                      event("Hangup", Channel="Local/1001@agents-00000002;2", Uniqueid=CALL + "2", Linkedid=CALL),
                      event("Hangup", Cause="16", **CALLER)])
    await erin.next_of("call_ended", timeout=5)
    await c.store.flush()

    async def call_row():
        return (await sam.get(f"/api/v1/calls/{CALL}")).json()
    for _ in range(100):
        row = await call_row()
        if row.get("agents") == ["alice", "erin"]:
            break
        await asyncio.sleep(0.05)  # the transfer's row update runs after the store's writes
    assert row["agents"] == ["alice", "erin"] and row["transferred_from"] == "alice" and row["agent"] == "erin"
    assert [(t["from_agent"], t["to_agent"], t["status"], t["notes"]) for t in row["transfers"]] == [
        ("alice", "erin", "completed", "Wants an engineer on Friday")]
    # both agents see the call; the handoff was audited
    assert (await alice.get(f"/api/v1/calls/{CALL}")).status_code == 200
    assert (await erin.get(f"/api/v1/calls/{CALL}")).status_code == 200
    assert [i["id"] for i in (await alice.get("/api/v1/calls")).json()["items"]] == [CALL]
    assert await _sql(c, "SELECT actor, target FROM audit_log WHERE action = 'agent.transfer'") == [
        ("alice", "erin")]


async def test_attended_transfer_to_a_queue_uses_atxfer(env):
    app, fake, clients = env
    c = app.state.container
    await push(fake, answered_call())
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].answered_at is not None)
    r = await clients["alice"].post("/api/v1/agent/transfer", transfer(mode="attended", target={"queue": "sales"},
                                                                       notes="billing question"))
    assert r.status_code == 202, r.text
    sent = [a for a in fake.actions if a.get("Action") == "Atxfer"]
    assert sent and (sent[-1]["Channel"], sent[-1]["Context"], sent[-1]["Exten"]) == (
        ALICE_1, "ctidesk-xfer", "q-sales")
    assert c.transfers.handoff_for(CALL, "bob")["notes"] == "billing question"
    assert c.transfers.handoff_for(CALL, "alice") is None  # not shown to who handed it over


async def test_attended_transfer_event_hands_the_call_to_the_answered_expert(env):
    app, fake, clients = env
    c = app.state.container
    await push(fake, answered_call())
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].answered_at is not None)
    r = await clients["alice"].post("/api/v1/agent/transfer", transfer(mode="attended", notes="n"))
    assert r.status_code == 202, r.text
    await push(fake, erin_rings() + [
        event("DialEnd", DestChannel="Local/1003@agents-00000005;1", DestLinkedid=CALL, DialStatus="ANSWER",
              **CALLER)])
    pop = await clients["erin"].next_of("screen_pop", timeout=5)
    assert pop["handoff"]["notes"] == "n" and pop["handoff"]["mode"] == "attended"
    assert c.bridge.model.calls[CALL].agent == "alice"  # the consult: alice still has the caller
    await push(fake, [event("AttendedTransfer", Result="Success", OrigTransfererChannel=ALICE_1,
                            OrigTransfererLinkedid=CALL, SecondTransfererChannel=ALICE_1,
                            TransfereeChannel=CALLER["Channel"], TransfereeUniqueid=CALL, TransfereeLinkedid=CALL,
                            TransferTargetChannel="Local/1003@ctidesk-xfer-0000000a;1",
                            TransferTargetLinkedid=CALL, DestType="Bridge")])
    moved = await clients["alice"].next_of("call_transferred", timeout=5)
    assert (moved["to_agent"], moved["mode"], moved["to_extension"]) == ("erin", "attended", "1003")
    call = c.bridge.model.calls[CALL]
    assert (call.agent, call.interface, call.transferred_from) == ("erin", "Local/1003@agents", "alice")


async def test_a_refused_transfer_is_a_502_and_the_handoff_is_dropped(env):
    app, fake, clients = env
    c = app.state.container
    await push(fake, answered_call())
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].answered_at is not None)
    original = c.bridge.action

    async def failing(action, timeout=10):
        if action.get("Action") in ("BlindTransfer", "Atxfer"):
            from cti.bridge import AMIError
            raise AMIError("Channel specified does not exist")
        return await original(action, timeout=timeout)
    c.bridge.action = failing
    try:
        r = await clients["alice"].post("/api/v1/agent/transfer", transfer())
    finally:
        c.bridge.action = original
    assert r.status_code == 502 and "refused" in r.json()["detail"]
    assert c.transfers.handoff_for(CALL, "erin") is None


async def test_the_recording_moves_to_the_caller_once(env):
    """The agent leg's MixMonitor stops, the caller's appends to the same file;
    a second transfer (erin onwards) starts no second MixMonitor."""
    app, fake, clients = env
    c = app.state.container
    await push(fake, answered_call() + [
        event("MixMonitorStart", Channel=ALICE_1, Uniqueid=CALL + "1", Linkedid=CALL, Context="ctidesk-rec")])
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].record_state == "recording")
    from recordings.models import Recording
    from sqlalchemy import select

    async def rows():
        async with c.sessionmaker() as db:
            return (await db.execute(select(Recording).where(Recording.call_id == CALL))).scalars().all()
    for _ in range(100):
        if await rows():
            break
        await asyncio.sleep(0.05)  # the recording service writes its row off the bus
    r = await clients["alice"].post("/api/v1/agent/transfer", transfer())
    assert r.status_code == 202 and r.json()["recording_moved"] is True, r.text
    stops = [a for a in fake.actions if a.get("Action") == "StopMixMonitor"]
    starts = [a for a in fake.actions if a.get("Action") == "MixMonitor"]
    assert [s["Channel"] for s in stops] == [ALICE_1]
    assert [(s["Channel"], s["Options"], s["File"].endswith(f"{CALL}.wav")) for s in starts] == [
        (CALLER["Channel"], "a", True)]
    (rec,) = await rows()
    assert (rec.uniqueid, rec.status) == (CALL, "recording")
    # Asterisk reports the agent leg's stop: the row (now the caller's) goes on recording
    await push(fake, [event("MixMonitorStop", Channel=ALICE_1, Uniqueid=CALL + "1", Linkedid=CALL),
                      event("MixMonitorStart", Channel=CALLER["Channel"], Uniqueid=CALL, Linkedid=CALL)])
    await push(fake, [event("BlindTransfer", Result="Success", TransfererChannel=ALICE_1, TransfererLinkedid=CALL,
                            TransfereeChannel=CALLER["Channel"], TransfereeUniqueid=CALL, TransfereeLinkedid=CALL,
                            Context="ctidesk-xfer", Extension="1003"),
                      event("Hangup", Channel=ALICE_1, Uniqueid=CALL + "1", Linkedid=CALL)] + erin_rings() + [
                      event("DialEnd", DestChannel="Local/1003@agents-00000005;1", DestLinkedid=CALL,
                            DialStatus="ANSWER", **CALLER)])
    await until(lambda: c.bridge.model.calls[CALL].agent == "erin")
    await asyncio.sleep(0.3)
    (rec,) = await rows()
    assert rec.status == "recording"
    # erin hands it on to the sales queue: the caller's MixMonitor already runs
    r = await clients["erin"].post("/api/v1/agent/transfer", transfer(target={"queue": "sales"}))
    assert r.status_code == 202, r.text
    assert fake.count("MixMonitor") == 1 and fake.count("StopMixMonitor") == 1
    sent = [a for a in fake.actions if a.get("Action") == "BlindTransfer"]
    assert (sent[-1]["Channel"], sent[-1]["Exten"]) == ("Local/1003@agents-00000005;1", "q-sales")


def test_model_attended_transfer_into_a_queue_hands_the_call_to_the_agent_who_answered():
    from cti.model import LiveModel

    out = []
    model = LiveModel(out.append, agent_devices={"Local/1001@agents": "alice", "Local/1003@agents": "carol"})
    fields = lambda **kw: {**CALLER, **kw}  # noqa: E731
    model.handle("Newchannel", fields())
    model.handle("Newchannel", {"Channel": ALICE_1, "Uniqueid": CALL + "1", "Linkedid": CALL})
    model.handle("AgentConnect", fields(Queue="support", Interface="Local/1001@agents/n", MemberName="alice"))
    # the consult: alice's Atxfer enters the sales queue, carol answers it
    model.handle("Newchannel", {"Channel": "Local/q-sales@ctidesk-xfer-0000000a;2", "Uniqueid": CALL + "8",
                                "Linkedid": CALL})
    model.handle("AgentConnect", {"Channel": "Local/q-sales@ctidesk-xfer-0000000a;2", "Uniqueid": CALL + "8",
                                  "Linkedid": CALL, "Queue": "sales", "Interface": "Local/1003@agents/n",
                                  "MemberName": "carol"})
    assert model.calls[CALL].agent == "alice"
    model.handle("AttendedTransfer", {"Result": "Success", "OrigTransfererChannel": ALICE_1,
                                      "TransfereeUniqueid": CALL, "TransfereeLinkedid": CALL,
                                      "TransferTargetChannel": "Local/q-sales@ctidesk-xfer-0000000a;1"})
    moved = [e for e in out if e.type == "call_transferred"]
    assert [(e.mode, e.from_agent, e.to_agent, e.to_queue) for e in moved] == [("attended", "alice", "carol", "sales")]
    handed = [e for e in out if e.type == "call_handed_over"]
    assert [(e.agent, e.from_agent) for e in handed] == [("carol", "alice")]
    assert out.index(moved[0]) < out.index(handed[0])  # the transfer, then who has the call
    assert not [e for e in out if e.type == "call_answered" and e.agent == "carol"]  # answered once only
    call = model.calls[CALL]
    assert (call.agent, call.interface, call.transfer_pending) == ("carol", "Local/1003@agents/n", None)
    model.handle("AttendedTransfer", {"Result": "Fail", "TransfereeUniqueid": CALL})  # failures change nothing
    assert len([e for e in out if e.type == "call_transferred"]) == 1


def test_model_attended_transfer_naming_no_agents_phone_goes_to_the_agent_who_rang_last():
    from cti.model import LiveModel

    out = []
    model = LiveModel(out.append, agent_devices={"Local/1001@agents": "alice", "Local/1003@agents": "erin"})
    model.handle("Newchannel", dict(CALLER))
    model.handle("Newchannel", {"Channel": ALICE_1, "Uniqueid": CALL + "1", "Linkedid": CALL})
    model.handle("AgentCalled", {**CALLER, "Queue": "support", "Interface": "Local/1001@agents/n",
                                 "MemberName": "alice", "DestChannel": ALICE_1})
    model.handle("AgentConnect", {**CALLER, "Queue": "support", "Interface": "Local/1001@agents/n",
                                  "MemberName": "alice"})
    model.handle("DialBegin", {"Channel": "Local/1003@ctidesk-xfer-0000000a;2", "Uniqueid": CALL + "8",
                               "Linkedid": CALL, "DestChannel": "Local/1003@agents-0000000b;1", "DestLinkedid": CALL})
    model.handle("AttendedTransfer", {"Result": "Success", "OrigTransfererChannel": ALICE_1,
                                      "TransfereeUniqueid": CALL, "TransfereeLinkedid": CALL,
                                      "TransferTargetChannel": "PJSIP/somewhere-00000009"})
    (moved,) = [e for e in out if e.type == "call_transferred"]
    assert (moved.from_agent, moved.to_agent) == ("alice", "erin")
    assert model.calls[CALL].agent == "erin"


# -- the 3-way consult (POST /api/v1/agent/transfer/consult) -------------------

async def _consulting(app, fake, clients):
    """alice is on the call and has started an attended transfer to erin."""
    c = app.state.container
    fake.variables.update({"FEATURE(atxferthreeway)": "*3", "FEATURE(atxfercomplete)": "*2",
                           "FEATURE(atxferabort)": "*1"})
    await push(fake, answered_call())
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].answered_at is not None)
    r = await clients["alice"].post("/api/v1/agent/transfer", transfer(mode="attended", notes="3-way please"))
    assert r.status_code == 202, r.text
    await push(fake, erin_rings())
    return c, r.json()["handoff_id"]


def _dtmf(fake) -> list[tuple]:
    return [(a["Channel"], a["Digit"], a["Receive"]) for a in fake.actions if a.get("Action") == "PlayDTMF"]


@pytest.mark.parametrize("body,status,words", [
    ({"action": "conference"}, 422, "action must be one of threeway, complete, cancel"),
    ({"action": "threeway"}, 409, "no attended transfer in progress"),
    ({}, 422, "action"),
])
async def test_consult_checks_say_what_is_wrong(env, body, status, words):
    app, fake, clients = env
    c = app.state.container
    await push(fake, answered_call())
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].answered_at is not None)
    # a blind transfer in flight is no consult either
    assert (await clients["alice"].post("/api/v1/agent/transfer", transfer())).status_code == 202
    r = await clients["alice"].post("/api/v1/agent/transfer/consult", body)
    assert r.status_code == status, r.text
    assert words in json.dumps(r.json()["detail"])
    assert _dtmf(fake) == []


async def test_only_the_agent_who_started_the_consult_drives_it(env):
    app, fake, clients = env
    await _consulting(app, fake, clients)
    r = await clients["erin"].post("/api/v1/agent/transfer/consult", {"action": "threeway"})
    assert r.status_code == 409, r.text
    assert _dtmf(fake) == []


async def test_threeway_brings_the_caller_in_and_the_expert_keeps_the_call_when_the_agent_leaves(env):
    app, fake, clients = env
    alice, erin, sam = clients["alice"], clients["erin"], clients["sam"]
    c, handoff_id = await _consulting(app, fake, clients)
    r = await alice.post("/api/v1/agent/transfer/consult", {"action": "threeway"})
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "joining", "action": "threeway", "call_id": CALL, "handoff_id": handoff_id}
    # Asterisk's atxferthreeway code, fed to alice's leg as if her phone sent it
    assert _dtmf(fake) == [(ALICE_1, "*", "yes"), (ALICE_1, "3", "yes")]
    await push(fake, [event("AttendedTransfer", Result="Success", OrigTransfererChannel=ALICE_1,
                            OrigTransfererLinkedid=CALL, SecondTransfererChannel=ALICE_1,
                            TransfereeChannel=CALLER["Channel"], TransfereeUniqueid=CALL, TransfereeLinkedid=CALL,
                            TransferTargetChannel="Local/1003@agents-00000005;1", TransferTargetLinkedid=CALL,
                            DestType="Threeway")])
    for client in (alice, erin):
        moved = await client.next_of("call_transferred", timeout=5)
        assert (moved["mode"], moved["from_agent"], moved["to_agent"], moved["handoff_id"]) == (
            "threeway", "alice", "erin", handoff_id)
    call = c.bridge.model.calls[CALL]
    assert call.agent == "alice" and call.conference == ("erin", "Local/1003@agents")  # alice still has it
    # the consult is over: no second threeway
    r = await alice.post("/api/v1/agent/transfer/consult", {"action": "threeway"})
    assert r.status_code == 409, r.text
    # alice hangs up: erin has the caller now
    await push(fake, [event("Hangup", Channel=ALICE_1, Uniqueid=CALL + "1", Linkedid=CALL, Cause="16"),
                      event("Hangup", Channel="Local/1001@agents-00000002;2", Uniqueid=CALL + "2", Linkedid=CALL)])
    answered = await erin.next_of("call_answered", timeout=5)
    assert (answered["agent"], answered["handed_over_by"]) == ("erin", "alice")
    assert (call.agent, call.conference) == ("erin", None)
    await push(fake, [event("Hangup", Channel="Local/1003@agents-00000005;1", Uniqueid=CALL + "5", Linkedid=CALL),
                      event("Hangup", Cause="16", **CALLER)])
    await erin.next_of("call_ended", timeout=5)
    await c.store.flush()

    async def row():
        got = (await sam.get(f"/api/v1/calls/{CALL}")).json()
        return got if got.get("agents") == ["alice", "erin"] and got["transfers"][0]["status"] == "completed" \
            else None
    for _ in range(100):
        got = await row()
        if got:
            break
        await asyncio.sleep(0.05)  # the transfer's row update runs after the store's writes
    assert got and got["agent"] == "erin"
    assert [(t["mode"], t["from_agent"], t["to_agent"], t["status"]) for t in got["transfers"]] == [
        ("threeway", "alice", "erin", "completed")]
    assert await _sql(c, "SELECT actor, target, detail FROM audit_log WHERE action = 'agent.transfer_consult'"
                      ) == [("alice", CALL, json.dumps({"action": "threeway", "handoff_id": handoff_id}))]


async def test_the_expert_leaving_a_threeway_leaves_the_agent_with_the_caller():
    from cti.model import LiveModel

    out = []
    model = LiveModel(out.append, agent_devices={"Local/1001@agents": "alice", "Local/1003@agents": "erin"})
    model.handle("Newchannel", dict(CALLER))
    model.handle("Newchannel", {"Channel": ALICE_1, "Uniqueid": CALL + "1", "Linkedid": CALL})
    model.handle("AgentConnect", {**CALLER, "Queue": "support", "Interface": "Local/1001@agents/n",
                                  "MemberName": "alice"})
    model.handle("Newchannel", {"Channel": "Local/1003@agents-00000005;1", "Uniqueid": CALL + "5", "Linkedid": CALL})
    model.handle("AttendedTransfer", {"Result": "Success", "OrigTransfererChannel": ALICE_1,
                                      "TransfereeUniqueid": CALL, "TransfereeLinkedid": CALL,
                                      "TransferTargetChannel": "Local/1003@agents-00000005;1",
                                      "DestType": "Threeway"})
    model.handle("Hangup", {"Channel": "Local/1003@agents-00000005;1", "Uniqueid": CALL + "5", "Linkedid": CALL})
    call = model.calls[CALL]
    assert (call.agent, call.conference) == ("alice", None)
    assert not [e for e in out if e.type == "call_handed_over"]
    model.handle("Hangup", {"Channel": ALICE_1, "Uniqueid": CALL + "1", "Linkedid": CALL})  # nobody to hand to
    assert not [e for e in out if e.type == "call_handed_over"]


async def test_cancel_goes_back_to_the_caller_and_drops_the_handoff(env):
    app, fake, clients = env
    c, handoff_id = await _consulting(app, fake, clients)
    assert c.transfers.handoff_for(CALL, "erin")["notes"] == "3-way please"
    r = await clients["alice"].post("/api/v1/agent/transfer/consult", {"action": "cancel"})
    assert r.status_code == 202 and r.json()["status"] == "cancelled", r.text
    assert _dtmf(fake) == [(ALICE_1, "*", "yes"), (ALICE_1, "1", "yes")]
    assert c.transfers.handoff_for(CALL, "erin") is None
    assert await _sql(c, "SELECT id, status FROM call_handoffs") == [(handoff_id, "cancelled")]
    # alice can try again
    r = await clients["alice"].post("/api/v1/agent/transfer", transfer(mode="attended"))
    assert r.status_code == 202, r.text


async def test_a_site_without_a_threeway_code_gets_a_clear_502(env):
    app, fake, clients = env
    await _consulting(app, fake, clients)
    fake.variables.pop("FEATURE(atxferthreeway)")
    r = await clients["alice"].post("/api/v1/agent/transfer/consult", {"action": "threeway"})
    assert r.status_code == 502 and "no atxferthreeway code" in r.json()["detail"], r.text
    assert _dtmf(fake) == []


async def test_the_transfer_picker_lists_experts_first_with_their_state_and_never_me(env):
    from tests.factories import PASSWORD
    from tests.live import DeskClient

    app, fake, clients = env
    bob = await DeskClient(app.state.base_url, "bob", PASSWORD).login()  # joins his queue
    live = app.state.container.supervisor.live
    await until(lambda: live.agents.get("bob") is not None and live.agents["bob"].state == "available")
    await bob.close()
    r = await clients["alice"].get("/api/v1/agent/transfer/targets")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(p["username"], p["role"], p["extension"]) for p in body["experts"]] == [
        ("erin", "expert", "1003"), ("bob", "agent", "1002")]  # not alice herself, not sam, not nora
    assert body["experts"][1]["state"] == "available"  # bob is logged in to his queue
    assert body["queues"] == ["support", "sales", "operator"]
    assert (await DeskClient(app.state.base_url, "x", "y").get("/api/v1/agent/transfer/targets")).status_code == 401


async def test_handoffs_of_live_calls_come_back_after_a_restart(env):
    """Our process restarted mid-transfer: the rows in call_handoffs bring the
    handoff back, so the expert's pop still shows the notes and draft."""
    from agent_desk.transfer import TransferService

    app, fake, clients = env
    c = app.state.container
    await push(fake, answered_call())
    await until(lambda: CALL in c.bridge.model.calls and c.bridge.model.calls[CALL].answered_at is not None)
    draft = {"type": "repair", "description": "滚筒不转"}
    r = await clients["alice"].post("/api/v1/agent/transfer", transfer(notes="after a restart", draft=draft))
    assert r.status_code == 202, r.text
    fresh = TransferService(c, directory=c.transfers.directory, model=c.bridge.model)  # memory lost
    assert fresh.handoff_for(CALL, "erin") is None
    assert await fresh.recover({CALL, "1700000999.9"}) == 1
    got = fresh.handoff_for(CALL, "erin")
    assert (got["notes"], got["draft"], got["from_agent"], got["mode"]) == (
        "after a restart", draft, "alice", "blind")
    assert await fresh.recover(set()) == 0
