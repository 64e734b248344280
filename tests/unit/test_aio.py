"""ctidesk.aio.cancel_and_wait: every service's stop() goes through it."""
from __future__ import annotations

import asyncio
import logging

from ctidesk.aio import cancel_and_wait


async def test_each_task_has_ended_when_it_returns_and_none_is_skipped():
    cleaned = []

    async def worker(name):
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(name)

    a, b = asyncio.create_task(worker("a")), asyncio.create_task(worker("b"))
    await asyncio.sleep(0)
    await cancel_and_wait(a, None, b)
    assert a.done() and b.done() and sorted(cleaned) == ["a", "b"]


async def test_a_task_that_failed_is_logged_and_does_not_stop_the_others(caplog):
    async def broken():
        raise RuntimeError("disk gone")

    async def waits():
        await asyncio.Event().wait()

    bad = asyncio.create_task(broken(), name="bad-one")
    good = asyncio.create_task(waits())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="ctidesk.aio"):
        await cancel_and_wait(bad, good)
    assert good.cancelled()
    assert "bad-one" in caplog.text and "disk gone" in caplog.text
