"""Every frame ``/ws/agent`` sends, as a model (the desk socket's contract).

Producers: ``agent_desk.http`` (hello, pong), ``agent_desk.state``
(agent_state), ``agent_desk.screen_pop`` (screen_pop, call_answered,
call_ended), ``agent_desk.transfer`` (call_transferred, call_answered with
``handed_over_by``), ``recordings.service`` (recording_*, record_state),
``supervisor.http`` (monitoring_started/stopped, the notice to the agent).
They hand frames to ``AgentHub.send``, which validates and serialises each
once per fan-out through ``AGENT_FRAMES``. Times are ``WireTime`` (ISO 8601
with offset). ``docs/ws-schema.json`` is generated from these models.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cti import events as ev
from ctidesk.wire import Frame, Part, Registry, WireTime, event_frame

# -- parts ---------------------------------------------------------------------


class DeskUser(Frame):
    username: str
    display_name: str | None = None
    role: str
    extension: str | None = None
    queues: list[str] = []
    phone: str = "local"


class AgentState(Frame):
    """The agent's one desk state across their queues (``agent_desk.state``)."""

    type: Literal["agent_state"] = "agent_state"
    state: str  # logged_out | available | ringing | on_call | on_hold | paused | unavailable
    queues: list[str] = []
    paused_reason: str | None = None


class IvrStep(Part):
    node: str | None = None
    type: str | None = None
    digits: str | None = None
    outcome: str | None = None
    at: WireTime | None = None


class PopCall(Frame):
    id: str
    caller_number: str | None = None
    caller_number_normalized: str | None = None
    caller_name: str | None = None
    called_number: str | None = None
    queue: str | None = None
    ivr_path: list[IvrStep] = []
    waiting_s: float | None = None  # how long the caller has waited (queue entry, else call start) at the ring
    ringing_at: WireTime


class Customer(Part):
    """``customers.service.card``: id, name, kind, provisional, phones, notes, created_at."""

    id: int
    name: str | None = None
    created_at: WireTime | None = None


class HistoryCall(Part):
    id: str
    started_at: WireTime | None = None
    direction: str | None = None
    queue: str | None = None
    agent: str | None = None
    outcome: str | None = None
    duration_s: float | None = None
    caller_number: str | None = None


class OpenTicket(Part):
    id: int
    type: str
    state: str
    description: str | None = None
    created_at: WireTime | None = None


class Handoff(Part):
    """What the previous seat handed over (``agent_desk.transfer``)."""

    id: int | None = None
    from_agent: str | None = None
    mode: str | None = None
    to_agent: str | None = None
    to_queue: str | None = None
    notes: str = ""
    draft: dict[str, Any] = {}


class KbSuggestion(Frame):
    """A knowledge-base article suggested for the call (``knowledge.suggest``)."""

    id: int
    title: str


class PopTiming(Frame):
    """Latency stamps for ``bench/screen_pop.py``: epoch seconds, not times to show."""

    ami_read_at: float | None = None
    sent_at: float | None = None


# -- frames --------------------------------------------------------------------


class Hello(Frame):
    type: Literal["hello"] = "hello"
    user: DeskUser
    agent_state: AgentState | None = None


class ScreenPop(Frame):
    """An agent's phone rings: who is calling, their card, last calls, open tickets."""

    type: Literal["screen_pop"] = "screen_pop"
    call: PopCall
    customer: Customer | None = None
    provisional_customer: Customer | None = None
    history: list[HistoryCall] = []
    open_tickets: list[OpenTicket] = []
    lookup_failed: bool = False
    handoff: Handoff | None = None
    kb_suggestions: list[KbSuggestion] = Field([], max_length=5)  # for the IVR choices / products
    timing: PopTiming | None = None


class CallAnswered(Frame):
    type: Literal["call_answered"] = "call_answered"
    call_id: str
    agent: str | None = None
    handed_over_by: str | None = None  # a transfer's target: who handed the call over


class CallEnded(Frame):
    type: Literal["call_ended"] = "call_ended"
    call_id: str
    outcome: str


class RecordState(Frame):
    type: Literal["record_state"] = "record_state"
    call_id: str
    state: str  # recording | paused | off


class MonitoringStarted(Frame):
    """A supervisor listens/whispers/barges (sent when the site's notice config says so)."""

    type: Literal["monitoring_started"] = "monitoring_started"
    mode: str
    by: str | None = None


class MonitoringStopped(Frame):
    type: Literal["monitoring_stopped"] = "monitoring_stopped"
    mode: str


class Pong(Frame):
    type: Literal["pong"] = "pong"


CallTransferred = event_frame(ev.CallTransferred, extra={"handoff_id": (int | None, None)})
RecordingStarted = event_frame(ev.RecordingStarted)
RecordingPaused = event_frame(ev.RecordingPaused)
RecordingResumed = event_frame(ev.RecordingResumed)
RecordingStopped = event_frame(ev.RecordingStopped)

AGENT_FRAMES = Registry("ctidesk /ws/agent frames", [
    Hello, AgentState, ScreenPop, CallAnswered, CallEnded, CallTransferred, RecordState,
    RecordingStarted, RecordingPaused, RecordingResumed, RecordingStopped,
    MonitoringStarted, MonitoringStopped, Pong,
])
encode = AGENT_FRAMES.encode
