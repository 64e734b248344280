"""Desk users and the audit log."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(80), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    extension: Mapped[str | None] = mapped_column(String(6), nullable=True)
    # The agent's phone (issue 11): "local" (a simulated Local channel phone),
    # "sip" (a desk SIP phone) or "webrtc" (the desk's browser softphone).
    phone: Mapped[str] = mapped_column(String(8), default="local", server_default="local")
    # SIP digest HA1 = md5(extension:realm:password) of a sip/webrtc phone: the
    # password itself is never stored (a desk phone's is shown once at creation;
    # a softphone authenticates with the HA1, which only its agent is served).
    sip_ha1: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sip_realm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Comma-separated queue names; read it through ``queue_list``.
    queues: Mapped[str] = mapped_column(String(512), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def queue_list(self) -> list[str]:
        return [q for q in (self.queues or "").split(",") if q]

    def __repr__(self) -> str:  # never the hash
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r}, phone={self.phone!r})"


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
