"""Customers API: search, CRUD, parts, the 360 timeline, merge. Thin: rules
live in ``service``; this translates its errors (FieldError 422 naming the
field, ConflictError 409, NotFoundError 404) and writes the audit rows."""
from __future__ import annotations

import contextlib
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.http import audit_request
from accounts.models import User
from accounts.security import current_user, require_roles, role_allowed
from customers import service
from customers.schemas import (AddressIn, ContactIn, CustomerIn, CustomerPage, CustomerPatch,
                               CustomerProfileOut, MergeIn, MergeOut, PhoneIn, ProductIn, TimelineOut)
from ctidesk.deps import get_container, get_db

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

# Who may merge any two records; anyone may fold a provisional record (an
# unknown caller) into the customer it turned out to be.
MERGE_ROLES = ("supervisor", "admin")


def _jsonable(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


@contextlib.contextmanager
def _service_errors():
    try:
        yield
    except service.FieldError as exc:
        raise HTTPException(422, detail=[{"loc": ["body", *exc.loc], "msg": str(exc),
                                          "type": "value_error", "input": _jsonable(exc.value)}]) from None
    except service.ConflictError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except service.NotFoundError as exc:
        raise HTTPException(404, detail=str(exc)) from None


async def _profile_after(db: AsyncSession, user: User, request: Request, action: str, customer,
                         detail: dict) -> dict:
    """Audit ``action`` on ``customer`` and commit: the customer's profile."""
    await audit_request(db, request, user, action, f"customer:{customer.id}", detail)
    await db.commit()
    return service.profile(customer)


async def _active(db: AsyncSession, customer_id: int):
    with _service_errors():
        return await service.get_active(db=db, customer_id=customer_id)


class _Edit:
    """An edit of the active customer ``customer_id`` (of the path) by the signed-in user."""

    def __init__(self, customer_id: int, request: Request, user: User = Depends(current_user),
                 db: AsyncSession = Depends(get_db), container=Depends(get_container)) -> None:
        self.customer_id, self.request, self.user, self.db = customer_id, request, user, db
        self.country_code = container.settings.default_country_code

    async def customer(self):
        return await _active(self.db, self.customer_id)

    async def done(self, action: str, customer, detail: dict) -> dict:
        return await _profile_after(self.db, self.user, self.request, action, customer, detail)


@router.get("", response_model=CustomerPage)
async def list_customers(phone: str | None = Query(None, max_length=64),
                         q: str | None = Query(None, max_length=200),
                         tag: str | None = Query(None, max_length=40),
                         value_class: str | None = Query(None, pattern="^[A-Da-d]$"),
                         vip: bool | None = None,
                         region: str | None = Query(None, max_length=80),
                         serial: str | None = Query(None, max_length=80),
                         kind: Literal["person", "company"] | None = None,
                         include_merged: bool = False,
                         limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0),
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db),
                         container=Depends(get_container)) -> dict:
    items, total = await service.search(
        db=db, phone=phone, q=q, tag=tag, value_class=value_class, vip=vip, region=region,
        serial=serial, kind=kind, include_merged=include_merged, limit=limit, offset=offset,
        country_code=container.settings.default_country_code)
    return {"items": [service.summary(c) for c in items], "total": total}


@router.post("", response_model=CustomerProfileOut, status_code=201)
async def create_customer(body: CustomerIn, request: Request,
                          user: User = Depends(current_user), db: AsyncSession = Depends(get_db),
                          container=Depends(get_container)) -> dict:
    fields = body.model_dump()
    with _service_errors():
        customer = await service.create(db=db, country_code=container.settings.default_country_code,
                                        **fields)
    return await _profile_after(db, user, request, "customer.create", customer, {
        "name": customer.name, "kind": customer.kind,
        "phones": [p.normalized for p in customer.phones]})


@router.get("/{customer_id}", response_model=CustomerProfileOut)
async def get_customer(customer_id: int, user: User = Depends(current_user),
                       db: AsyncSession = Depends(get_db)) -> dict:
    customer = await service.get(db=db, customer_id=customer_id)
    if customer is None:
        raise HTTPException(404, detail="customer not found")
    return service.profile(customer)


@router.patch("/{customer_id}", response_model=CustomerProfileOut)
async def update_customer(body: CustomerPatch, edit: _Edit = Depends()) -> dict:
    customer = await edit.customer()
    with _service_errors():
        changes = await service.update(db=edit.db, customer=customer, changes=body.model_dump(exclude_unset=True),
                                       country_code=edit.country_code)
    if not changes:
        return service.profile(customer)
    return await edit.done("customer.update", customer, changes)


