"""IVR API: the menu in force and the self-service product catalogue. Thin.

``GET /api/v1/ivr/menu`` (supervisor, admin): the menu in force and what the
running FastAGI server serves (reloads, the last rejected edit). The menu is
the file, checked now (every problem with its key), until an administrator
saves one in the browser (``basedata``, versioned, checked by the same rules as
``ctidesk ivr check``); from then on it is that saved version (``origin``).

``/api/v1/ivr/products``: any desk user may read the catalogue (agents quote
it too); supervisors and admins add, change and remove products. Writes are
audited in the same transaction. Codes are what callers key: digits only.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service as accounts
from accounts.models import User
from accounts.security import current_user, require_roles
from ctidesk.deps import client_ip, get_container, get_db
from ivr import catalog
from ivr.models import CatalogProduct

router = APIRouter(prefix="/api/v1/ivr", tags=["ivr"])

Code = Annotated[str, Path(pattern=r"^[0-9]{1,32}$", description="the digits a caller keys")]
_Lang = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
_Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field("", max_length=80)
    name: str = Field("", max_length=200)
    info: dict[_Lang, _Text] = Field(default_factory=dict, description="spoken text per language")


class ProductOut(BaseModel):
    code: str
    model: str
    name: str
    info: dict


def _out(p: CatalogProduct) -> ProductOut:
    return ProductOut(code=p.code, model=p.model, name=p.name, info=catalog.info_of(p))


@router.get("/menu")
async def menu(container=Depends(get_container), user: User = Depends(require_roles("supervisor"))):
    from ivr.config import check_menu, tree_lines

    settings = container.settings
    source = container.ivr_menus
    if source is not None and source.installed is not None:  # saved in the browser: the file is not read
        checked, problems = source.menu, []
    else:
        checked, problems = check_menu(settings.ivr_config, recorded_dir=settings.ivr_prompts_dir,
                                       calendar=settings.calendar_config)
    return {
        "file": str(settings.ivr_config),
        "origin": source.installed if source is not None and source.installed is not None else "file",
        "valid": checked is not None,
        "problems": [{"key": p.key, "severity": p.severity, "message": p.message} for p in problems],
        "tree": tree_lines(checked) if checked is not None else [],
        "languages": list(checked.languages) if checked is not None else [],
        "serving": None if source is None else {"reloads": source.reloads, "last_error": source.last_error,
                                                "start": source.menu.start},
    }


@router.get("/products", response_model=list[ProductOut])
async def list_products(db: AsyncSession = Depends(get_db), user: User = Depends(current_user)):
    return [_out(p) for p in await catalog.list_products(db=db)]


@router.get("/products/{code}", response_model=ProductOut)
async def get_product(code: Code, db: AsyncSession = Depends(get_db), user: User = Depends(current_user)):
    return _out(await catalog.get(db=db, code=code))


@router.put("/products/{code}", response_model=ProductOut)
async def put_product(code: Code, body: ProductIn, request: Request, db: AsyncSession = Depends(get_db),
                      user: User = Depends(require_roles("supervisor"))):
    row, created = await catalog.put(db=db, code=code, model=body.model, name=body.name, info=body.info)
    await accounts.audit(db=db, actor=user.username, action="ivr.product." + ("create" if created else "update"),
                         target=f"product:{code}", detail={"model": row.model}, ip=client_ip(request))
    await db.commit()
    return _out(row)


@router.delete("/products/{code}", status_code=204)
async def delete_product(code: Code, request: Request, db: AsyncSession = Depends(get_db),
                         user: User = Depends(require_roles("supervisor"))):
    await catalog.delete(db=db, code=code)
    await accounts.audit(db=db, actor=user.username, action="ivr.product.delete", target=f"product:{code}",
                         ip=client_ip(request))
    await db.commit()
