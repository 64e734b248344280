"""Wires the supervisor parts together for ``ctidesk serve`` (see ctidesk/runtime.py).

live state (bus subscriber) -> feed (sockets) and store (reports). One per
process; reachable as ``container.services["supervisor"]``.
"""
from __future__ import annotations

from supervisor import config as sup_config
from supervisor.feed import SupervisorFeed
from supervisor.live import SupervisorLive
from supervisor.store import SupervisorStore


class Supervisor:
    def __init__(self, container, *, model, directory, config=None) -> None:
        self.container = container
        self.config = config or sup_config.load()
        self.feed = SupervisorFeed()
        settings = container.settings
        self.store = SupervisorStore(container.sessionmaker, journal=settings.state_dir / "supervisor.journal")
        self.live = SupervisorLive(model=model, config=self.config, directory=directory,
                                   on_frame=self.feed.offer, on_record=self.store.record)
        self._unsubscribe = None

    def start(self) -> None:
        self.store.start()
        self._unsubscribe = self.container.bus.subscribe(self.live)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.store.stop()


def get_config(container):
    sup = container.services.get("supervisor")
    if sup is not None:
        return sup.config
    cfg = container.services.get("supervisor_config")
    if cfg is None:
        cfg = container.services["supervisor_config"] = sup_config.load()
    return cfg
