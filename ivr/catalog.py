"""The product catalogue (``ivr.models.CatalogProduct``): keyword-only
functions taking the session, for the API and the IVR's self-service look-up.

Writers do not commit: the API audits in the same transaction, then commits.
"""
from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctidesk.errors import Invalid, NotFound
from ivr.models import CatalogProduct

MAX_LIST = 5000


def info_of(product: CatalogProduct) -> dict:
    """``info`` as a dict; a row holding bad JSON reads as no spoken text."""
    try:
        return json.loads(product.info or "{}")
    except ValueError:
        return {}


async def list_products(*, db: AsyncSession) -> list[CatalogProduct]:
    return list((await db.execute(select(CatalogProduct).order_by(CatalogProduct.code).limit(MAX_LIST))).scalars())


async def find(*, db: AsyncSession, code: str) -> CatalogProduct | None:
    return (await db.execute(select(CatalogProduct).where(CatalogProduct.code == code))).scalar_one_or_none()


async def get(*, db: AsyncSession, code: str) -> CatalogProduct:
    product = await find(db=db, code=code)
    if product is None:
        raise NotFound(f"no product with code {code}")
    return product


async def put(*, db: AsyncSession, code: str, model: str = "", name: str = "",
              info: dict | None = None) -> tuple[CatalogProduct, bool]:
    """Create or replace the product keyed by ``code``: (the row, whether it is new)."""
    model, name = model.strip(), name.strip()
    if not (name or model):
        raise Invalid("name or model is required: it is what the caller hears first")
    product = await find(db=db, code=code)
    created = product is None
    if created:
        product = CatalogProduct(code=code)
        db.add(product)
    product.model, product.name = model, name
    product.info = json.dumps(info or {}, ensure_ascii=False)
    return product, created


async def delete(*, db: AsyncSession, code: str) -> None:
    await db.delete(await get(db=db, code=code))
