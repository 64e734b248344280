"""The product catalogue the IVR reads out (self-service "product information").

A caller keys a product code (digits: a phone keypad cannot spell a model
name like ``KFR-35GW``); the IVR reads the product's name and the spoken
information in the caller's language. This is the service center's catalogue,
not what a customer owns (that is ``customers.models.CustomerProduct``).
``info`` is a JSON object ``{language: text}``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow


class CatalogProduct(Base):
    __tablename__ = "ivr_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # digits the caller keys
    model: Mapped[str] = mapped_column(String(80), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    info: Mapped[str] = mapped_column(Text, default="{}")  # JSON {language: spoken text}
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
