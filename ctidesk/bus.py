"""In-process event bus: domain events fan out to subscribers, in order.

Publishing is synchronous and cheap (a loop over a list) because it sits on the
AMI hot path. Subscribers must not block: one that needs I/O (the call writer,
the screen pop) puts the event on its own queue and returns. A subscriber that
raises is logged and the others still get the event.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger(__name__)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Callable] = []

    def subscribe(self, handler: Callable) -> Callable[[], None]:
        self._subscribers.append(handler)
        return lambda: self._subscribers.remove(handler)

    def publish(self, event) -> None:
        for handler in self._subscribers:
            try:
                handler(event)
            except Exception:
                log.exception("bus subscriber %r failed on %s", handler, getattr(event, "type", event))
