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
    # issue 11: the agent who transferred the call away (agent_username is then the
    # one who has it last); every transfer with its handoff is in call_handoffs
    transferred_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_calls_caller_number_created", "caller_number", "created_at"),
        Index("ix_calls_customer_created", "customer_id", "created_at"),
        Index("ix_calls_agent_created", "agent_username", "created_at"),
        Index("ix_calls_queue_created", "queue", "created_at"),
        Index("ix_calls_created", "created_at"),
        Index("ix_calls_open", "ended_at"),
        Index("ix_calls_transferred_from", "transferred_from"),
    )


class CallHandoff(Base):
    """A desk transfer (issue 11) and what the agent handed over with it: notes
    and the ticket draft the next seat's screen pop shows. One row per transfer
    request; ``status`` follows Asterisk: requested -> completed | failed, or
    cancelled by the agent (back to the caller during an attended transfer)."""

    __tablename__ = "call_handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)  # Linkedid: kept across the transfer
    mode: Mapped[str] = mapped_column(String(16))  # blind | attended | threeway (3-way consult)
    from_username: Mapped[str] = mapped_column(String(64))
    to_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_extension: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    draft: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    status: Mapped[str] = mapped_column(String(16), default="requested")
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
