"""The whole app (HTTP, websockets, bridge, store, pop) against a fake AMI.

Fast and deterministic; the same claims are made against the real Asterisk in
tests/real/. Here the fake lets us script exactly which agents ring.
"""
from __future__ import annotations

import pytest

from tests.factories import PASSWORD, make_customer
from tests.fakeami import event
from tests.live import DeskClient, app_on_fake_ami, desks, push
from tickets.models import Ticket

HOSTILE = '<img src=x onerror=alert(1)>"\'&'


def caller(linkedid, number, name):
    return dict(Channel=f"PJSIP/trunk-{linkedid[-4:]}", Uniqueid=linkedid, Linkedid=linkedid,
                CallerIDNum=number, CallerIDName=name, Exten="4000", Context="ctidesk-inbound")


def ring(linkedid, number, name, agents):
    c = caller(linkedid, number, name)
    out = [event("Newchannel", ChannelState="4", **c),
           event("QueueCallerJoin", Queue="support", Position="1", Count="1", **c)]
    for username, ext in agents:
        out.append(event("AgentCalled", Queue="support", Interface=f"Local/{ext}@agents/n", MemberName=username,
                         DestChannel=f"Local/{ext}@agents-0000{ext};1", **c))
    return out


def answer_and_hangup(linkedid, number, name, username, ext):
    c = caller(linkedid, number, name)
    return [event("QueueCallerLeave", Queue="support", Position="1", Count="0", **c),
            event("AgentConnect", Queue="support", Interface=f"Local/{ext}@agents/n", MemberName=username,
                  HoldTime="4", RingTime="3", **c),
            event("Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"}, **c)]


@pytest.fixture
async def env(tmp_path):
    users = [(u, dict(extension=ext, queues=["support"])) for u, ext in (("alice", "1001"), ("bob", "1002"),
                                                                          ("carol", "1003"))]
    async with app_on_fake_ami(tmp_path, users + [("sam", dict(role="supervisor"))]) as (app, fake):
        async with app.state.container.sessionmaker() as db:
            zhang = await make_customer(db, name="张三 Zhang San", phones=["138 0013 8000"])
            db.add(Ticket(customer_id=zhang.id, type="repair", state="in_progress", description="E21 error"))
            db.add(Ticket(customer_id=zhang.id, type="install", state="closed", description="done"))
            await db.commit()
        async with desks(app.state.base_url, {"alice": True, "bob": True, "carol": True}) as clients:
            yield app, fake, clients


async def test_agent_login_adds_queue_member_named_by_username(env):
    app, fake, clients = env
    adds = [a for a in fake.actions if a.get("Action") == "QueueAdd"]
    assert {(a["MemberName"], a["Interface"], a["Queue"]) for a in adds} == {
        ("alice", "Local/1001@agents/n", "support"), ("bob", "Local/1002@agents/n", "support"),
        ("carol", "Local/1003@agents/n", "support")}


async def test_ring_all_pops_every_ringing_agent_and_nobody_else(env):
    app, fake, clients = env
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    await push(fake, ring("1800000000.1", "+86 138-0013-8000", "Zhang San", [("alice", "1001"), ("bob", "1002")]))
    pop_a = await alice.next_of("screen_pop")
    pop_b = await bob.next_of("screen_pop")
    for pop in (pop_a, pop_b):
        assert pop["call"]["id"] == "1800000000.1"
        assert pop["call"]["queue"] == "support"
        assert pop["call"]["caller_number_normalized"] == "+8613800138000"
        assert pop["customer"]["name"] == "张三 Zhang San"
        assert pop["provisional_customer"] is None
        assert [t["description"] for t in pop["open_tickets"]] == ["E21 error"]
    # carol's phone rings only for the second call: her only pop is that one
    await push(fake, ring("1800000000.2", "13912345678", "Li Si", [("carol", "1003")]))
    pop_c = await carol.next_of("screen_pop")
    assert pop_c["call"]["id"] == "1800000000.2"
    await push(fake, answer_and_hangup("1800000000.1", "+86 138-0013-8000", "Zhang San", "bob", "1002"))
    assert (await alice.next_of("call_answered"))["agent"] == "bob"
    assert (await alice.next_of("call_ended"))["outcome"] == "answered"
    assert (await bob.next_of("call_ended"))["call_id"] == "1800000000.1"
    assert [p["call"]["id"] for p in carol.of_type("screen_pop")] == ["1800000000.2"]
    assert not any(m.get("call_id") == "1800000000.1" for m in carol.received)


