"""Catalogue and fault-taxonomy rules: one generic writer for the five kinds of row.

Keyword-only functions on an injected session; writers flush, never commit
(the view commits with its audit row, so a save is one transaction: the row
and its audit, or neither).

Rules (each broken one is :class:`ctidesk.errors.Invalid` naming the field):

* ``code`` is given once, at creation, and never changes (tickets, articles
  and reports keep it); letters, digits, ``_ - .``, stored upper-case; unique
  per kind (409 if taken). Model codes may also hold ``/`` and spaces.
* ``name_zh`` and ``name_en`` are required; text without control characters.
* The parent (a model's or class's ``category_code``, a phenomenon's
  ``class_code``, a cause's ``phenomenon_code``) must exist, and be active
  when it is set. A phenomenon and a cause stay under the parent they were
  created under: moving them would change what stored tickets mean.
* Nothing is deleted: ``active: false`` hides a row from pickers and from new
  tickets; old tickets and reports still name it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import CatalogCategory, CatalogModel, FaultCause, FaultClass, FaultPhenomenon
from ctidesk.db import utcnow
from ctidesk.errors import Conflict, Invalid, NotFound

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_.\-]*$")
_MODEL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_.\-/ ]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SORT_MAX = 1_000_000


@dataclass(frozen=True)
class Kind:
    """One kind of catalogue row: its table, its parent column (and the parent's
    table), whether the parent may be empty or moved, and its extra text fields."""

    name: str  # the API's path segment
    label: str  # in messages and audit actions
    model: type
    parent: str | None = None
    parent_model: type | None = None
    parent_optional: bool = False
    parent_movable: bool = True
    texts: tuple[str, ...] = ()
    code_pattern: re.Pattern = _CODE


KINDS = {k.name: k for k in (
    Kind("categories", "category", CatalogCategory),
    Kind("models", "model", CatalogModel, "category_code", CatalogCategory, code_pattern=_MODEL_CODE),
    Kind("fault-classes", "fault_class", FaultClass, "category_code", CatalogCategory, parent_optional=True),
    Kind("fault-phenomena", "fault_phenomenon", FaultPhenomenon, "class_code", FaultClass, parent_movable=False),
    Kind("fault-causes", "fault_cause", FaultCause, "phenomenon_code", FaultPhenomenon, parent_movable=False,
         texts=("remedy_zh", "remedy_en")),
)}


def kind_of(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise NotFound(f"no catalogue list {name!r}; there are {', '.join(KINDS)}")
    return kind


def _length(kind: Kind, field: str) -> int | None:
    return getattr(kind.model.__table__.c[field].type, "length", None)


def normalize_code(value: str) -> str:
    return " ".join(str(value).split()).upper()


def _text(kind: Kind, field: str, value: Any, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text", field=f"body.{field}")
    value = value.strip()
    if required and not value:
        raise Invalid(f"{field} is required", field=f"body.{field}")
    if _CONTROL.search(value):
        raise Invalid(f"{field} has control characters", field=f"body.{field}")
    limit = _length(kind, field) or 4000
    if len(value) > limit:
        raise Invalid(f"{field} is too long: at most {limit} characters", field=f"body.{field}")
    return value


async def _find(db: AsyncSession, model: type, code: str):
    return (await db.execute(select(model).where(model.code == code))).scalar_one_or_none()


async def get(*, db: AsyncSession, kind: Kind, code: str):
    row = await _find(db, kind.model, normalize_code(code))
    if row is None:
        raise NotFound(f"{kind.label} {code} not found")
    return row


async def _parent(db: AsyncSession, kind: Kind, value: Any) -> str | None:
    field = kind.parent
    if value is None or (isinstance(value, str) and not value.strip()):
        if kind.parent_optional:
            return None
        raise Invalid(f"{field} is required", field=f"body.{field}")
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a code", field=f"body.{field}")
    code = normalize_code(value)
    parent = await _find(db, kind.parent_model, code)
    if parent is None:
        raise Invalid(f"{field}: there is no {code}", field=f"body.{field}")
    if not parent.active:
        raise Invalid(f"{field}: {code} is deactivated; activate it first", field=f"body.{field}")
    return code


def _fields(kind: Kind) -> set[str]:
    out = {"name_zh", "name_en", "active", "sort", *kind.texts}
    if kind.parent:
        out.add(kind.parent)
    return out


async def _clean(db: AsyncSession, kind: Kind, values: dict, *, creating: bool) -> dict:
    """The values to store, checked; Invalid names the first bad field."""
    allowed = _fields(kind)
    for name in values:
        if name == "code" and not creating:
            raise Invalid("code cannot be changed (tickets and reports keep it); edit the names instead",
                          field="body.code")
        if name != "code" and name not in allowed:
            raise Invalid(f"{name} is not a field of a {kind.label}", field=f"body.{name}")
    out: dict[str, Any] = {}
    for name in ("name_zh", "name_en"):
        if creating or name in values:
            out[name] = _text(kind, name, values.get(name), required=True)
    for name in kind.texts:
        if creating or name in values:
            out[name] = _text(kind, name, values.get(name), required=False)
    if "active" in values:
        if not isinstance(values["active"], bool):
            raise Invalid("active must be true or false", field="body.active")
        out["active"] = values["active"]
    if "sort" in values:
        sort = values["sort"]
        if isinstance(sort, bool) or not isinstance(sort, int) or not 0 <= sort <= SORT_MAX:
            raise Invalid(f"sort must be a whole number 0..{SORT_MAX}", field="body.sort")
        out["sort"] = sort
    if kind.parent and (creating or kind.parent in values):
        if not creating and not kind.parent_movable:
            raise Invalid(f"{kind.parent} cannot be changed: a {kind.label} stays where it was created "
                          "(create a new one instead)", field=f"body.{kind.parent}")
        out[kind.parent] = await _parent(db, kind, values.get(kind.parent))
    return out


async def create(*, db: AsyncSession, kind: Kind, values: dict):
    """A new row (flushed); Invalid for bad input, Conflict for a code that is taken."""
    raw = values.get("code")
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("code is required", field="body.code")
    code = normalize_code(raw)
    limit = _length(kind, "code")
    if len(code) > limit or not kind.code_pattern.match(code):
        allowed = "letters, digits, _ - ." + (" / and spaces" if kind.code_pattern is _MODEL_CODE else "")
        raise Invalid(f"code must be 1..{limit} characters: {allowed}", field="body.code")
    clean = await _clean(db, kind, values, creating=True)
    if await _find(db, kind.model, code) is not None:
        raise Conflict(f"{kind.label} {code} exists already; edit it instead")
    row = kind.model(code=code, active=clean.pop("active", True), sort=clean.pop("sort", 0),
                     updated_at=utcnow(), **clean)
    db.add(row)
    await db.flush()
    return row


async def update(*, db: AsyncSession, kind: Kind, code: str, values: dict):
    """Change fields of a row: ``(row, {field: [old, new]})`` (nothing changed: empty)."""
    row = await get(db=db, kind=kind, code=code)
    clean = await _clean(db, kind, values, creating=False)
    changed = {}
    for name, new in clean.items():
        old = getattr(row, name)
        if old != new:
            changed[name] = [old, new]
            setattr(row, name, new)
    if changed:
        row.updated_at = utcnow()
        await db.flush()
    return row, changed


# --- reading -----------------------------------------------------------------

def row_dict(kind: Kind, row) -> dict:
    out = {"code": row.code, "name_zh": row.name_zh, "name_en": row.name_en, "active": row.active,
           "sort": row.sort}
    if kind.parent:
        out[kind.parent] = getattr(row, kind.parent)
    for name in kind.texts:
        out[name] = getattr(row, name)
    return out


def _order(model):
    return (model.sort, model.code)


async def products(*, db: AsyncSession, active_only: bool = False) -> dict:
    """``{"categories": [...], "models": [...]}`` in display order."""
    out = {}
    for name in ("categories", "models"):
        kind = KINDS[name]
        stmt = select(kind.model).order_by(*_order(kind.model))
        if active_only:
            stmt = stmt.where(kind.model.active.is_(True))
        out[name] = [row_dict(kind, r) for r in (await db.execute(stmt)).scalars()]
    return out


async def fault_tree(*, db: AsyncSession, category: str | None = None, active_only: bool = False) -> list[dict]:
    """The taxonomy as a tree: classes (for ``category`` and for every product),
    each with its phenomena, each with its causes and remedies."""
    classes = select(FaultClass).order_by(*_order(FaultClass))
    if category:
        classes = classes.where(or_(FaultClass.category_code == normalize_code(category),
                                    FaultClass.category_code.is_(None)))
    rows = {}
    for model in (FaultClass, FaultPhenomenon, FaultCause):
        stmt = classes if model is FaultClass else select(model).order_by(*_order(model))
        if active_only:
            stmt = stmt.where(model.active.is_(True))
        rows[model] = list((await db.execute(stmt)).scalars())
    causes: dict[str, list] = {}
    for c in rows[FaultCause]:
        causes.setdefault(c.phenomenon_code, []).append(row_dict(KINDS["fault-causes"], c))
    phenomena: dict[str, list] = {}
    for p in rows[FaultPhenomenon]:
        phenomena.setdefault(p.class_code, []).append(
            {**row_dict(KINDS["fault-phenomena"], p), "causes": causes.get(p.code, [])})
    return [{**row_dict(KINDS["fault-classes"], c), "phenomena": phenomena.get(c.code, [])}
            for c in rows[FaultClass]]


async def fault_rows(*, db: AsyncSession, class_code: str | None, phenomenon_code: str | None):
    """``(FaultClass | None, FaultPhenomenon | None)`` for two codes as given (for the
    tickets' rules, which live in ``tickets.service``)."""
    found_class = await _find(db, FaultClass, normalize_code(class_code)) if class_code else None
    found_phen = await _find(db, FaultPhenomenon, normalize_code(phenomenon_code)) if phenomenon_code else None
    return found_class, found_phen


async def fault_labels(*, db: AsyncSession) -> tuple[dict, dict]:
    """``({class code: (zh, en)}, {phenomenon code: (zh, en)})``, inactive included (reports)."""
    classes = {r.code: (r.name_zh, r.name_en) for r in (await db.execute(select(FaultClass))).scalars()}
    phenomena = {r.code: (r.name_zh, r.name_en) for r in (await db.execute(select(FaultPhenomenon))).scalars()}
    return classes, phenomena
