"""Customer search, creation and lookup. Thin: rules live in ``service``."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service as accounts
from accounts.http import client_ip
from accounts.models import User
from accounts.security import current_user
from customers import service
from customers.schemas import CustomerIn, CustomerOut, CustomerPage
from ctidesk.deps import get_container, get_db

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("", response_model=CustomerPage)
async def list_customers(phone: str | None = Query(None, max_length=64),
                         q: str | None = Query(None, max_length=200),
                         limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0),
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db),
                         container=Depends(get_container)) -> dict:
    items, total = await service.search(
        db=db, phone=phone, q=q, limit=limit, offset=offset,
        country_code=container.settings.default_country_code)
    return {"items": [service.card(c) for c in items], "total": total}


@router.post("", response_model=CustomerOut, status_code=201)
async def create_customer(body: CustomerIn, request: Request,
                          user: User = Depends(current_user), db: AsyncSession = Depends(get_db),
                          container=Depends(get_container)) -> dict:
    try:
        customer = await service.create(
            db=db, name=body.name, kind=body.kind, phones=body.phones, notes=body.notes,
            country_code=container.settings.default_country_code)
    except service.InvalidPhoneError as exc:
        raise HTTPException(422, detail=[{
            "loc": ["body", "phones", exc.index], "msg": str(exc), "type": "value_error",
            "input": exc.raw}]) from None
    await accounts.audit(db=db, actor=user.username, action="customer.create",
                         target=f"customer:{customer.id}", ip=client_ip(request),
                         detail={"name": customer.name, "kind": customer.kind,
                                 "phones": [p.normalized for p in customer.phones]})
    await db.commit()
    return service.card(customer)


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: int, user: User = Depends(current_user),
                       db: AsyncSession = Depends(get_db)) -> dict:
    customer = await service.get(db=db, customer_id=customer_id)
    if customer is None:
        raise HTTPException(404, detail="customer not found")
    return service.card(customer)
