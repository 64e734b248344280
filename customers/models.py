"""Customers and their phone numbers.

A number is not a key: a family landline or a company switchboard belongs to
several customers, so ``customer_phones.normalized`` is indexed, not unique.
``source_call_id`` is unique (NULLs allowed) so that an unknown caller gets at
most one provisional record per call even if two writers race.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ctidesk.db import Base, UTCDateTime, utcnow

CUSTOMER_KINDS = ("person", "company")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="", index=True)
    kind: Mapped[str] = mapped_column(String(16), default="person")
    # Created automatically from an unknown caller; an agent completes it.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    source_call_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # "selectin": async sessions cannot lazy-load, so phones always come along.
    phones: Mapped[list["CustomerPhone"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin",
        order_by="CustomerPhone.id")


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
