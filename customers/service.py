"""Customer rules: finding a customer by any spelling of a number, creating one,
and the provisional record made for an unknown caller.

Keyword-only functions on an injected session. Writers add and flush but
never commit: the caller commits, together with its audit row.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from customers.models import CUSTOMER_KINDS, Customer, CustomerPhone
from customers.phone import DIALABLE_KINDS, normalize, search_keys

CALLER_NAME_MAX = 80
# Bidi embeddings/overrides/isolates: not Cc, but they make a name display
# as something else (the "Trojan Source" trick), so they go with the controls.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_ANONYMOUS_NAMES = frozenset({"", "unknown", "<unknown>", "anonymous", "restricted",
                              "private", "unavailable", "withheld"})


class InvalidPhoneError(ValueError):
    """A phone given for a customer is not a number one can store and dial."""

    def __init__(self, index: int, raw: str, kind: str) -> None:
        self.index, self.raw, self.kind = index, raw, kind
        super().__init__(f"phone {raw!r} is not a valid phone number ({kind})")


def _by_id_query():
    return select(Customer).options(selectinload(Customer.phones))


async def get(*, db: AsyncSession, customer_id: int) -> Customer | None:
    return (await db.execute(_by_id_query().where(Customer.id == customer_id))).scalar_one_or_none()


def _phone_filter(phone: str, country_code: str):
    keys = search_keys(phone, country_code=country_code)
    return Customer.id.in_(select(CustomerPhone.customer_id).where(
        CustomerPhone.normalized.in_(keys or [""])))  # no key: match nothing


_BEST_FIRST = (Customer.provisional.asc(), Customer.updated_at.desc(), Customer.id.desc())


async def find_by_phone(*, db: AsyncSession, phone: str, country_code: str = "86") -> list[Customer]:
    """Customers owning ``phone`` however written; real records before provisional
    ones, then the most recently updated (the likeliest caller) first."""
    if not search_keys(phone, country_code=country_code):
        return []
    stmt = _by_id_query().where(_phone_filter(phone, country_code)).order_by(*_BEST_FIRST)
    return list((await db.execute(stmt)).scalars())


async def search(*, db: AsyncSession, phone: str | None = None, q: str | None = None,
                 limit: int = 50, offset: int = 0,
                 country_code: str = "86") -> tuple[list[Customer], int]:
    """One page of customers matching a phone and/or a name substring, and the total."""
    conditions = []
    if phone:
        conditions.append(_phone_filter(phone, country_code))
    if q:
        conditions.append(Customer.name.icontains(q, autoescape=True))
    total = (await db.execute(select(func.count()).select_from(Customer).where(*conditions))).scalar_one()
    stmt = _by_id_query().where(*conditions).order_by(*_BEST_FIRST).limit(limit).offset(offset)
    return list((await db.execute(stmt)).scalars()), total


def _phones(raws: Iterable[str], country_code: str) -> list[CustomerPhone]:
    phones: list[CustomerPhone] = []
    seen: set[str] = set()
    for index, raw in enumerate(raws):
        number = normalize(raw, country_code=country_code)
        if number.kind not in DIALABLE_KINDS:
            raise InvalidPhoneError(index, raw if isinstance(raw, str) else repr(raw), number.kind)
        if number.normalized in seen:  # the same number written twice
            continue
        seen.add(number.normalized)
        phones.append(CustomerPhone(raw=number.raw.strip(), normalized=number.normalized,
                                    kind=number.kind))
    return phones


async def create(*, db: AsyncSession, name: str, kind: str = "person", phones: list[str],
                 notes: str = "", provisional: bool = False, source_call_id: str | None = None,
                 country_code: str = "86") -> Customer:
    """Add a customer with normalized phones (flushed, not committed).

    Raises :class:`InvalidPhoneError` (a ValueError naming the phone) for an
    anonymous or unreadable number, ValueError for an unknown kind.
    """
    if kind not in CUSTOMER_KINDS:
        raise ValueError(f"unknown customer kind {kind!r}: one of {', '.join(CUSTOMER_KINDS)}")
    customer = Customer(name=(name or "").strip(), kind=kind, provisional=provisional,
                        source_call_id=source_call_id, notes=notes or "",
                        phones=_phones(phones, country_code))
    db.add(customer)
    await db.flush()
    return customer


def clean_caller_name(name: str | None) -> str:
    """The network's caller name, kept as given (the UI escapes it) minus
    control characters, and cut to 80 characters."""
    if not name:
        return ""
    name = _BIDI.sub("", "".join(c for c in name if unicodedata.category(c) != "Cc")).strip()
    if name.lower() in _ANONYMOUS_NAMES:
        return ""
    return name[:CALLER_NAME_MAX].rstrip()


async def get_or_create_provisional(*, db: AsyncSession, number_raw: str | None,
                                    caller_name: str | None, call_id: str,
                                    country_code: str = "86") -> Customer:
    """The provisional customer for an unknown caller on call ``call_id``.

    Idempotent per call_id: a repeated event for the same call returns the
    record made the first time. Looking the number up first is the caller's
    job; this always makes a new record for a new call. An anonymous or
    unreadable number gives a record with no phone. Flushed, not committed;
    if a concurrent writer wins the race for this call_id, the session is
    rolled back and the winner's record returned.
    """
    if call_id:
        existing = (await db.execute(_by_id_query().where(
            Customer.source_call_id == call_id))).scalar_one_or_none()
        if existing is not None:
            return existing
    number = normalize(number_raw, country_code=country_code)
    phones = [number.raw.strip()[:64]] if number.kind in DIALABLE_KINDS else []
    try:
        return await create(db=db, name=clean_caller_name(caller_name), phones=phones,
                            provisional=True, source_call_id=call_id or None,
                            country_code=country_code)
    except IntegrityError:
        if not call_id:
            raise
        await db.rollback()
        return (await db.execute(_by_id_query().where(
            Customer.source_call_id == call_id))).scalar_one()


def card(customer: Customer) -> dict:
    """The JSON-ready view of a customer used by the API and the screen pop."""
    return {
        "id": customer.id,
        "name": customer.name,
        "kind": customer.kind,
        "provisional": customer.provisional,
        "phones": [{"raw": p.raw, "normalized": p.normalized, "kind": p.kind}
                   for p in customer.phones],
        "notes": customer.notes,
        "created_at": customer.created_at.isoformat() if customer.created_at else None,
    }
