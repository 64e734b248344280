"""The product catalogue the IVR reads out (self-service "product information").

A caller keys a product code (digits: a phone keypad cannot spell a model
name like ``KFR-35GW``); the IVR reads the product's name and the spoken
information in the caller's language. This is the service center's catalogue,
not what a customer owns (that is ``customers.models.CustomerProduct``).
``info`` is a JSON object ``{language: text}``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
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


class CallSurvey(Base):
    """The post-call satisfaction survey (满意度评价) of one call: one row per call
    (``call_id`` unique: a repeated survey, a retried write, never makes two).

    ``score`` is 1..5, or None when the caller gave none (wrong keys, silence,
    hung up); ``dtmf`` is every key they pressed, in order. ``low`` is whether
    the score was at or under the threshold in force then (``[survey]
    low_score``), so a later change of the threshold does not rewrite history;
    ``callback_id`` is the callback that low score opened."""

    __tablename__ = "call_surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)  # Asterisk Linkedid, as calls.call_id
    agent_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dtmf: Mapped[str] = mapped_column(String(32), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # scored | invalid | no_input | hangup
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    low: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_call_surveys_agent_created", "agent_username", "created_at"),)
