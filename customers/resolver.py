"""Who is calling: match a caller's number to a customer, once per call.

Both the call writer and the screen pop need the answer for the same call at
about the same moment; one task per call computes it and every ringing agent
awaits the same task, so an unknown caller gets exactly one provisional
record however many agents ring.

Matching is a read (``reader.match``, microseconds on SQLite). Creating the
provisional record for an unknown but valid number is a write, and it goes
through the call store's single writer (``create_provisional``), so it never
fights the call writer for SQLite's write lock. A number that already has a
provisional record reuses it; anonymous and invalid numbers match nobody and
create nothing.

With a reader that answers at once, ``resolve_now`` asks for the provisional
record in the same callback that saw the call (no task hop), and ``pending``
gives the caller a future that is settled the moment the record's own short
transaction commits (issue 15).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from customers.phone import DIALABLE_KINDS, normalize

log = logging.getLogger(__name__)


def run_now(coro):
    """The value of a coroutine that never waits (a reader that ``answers_now``:
    its methods are ``async`` for the interface and answer synchronously)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError(f"{coro!r} waited: its reader does not answer at once")


@dataclass(frozen=True)
class Resolution:
    customer_id: int | None = None
    customer: dict | None = None  # a known (non-provisional) customer's card
    provisional_customer: dict | None = None
    numbers: list[str] = field(default_factory=list)  # normalised keys for history


class CallerResolver:
    """``create_provisional(call_id, number_raw, caller_name, then=None)`` asks for the
    record (the call store's: ``then(id)`` is called when it is committed) and returns
    an awaitable of its id."""

    def __init__(self, reader, create_provisional: Callable[[str, str, str | None], Awaitable[int]], *,
                 country_code: str = "86", keep_s: float = 120.0) -> None:
        self.reader = reader
        self.create_provisional = create_provisional
        self.country_code = country_code
        self.keep_s = keep_s
        self._tasks: dict[str, asyncio.Task] = {}
        self._listeners: dict[str, list] = {}  # call_id -> called when its provisional record is written

    def resolve(self, call_id: str, number_raw: str | None, caller_name: str | None) -> asyncio.Task:
        task = self._tasks.get(call_id)
        if task is None:
            task = asyncio.create_task(self._resolve(call_id, number_raw, caller_name))
            self._tasks[call_id] = task
        return task

    def resolve_now(self, call_id: str, number_raw: str | None, caller_name: str | None) -> Resolution | None:
        """The answer without leaving the event loop's current callback, when the reader
        answers at once (``answers_now``: SQLite) and no provisional record has to be
        written; None otherwise (``resolve`` then). Cached like ``resolve`` (issue 15: each
        hop through a busy loop cost the pop tens of ms in a burst of rings)."""
        known = self._tasks.get(call_id)
        if known is not None:
            if known.done() and not known.cancelled() and known.exception() is None:
                return known.result()
            return None
        if not getattr(self.reader, "answers_now", False):
            return None
        resolution = run_now(self._resolve(call_id, number_raw, caller_name, write=False))
        if resolution is None:  # a provisional record to write: through the call store's writer
            self._ask_now(call_id, number_raw, caller_name)
            return None
        done = asyncio.get_running_loop().create_future()
        done.set_result(resolution)
        self._tasks[call_id] = done
        return resolution

    def pending(self, call_id: str) -> asyncio.Future | None:
        """The resolution being made for ``call_id`` (a future), if one is."""
        return self._tasks.get(call_id)

    def when_resolved(self, call_id: str, fn: Callable[[Resolution | None, Exception | None], None]) -> bool:
        """Call ``fn(resolution, error)`` in the very callback that settles a resolution
        asked for by ``resolve_now`` (not one loop iteration per waiter later); False if
        there is none such for ``call_id``."""
        listeners = self._listeners.get(call_id)
        if listeners is None:
            return False
        listeners.append(fn)
        return True

    def _ask_now(self, call_id: str, number_raw: str, caller_name: str | None) -> None:
        """Ask the writer for the provisional record now; the resolution follows in the
        callback of its commit (no task: the card is read at once)."""
        done = asyncio.get_running_loop().create_future()
        keys = [normalize(number_raw, country_code=self.country_code).normalized]
        listeners: list = []

        def written(cid: int | None) -> None:
            resolution, error = None, None
            try:
                resolution = Resolution(cid, None, run_now(self.reader.card(cid)), keys)
            except Exception as exc:  # the pop sends the bare call and says why
                error = exc
            self._listeners.pop(call_id, None)
            for fn in listeners:
                fn(resolution, error)
            if error is None:
                done.set_result(resolution)
            else:
                done.set_exception(error)

        done.add_done_callback(lambda f: f.cancelled() or f.exception())  # read: no "never retrieved"
        self._tasks[call_id] = done
        self._listeners[call_id] = listeners
        self.create_provisional(call_id, number_raw, caller_name, then=written)

    def forget(self, call_id: str) -> None:
        """Drop the cached answer a while after the call ended."""
        asyncio.get_running_loop().call_later(self.keep_s, self._tasks.pop, call_id, None)

    async def _resolve(self, call_id: str, number_raw: str | None, caller_name: str | None, *,
                       write: bool = True) -> Resolution | None:
        """``write=False``: None instead of writing a provisional record."""
        number = normalize(number_raw, country_code=self.country_code)
        if number.normalized is None:
            return Resolution()
        keys = [number.normalized]
        matches = await self.reader.match(number.normalized)
        known = [cid for cid, provisional in matches if not provisional]
        if known:
            return Resolution(known[0], await self.reader.card(known[0]), None, keys)
        if matches:
            cid = matches[0][0]
        elif number.kind in DIALABLE_KINDS:
            if not write:
                return None
            cid = await self.create_provisional(call_id, number_raw, caller_name)
        else:
            return Resolution(numbers=keys)
        return Resolution(cid, None, await self.reader.card(cid), keys)