async def test_unknown_caller_gets_a_provisional_record_once(env):
    app, fake, clients = env
    await push(fake, ring("1800000001.1", "021-5555-0123", HOSTILE, [("alice", "1001"), ("bob", "1002")]))
    pop_a = await clients["alice"].next_of("screen_pop")
    pop_b = await clients["bob"].next_of("screen_pop")
    assert pop_a["customer"] is None and pop_b["customer"] is None
    assert pop_a["provisional_customer"]["id"] == pop_b["provisional_customer"]["id"]
    assert pop_a["provisional_customer"]["provisional"] is True
    assert pop_a["call"]["caller_name"] == HOSTILE  # intact; the desk renders it as text
    found = (await clients["alice"].get("/api/v1/customers", phone="+86 21 55550123")).json()
    assert [c["id"] for c in found["items"]] == [pop_a["provisional_customer"]["id"]]


async def test_call_row_is_complete_after_hangup_and_duplicates_are_harmless(env):
    app, fake, clients = env
    blocks = ring("1800000002.1", "13800138000", "Zhang San", [("alice", "1001")]) + \
        answer_and_hangup("1800000002.1", "13800138000", "Zhang San", "alice", "1001")
    await push(fake, blocks + blocks)  # the whole call replayed twice
    await clients["alice"].next_of("call_ended")
    await app.state.container.store.flush()
    r = await clients["alice"].get("/api/v1/calls", number="13800138000")
    rows = [c for c in r.json()["items"] if c["id"] == "1800000002.1"]
    assert len(rows) == 1
    row = rows[0]
    assert row["caller_number"] == "13800138000" and row["caller_number_normalized"] == "+8613800138000"
    assert (row["queue"], row["agent"], row["outcome"], row["hold_time_s"]) == ("support", "alice", "answered", 4)
    for key in ("started_at", "enqueued_at", "ringing_at", "answered_at", "ended_at"):
        assert row[key] is not None, key
    assert row["customer_id"] is not None and row["called_number"] == "4000"


async def test_agents_see_only_their_calls_supervisors_all(env):
    app, fake, clients = env
    await push(fake, ring("1800000003.1", "13800138000", "Z", [("bob", "1002")]) +
               answer_and_hangup("1800000003.1", "13800138000", "Z", "bob", "1002"))
    await clients["bob"].next_of("call_ended")
    await app.state.container.store.flush()
    assert [c["id"] for c in (await clients["alice"].get("/api/v1/calls")).json()["items"]] == []
    assert (await clients["alice"].get("/api/v1/calls", agent="bob")).status_code == 403
    sam = DeskClient(app.state.base_url, "sam", PASSWORD)
    await sam.login(join_queues=False)
    ids = [c["id"] for c in (await sam.get("/api/v1/calls", agent="bob")).json()["items"]]
    assert ids == ["1800000003.1"]
    assert (await sam.get("/api/v1/calls", **{"from": "2026-01-01T00:00:00"})).status_code == 422
    await sam.close()


async def test_unauthenticated_access_is_refused(env):
    app, fake, clients = env
    import httpx
    import websockets

    async with httpx.AsyncClient(base_url=app.state.base_url) as http:
        for path in ("/api/v1/calls", "/api/v1/customers", "/api/v1/agent/state"):
            assert (await http.get(path)).status_code == 401, path
        health = (await http.get("/healthz")).json()
        assert health == {"status": "ok", "ami_connected": True, "storage": "ok"}
    url = app.state.base_url.replace("http", "ws") + "/ws/agent?token=forged"
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4401


async def test_queue_login_and_logout_answer_with_the_state_asterisk_confirms(env):
    """Asterisk answers QueueAdd before it sends QueueMemberAdded (the fake does
    the same): the answer waits for the event, so the desk never shows a stale
    state over the one its socket pushed."""
    app, fake, clients = env
    alice = clients["alice"]
    fake.member_event_delay = 0.3
    r = await alice.post("/api/v1/agent/logout")
    assert r.status_code == 200 and r.json()["state"] == "logged_out"
    r = await alice.post("/api/v1/agent/login")
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["member_of"]) == ("available", ["support"])


async def test_agent_logout_removes_queue_membership(env):
    app, fake, clients = env
    r = await clients["alice"].post("/api/v1/agent/logout")
    assert r.status_code == 200
    removes = [a for a in fake.actions if a.get("Action") == "QueueRemove"]
    assert [(a["Queue"], a["Interface"]) for a in removes] == [("support", "Local/1001@agents/n")]


