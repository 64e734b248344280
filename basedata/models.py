"""``config_documents``: every saved version of a base data document.

One row per save, never updated: the newest version of a kind is the one in
force, the older ones are its history (an admin can restore one, which is a
new save). ``(kind, version)`` is unique, so two admins saving on the same base
version cannot both win, even from two processes.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow

KINDS = ("sla", "calendar", "pause_reasons", "ivr")


class ConfigDocument(Base):
    __tablename__ = "config_documents"
    __table_args__ = (UniqueConstraint("kind", "version", name="uq_config_documents_kind_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # JSON: the document, shaped like its TOML file
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    comment: Mapped[str] = mapped_column(String(500), default="")
