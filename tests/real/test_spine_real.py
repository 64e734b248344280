"""The spine against the real sandbox Asterisk: calls placed by Originate ring
simulated phones; our server (a real process) pops the desks."""
from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from sandbox.runner import Sandbox, set_phone
from tests.realenv import call, wait_no_channels

pytestmark = pytest.mark.asterisk

HOSTILE = "<img src=x onerror=alert(1)>"


def number() -> str:
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


async def create_customer(client, name: str, phone: str) -> dict:
    r = await client.post("/api/v1/customers", {"name": name, "kind": "person", "phones": [phone]})
    assert r.status_code == 201, r.text
    return r.json()


async def call_row(client, call_id: str, *, until, timeout: float = 20) -> dict:
    """The persisted call as the API returns it, once ``until(row)`` holds."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        r = await client.get(f"/api/v1/calls/{call_id}")
        if r.status_code == 200:
            row = r.json()
            if until(row):
                return row
        await asyncio.sleep(0.2)  # polling the API under a deadline (writes are asynchronous)
    raise AssertionError(f"call {call_id} never reached the expected state: {row}")


async def test_pop_reaches_the_ringing_agent_before_answer(server, ami):
    await set_phone(ami, "1001", answer_delay=3, talk_time=2)
    alice = await server.desk("alice")
    sam = await server.desk("sam", join_queues=False)
    caller = number()
    await create_customer(sam, "张三 Zhang San", "+86 " + caller)
    await call(ami, caller, name="Zhang San", hold=20)
    pop = await alice.next_of("screen_pop", timeout=20)
    assert pop["customer"]["name"] == "张三 Zhang San"
    assert pop["call"]["caller_number"] == caller and pop["call"]["queue"] == "support"
    assert pop["call"]["ivr_path"], "the IVR ran and its path rides on the pop"
    answered = await alice.next_of("call_answered", timeout=20)
    assert answered["call_id"] == pop["call"]["id"] and answered["agent"] == "alice"
    assert alice.received.index(pop) < alice.received.index(answered)
    # the pop left well before the phone was picked up (answer delay 3 s)
    assert answered["_received_at"] - pop["_received_at"] > 1.0
    ended = await alice.next_of("call_ended", timeout=30)
    row = await call_row(sam, pop["call"]["id"], until=lambda r: r["ended_at"] is not None)
    assert row["outcome"] == "answered" and row["agent"] == "alice" and row["queue"] == "support"
    assert row["caller_number_normalized"] == "+86" + caller
    for key in ("started_at", "enqueued_at", "ringing_at", "answered_at", "ended_at"):
        assert row[key], key
    assert [step["node"] for step in row["ivr_path"]][:1] == ["welcome"]
    assert ended["outcome"] == "answered"
    await alice.close(leave_queues=True)
    await sam.close()
    log = server.log.read_text(errors="replace")
    assert "/ws/agent?token=[redacted]" in log  # the request line is logged, its token is not
    assert alice.token not in log and sam.token not in log


async def test_ring_all_pops_every_ringing_agent_and_nobody_else(server, ami):
    await set_phone(ami, "1001", answer_delay=2, talk_time=1)
    await set_phone(ami, "1002", answer_delay=8, talk_time=1)
    alice, bob, carol = [await server.desk(u) for u in ("alice", "bob", "carol")]
    await call(ami, number(), name="Li Si", hold=15)
    pop_a = await alice.next_of("screen_pop", timeout=20)
    pop_b = await bob.next_of("screen_pop", timeout=20)
    assert pop_a["call"]["id"] == pop_b["call"]["id"]
    assert (await bob.next_of("call_answered", timeout=20))["agent"] == "alice"
    await alice.next_of("call_ended", timeout=30)
    await bob.next_of("call_ended", timeout=30)
    assert carol.of_type("screen_pop") == []  # carol is in 'sales': her phone never rang
    for c in (alice, bob, carol):
        await c.close(leave_queues=True)


async def test_unknown_caller_gets_provisional_record(server, ami):
    await set_phone(ami, "1001", answer_delay=2, talk_time=1)
    alice = await server.desk("alice")
    await call(ami, "02155550123", name=HOSTILE, hold=10)
    pop = await alice.next_of("screen_pop", timeout=20)
    assert pop["customer"] is None
    provisional = pop["provisional_customer"]
    assert provisional["provisional"] is True and provisional["phones"][0]["normalized"] == "+862155550123"
    assert pop["call"]["caller_name"] == HOSTILE
    await alice.next_of("call_ended", timeout=30)
    found = (await alice.get("/api/v1/customers", phone="021-5555-0123")).json()
    assert [c["id"] for c in found["items"]] == [provisional["id"]]
    await alice.close(leave_queues=True)


async def test_asterisk_restart_mid_call_reconnects_resyncs_and_closes_the_call(server, ami):
    await set_phone(ami, "1001", answer_delay=1, talk_time=120)
    alice = await server.desk("alice")
    sam = await server.desk("sam", join_queues=False)
    await call(ami, number(), name="Restart", hold=120)
    pop = await alice.next_of("screen_pop", timeout=20)
    await alice.next_of("call_answered", timeout=20)
    before = await server.health(sam.token)
    await asyncio.to_thread(Sandbox(ami).restart)
    after = await server.wait_ami(60)
    assert after["ami_connected"]
    details = await server.health(sam.token)
    assert details["ami"]["connects"] > before["ami"]["connects"]
    row = await call_row(sam, pop["call"]["id"], until=lambda r: r["ended_at"] is not None, timeout=30)
    assert row["outcome"] == "answered"  # it was answered; the restart ended it
    await alice.close()
    await sam.close()


async def test_our_process_killed_mid_call_is_reconciled_on_restart(server, ami):
    await set_phone(ami, "1001", answer_delay=1, talk_time=3)
    alice = await server.desk("alice")
    await call(ami, number(), name="Crash", hold=30)
    pop = await alice.next_of("screen_pop", timeout=20)
    await alice.next_of("call_answered", timeout=20)
    server.kill()  # SIGKILL while the call is up: no shutdown code runs
    await wait_no_channels(ami)  # the call ends while we are down
    await server.start()
    sam = await server.desk("sam", join_queues=False)
    row = await call_row(sam, pop["call"]["id"], until=lambda r: r["ended_at"] is not None, timeout=30)
    assert row["outcome"] == "answered"
    assert row["answered_at"] and row["ringing_at"]
    await sam.close()


async def test_healthz_reports_ami_down_when_asterisk_is_gone(server, ami):
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).json()["ami_connected"] is True


async def test_dtmf_in_the_ivr_routes_to_sales_and_rides_on_the_pop(server, ami):
    await set_phone(ami, "1003", answer_delay=2, talk_time=1)
    alice, carol = [await server.desk(u) for u in ("alice", "carol")]
    await call(ami, number(), name="Keys Two", dtmf="2", hold=10)
    pop = await carol.next_of("screen_pop", timeout=20)
    assert pop["call"]["queue"] == "sales"
    main = [step for step in pop["call"]["ivr_path"] if step["node"] == "main"]
    assert main and main[0]["digits"] == "2" and main[0]["outcome"] == "route"
    await carol.next_of("call_ended", timeout=30)
    assert alice.of_type("screen_pop") == []  # alice is in support only
    for c in (alice, carol):
        await c.close(leave_queues=True)


async def test_click_to_dial_rings_the_agent_then_the_customer_and_is_recorded_as_outbound(server, ami):
    await set_phone(ami, "1001", answer_delay=1, talk_time=20)
    alice = await server.desk("alice")
    r = await alice.post("/api/v1/agent/dial", {"number": "+86 135 0000 3333"})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    rows = []
    while time.monotonic() < deadline:
        rows = [c for c in (await alice.get("/api/v1/calls")).json()["items"] if c["direction"] == "outbound"]
        if rows and rows[0]["ended_at"]:
            break
        await asyncio.sleep(0.3)  # polling the API under a deadline
    assert rows, "no outbound call row"
    row = rows[0]
    assert (row["agent"], row["outcome"], row["called_number"]) == ("alice", "answered", "13500003333")
    await alice.close(leave_queues=True)


@pytest.mark.parametrize("written", ["+86 {a} {b} {c}", "0086-{a}-{b}-{c}"])
async def test_trunk_number_with_spaces_or_dashes_pops_the_customer(server, ami, written):
    """A carrier writes the caller's number with spaces or dashes in From/PAI
    (a real INVITE over the sandbox's SIP trunk): it normalises like any other
    and pops the customer stored as a plain mobile number."""
    await set_phone(ami, "1001", answer_delay=2, talk_time=1)
    alice = await server.desk("alice")
    sam = await server.desk("sam", join_queues=False)
    caller = number()
    await create_customer(sam, "王五 Wang Wu", caller)
    on_trunk = written.format(a=caller[:3], b=caller[3:7], c=caller[7:])
    await call(ami, on_trunk, name="Wang Wu", hold=10)
    pop = await alice.next_of("screen_pop", timeout=20)
    assert pop["customer"] and pop["customer"]["name"] == "王五 Wang Wu"
    assert pop["call"]["caller_number"] == on_trunk  # shown as the network sent it
    row = await call_row(sam, pop["call"]["id"], until=lambda r: r["ended_at"] is not None, timeout=30)
    assert row["caller_number_normalized"] == "+86" + caller
    await alice.close(leave_queues=True)
    await sam.close()
