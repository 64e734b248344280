"""Request and response bodies of the catalogue API.

One input shape for the five kinds of row (``catalog.service.KINDS``): the
service says which fields a kind has (a field of another kind is a 422 naming
it), so the message is the same whether pydantic or the service refuses.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Any = Field(None, description="created once, never changed")
    name_zh: Any = None
    name_en: Any = None
    active: Any = None
    sort: Any = None
    category_code: Any = Field(None, description="models (required) and fault classes (empty: every product)")
    class_code: Any = Field(None, description="fault phenomena")
    phenomenon_code: Any = Field(None, description="fault causes")
    remedy_zh: Any = None
    remedy_en: Any = None


class ItemOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    name_zh: str
    name_en: str
    active: bool
    sort: int


class SavedOut(BaseModel):
    kind: str
    item: ItemOut
    changed: list[str]


class ProductsOut(BaseModel):
    categories: list[ItemOut]
    models: list[ItemOut]
