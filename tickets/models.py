"""Tickets (work orders) and what hangs off them.

Shared contract for the tickets packages: ``tickets/service.py`` owns the
lifecycle and history; ``tickets/dispatch.py`` sites, technicians and
dispatch; ``tickets/sla.py`` due times and the SLA scheduler;
``tickets/callbacks.py`` customer revisits. Columns below are the contract
between them: add columns here, never a second ticket table.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow

TICKET_TYPES = ("repair", "install", "complaint", "consultation", "suggestion", "callback")
STATES = ("new", "assigned", "dispatched", "in_progress", "pending_customer", "resolved", "closed",
          "reopened", "cancelled")
OPEN_STATES = ("new", "assigned", "dispatched", "in_progress", "pending_customer", "reopened")
PRIORITIES = ("low", "normal", "high", "urgent")
# The open states as a literal SQL term: the partial index below and the
# queries that should use it must say it the same way, with constants (SQLite
# can only prove a bound-parameter query implies an index's WHERE clause when
# the terms match literally).
OPEN_STATES_SQL = "state IN (" + ", ".join(f"'{s}'" for s in OPEN_STATES) + ")"


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    description: Mapped[str] = mapped_column(Text, default="")
    # what it is about
    product_model: Mapped[str | None] = mapped_column(String(80), nullable=True)
    product_serial: Mapped[str | None] = mapped_column(String(80), nullable=True)
    fault_type: Mapped[str | None] = mapped_column(String(80), nullable=True)
    fault_phenomenon: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fault_cause: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fault_measure: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # the fault taxonomy's codes (catalog.models; issue 14): validated, stable, what reports group by.
    # fault_type/fault_phenomenon above stay free text (what was typed before the taxonomy existed).
    fault_class_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    fault_phenomenon_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    region: Mapped[str | None] = mapped_column(String(80), nullable=True)
    appointment_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    appointment_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # who works it
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)  # username
    site_id: Mapped[int | None] = mapped_column(ForeignKey("service_sites.id"), nullable=True)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"), nullable=True)
    # outcome
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    parts_used: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list
    fee: Mapped[float | None] = mapped_column(Numeric(12, 2), nullable=True)
    # SLA (tickets/sla.py computes; the scheduler flags)
    sla_level: Mapped[str | None] = mapped_column(String(40), nullable=True)
    due_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due_resolve_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_warned: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    # links and bookkeeping
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the call that opened it
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic locking
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_tickets_customer_state", "customer_id", "state"),
        Index("ix_tickets_state_due", "state", "due_resolve_at"),
        Index("ix_tickets_assignee_state", "assignee", "state"),
        Index("ix_tickets_site_state", "site_id", "state"),
        Index("ix_tickets_type_state", "type", "state"),
        Index("ix_tickets_created", "created_at"),
        # Repairs by fault class and phenomenon over a period (supervisor.reports.repairs_by_fault):
        # a range of one type's tickets, answered from the index alone.
        Index("ix_tickets_type_created_fault", "type", "created_at", "fault_class_code", "fault_phenomenon_code"),
        # "What is due": open tickets in due order, without the closed majority.
        Index("ix_tickets_open_due", "due_resolve_at", "id", sqlite_where=text(OPEN_STATES_SQL),
              postgresql_where=text(OPEN_STATES_SQL)),
    )


class TicketHistory(Base):
    """Every field change, comment and transition: who, when, what."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # created | field | transition | comment | link | dispatch | sla
    field: Mapped[str | None] = mapped_column(String(40), nullable=True)
    old: Mapped[str | None] = mapped_column(Text, nullable=True)
    new: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class TicketCall(Base):
    """Calls linked to a ticket (a call can open or attach to a ticket)."""

    __tablename__ = "ticket_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    linked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("uq_ticket_calls_pair", "ticket_id", "call_id", unique=True),)


class ServiceSite(Base):
    """An authorised repair shop / service point that tickets are dispatched to."""

    __tablename__ = "service_sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    regions: Mapped[str] = mapped_column(String(400), default="")  # comma-separated
    skills: Mapped[str] = mapped_column(String(400), default="")  # comma-separated ticket/product skills
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Technician(Base):
    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("service_sites.id"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    regions: Mapped[str] = mapped_column(String(400), default="")
    skills: Mapped[str] = mapped_column(String(400), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Callback(Base):
    """A customer revisit: created when a ticket is resolved, worked from the desk."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True, index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(40), default="revisit")  # revisit | voicemail | requested
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | done | failed | cancelled
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)  # reached | no_answer | wrong_number...
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1..5
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_callbacks_state_due", "state", "due_at"),
                      Index("ix_callbacks_assignee_state", "assignee", "state"))