@router.delete("/{customer_id}", status_code=204)
async def delete_customer(customer_id: int, request: Request,
                          user: User = Depends(require_roles("admin")),
                          db: AsyncSession = Depends(get_db)) -> Response:
    """Only a record without history (or a provisional one, whose calls are
    unlinked); anything else is a 409: merge it instead."""
    customer = await service.get(db=db, customer_id=customer_id)
    if customer is None:
        raise HTTPException(404, detail="customer not found")
    snapshot = {"name": customer.name, "provisional": customer.provisional,
                "phones": [p.normalized for p in customer.phones]}
    with _service_errors():
        await service.delete(db=db, customer=customer)
    await audit_request(db, request, user, "customer.delete", f"customer:{customer_id}", snapshot)
    await db.commit()
    return Response(status_code=204)


@router.get("/{customer_id}/timeline", response_model=TimelineOut)
async def customer_timeline(customer_id: int, limit: int = Query(100, ge=1, le=500),
                            order: Literal["desc", "asc"] = "desc",
                            user: User = Depends(current_user),
                            db: AsyncSession = Depends(get_db)) -> dict:
    """Calls, tickets and callbacks in time order (newest first unless ``order=asc``)."""
    if await service.get(db=db, customer_id=customer_id) is None:
        raise HTTPException(404, detail="customer not found")
    items = await service.timeline(db=db, customer_id=customer_id, limit=limit,
                                   newest_first=order == "desc")
    return {"customer_id": customer_id, "merged_ids": await service.merged_ids(db=db, customer_id=customer_id),
            "items": items}


@router.post("/{customer_id}/merge", response_model=MergeOut)
async def merge_customer(customer_id: int, body: MergeIn, request: Request,
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    """Fold customer ``from_id`` (a duplicate) into this one."""
    source = await service.get(db=db, customer_id=body.from_id)
    if source is None:
        raise HTTPException(404, detail=f"customer {body.from_id} not found")
    if not source.provisional and not role_allowed(user.role, MERGE_ROLES):
        raise HTTPException(403, detail=f"role {user.role!r} may merge only provisional records")
    with _service_errors():
        result = await service.merge(db=db, into_id=customer_id, from_id=body.from_id)
    if result.moved or not result.already_merged:
        await audit_request(db, request, user, "customer.merge", f"customer:{customer_id}", {
            "from_id": body.from_id, "moved": result.moved, "already_merged": result.already_merged})
    await db.commit()
    return {"customer": service.profile(result.survivor), "merged_id": body.from_id,
            "moved": result.moved, "already_merged": result.already_merged}


# --- parts ------------------------------------------------------------------

@router.post("/{customer_id}/phones", response_model=CustomerProfileOut, status_code=201)
async def add_phone(body: PhoneIn, edit: _Edit = Depends()) -> dict:
    customer = await edit.customer()
    with _service_errors():
        row = await service.add_phone(db=edit.db, customer=customer, phone=body.phone, label=body.label,
                                      country_code=edit.country_code)
    return await edit.done("customer.phone_add", customer, {"phone": row.normalized})


@router.delete("/{customer_id}/phones/{phone}", response_model=CustomerProfileOut)
async def remove_phone(phone: str, edit: _Edit = Depends()) -> dict:
    """``phone`` in any spelling, e.g. the stored ``+8613800138000`` (URL-encoded)."""
    customer = await edit.customer()
    with _service_errors():
        await service.remove_phone(db=edit.db, customer=customer, phone=phone, country_code=edit.country_code)
    return await edit.done("customer.phone_remove", customer, {"phone": phone})


@router.post("/{customer_id}/addresses", response_model=CustomerProfileOut, status_code=201)
async def add_address(body: AddressIn, edit: _Edit = Depends()) -> dict:
    customer = await edit.customer()
    with _service_errors():
        row = await service.add_address(db=edit.db, customer=customer, **body.model_dump())
    return await edit.done("customer.address_add", customer, {"address_id": row.id})


@router.post("/{customer_id}/contacts", response_model=CustomerProfileOut, status_code=201)
async def add_contact(body: ContactIn, edit: _Edit = Depends()) -> dict:
    customer = await edit.customer()
    with _service_errors():
        row = await service.add_contact(db=edit.db, customer=customer, **body.model_dump(),
                                        country_code=edit.country_code)
    return await edit.done("customer.contact_add", customer, {"contact_id": row.id, "name": row.name})


@router.post("/{customer_id}/products", response_model=CustomerProfileOut, status_code=201)
async def add_product(body: ProductIn, edit: _Edit = Depends()) -> dict:
    customer = await edit.customer()
    with _service_errors():
        row = await service.add_product(db=edit.db, customer=customer, **body.model_dump())
    return await edit.done("customer.product_add", customer,
                           {"product_id": row.id, "model": row.model, "serial": row.serial})


@router.delete("/{customer_id}/{part}/{part_id}", response_model=CustomerProfileOut)
async def remove_part(part: Literal["addresses", "contacts", "products"], part_id: int,
                      edit: _Edit = Depends()) -> dict:
    customer = await edit.customer()
    with _service_errors():
        await service.remove_part(db=edit.db, customer=customer, part=part, part_id=part_id)
    singular = {"addresses": "address", "contacts": "contact", "products": "product"}[part]
    return await edit.done(f"customer.{singular}_remove", customer, {"id": part_id})
