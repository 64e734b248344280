"""Agent websocket hub: who is connected, and a non-blocking send to them.

Each connection has its own bounded outbox drained by its own task, so a slow
browser never blocks the bridge or the other agents. A connection whose outbox
overflows is closed (the desk reconnects and gets its state afresh) rather than
silently losing a screen pop.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from agent_desk.notifier import encode

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 256


class Connection:
    def __init__(self, username: str, role: str) -> None:
        self.username = username
        self.role = role
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_LIMIT)
        self.overflowed = False

    def push_json(self, message) -> bool:
        """``message``: a frame model or a dict with a ``type`` (``agent_desk.notifier``)."""
        return self.push(encode(message))

    def push(self, text: str) -> bool:
        try:
            self.outbox.put_nowait(text)
            return True
        except asyncio.QueueFull:
            # Make room for the sentinel that tells the writer to close.
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)
            return False


class AgentHub:
    """``publish``: set by ``ctidesk.runtime`` when several instances share a Redis
    (``ctidesk.cluster``): ``publish(username, text)`` hands every frame to the
    other instances, which ``deliver`` it to their own sockets; this instance
    delivers its own at once, so each socket gets each frame once."""

    def __init__(self) -> None:
        self._by_user: dict[str, set[Connection]] = defaultdict(set)
        self.publish = None

    def add(self, conn: Connection) -> None:
        self._by_user[conn.username].add(conn)

    def remove(self, conn: Connection) -> None:
        conns = self._by_user.get(conn.username)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_user[conn.username]

    def is_connected(self, username: str) -> bool:
        """Clustered, the agent may be on another instance: always worth sending."""
        return self.publish is not None or bool(self._by_user.get(username))

    def send(self, username: str, message) -> int:
        """Queue ``message`` for every socket of ``username``; returns how many.

        ``message`` is a frame model or a dict with a ``type``: it is validated
        against its model and serialised once (``agent_desk.notifier``)."""
        conns = self._by_user.get(username)
        if self.publish is not None:
            text = encode(message)
            self.publish(username, text)
        elif not conns:
            return 0
        else:
            text = encode(message)
        return self.deliver(username, text)

    def deliver(self, username: str, text: str) -> int:
        """Queue an already serialised frame for ``username``'s sockets here."""
        conns = self._by_user.get(username)
        if not conns:
            return 0
        return sum(1 for c in list(conns) if c.push(text))
