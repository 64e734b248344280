"""Customers and everything recorded about them.

A number is not a key: a family landline or a company switchboard belongs to
several customers, so ``customer_phones.normalized`` is indexed, not unique.
``source_call_id`` is unique (NULLs allowed) so that an unknown caller gets at
most one provisional record per call even if two writers race.

A duplicate is never deleted but merged: its history moves to the survivor
and the husk keeps ``merged_into_id`` pointing there, so an old link still
leads somewhere and the audit trail still names a real row. Husks own nothing
(their phones moved) and are hidden from lookups and search.

Columns added after the first release carry a server default, because the
screen-pop benchmark and older tools insert into ``customers`` by raw SQL.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (Boolean, Date, ForeignKey, Index, Integer, String, Text, false)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ctidesk.db import Base, UTCDateTime, utcnow

CUSTOMER_KINDS = ("person", "company")
VALUE_CLASSES = ("A", "B", "C", "D")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="", index=True)
    kind: Mapped[str] = mapped_column(String(16), default="person")
    # Created automatically from an unknown caller; an agent completes it.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    source_call_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    region: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    industry: Mapped[str | None] = mapped_column(String(80), nullable=True)
    # Classification: value class A (best) .. D, the VIP flag, and why.
    value_class: Mapped[str | None] = mapped_column(String(1), nullable=True)
    vip: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    class_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True,
                                                       index=True)
    merged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # "selectin": async sessions cannot lazy-load, so the parts always come along.
    phones: Mapped[list["CustomerPhone"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin",
        order_by="CustomerPhone.id")
    tags: Mapped[list["CustomerTag"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CustomerTag.tag")
    addresses: Mapped[list["CustomerAddress"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CustomerAddress.id")
    contacts: Mapped[list["CustomerContact"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CustomerContact.id")
    products: Mapped[list["CustomerProduct"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CustomerProduct.id")

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    raw: Mapped[str] = mapped_column(String(64))
    normalized: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(40), default="")

    customer: Mapped[Customer] = relationship(back_populates="phones")


class CustomerTag(Base):
    """One free-form tag (stored lower-cased, trimmed); a row per tag so that
    "every customer tagged x" is an index lookup."""

    __tablename__ = "customer_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(40), index=True)

    __table_args__ = (Index("uq_customer_tags_pair", "customer_id", "tag", unique=True),)


class CustomerAddress(Base):
    __tablename__ = "customer_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(40), default="")  # home, office, site...
    text: Mapped[str] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(String(80), nullable=True)
    # At most one per customer; the service keeps it so.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class CustomerContact(Base):
    """A person to talk to at a company customer. Their phone is searchable
    but is not the company's number: the screen pop does not match it."""

    __tablename__ = "customer_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(80), default="")
    phone_raw: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_normalized: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    notes: Mapped[str] = mapped_column(Text, default="")


class CustomerProduct(Base):
    """A product the customer owns. Serials are stored upper-cased."""

    __tablename__ = "customer_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(80), default="")
    serial: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    purchase_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    warranty_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    install_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
