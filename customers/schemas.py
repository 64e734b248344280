"""Wire shapes of the customers API.

Shapes check types, lengths and closed sets, so that FastAPI's 422 names the
field; rules that need the numbering plan or two fields at once (a phone, a
warranty ending before the purchase) are the service's, and the HTTP layer
reports them in the same 422 shape.
"""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ValueClass = Literal["A", "B", "C", "D"]


class _ClassUpper(BaseModel):
    @field_validator("value_class", mode="before", check_fields=False)
    @classmethod
    def _upper(cls, value):
        """'b' is B; an empty string is no class."""
        if isinstance(value, str):
            return value.strip().upper() or None
        return value


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    label: str = Field(default="", max_length=40)
    region: str | None = Field(default=None, max_length=80)
    is_default: bool = False


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    role: str = Field(default="", max_length=80)
    phone: str | None = Field(default=None, max_length=64)
    notes: str = Field(default="", max_length=4000)


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="", max_length=80)
    serial: str | None = Field(default=None, max_length=80)
    purchase_date: date | None = None
    warranty_end: date | None = None
    install_address: str | None = Field(default=None, max_length=1000)


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=1, max_length=64)
    label: str = Field(default="", max_length=40)


class CustomerIn(_ClassUpper):
    name: str = Field(default="", max_length=200)
    kind: Literal["person", "company"] = "person"
    phones: list[str] = Field(default_factory=list, max_length=20)
    notes: str = Field(default="", max_length=4000)
    region: str | None = Field(default=None, max_length=80)
    industry: str | None = Field(default=None, max_length=80)
    value_class: ValueClass | None = None
    vip: bool = False
    class_reason: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=30)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=20)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=50)
    products: list[ProductIn] = Field(default_factory=list, max_length=200)



class CustomerPatch(_ClassUpper):
    """Only the fields sent change; ``null`` clears the optional ones, and is a
    422 for the others. ``tags`` and ``phones`` replace the whole list."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default=None, max_length=200)
    kind: Literal["person", "company"] = None
    notes: str = Field(default=None, max_length=4000)
    region: str | None = Field(default=None, max_length=80)
    industry: str | None = Field(default=None, max_length=80)
    value_class: ValueClass | None = None
    vip: bool = None
    class_reason: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default=None, max_length=30)
    phones: list[str] = Field(default=None, max_length=20)
    provisional: bool = None



class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_id: int = Field(ge=1)


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


class CustomerSummaryOut(CustomerOut):
    region: str | None
    industry: str | None
    value_class: str | None
    vip: bool
    tags: list[str]
    merged_into_id: int | None


class AddressOut(BaseModel):
    id: int
    label: str
    text: str
    region: str | None
    is_default: bool


class ContactOut(BaseModel):
    id: int
    name: str
    role: str
    phone: str | None
    phone_normalized: str | None
    notes: str


class ProductOut(BaseModel):
    id: int
    model: str
    serial: str | None
    purchase_date: str | None
    warranty_end: str | None
    install_address: str | None


class CustomerProfileOut(CustomerSummaryOut):
    class_reason: str | None
    merged_at: str | None
    updated_at: str | None
    addresses: list[AddressOut]
    contacts: list[ContactOut]
    products: list[ProductOut]


class CustomerPage(BaseModel):
    items: list[CustomerSummaryOut]
    total: int


class TimelineOut(BaseModel):
    customer_id: int
    merged_ids: list[int]
    # Each item: kind ("call" | "ticket" | "callback"), at (ISO time), id, and
    # the fields of its kind.
    items: list[dict]


class MergeOut(BaseModel):
    customer: CustomerProfileOut
    merged_id: int
    moved: dict[str, int]
    already_merged: bool
