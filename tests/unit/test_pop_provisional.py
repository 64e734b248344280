"""Issue 15: an unknown caller's pop costs what a known caller's costs.

The provisional record is asked for in the bus callback that saw the call, written
in its own short transaction (one trip to the call store's thread on SQLite), and
the pops of the agents whose phones rang meanwhile go out in the callback of that
commit: no task, no wait behind the call writer's batch. Nothing is lost: one
record per unknown number, a second call from it finds it, the call rows point at it.
"""
from __future__ import annotations

from sqlalchemy import select

from cti.models import CallRecord
from customers.models import Customer
from tests.unit.test_desk_flow import HOSTILE, answer_and_hangup, env, ring  # noqa: F401 (env: the fixture)
from tests.live import push


async def test_unknown_callers_pops_go_out_from_the_records_commit_once_per_number(env):  # noqa: F811
    app, fake, clients = env
    c = app.state.container
    pop = c.screen_pop
    assert c.store._fast is not None  # an SQLite file: the record is written in the store's thread
    inline, chained = pop.inline, pop.chained
    await push(fake, ring("1800000020.1", "021-5555-0177", HOSTILE, [("alice", "1001"), ("bob", "1002")]))
    first = [(await clients[who].next_of("screen_pop"))["provisional_customer"] for who in ("alice", "bob")]
    assert first[0]["id"] == first[1]["id"] and first[0]["provisional"] is True
    assert first[0]["phones"][0]["normalized"] == "+862155550177"
    assert (pop.inline, pop.chained) == (inline, chained + 2)  # neither in the ring nor from a task
    await push(fake, answer_and_hangup("1800000020.1", "021-5555-0177", HOSTILE, "alice", "1001"))
    await clients["alice"].next_of("call_ended")
    # the same unknown number again: the record made for the first call, found at once
    await push(fake, ring("1800000020.2", "+86 21 5555 0177", "", [("carol", "1003")]))
    again = await clients["carol"].next_of("screen_pop")
    assert again["provisional_customer"]["id"] == first[0]["id"]
    assert pop.inline == inline + 1
    await c.store.flush()
    async with c.sessionmaker() as db:
        made = (await db.execute(select(Customer.id).where(Customer.provisional.is_(True)))).scalars().all()
        linked = dict((await db.execute(select(CallRecord.call_id, CallRecord.customer_id).where(
            CallRecord.call_id.in_(["1800000020.1", "1800000020.2"])))).all())
    assert made == [first[0]["id"]]
    assert linked == {"1800000020.1": first[0]["id"], "1800000020.2": first[0]["id"]}
