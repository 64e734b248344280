"""``docs/ws-schema.json``: the JSON Schema of both sockets' frames.

``python -m ctidesk.ws_schema > docs/ws-schema.json`` (a unit test fails when
the file is stale); ``GET /api/v1/ws-schema`` serves the same.
"""
from __future__ import annotations

import json

from agent_desk.notifier import AGENT_FRAMES
from ctidesk.wire import Registry, ws_schema
from supervisor.notifier import SUPERVISOR_FRAMES


def sockets() -> dict[str, Registry]:
    return {"/ws/agent": AGENT_FRAMES, "/ws/supervisor": SUPERVISOR_FRAMES}


def schema() -> dict:
    return ws_schema(sockets())


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(schema_text())
