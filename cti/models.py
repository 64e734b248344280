"""The persisted call: one row per Linkedid, written idempotently."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow


class CallRecord(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)  # Asterisk Linkedid
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    channel: Mapped[str | None] = mapped_column(String(128), nullable=True)
    caller_number_raw: Mapped[str | None] = mapped_column(String(64), nullable=True)
    caller_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # normalised
    caller_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    caller_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    called_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agent: Mapped[str | None] = mapped_column(String(64), nullable=True)  # queue MemberName
    agent_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    interface: Mapped[str | None] = mapped_column(String(128), nullable=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ringing_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hold_time_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    cause: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ivr_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_calls_caller_number_created", "caller_number", "created_at"),
        Index("ix_calls_customer_created", "customer_id", "created_at"),
        Index("ix_calls_agent_created", "agent_username", "created_at"),
        Index("ix_calls_queue_created", "queue", "created_at"),
        Index("ix_calls_created", "created_at"),
        Index("ix_calls_open", "ended_at"),
    )
