"""Catalogue API (issue 14). Thin: rules live in ``catalog.service``.

Everybody signed in reads (the desk's pickers, the KB editor's product
suggestions); only admins write (``/admin/catalog``). A save is one row and
its audit row in one transaction (``catalog.<kind>.create|update`` with what
changed, old and new), so nothing is half-saved.

    GET   /api/v1/catalog/products[?active=true]     categories and models
    GET   /api/v1/catalog/faults[?category=&active=true]  the taxonomy tree
    POST  /api/v1/catalog/{kind}                     kind: categories | models | fault-classes |
    PATCH /api/v1/catalog/{kind}/{code}                    fault-phenomena | fault-causes
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.http import audit_request
from accounts.models import User
from accounts.security import current_user, require_roles
from agent_desk.pages import add_pages
from catalog import service
from catalog.schemas import ItemIn, ProductsOut, SavedOut
from ctidesk.deps import get_db

router = APIRouter(tags=["catalog"])
admin_only = require_roles("admin")


@router.get("/api/v1/catalog/products", response_model=ProductsOut)
async def products(active: bool = Query(False, description="only rows still offered"),
                   user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    return await service.products(db=db, active_only=active)


@router.get("/api/v1/catalog/faults")
async def faults(category: str | None = Query(None, max_length=40, description="a product category code"),
                 active: bool = Query(False, description="only rows still offered"),
                 user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    return {"classes": await service.fault_tree(db=db, category=category, active_only=active)}


@router.post("/api/v1/catalog/{kind}", response_model=SavedOut, status_code=201)
async def create_item(kind: str, body: ItemIn, request: Request, user: User = Depends(admin_only),
                      db: AsyncSession = Depends(get_db)) -> dict:
    k = service.kind_of(kind)
    row = await service.create(db=db, kind=k, values=body.model_dump(exclude_unset=True))
    item = service.row_dict(k, row)
    await audit_request(db, request, user, f"catalog.{k.label}.create", f"{k.label}:{row.code}", item)
    await db.commit()
    return {"kind": k.name, "item": item, "changed": sorted(item)}


@router.patch("/api/v1/catalog/{kind}/{code}", response_model=SavedOut)
async def update_item(kind: str, code: str, body: ItemIn, request: Request, user: User = Depends(admin_only),
                      db: AsyncSession = Depends(get_db)) -> dict:
    k = service.kind_of(kind)
    row, changed = await service.update(db=db, kind=k, code=code, values=body.model_dump(exclude_unset=True))
    item = service.row_dict(k, row)
    if changed:
        await audit_request(db, request, user, f"catalog.{k.label}.update", f"{k.label}:{row.code}",
                            {"changed": changed})
        await db.commit()
    return {"kind": k.name, "item": item, "changed": sorted(changed)}


# The admin page (admin only: the page itself is static, the API refuses others).
add_pages(router, {"/admin/catalog": "catalog-admin.html"})
