"""Capture every frame the server's sockets send and check it against its model.

``capture(monkeypatch)`` wraps the one place each socket's frames are
serialised (``agent_desk.hub.encode`` for ``/ws/agent``,
``supervisor.feed.encode`` and ``SupervisorLive.snapshot`` for
``/ws/supervisor``) and returns the list the texts are appended to;
``problems(captured)`` validates each by its ``type`` against the registry of
its socket and checks that every time field is ISO 8601 with an offset.
"""
from __future__ import annotations

import json

from pydantic import ValidationError

from agent_desk.notifier import AGENT_FRAMES
from ctidesk.wire import check_times
from supervisor.notifier import SUPERVISOR_FRAMES

REGISTRIES = {"agent": AGENT_FRAMES, "supervisor": SUPERVISOR_FRAMES}


def capture(monkeypatch) -> list[tuple[str, str]]:
    import agent_desk.hub as hub
    import supervisor.feed as feed
    import supervisor.live as live

    captured: list[tuple[str, str]] = []

    def wrap(socket, encode):
        def encode_and_keep(frame):
            text = encode(frame)
            captured.append((socket, text))
            return text
        return encode_and_keep

    monkeypatch.setattr(hub, "encode", wrap("agent", hub.encode))
    monkeypatch.setattr(feed, "encode", wrap("supervisor", feed.encode))
    snapshot = live.SupervisorLive.snapshot

    def snapshot_and_keep(self):
        frame = snapshot(self)
        captured.append(("supervisor", json.dumps(frame)))
        return frame

    monkeypatch.setattr(live.SupervisorLive, "snapshot", snapshot_and_keep)
    return captured


def problems(captured: list[tuple[str, str]]) -> list[str]:
    out = []
    for socket, text in captured:
        frame = json.loads(text)
        registry = REGISTRIES[socket]
        try:
            registry.validate(frame)
        except KeyError:
            out.append(f"{socket}: no model for frame type {frame.get('type')!r}: {text[:200]}")
            continue
        except ValidationError as exc:
            out.append(f"{socket}: {frame.get('type')} does not validate: {exc}")
            continue
        bad = check_times(frame)
        if bad:
            out.append(f"{socket}: {frame['type']} time fields not ISO 8601 with offset: {bad}")
    return out
