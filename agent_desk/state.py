"""An agent's desk state, derived across all their queues.

app_queue reports membership per queue; an agent is one person with one
phone, so the desk shows one state: ringing or on a call anywhere wins over
available, paused in every queue is paused, no membership is logged out.
"""
from __future__ import annotations

from cti.model import device_of

PRIORITY = ("ringing", "on_call", "on_hold", "available", "paused", "unavailable")


def agent_state(model, info) -> dict:
    members = model.members_of_interface(info.interface) if model else []
    if not members:
        return {"type": "agent_state", "state": "logged_out", "queues": [], "paused_reason": None}
    states = {m.state for m in members}
    # A Local-channel phone reports "in use" while it rings; the calls know better.
    device = device_of(info.interface)
    if any(device in c.ringing and c.answered_at is None for c in model.calls_of_devices((device,))):
        states.add("ringing")
    state = next((s for s in PRIORITY if s in states), "available")
    reason = next((m.paused_reason for m in members if m.paused and m.paused_reason), None)
    return {"type": "agent_state", "state": state, "queues": sorted(m.queue for m in members),
            "paused_reason": reason if state == "paused" else None}


class AgentStateNotifier:
    """Pushes ``agent_state`` to an agent's desk when their membership changes."""

    def __init__(self, *, container, directory) -> None:
        self.c = container
        self.directory = directory

    def __call__(self, event) -> None:
        # call_answered too: a PJSIP phone's member turns "in use" before the
        # answer is known, and the state computed then still says ringing.
        if event.type not in ("agent_status_changed", "call_ringing", "call_answered"):
            return
        username = self.directory.username_for(event.agent, event.interface)
        info = self.directory.by_username.get(username) if username else None
        if info is not None and self.c.hub.is_connected(username):
            self.c.hub.send(username, agent_state(self.c.bridge.model if self.c.bridge else None, info))
