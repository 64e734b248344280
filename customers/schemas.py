"""Wire shapes of the customers API."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CustomerIn(BaseModel):
    name: str = Field(default="", max_length=200)
    kind: Literal["person", "company"] = "person"
    phones: list[str] = Field(default_factory=list, max_length=20)
    notes: str = Field(default="", max_length=4000)


class PhoneOut(BaseModel):
    raw: str
    normalized: str
    kind: str


class CustomerOut(BaseModel):
    id: int
    name: str
    kind: str
    provisional: bool
    phones: list[PhoneOut]
    notes: str
    created_at: str | None


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    total: int
