"""Base data kept by the center (issue 14): the product catalogue and the fault taxonomy.

Every row has a stable ``code`` (a category's, a model's, a fault class's...):
tickets, KB articles and reports store the code, never the label, so an admin
who renames "滚筒不转" to "滚筒不转动" changes no ticket and splits no report
line. Labels come in zh-CN and English. Nothing is deleted: a row that is no
longer offered is ``active = False`` (pickers hide it, new tickets may not use
it, old tickets and reports keep naming it).

Products: ``catalog_categories`` (洗衣机 / washing machine) and
``catalog_models`` (a model code such as XQG100 in a category). Customers'
products stay free text (``customer_products.model``); the catalogue is what the
desk suggests, not a constraint on what is stored. (``ivr_products`` is the
IVR's table of keyed codes it reads out, a different thing.)

Faults: ``fault_classes`` (optionally for one product category) ->
``fault_phenomena`` -> ``fault_causes`` (a likely cause and its remedy).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow


class CatalogCategory(Base):
    __tablename__ = "catalog_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CatalogModel(Base):
    """A product model; ``code`` is the model code (XQG100), stored upper-case."""

    __tablename__ = "catalog_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("catalog_categories.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaultClass(Base):
    """A fault class (电气故障 / electrical); ``category_code`` None: for every product."""

    __tablename__ = "fault_classes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("catalog_categories.code"), nullable=True,
                                                      index=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaultPhenomenon(Base):
    """What the customer sees (滚筒不转 / the drum does not turn), in one class."""

    __tablename__ = "fault_phenomena"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    class_code: Mapped[str] = mapped_column(ForeignKey("fault_classes.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaultCause(Base):
    """A likely cause of a phenomenon and what fixes it (the agent reads both to the caller)."""

    __tablename__ = "fault_causes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    phenomenon_code: Mapped[str] = mapped_column(ForeignKey("fault_phenomena.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))  # the cause
    name_en: Mapped[str] = mapped_column(String(200))
    remedy_zh: Mapped[str] = mapped_column(Text, default="")
    remedy_en: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