async def test_cross_origin_socket_is_refused_even_with_a_valid_token(env):
    app, fake, clients = env
    import websockets

    url = app.state.base_url.replace("http", "ws") + f"/ws/agent?token={clients['alice'].token}"
    async with websockets.connect(url, origin="http://evil.example") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4403


async def test_desk_state_follows_membership_ringing_and_call(env):
    app, fake, clients = env
    alice = clients["alice"]
    member = dict(Queue="support", MemberName="alice", Interface="Local/1001@agents/n",
                  StateInterface="Local/1001@agents", Paused="0")
    fake.emulate_queues = False  # membership from here on only by the events pushed below
    await fake.push(event("QueueMemberRemoved", **member))
    await alice.next_of("agent_state", state="logged_out")
    await fake.push(event("QueueMemberAdded", Status="1", **member))
    assert (await alice.next_of("agent_state", state="available"))["queues"] == ["support"]
    await push(fake, ring("1800000004.1", "13800138000", "Z", [("alice", "1001")]))
    await alice.next_of("agent_state", state="ringing")
    assert (await alice.get("/api/v1/agent/state")).json()["state"] == "ringing"
    await push(fake, answer_and_hangup("1800000004.1", "13800138000", "Z", "alice", "1001")[:2])
    await fake.push(event("QueueMemberStatus", Status="2", **member))
    await alice.next_of("agent_state", state="on_call")
    await fake.push(event("QueueMemberPause", Status="1", PausedReason="meal", **{**member, "Paused": "1"}))
    assert (await alice.next_of("agent_state", state="paused"))["paused_reason"] == "meal"


async def test_a_failing_lookup_still_pops_the_bare_call(env):
    app, fake, clients = env
    resolver = app.state.container.resolver

    async def broken(call_id, number, name, **kw):  # both paths: at once (write=False) and the task
        raise RuntimeError("database on fire")

    resolver._resolve = broken
    await push(fake, ring("1800000005.1", "13800138000", "Zhang San", [("alice", "1001")]))
    pop = await clients["alice"].next_of("screen_pop")
    assert pop["lookup_failed"] is True
    assert (pop["call"]["caller_number"], pop["call"]["caller_name"]) == ("13800138000", "Zhang San")


async def test_click_to_dial_rings_the_agent_phone_then_the_customer(env):
    app, fake, clients = env
    r = await clients["alice"].post("/api/v1/agent/dial", {"number": "+86 21 5555 0123", "callback_id": 7})
    assert r.status_code == 202, r.text
    [originate] = [a for a in fake.actions if a.get("Action") == "Originate"]
    assert (originate["Channel"], originate["Context"], originate["Exten"]) == (
        "Local/1001@agents/n", "ctidesk-outbound", "02155550123")
    r = await clients["alice"].post("/api/v1/agent/dial", {"number": "anonymous"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "number"]


async def test_dialling_a_callback_calls_its_customer(env):
    app, fake, clients = env
    from customers.service import find_by_phone
    from tickets.models import Callback

    async with app.state.container.sessionmaker() as db:
        [zhang] = await find_by_phone(db=db, phone="13800138000")
        cb = Callback(customer_id=zhang.id, assignee="alice")
        db.add(cb)
        await db.commit()
    r = await clients["alice"].post("/api/v1/agent/dial", {"callback_id": cb.id})
    assert r.status_code == 202, r.text
    assert [a["Exten"] for a in fake.actions if a.get("Action") == "Originate"] == ["13800138000"]
    assert (await clients["alice"].post("/api/v1/agent/dial", {"callback_id": 9999})).status_code == 422


@pytest.mark.sqlite_only  # inline needs a reader that answers at once (SQLite's)
async def test_a_known_callers_pop_goes_out_within_the_ring_itself(env):
    """Issue 15: with the SQLite reader the database part is built when the call comes in
    and the pop is queued to the socket in the ring's own bus callback (no task, no trip
    through a busy loop); an unknown caller's provisional record still goes through the
    call writer, so that pop takes the task path."""
    app, fake, clients = env
    pop = app.state.container.screen_pop
    before = pop.inline
    await push(fake, ring("1800000009.1", "13800138000", "Zhang San", [("alice", "1001"), ("bob", "1002")]))
    for who in ("alice", "bob"):
        assert (await clients[who].next_of("screen_pop"))["customer"]["name"] == "张三 Zhang San"
    assert pop.inline == before + 2
    await push(fake, ring("1800000009.2", "021-5555-0199", "Wang Wu", [("carol", "1003")]))
    assert (await clients["carol"].next_of("screen_pop"))["provisional_customer"]["provisional"] is True
    assert pop.inline == before + 2
