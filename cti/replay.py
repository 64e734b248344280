"""Offline replay of a recorded AMI capture through the live code path.

A site debugging a misbehaving screen pop sends us ``ctidesk replay
capture.ami --json``: the bytes go through the very protocol object the bridge
uses (``FastAMIProtocol.data_received``) and the same ``LiveModel``, so what
this prints is what the bridge would have published.
"""
from __future__ import annotations

import json
from pathlib import Path

from cti.events import DomainEvent
from cti.model import LiveModel
from cti.protocol import FastAMIProtocol


class _NullTransport:
    def write(self, data) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def json_trace_to_wire(events: list[dict]) -> bytes:
    """cacofonisk-style JSON traces (a list of event dicts) as AMI wire bytes."""
    out = []
    for e in events:
        lines = [f"Event: {e['Event']}"] + [f"{k}: {v}" for k, v in e.items()
                                             if k not in ("Event", "content")]
        out.append("\r\n".join(lines) + "\r\n\r\n")
    return "".join(out).encode("utf-8")


def load_trace(path: str | Path) -> bytes:
    path = Path(path)
    if path.suffix == ".json":
        return json_trace_to_wire(json.loads(path.read_text(encoding="utf-8")))
    return path.read_bytes()


def replay(data: bytes, *, agent_devices: dict[str, str] | None = None,
           chunk: int = 4096, model: LiveModel | None = None) -> list[DomainEvent]:
    """Feed ``data`` in TCP-sized chunks; return the domain events, in order."""
    out: list[DomainEvent] = []
    model = model or LiveModel(out.append, agent_devices=agent_devices)
    if model.emit != out.append:
        emit = model.emit
        model.emit = lambda e: (out.append(e), emit(e))
    proto = FastAMIProtocol(model.handle, model.event_names, lambda exc: None)
    proto.connection_made(_NullTransport())
    for i in range(0, len(data), chunk):
        proto.data_received(data[i:i + chunk])
    if proto.splitter.buffer.strip():
        proto.data_received(b"\r\n\r\n")  # a capture cut without the final blank line
    return out


def event_json(event: DomainEvent) -> str:
    return json.dumps(event.to_dict(), ensure_ascii=False, sort_keys=False, default=list)
