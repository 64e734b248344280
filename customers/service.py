"""Customer rules: finding a customer by any spelling of a number, creating,
editing and deleting one, its parts (phones, tags, addresses, contacts,
products), the 360 timeline, and merging duplicates.

Keyword-only functions on an injected session. Writers add and flush but
never commit: the caller commits, together with its audit row.

Bad input raises :class:`FieldError` (a ValueError that knows which field,
as an API ``loc``), a state that forbids the change raises
:class:`ConflictError`, and a missing row :class:`NotFoundError`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

from sqlalchemy import and_, func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from customers.models import (CUSTOMER_KINDS, VALUE_CLASSES, Customer, CustomerAddress, CustomerContact,
                              CustomerPhone, CustomerProduct, CustomerTag)
from customers.phone import DIALABLE_KINDS, normalize, search_keys
from ctidesk.db import Base, utcnow

CALLER_NAME_MAX = 80
NAME_MAX = 200
TAG_MAX = 40
TAGS_MAX = 30
SHORT_TEXT_MAX = 80  # region, industry, product model, serial, contact role
# Bidi embeddings/overrides/isolates: not Cc, but they make a name display
# as something else (the "Trojan Source" trick), so they go with the controls.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_ANONYMOUS_NAMES = frozenset({"", "unknown", "<unknown>", "anonymous", "restricted",
                              "private", "unavailable", "withheld"})
# What people type between the digits of a number they half remember.
_NUMBER_NOISE = re.compile(r"[\s\-().+/\u3000（）－]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
PHONE_FRAGMENT_MIN = 4
SERIAL_PREFIX_MIN = 3
# Separators that cannot appear inside a tag (they split tag lists on import).
_TAG_FORBIDDEN = re.compile(r"[,;，；、|]")


class FieldError(ValueError):
    """Bad input for one field; ``loc`` is its path, as in a 422 (without "body")."""

    def __init__(self, loc: Iterable[str | int], msg: str, value: Any = None) -> None:
        self.loc = tuple(loc)
        self.msg = msg
        self.value = value
        super().__init__(msg)

    def within(self, *prefix: str | int) -> "FieldError":
        """The same error one level down, e.g. under ("products", 2)."""
        return FieldError((*prefix, *self.loc), self.msg, self.value)


class InvalidPhoneError(FieldError):
    """A phone given for a customer is not a number one can store and dial."""

    def __init__(self, index: int, raw: str, kind: str, field: str = "phones") -> None:
        self.index, self.raw, self.kind = index, raw, kind
        super().__init__((field, index), f"phone {raw!r} is not a valid phone number ({kind})", raw)


class ConflictError(Exception):
    """The customer's state forbids this (merged away, has history...): a 409."""


class NotFoundError(LookupError):
    """No such customer, or no such part of this customer: a 404."""


# --- reading ----------------------------------------------------------------

def _by_id_query():
    return select(Customer).options(selectinload(Customer.phones))


async def get(*, db: AsyncSession, customer_id: int) -> Customer | None:
    """The customer with every part loaded, merged-away records included."""
    return (await db.execute(_by_id_query().where(Customer.id == customer_id))).scalar_one_or_none()


async def get_active(*, db: AsyncSession, customer_id: int) -> Customer:
    """The customer to change; NotFoundError, or ConflictError if merged away."""
    customer = await get(db=db, customer_id=customer_id)
    if customer is None:
        raise NotFoundError(f"customer {customer_id} not found")
    require_active(customer)
    return customer


def require_active(customer: Customer) -> None:
    if customer.merged_into_id is not None:
        raise ConflictError(f"customer {customer.id} was merged into customer "
                            f"{customer.merged_into_id}; change that one instead")


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
    stmt = _by_id_query().where(_phone_filter(phone, country_code),
                                Customer.merged_into_id.is_(None)).order_by(*_BEST_FIRST)
    return list((await db.execute(stmt)).scalars())


def _phone_fragment(text: str) -> str | None:
    """The digits of ``text`` if it reads as (part of) a number: at least four
    ASCII digits once spaces, dashes, brackets, dots and plus are removed."""
    digits = _NUMBER_NOISE.sub("", text)
    if len(digits) >= PHONE_FRAGMENT_MIN and _ASCII_DIGITS.fullmatch(digits):
        return digits
    return None


