"""Stored queue entries and agent state changes: what the reports compute from.

``calls`` has one row per call; a call can pass through several queues (IVR
re-queue, transfer), and a workload report needs how long each agent spent in
each state, which no call row says. So the supervisor store writes:

* ``queue_calls``: one row per queue entry (enter, answer, leave, outcome, wait,
  talk, agent); unique on (call_id, queue, entered_at) so a replayed journal
  writes nothing twice.
* ``agent_state_log``: one row per change of an agent's derived state (at,
  state, pause reason, queues); a state lasts until the agent's next row.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime


class QueueCall(Base):
    __tablename__ = "queue_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    left_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # answered | abandoned | other
    wait_s: Mapped[float] = mapped_column(Float)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    agent_username: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint("call_id", "queue", "entered_at", name="uq_queue_calls_entry"),
        Index("ix_queue_calls_queue_entered", "queue", "entered_at"),
        Index("ix_queue_calls_entered", "entered_at"),
    )


class AgentStateLog(Base):
    __tablename__ = "agent_state_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queues: Mapped[str] = mapped_column(String(255), default="")

    __table_args__ = (
        UniqueConstraint("username", "at", "state", name="uq_agent_state_log_change"),
        Index("ix_agent_state_log_at", "at"),
    )
