"""Typed websocket frames: the pieces both sockets' contracts are made of.

Every frame a server socket sends is a pydantic model (``agent_desk.notifier``
for ``/ws/agent``, ``supervisor.notifier`` for ``/ws/supervisor``) registered
by its ``type``. A producer hands its frame (a model, or a dict with a
``type``) to the fan-out point (``AgentHub.send``, ``SupervisorFeed.offer``),
which validates it once and serialises it once for all the sockets it goes to.

One time format on the wire, HTTP and WS alike: ISO 8601 with an offset and
milliseconds (``2026-12-03T14:05:00.123+00:00``). ``WireTime`` accepts what
producers hold (epoch seconds from Asterisk, datetimes, ISO strings; naive
means UTC) and always writes that form.
"""
from __future__ import annotations

import json
import logging
import typing
from dataclasses import MISSING, fields
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, TypeAdapter, ValidationError, \
    WithJsonSchema, create_model

log = logging.getLogger(__name__)


def _to_datetime(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let pydantic refuse it
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


WireTime = Annotated[
    datetime, BeforeValidator(_to_datetime), PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "ISO 8601 with offset, e.g. 2026-12-03T14:05:00.123+00:00"}),
]


class Frame(BaseModel):
    """A frame: its fields are the contract; an unknown field is an error."""

    model_config = ConfigDict(extra="forbid")


class Part(BaseModel):
    """A nested record whose known fields are typed; more fields may follow."""

    model_config = ConfigDict(extra="allow")


def _is_time(name: str) -> bool:
    return name in ("at", "since") or name.endswith("_at")


def event_frame(event_cls, *, extra: dict | None = None, doc: str | None = None) -> type[Frame]:
    """The frame model of a domain event as ``to_dict`` writes it (time fields as WireTime)."""
    hints = typing.get_type_hints(event_cls)
    spec: dict[str, Any] = {"type": (typing.Literal[event_cls.type], event_cls.type)}
    names = [f.name for f in fields(event_cls)]
    if "call_id" not in names:
        spec["call_id"] = (str | None, None)  # to_dict names the call of every event
    for f in fields(event_cls):
        tp = hints[f.name]
        if _is_time(f.name):
            tp = WireTime | None if type(None) in typing.get_args(tp) else WireTime
        elif tp is tuple:
            tp = list[dict[str, Any]]
        spec[f.name] = (tp, ... if f.default is MISSING else f.default)
    spec.update(extra or {})
    name = "".join(p.title() for p in event_cls.type.split("_"))
    model = create_model(name, __base__=Frame, **spec)
    model.__doc__ = doc or (event_cls.__doc__ or f"The domain event ``{event_cls.type}``.").strip()
    return model


class Registry:
    """type -> model for one socket; validates and serialises frames once."""

    def __init__(self, title: str, models: list[type[BaseModel]]) -> None:
        self.title = title
        self.models: dict[str, type[BaseModel]] = {}
        for m in models:
            t = m.model_fields["type"].default
            assert t not in self.models, t
            self.models[t] = m
        self.failures = 0

    def model_for(self, frame_type: str) -> type[BaseModel]:
        return self.models[frame_type]

    def validate(self, frame: dict) -> BaseModel:
        """The frame as its model (KeyError for an unknown type, ValidationError for a bad one)."""
        return self.models[frame["type"]].model_validate(frame)

    def encode(self, frame) -> str:
        """JSON text of a frame (model or dict), validated by its type's model.

        A frame that does not validate is a bug in a producer: it is logged and
        still sent as it is (a desk missing a pop is worse), and the unit tests
        that capture every frame fail on it."""
        if isinstance(frame, BaseModel):
            return frame.model_dump_json()
        try:
            return self.validate(frame).model_dump_json()
        except (KeyError, ValidationError, TypeError) as exc:
            self.failures += 1
            log.error("%s frame %r does not match its model: %s", self.title, frame.get("type"), exc)
            return json.dumps(frame, ensure_ascii=False, default=str)

    def json_schema(self, prefix: str = "") -> dict:
        """One schema: ``oneOf`` the frames, discriminated by ``type``; models in ``$defs``."""
        union = TypeAdapter(typing.Annotated[typing.Union[tuple(self.models.values())],  # type: ignore[misc]
                                             Field(discriminator="type")])
        schema = union.json_schema(ref_template=f"#/$defs/{prefix}{{model}}", mode="serialization")
        defs = {f"{prefix}{k}": v for k, v in schema.pop("$defs", {}).items()}
        return {"title": self.title, **schema, "$defs": defs}


def ws_schema(sockets: dict[str, Registry]) -> dict:
    """The JSON Schema of every socket's frames (``docs/ws-schema.json``)."""
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ctidesk websocket frames",
        "description": "Frames the server sends, one JSON object each (the supervisor socket batches "
                       "them, one per line). Every frame has a `type`; times are ISO 8601 with an offset. "
                       "Generated from agent_desk/notifier.py and supervisor/notifier.py by "
                       "`python -m ctidesk.ws_schema`.",
        "properties": {}, "$defs": {},
    }
    for path, registry in sockets.items():
        prefix = path.strip("/").replace("/", "_") + "."
        one = registry.json_schema(prefix)
        out["$defs"].update(one.pop("$defs"))
        out["properties"][path] = one
    return out


def check_times(frame: Any, path: str = "") -> list[str]:
    """Time fields (``at``, ``since``, ``*_at``) that are not ISO strings with an offset.

    ``timing`` (a screen pop's latency stamps, epoch seconds for the benchmark)
    is not a time to show and is skipped."""
    bad: list[str] = []
    if isinstance(frame, dict):
        for k, v in frame.items():
            p = f"{path}.{k}" if path else k
            if k == "timing":
                continue
            if _is_time(k) and v is not None:
                if not isinstance(v, str):
                    bad.append(f"{p}={v!r}")
                    continue
                try:
                    dt = datetime.fromisoformat(v)
                except ValueError:
                    bad.append(f"{p}={v!r}")
                    continue
                if dt.tzinfo is None:
                    bad.append(f"{p}={v!r} (no offset)")
            else:
                bad.extend(check_times(v, p))
    elif isinstance(frame, list):
        for i, v in enumerate(frame):
            bad.extend(check_times(v, f"{path}[{i}]"))
    return bad