def _q_filter(q: str, country_code: str):
    """Free text: every word in the name (case-insensitive), or a fragment of
    one of the customer's or their contacts' numbers, or a serial prefix, or a tag."""
    text = q.strip()
    words = text.split()
    matches = [and_(*(Customer.name.icontains(w, autoescape=True) for w in words))] if words else []
    fragment = _phone_fragment(text)
    if fragment:
        keys = search_keys(text, country_code=country_code)  # "010 5555..." has a trunk 0
        matches.append(Customer.id.in_(select(CustomerPhone.customer_id).where(or_(
            CustomerPhone.normalized.contains(fragment), CustomerPhone.normalized.in_(keys or [""])))))
        matches.append(Customer.id.in_(select(CustomerContact.customer_id).where(or_(
            CustomerContact.phone_normalized.contains(fragment),
            CustomerContact.phone_normalized.in_(keys or [""])))))
    if len(text) >= SERIAL_PREFIX_MIN and not any(c.isspace() for c in text):
        matches.append(Customer.id.in_(select(CustomerProduct.customer_id).where(
            CustomerProduct.serial.startswith(normalize_serial(text), autoescape=True))))
    if len(text) <= TAG_MAX:
        matches.append(Customer.id.in_(select(CustomerTag.customer_id).where(
            CustomerTag.tag == _tag_key(text))))
    return or_(*matches)


async def search(*, db: AsyncSession, phone: str | None = None, q: str | None = None,
                 limit: int = 50, offset: int = 0, country_code: str = "86",
                 tag: str | None = None, value_class: str | None = None, vip: bool | None = None,
                 region: str | None = None, serial: str | None = None, kind: str | None = None,
                 include_merged: bool = False) -> tuple[list[Customer], int]:
    """One page of customers matching every filter given, and the total.

    ``phone`` is an exact number in any spelling; ``q`` is free text (see
    :func:`_q_filter`); ``serial`` an exact serial or its prefix; ``region``
    a prefix ("广东" finds "广东省深圳市"); ``tag`` an exact tag. Merged-away
    records are left out unless ``include_merged``.
    """
    conditions = []
    if not include_merged:
        conditions.append(Customer.merged_into_id.is_(None))
    if phone:
        conditions.append(_phone_filter(phone, country_code))
    if q and q.strip():
        conditions.append(_q_filter(q, country_code))
    if tag:
        conditions.append(Customer.id.in_(select(CustomerTag.customer_id).where(
            CustomerTag.tag == _tag_key(tag))))
    if value_class:
        conditions.append(Customer.value_class == value_class.strip().upper())
    if vip is not None:
        conditions.append(Customer.vip.is_(vip))
    if region:
        conditions.append(Customer.region.istartswith(region.strip(), autoescape=True))
    if serial:
        conditions.append(Customer.id.in_(select(CustomerProduct.customer_id).where(
            CustomerProduct.serial.startswith(normalize_serial(serial), autoescape=True))))
    if kind:
        conditions.append(Customer.kind == kind)
    total = (await db.execute(select(func.count()).select_from(Customer).where(*conditions))).scalar_one()
    stmt = _by_id_query().where(*conditions).order_by(*_BEST_FIRST).limit(limit).offset(offset)
    return list((await db.execute(stmt)).scalars()), total


# --- validating (pure: the importer checks whole files with these) ----------

def _text(value: Any, loc: tuple, max_len: int, *, label: str | None = None) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > max_len:
        raise FieldError(loc, f"{label or loc[-1]} is too long: at most {max_len} characters", value)
    return text


def _optional_text(value: Any, loc: tuple, max_len: int) -> str | None:
    return _text(value, loc, max_len) or None


def check_kind(kind: Any) -> str:
    if kind not in CUSTOMER_KINDS:
        raise FieldError(("kind",), f"unknown customer kind {kind!r}: one of {', '.join(CUSTOMER_KINDS)}",
                         kind)
    return kind


