"""Every frame ``/ws/supervisor`` sends, as a model (the wallboard's contract).

Producers: ``supervisor.live`` (snapshot, agent_status_changed,
queue_status_changed, and the domain events ``call_*``/``queue_caller_*``/
``ticket_sla_*`` as they are), ``supervisor.http`` (monitoring_started/
stopped, pong), ``supervisor.feed`` (resync). ``SupervisorFeed.offer`` and the
snapshot validate and serialise each frame once through ``SUPERVISOR_FRAMES``
before it is offered to every client. Times are ``WireTime`` (ISO 8601 with
offset). ``docs/ws-schema.json`` is generated from these models.
"""
from __future__ import annotations

from typing import Any, Literal

from cti import events as ev
from ctidesk.wire import Frame, Registry, WireTime, event_frame
from tickets import sla


class AgentView(Frame):
    """One agent as the floor sees them (``supervisor.live.AgentView.as_dict``)."""

    agent: str
    display_name: str | None = None
    extension: str | None = None
    state: str  # on_hold | on_call | ringing | wrap_up | paused | unavailable | available | logged_out
    paused_reason: str | None = None
    since: WireTime  # when the derived state last changed (Asterisk's clock)
    queues: list[str] = []
    call_id: str | None = None


class QueueStats(Frame):
    """A queue's live figures (``supervisor.live.queue_stats``; formulas in ``supervisor.kpi``)."""

    queue: str
    waiting: int
    oldest_entered_at: WireTime | None = None
    longest_wait_s: float
    agents_logged_in: int
    agents_available: int
    agents_on_call: int
    agents_paused: int
    agents_ringing: int
    agents_wrap_up: int
    answered: int
    abandoned: int
    short_abandoned: int
    service_level_pct: float | None = None
    abandonment_rate_pct: float | None = None
    asa_s: float | None = None
    aht_s: float | None = None
    window_s: float


class Snapshot(Frame):
    """Sent first on every socket, and after a resync."""

    type: Literal["snapshot"] = "snapshot"
    at: WireTime
    agents: list[AgentView]
    queues: list[QueueStats]
    config: dict[str, Any]


class AgentStatusChanged(Frame):
    type: Literal["agent_status_changed"] = "agent_status_changed"
    at: WireTime
    agent: AgentView


class QueueStatusChanged(Frame):
    type: Literal["queue_status_changed"] = "queue_status_changed"
    at: WireTime
    queue: QueueStats


class MonitoringStarted(Frame):
    type: Literal["monitoring_started"] = "monitoring_started"
    agent: str
    by: str
    mode: str  # listen | whisper | barge
    target_call: str | None = None


class MonitoringStopped(Frame):
    type: Literal["monitoring_stopped"] = "monitoring_stopped"
    agent: str
    by: str
    mode: str
    target_call: str | None = None


class Resync(Frame):
    """The socket fell behind (or asked): its backlog is dropped; a snapshot follows."""

    type: Literal["resync"] = "resync"
    reason: str
    at: WireTime


class Pong(Frame):
    type: Literal["pong"] = "pong"


CALL_FRAMES = [event_frame(cls) for cls in (
    ev.CallCreated, ev.CallRinging, ev.CallAnswered, ev.CallEnded, ev.QueueCallerJoined,
    ev.QueueCallerLeft, ev.QueueCallerAbandoned, ev.CallIvrCompleted, ev.CallHandedOver)]
TICKET_FRAMES = [event_frame(sla.TicketSlaWarning), event_frame(sla.TicketSlaBreached)]

SUPERVISOR_FRAMES = Registry("ctidesk /ws/supervisor frames", [
    Snapshot, AgentStatusChanged, QueueStatusChanged, *CALL_FRAMES, *TICKET_FRAMES,
    MonitoringStarted, MonitoringStopped, Resync, Pong,
])
encode = SUPERVISOR_FRAMES.encode
PONG = Pong().model_dump_json()
