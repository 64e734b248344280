"""Who is calling: match a caller's number to a customer, once per call.

Both the call writer and the screen pop need the answer for the same call at
about the same moment; one task per call computes it and both await it, so
an unknown caller gets exactly one provisional record however many agents ring.
An unknown but valid number gets a provisional customer created from the call
(no caller is lost); a number that already has a provisional record reuses it.
Anonymous and invalid numbers match nobody and create nothing.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from customers import service
from customers.phone import normalize, search_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolution:
    customer_id: int | None = None
    customer: dict | None = None  # a known (non-provisional) customer's card
    provisional_customer: dict | None = None
    numbers: list[str] = field(default_factory=list)  # normalised keys for history


class CallerResolver:
    def __init__(self, sessionmaker, *, country_code: str = "86", keep_s: float = 120.0) -> None:
        self.sessionmaker = sessionmaker
        self.country_code = country_code
        self.keep_s = keep_s
        self._tasks: dict[str, asyncio.Task] = {}

    def resolve(self, call_id: str, number_raw: str | None, caller_name: str | None) -> asyncio.Task:
        task = self._tasks.get(call_id)
        if task is None:
            task = asyncio.create_task(self._resolve(call_id, number_raw, caller_name))
            self._tasks[call_id] = task
        return task

    async def customer_id(self, call_id: str, number_raw: str | None, caller_name: str | None) -> int | None:
        try:
            return (await self.resolve(call_id, number_raw, caller_name)).customer_id
        except Exception:
            log.exception("resolving the caller of %s failed", call_id)
            return None

    def forget(self, call_id: str) -> None:
        """Drop the cached answer a while after the call ended."""
        loop = asyncio.get_running_loop()
        loop.call_later(self.keep_s, self._tasks.pop, call_id, None)

    async def _resolve(self, call_id: str, number_raw: str | None, caller_name: str | None) -> Resolution:
        number = normalize(number_raw, country_code=self.country_code)
        if number.normalized is None:
            return Resolution()
        keys = search_keys(number_raw) or [number.normalized]
        async with self.sessionmaker() as db:
            matches = await service.find_by_phone(db=db, phone=number_raw, country_code=self.country_code)
            known = [c for c in matches if not c.provisional]
            if known:
                return Resolution(known[0].id, service.card(known[0]), None, keys)
            if matches:
                return Resolution(matches[0].id, None, service.card(matches[0]), keys)
            created = await service.get_or_create_provisional(
                db=db, number_raw=number_raw, caller_name=caller_name, call_id=call_id,
                country_code=self.country_code)
            await db.commit()
            return Resolution(created.id, None, service.card(created), keys)
