"""Recordings: one row per audio file, tied to its call, agent and tickets.

Shared contract (IVR voicemail, on-answer and on-demand recording, ingest):
a row is written *before* its file is final, with ``status`` telling how far
it got, so a crash at any point leaves a row the ingest worker can finish:

  recording  Asterisk is writing ``source_path`` (MixMonitor running)
  pending    the file is complete at ``source_path``; ingest has not run yet
  stored     verified, measured, checksummed, moved to ``storage_path``
  failed     the file was empty/truncated/unreadable (``error`` says why)
  missing    the file never appeared (row kept: the call happened)
  purged     removed by retention (row kept for the audit trail)

``source_path`` is only ever set by our own code from Asterisk's spool
directory, never from a request; ``storage_path`` is relative to
``Settings.effective_recordings_dir``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow

KINDS = ("full", "on_demand", "voicemail")
DESCRIBED_SQL = "description != '' OR tags != ''"  # ix_recordings_described's WHERE; search repeats it verbatim
STATUSES = ("recording", "pending", "stored", "failed", "missing", "purged")


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # calls.call_id (Linkedid); no FK: may arrive first
    uniqueid: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the recorded channel
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="recording")
    agent_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    caller_number_raw: Mapped[str | None] = mapped_column(String(64), nullable=True)
    caller_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # normalised
    called_number_raw: Mapped[str | None] = mapped_column(String(64), nullable=True)
    called_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # normalised
    # The normalised numbers reversed: "ends with 1234" becomes an indexed prefix
    # range (set by the ORM hook below, so every writer gets them).
    caller_number_rev: Mapped[str | None] = mapped_column(String(32), nullable=True)
    called_number_rev: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)  # measured from the audio
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    storage_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    format: Mapped[str] = mapped_column(String(8), default="wav")
    intent: Mapped[str | None] = mapped_column(String(32), nullable=True)  # voicemail: complaint/suggestion/repair...
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(Text, default="")  # comma-separated
    pauses: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON [[start_s, end_s], ...]
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_recordings_call", "call_id"),
        # duration rides along so "newest first with a duration range" checks it in the index
        Index("ix_recordings_started", "started_at", "duration_ms"),
        Index("ix_recordings_agent_started", "agent_username", "started_at"),
        Index("ix_recordings_caller_started", "caller_number", "started_at"),
        Index("ix_recordings_status", "status"),
        Index("ix_recordings_called_started", "called_number", "started_at"),
        Index("ix_recordings_caller_rev", "caller_number_rev"),
        Index("ix_recordings_called_rev", "called_number_rev"),
        Index("ix_recordings_duration", "duration_ms"),
        # Text search walks only rows that have a description or tags (a few percent)
        # and tests LIKE on the index entries before touching a row. SQLite only: a
        # PostgreSQL btree refuses long texts (use pg_trgm there).
        Index("ix_recordings_described", "started_at", "description", "tags",
              sqlite_where=text(DESCRIBED_SQL)).ddl_if(dialect="sqlite"),
    )


@event.listens_for(Recording, "before_insert")
@event.listens_for(Recording, "before_update")
def _reversed_numbers(_mapper, _conn, rec: Recording) -> None:
    """Keep the reversed copies in step with the numbers, whoever writes the row."""
    rec.caller_number_rev = rec.caller_number[::-1] if rec.caller_number else None
    rec.called_number_rev = rec.called_number[::-1] if rec.called_number else None


class RecordingTicket(Base):
    """Which tickets a recording is evidence for (many to many)."""

    __tablename__ = "recording_tickets"

    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_recording_tickets_ticket", "ticket_id"),)