def check_value_class(value: Any) -> str | None:
    """'a' -> 'A'; empty -> None; anything but A-D is a FieldError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().upper()
    if text not in VALUE_CLASSES:
        raise FieldError(("value_class",), f"value class {value!r} is not one of {', '.join(VALUE_CLASSES)}",
                         value)
    return text


def _tag_key(tag: str) -> str:
    return " ".join(tag.split()).lower()


def normalize_tags(tags: Iterable[Any]) -> list[str]:
    """Trimmed, lower-cased, inner spaces collapsed, duplicates dropped, order kept."""
    if isinstance(tags, str):
        raise FieldError(("tags",), "tags must be a list of strings", tags)
    out: list[str] = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise FieldError(("tags", index), "a tag must be a string", tag)
        key = _tag_key(tag)
        if not key:
            raise FieldError(("tags", index), "a tag must not be empty", tag)
        if len(key) > TAG_MAX:
            raise FieldError(("tags", index), f"tag is too long: at most {TAG_MAX} characters", tag)
        if _TAG_FORBIDDEN.search(key):
            raise FieldError(("tags", index), "a tag must not contain , ; 、 or |", tag)
        if key not in out:
            out.append(key)
    if len(out) > TAGS_MAX:
        raise FieldError(("tags",), f"too many tags: at most {TAGS_MAX}", len(out))
    return out


def normalize_serial(serial: Any) -> str:
    """Serials compare upper-cased and trimmed: "sn-001 " and "SN-001" are one."""
    return "" if serial is None else str(serial).strip().upper()


def check_phones(raws: Iterable[Any], country_code: str = "86", *,
                 field: str = "phones") -> list:
    """The distinct dialable numbers in ``raws`` (``PhoneNumber`` objects), or
    InvalidPhoneError naming the first bad one by its position."""
    if isinstance(raws, str):
        raise FieldError((field,), "phones must be a list of strings", raws)
    numbers, seen = [], set()
    for index, raw in enumerate(raws):
        number = normalize(raw, country_code=country_code)
        if number.kind not in DIALABLE_KINDS:
            raise InvalidPhoneError(index, raw if isinstance(raw, str) else repr(raw), number.kind, field)
        if number.normalized in seen:  # the same number written twice
            continue
        seen.add(number.normalized)
        numbers.append(number)
    return numbers


def check_product(*, model: Any = "", serial: Any = None, purchase_date: date | None = None,
                  warranty_end: date | None = None, install_address: Any = None) -> dict:
    """The product's columns, validated: a model or a serial, and a warranty
    that does not end before the purchase."""
    model = _text(model, ("model",), SHORT_TEXT_MAX)
    serial = normalize_serial(serial)
    if len(serial) > SHORT_TEXT_MAX:
        raise FieldError(("serial",), f"serial is too long: at most {SHORT_TEXT_MAX} characters", serial)
    if not model and not serial:
        raise FieldError(("model",), "a product needs a model or a serial number")
    for name, value in (("purchase_date", purchase_date), ("warranty_end", warranty_end)):
        if value is not None and not isinstance(value, date):
            raise FieldError((name,), f"{name} must be a date", value)
    if purchase_date and warranty_end and warranty_end < purchase_date:
        raise FieldError(("warranty_end",), f"warranty ends ({warranty_end.isoformat()}) before the "
                         f"purchase ({purchase_date.isoformat()})", warranty_end.isoformat())
    return {"model": model, "serial": serial or None, "purchase_date": purchase_date,
            "warranty_end": warranty_end,
            "install_address": _optional_text(install_address, ("install_address",), 1000)}


def check_address(*, text: Any, label: Any = "", region: Any = None, is_default: bool = False) -> dict:
    text = _text(text, ("text",), 1000, label="address")
    if not text:
        raise FieldError(("text",), "an address must not be empty", text)
    return {"text": text, "label": _text(label, ("label",), 40),
            "region": _optional_text(region, ("region",), SHORT_TEXT_MAX), "is_default": bool(is_default)}


def check_contact(*, name: Any, role: Any = "", phone: Any = None, notes: Any = "",
                  country_code: str = "86") -> dict:
    name = _text(name, ("name",), 120)
    if not name:
        raise FieldError(("name",), "a contact needs a name", name)
    raw = normalized = None
    if phone not in (None, ""):
        number = normalize(phone, country_code=country_code)
        if number.kind not in DIALABLE_KINDS:
            raise FieldError(("phone",), f"phone {phone!r} is not a valid phone number ({number.kind})", phone)
        raw, normalized = number.raw.strip(), number.normalized
    return {"name": name, "role": _text(role, ("role",), SHORT_TEXT_MAX), "phone_raw": raw,
            "phone_normalized": normalized, "notes": _text(notes, ("notes",), 4000)}


# --- writing ----------------------------------------------------------------

def _phones(raws: Iterable[str], country_code: str) -> list[CustomerPhone]:
    return [CustomerPhone(raw=n.raw.strip(), normalized=n.normalized, kind=n.kind)
            for n in check_phones(raws, country_code)]


def _require_identity(name: str, phones: list, provisional: bool) -> None:
    if not provisional and not name and not phones:
        raise FieldError(("name",), "a customer needs a name or a phone number")


def _within(prefix: str, index: int, fn, **kwargs) -> dict:
    try:
        return fn(**kwargs)
    except FieldError as exc:
        raise exc.within(prefix, index) from None


async def create(*, db: AsyncSession, name: str, kind: str = "person", phones: list[str],
                 notes: str = "", provisional: bool = False, source_call_id: str | None = None,
                 country_code: str = "86", region: str | None = None, industry: str | None = None,
                 value_class: str | None = None, vip: bool = False, class_reason: str | None = None,
                 tags: Iterable[str] = (), addresses: Iterable[Mapping] = (),
                 contacts: Iterable[Mapping] = (), products: Iterable[Mapping] = ()) -> Customer:
    """Add a customer with normalized phones and its parts (flushed, not committed).

    ``addresses``, ``contacts`` and ``products`` are mappings with the keyword
    arguments of :func:`add_address`, :func:`add_contact`, :func:`add_product`.
    Raises :class:`InvalidPhoneError` (a FieldError naming the phone) for an
    anonymous or unreadable number, FieldError for any other bad field (an
    unknown kind, a class outside A-D, neither name nor phone...).
    """
    check_kind(kind)
    name = _text(name, ("name",), NAME_MAX)
    phone_rows = _phones(phones, country_code)
    _require_identity(name, phone_rows, provisional)
    address_rows = [CustomerAddress(**_within("addresses", i, check_address, **a))
                    for i, a in enumerate(addresses)]
    _one_default(address_rows)
    customer = Customer(
        name=name, kind=kind, provisional=provisional, source_call_id=source_call_id,
        notes=_text(notes, ("notes",), 4000), region=_optional_text(region, ("region",), SHORT_TEXT_MAX),
        industry=_optional_text(industry, ("industry",), SHORT_TEXT_MAX),
        value_class=check_value_class(value_class), vip=bool(vip),
        class_reason=_optional_text(class_reason, ("class_reason",), 200),
        phones=phone_rows, tags=[CustomerTag(tag=t) for t in normalize_tags(tags)],
        addresses=address_rows,
        contacts=[CustomerContact(**_within("contacts", i, check_contact, country_code=country_code, **c))
                  for i, c in enumerate(contacts)],
        products=[CustomerProduct(**_within("products", i, check_product, **p))
                  for i, p in enumerate(products)])
    db.add(customer)
    await db.flush()
    return customer


def _one_default(addresses: list[CustomerAddress]) -> None:
    """Keep exactly one default address (the first marked one) when there are any."""
    defaults = [a for a in addresses if a.is_default]
    for extra in defaults[1:]:
        extra.is_default = False
    if addresses and not defaults:
        addresses[0].is_default = True


# PATCH-able fields and how each is checked; tags and phones replace the set.
_SCALARS = {
    "name": lambda v: _text(v, ("name",), NAME_MAX),
    "kind": check_kind,
    "notes": lambda v: _text(v, ("notes",), 4000),
    "region": lambda v: _optional_text(v, ("region",), SHORT_TEXT_MAX),
    "industry": lambda v: _optional_text(v, ("industry",), SHORT_TEXT_MAX),
    "value_class": check_value_class,
    "vip": bool,
    "class_reason": lambda v: _optional_text(v, ("class_reason",), 200),
    "provisional": bool,
}


async def update(*, db: AsyncSession, customer: Customer, changes: Mapping[str, Any],
                 country_code: str = "86") -> dict[str, list]:
    """Apply the fields present in ``changes``; returns ``{field: [old, new]}``
    for those that really changed (flushed, not committed).

    ``tags`` and ``phones`` replace the whole set; numbers already stored keep
    their row (and the way they were first written).
    """
    require_active(customer)
    unknown = set(changes) - set(_SCALARS) - {"tags", "phones"}
    if unknown:
        name = sorted(unknown)[0]
        raise FieldError((name,), f"{name!r} cannot be changed here", changes[name])
    new = {k: _SCALARS[k](v) for k, v in changes.items() if k in _SCALARS}
    tags = normalize_tags(changes["tags"]) if "tags" in changes else None
    numbers = check_phones(changes["phones"], country_code) if "phones" in changes else None
    _require_identity(new.get("name", customer.name),
                      customer.phones if numbers is None else numbers,
                      new.get("provisional", customer.provisional))
    done: dict[str, list] = {}
    for key, value in new.items():
        old = getattr(customer, key)
        if old != value:
            setattr(customer, key, value)
            done[key] = [old, value]
    if tags is not None and set(tags) != set(customer.tag_names):
        old_tags = customer.tag_names
        keep = {t.tag: t for t in customer.tags}
        customer.tags = [keep.get(t) or CustomerTag(tag=t) for t in tags]
        done["tags"] = [old_tags, tags]
    if numbers is not None:
        wanted = [n.normalized for n in numbers]
        before = [p.normalized for p in customer.phones]
        if set(wanted) != set(before):
            keep = {p.normalized: p for p in customer.phones}
            customer.phones = [keep.get(n.normalized) or CustomerPhone(
                raw=n.raw.strip(), normalized=n.normalized, kind=n.kind) for n in numbers]
            done["phones"] = [before, wanted]
    if done:
        customer.updated_at = utcnow()
        await db.flush()
    return done


async def add_phone(*, db: AsyncSession, customer: Customer, phone: str, label: str = "",
                    country_code: str = "86") -> CustomerPhone:
    require_active(customer)
    try:
        [number] = check_phones([phone], country_code)
    except FieldError as exc:
        raise FieldError(("phone",), exc.msg, phone) from None
    if any(p.normalized == number.normalized for p in customer.phones):
        raise ConflictError(f"customer {customer.id} already has the number {number.normalized}")
    row = CustomerPhone(raw=number.raw.strip(), normalized=number.normalized, kind=number.kind,
                        label=_text(label, ("label",), 40))
    customer.phones.append(row)
    customer.updated_at = utcnow()
    await db.flush()
    return row


async def remove_phone(*, db: AsyncSession, customer: Customer, phone: str,
                       country_code: str = "86") -> None:
    """Remove a number given in any spelling (or as stored)."""
    require_active(customer)
    keys = set(search_keys(phone, country_code=country_code)) | {phone}
    found = [p for p in customer.phones if p.normalized in keys]
    if not found:
        raise NotFoundError(f"customer {customer.id} has no number {phone!r}")
    if not customer.provisional and not customer.name and len(found) == len(customer.phones):
        raise ConflictError(f"customer {customer.id} has no name: it cannot lose its last number")
    for p in found:
        customer.phones.remove(p)
    customer.updated_at = utcnow()
    await db.flush()


async def add_address(*, db: AsyncSession, customer: Customer, text: str, label: str = "",
                      region: str | None = None, is_default: bool = False) -> CustomerAddress:
    """Add an address; the first one, or one marked default, becomes the default."""
    require_active(customer)
    row = CustomerAddress(**check_address(text=text, label=label, region=region, is_default=is_default))
    if row.is_default:
        for other in customer.addresses:
            other.is_default = False
    customer.addresses.append(row)
    _one_default(customer.addresses)
    customer.updated_at = utcnow()
    await db.flush()
    return row


async def add_contact(*, db: AsyncSession, customer: Customer, name: str, role: str = "",
                      phone: str | None = None, notes: str = "",
                      country_code: str = "86") -> CustomerContact:
    require_active(customer)
    row = CustomerContact(**check_contact(name=name, role=role, phone=phone, notes=notes,
                                          country_code=country_code))
    customer.contacts.append(row)
    customer.updated_at = utcnow()
    await db.flush()
    return row


async def add_product(*, db: AsyncSession, customer: Customer, model: str = "",
                      serial: str | None = None, purchase_date: date | None = None,
                      warranty_end: date | None = None,
                      install_address: str | None = None) -> CustomerProduct:
    require_active(customer)
    row = CustomerProduct(**check_product(model=model, serial=serial, purchase_date=purchase_date,
                                          warranty_end=warranty_end, install_address=install_address))
    if row.serial and any(p.serial == row.serial for p in customer.products):
        raise ConflictError(f"customer {customer.id} already has the product with serial {row.serial}")
    customer.products.append(row)
    customer.updated_at = utcnow()
    await db.flush()
    return row


_PARTS = {"addresses": "address", "contacts": "contact", "products": "product"}


async def remove_part(*, db: AsyncSession, customer: Customer, part: str, part_id: int) -> None:
    """Remove one address, contact or product (``part`` is the collection name)."""
    require_active(customer)
    rows = getattr(customer, part)
    row = next((r for r in rows if r.id == part_id), None)
    if row is None:
        raise NotFoundError(f"customer {customer.id} has no {_PARTS[part]} {part_id}")
    rows.remove(row)
    if part == "addresses":
        _one_default(rows)
    customer.updated_at = utcnow()
    await db.flush()


# --- history, merge, delete -------------------------------------------------

@dataclass(frozen=True)
class _Reference:
    """A column elsewhere that points at customers.id (calls, tickets...)."""
    key: str
    column: Any
    entity: Any  # the mapped class when there is one (keeps loaded objects in step)


_OWN_TABLES = ("customer_phones", "customer_tags", "customer_addresses", "customer_contacts",
               "customer_products")


def _references() -> list[_Reference]:
    """Every foreign key to customers.id outside the customer's own parts.

    Found from the metadata rather than listed, so that a package adding a
    table with a customer_id (recordings, surveys...) is covered by merge and
    delete without touching this module.
    """
    # Every package's models are imported by the composition root at start
    # (ctidesk.schema), so the registry holds every table here.
    mappers = {m.local_table: m for m in Base.registry.mappers}
    target = Customer.__table__.c.id
    refs = []
    for table in Base.metadata.sorted_tables:
        if table.name in _OWN_TABLES:
            continue
        for fk in table.foreign_keys:
            if fk.column is not target:
                continue
            mapper = mappers.get(table)
            key = table.name if fk.parent.name == "customer_id" else f"{table.name}.{fk.parent.name}"
            if table is Customer.__table__:
                key = "merged_records"
            refs.append(_Reference(key, fk.parent, mapper.class_ if mapper is not None else None))
    return refs


async def _repoint(db: AsyncSession, ref: _Reference, from_id: int, to_id: int | None) -> int:
    """Point ``ref`` rows at ``to_id``; through the mapped class when there is
    one, so that objects already loaded in the session see the change."""
    if ref.entity is None:
        stmt = sql_update(ref.column.table).where(ref.column == from_id).values({ref.column.name: to_id})
    else:
        key = ref.entity.__mapper__.get_property_by_column(ref.column).key
        attr = getattr(ref.entity, key)
        stmt = sql_update(ref.entity).where(attr == from_id).values({key: to_id})
    return (await db.execute(stmt)).rowcount or 0


async def _reference_counts(db: AsyncSession, customer_id: int) -> dict[str, int]:
    counts = {}
    for ref in _references():
        column = ref.column
        counts[ref.key] = (await db.execute(select(func.count()).select_from(column.table).where(
            column == customer_id))).scalar_one()
    return counts


async def delete(*, db: AsyncSession, customer: Customer) -> None:
    """Delete a customer that has no history (flushed, not committed).

    A provisional record (made for an unknown caller) may still have calls:
    they are unlinked and keep the caller's number. Anything else pointing at
    the customer (tickets, callbacks, other records merged into it, or any
    call of a real customer) is history: ConflictError, merge instead. A call
    still in progress blocks too, because its writer would link it again.
    """
    from cti.models import CallRecord

    open_calls = (await db.execute(select(func.count()).select_from(CallRecord).where(
        CallRecord.customer_id == customer.id, CallRecord.ended_at.is_(None)))).scalar_one()
    if open_calls:
        raise ConflictError(f"customer {customer.id} is on a call in progress; try again after it")
    counts = await _reference_counts(db, customer.id)
    detachable = {"calls"} if customer.provisional else set()
    history = {k: n for k, n in counts.items() if n and k not in detachable}
    if history:
        listed = ", ".join(f"{n} {k}" for k, n in sorted(history.items()))
        raise ConflictError(f"customer {customer.id} has history ({listed}); merge it into the right "
                            "record instead of deleting it")
    for ref in _references():
        if ref.key in detachable and counts.get(ref.key):
            await _repoint(db, ref, customer.id, None)
    await db.delete(customer)
    await db.flush()


@dataclass
class MergeResult:
    survivor: Customer
    moved: dict[str, int] = field(default_factory=dict)
    already_merged: bool = False


async def merge(*, db: AsyncSession, into_id: int, from_id: int) -> MergeResult:
    """Merge customer ``from_id`` into ``into_id`` (flushed, not committed).

    Every row that points at ``from_id`` (calls, tickets, callbacks and any
    other table with a foreign key to customers) moves to ``into_id``, and so
    do its phones (a number the survivor already has is dropped), tags,
    addresses (the survivor keeps its default), contacts and products (a
    serial the survivor already has is dropped). Empty fields of the survivor
    are filled from the duplicate, notes are appended, VIP is kept if either
    had it, and the survivor is provisional only if both were. The duplicate
    is kept, empty, with ``merged_into_id`` set.

    Idempotent: merging a record already merged into ``into_id`` moves only
    what arrived since (a call still in progress during the first merge) and
    returns ``already_merged=True``. NotFoundError if either is missing;
    ConflictError for a merge into itself, into a merged-away record, or of
    a record already merged into another.
    """
    if into_id == from_id:
        raise ConflictError("cannot merge a customer into itself")
    survivor = await get(db=db, customer_id=into_id)
    source = await get(db=db, customer_id=from_id)
    if survivor is None:
        raise NotFoundError(f"customer {into_id} not found")
    if source is None:
        raise NotFoundError(f"customer {from_id} not found")
    if survivor.merged_into_id is not None:
        raise ConflictError(f"customer {into_id} was itself merged into customer "
                            f"{survivor.merged_into_id}; merge into that one")
    already = source.merged_into_id is not None
    if already and source.merged_into_id != into_id:
        raise ConflictError(f"customer {from_id} was already merged into customer {source.merged_into_id}")

    moved: dict[str, int] = {}
    for ref in _references():
        n = await _repoint(db, ref, from_id, into_id)
        if n:
            moved[ref.key] = n
    moved.update(_move_parts(survivor, source))
    if not already:
        _absorb_fields(survivor, source)
        source.merged_into_id = into_id
        source.merged_at = utcnow()
        source.updated_at = utcnow()
    if moved or not already:
        survivor.updated_at = utcnow()
    await db.flush()
    return MergeResult(survivor, {k: n for k, n in moved.items() if n}, already)


def _move_parts(survivor: Customer, source: Customer) -> dict[str, int]:
    moved = {}
    have = {p.normalized for p in survivor.phones}
    dropped = 0
    source_phones = list(source.phones)
    for p in source_phones:
        source.phones.remove(p)
        if p.normalized in have:
            dropped += 1  # delete-orphan removes it
        else:
            survivor.phones.append(p)
            have.add(p.normalized)
    moved["phones"] = len(source_phones) - dropped
    moved["phones_dropped_as_duplicates"] = dropped
    tags = {t.tag for t in survivor.tags}
    for t in list(source.tags):
        source.tags.remove(t)
        if t.tag not in tags:
            survivor.tags.append(CustomerTag(tag=t.tag))
            tags.add(t.tag)
            moved["tags"] = moved.get("tags", 0) + 1
    for a in list(source.addresses):
        source.addresses.remove(a)
        a.is_default = a.is_default and not survivor.addresses
        survivor.addresses.append(a)
        moved["addresses"] = moved.get("addresses", 0) + 1
    _one_default(survivor.addresses)
    for c in list(source.contacts):
        source.contacts.remove(c)
        survivor.contacts.append(c)
        moved["contacts"] = moved.get("contacts", 0) + 1
    serials = {p.serial for p in survivor.products if p.serial}
    for p in list(source.products):
        source.products.remove(p)
        if p.serial and p.serial in serials:
            moved["products_dropped_as_duplicates"] = moved.get("products_dropped_as_duplicates", 0) + 1
            continue
        survivor.products.append(p)
        moved["products"] = moved.get("products", 0) + 1
    return moved


def _absorb_fields(survivor: Customer, source: Customer) -> None:
    for key in ("name", "region", "industry", "value_class", "class_reason"):
        if not getattr(survivor, key) and getattr(source, key):
            setattr(survivor, key, getattr(source, key))
    if source.notes and source.notes not in (survivor.notes or ""):
        survivor.notes = f"{survivor.notes}\n{source.notes}" if survivor.notes else source.notes
    survivor.vip = survivor.vip or source.vip
    survivor.provisional = survivor.provisional and source.provisional


async def merged_ids(*, db: AsyncSession, customer_id: int) -> list[int]:
    """Ids of the records merged into ``customer_id`` (chains are flattened on merge)."""
    return list((await db.execute(select(Customer.id).where(
        Customer.merged_into_id == customer_id).order_by(Customer.id))).scalars())


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


async def timeline(*, db: AsyncSession, customer_id: int, limit: int = 100,
                   newest_first: bool = True) -> list[dict]:
    """The customer 360 view: calls, tickets and callbacks in one list, in time
    order, each with a ``kind`` and an ``at``.

    Includes what still points at records merged into this one (a call that
    was in progress during the merge). Each kind is cut to ``limit`` before
    merging, then the whole list, so the page is exact.
    """
    from cti.models import CallRecord
    from tickets.models import Callback, Ticket

    ids = [customer_id, *await merged_ids(db=db, customer_id=customer_id)]

    async def newest(model, at):
        order = at.desc() if newest_first else at.asc()
        stmt = select(model).where(model.customer_id.in_(ids)).order_by(order, model.id.desc()).limit(limit)
        return list((await db.execute(stmt)).scalars())

    items = []
    for c in await newest(CallRecord, CallRecord.created_at):
        duration = (round((c.ended_at - c.answered_at).total_seconds())
                    if c.answered_at and c.ended_at else None)
        items.append({"kind": "call", "at": c.created_at, "id": c.call_id, "direction": c.direction,
                      "queue": c.queue, "agent": c.agent_username or c.agent, "outcome": c.outcome,
                      "caller_number": c.caller_number_raw, "answered_at": _iso(c.answered_at),
                      "ended_at": _iso(c.ended_at), "duration_s": duration})
    for t in await newest(Ticket, Ticket.created_at):
        items.append({"kind": "ticket", "at": t.created_at, "id": t.id, "type": t.type, "state": t.state,
                      "priority": t.priority, "description": t.description,
                      "product_model": t.product_model, "product_serial": t.product_serial,
                      "assignee": t.assignee, "call_id": t.call_id, "resolved_at": _iso(t.resolved_at)})
    for b in await newest(Callback, Callback.created_at):
        items.append({"kind": "callback", "at": b.created_at, "id": b.id, "ticket_id": b.ticket_id,
                      "reason": b.reason, "state": b.state, "assignee": b.assignee,
                      "due_at": _iso(b.due_at), "outcome": b.outcome, "satisfaction": b.satisfaction,
                      "done_at": _iso(b.done_at)})
    items.sort(key=lambda i: i["at"], reverse=newest_first)
    items = items[:limit]
    for item in items:
        item["at"] = _iso(item["at"])
    return items


# --- unknown callers --------------------------------------------------------

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



def get_or_create_provisional_now(conn, *, number_raw: str | None, caller_name: str | None, call_id: str,
                                  country_code: str = "86") -> int:
    """:func:`get_or_create_provisional` on a synchronous SQLAlchemy connection whose
    transaction already holds the write lock (SQLite ``BEGIN IMMEDIATE``): the call
    writer runs it in one trip to a thread, so an unknown caller's pop waits for one
    small commit and not for several trips through a busy event loop (issue 15).

    Same rows as the async version, plus one rule it leaves to its caller: a number
    that already belongs to a customer (a provisional one made for an earlier call,
    or a real one saved since) gets that customer, so each unknown number has one
    provisional record however many calls come from it at once.
    """
    customers, phones = Customer.__table__, CustomerPhone.__table__
    if call_id:
        cid = conn.execute(select(customers.c.id).where(customers.c.source_call_id == call_id)).scalar()
        if cid is not None:
            return cid
    number = normalize(number_raw, country_code=country_code)
    if number.kind in DIALABLE_KINDS and number.normalized:
        cid = conn.execute(select(customers.c.id).where(customers.c.id.in_(
            select(phones.c.customer_id).where(phones.c.normalized == number.normalized)))
            .order_by(customers.c.provisional.asc(), customers.c.updated_at.desc(), customers.c.id.desc())
            .limit(1)).scalar()
        if cid is not None:
            return cid
    rows = _phones([number.raw.strip()[:64]] if number.kind in DIALABLE_KINDS else [], country_code)
    cid = conn.execute(customers.insert().values(
        name=clean_caller_name(caller_name), kind="person", provisional=True,
        source_call_id=call_id or None, notes="").returning(customers.c.id)).scalar_one()
    for phone in rows:
        conn.execute(phones.insert().values(customer_id=cid, raw=phone.raw, normalized=phone.normalized,
                                            kind=phone.kind))
    return cid



# --- views ------------------------------------------------------------------

def card(customer: Customer) -> dict:
    """The JSON-ready view of a customer used by the API and the screen pop.

    Only the columns the screen pop's raw SQL reader also has: keep it so.
    """
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


def summary(customer: Customer) -> dict:
    """The card plus classification: one line of a search result."""
    return {**card(customer), "region": customer.region, "industry": customer.industry,
            "value_class": customer.value_class, "vip": bool(customer.vip),
            "tags": customer.tag_names, "merged_into_id": customer.merged_into_id}


def profile(customer: Customer) -> dict:
    """Everything recorded about the customer (the timeline is separate)."""
    return {
        **summary(customer),
        "class_reason": customer.class_reason,
        "merged_at": _iso(customer.merged_at),
        "updated_at": _iso(customer.updated_at),
        "addresses": [{"id": a.id, "label": a.label, "text": a.text, "region": a.region,
                       "is_default": a.is_default} for a in customer.addresses],
        "contacts": [{"id": c.id, "name": c.name, "role": c.role, "phone": c.phone_raw,
                      "phone_normalized": c.phone_normalized, "notes": c.notes} for c in customer.contacts],
        "products": [{"id": p.id, "model": p.model, "serial": p.serial,
                      "purchase_date": _iso(p.purchase_date), "warranty_end": _iso(p.warranty_end),
                      "install_address": p.install_address} for p in customer.products],
    }
