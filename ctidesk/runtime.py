"""Start and stop the long-running parts of ``ctidesk serve`` in one place.

Wiring (see docs/architecture.md): AMI bytes -> FastAMIProtocol -> LiveModel
-> EventBus -> {CallStore, ScreenPop, AgentStateNotifier}; FastAGI -> IVR ->
EventBus. Subscribers never block the bus: each queues or spawns its own work.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging

from agent_desk.directory import AgentDirectory
from agent_desk.lookup import make_reader
from agent_desk.screen_pop import ScreenPop
from agent_desk.state import AgentStateNotifier
from cti.bridge import Bridge
from cti.model import LiveModel
from cti.store import CallStore
from customers.phone import normalize
from customers.resolver import CallerResolver
from customers.service import get_or_create_provisional, get_or_create_provisional_now
from ivr.service import start_ivr
from tickets.sla import SlaScheduler

log = logging.getLogger(__name__)


async def refresh_directory(container) -> None:
    """Reload agents from the users table (users are added by another process)."""
    directory = container.directory
    await directory.refresh(container.sessionmaker)
    container.model.agent_devices.update(directory.device_names())


_FROZEN = False


def _freeze_startup_heap() -> None:
    """Move what start-up allocated (modules, SQLAlchemy and pydantic machinery,
    the routes) out of the cyclic GC's reach, once per process: every full
    collection walked all of it again, several ms at a time on the event loop
    while calls rang (issue 15: 7% of the loop's CPU in a 100-call burst was
    ``gc_collect_main``). Frozen objects are still freed by reference counting."""
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.collect()
        gc.freeze()


@contextlib.asynccontextmanager
async def running(container, *, start_bridge: bool = True):
    settings = container.settings
    bus = container.bus
    directory = AgentDirectory(settings)
    container.directory = directory
    model = LiveModel(bus.publish)
    container.model = model
    await refresh_directory(container)
    reader = make_reader(settings, container.sessionmaker)
    store = CallStore(container.sessionmaker,
                      normalize=functools.partial(normalize, country_code=settings.default_country_code),
                      agent_username=directory.username_for, reader=reader,
                      country_code=settings.default_country_code, provisional=get_or_create_provisional,
                      provisional_now=get_or_create_provisional_now,
                      journal=settings.state_dir / "calls.journal")
    resolver = CallerResolver(reader, store.create_provisional, country_code=settings.default_country_code)
    container.resolver, container.store, container.reader = resolver, store, reader
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    store.start()
    bus.subscribe(store)
    pop = ScreenPop(container=container, resolver=resolver, directory=directory, reader=reader)
    container.screen_pop = pop
    from knowledge.suggest import make_suggester  # issue 14: suggested articles in the pop

    container.kb = make_suggester(settings, container.sessionmaker)
    bus.subscribe(pop)
    bus.subscribe(AgentStateNotifier(container=container, directory=directory))
    from supervisor.service import Supervisor  # issue 6: wallboard feed and report records

    supervisor = container.supervisor = Supervisor(container, model=model, directory=directory)
    supervisor.start()
    from basedata.service import hydrate  # issue 14: base data saved in the browser, over the files

    for line in await hydrate(live=container.basedata, sessionmaker=container.sessionmaker):
        log.info("base data from the database: %s", line)
    sla = SlaScheduler(container.sessionmaker, bus)  # one per database: ticket_sla_warning/breached
    container.sla = sla
    sla.start()
    from recordings.service import RecordingService  # issue 5: rows from MixMonitor events, ingest worker

    recordings = RecordingService(container, model=model, directory=directory,
                                  normalize=functools.partial(normalize, country_code=settings.default_country_code))
    container.recordings = recordings
    bus.subscribe(recordings)
    recordings.start()
    from agent_desk.transfer import TransferService  # issue 11: expert seat transfer

    transfers = container.transfers = TransferService(container, directory=directory, model=model)
    bus.subscribe(transfers)
    from accounts.sip_audit import SipAuthAudit  # issue 11: failed SIP authentication -> audit rows

    sip_audit = container.sip_audit = SipAuthAudit(container.sessionmaker)
    bus.subscribe(sip_audit)
    sip_audit.start()
    agi = None
    reconciles: set[asyncio.Task] = set()

    def resynced(_summary: dict) -> None:
        task = asyncio.create_task(store.reconcile_open_calls(set(model.calls)))
        reconciles.add(task)
        task.add_done_callback(reconciles.discard)
        rec_task = asyncio.create_task(recordings.recover(set(model.calls)))
        reconciles.add(rec_task)
        rec_task.add_done_callback(reconciles.discard)
        xfer_task = asyncio.create_task(transfers.recover(set(model.calls)))  # handoffs of live calls
        reconciles.add(xfer_task)
        xfer_task.add_done_callback(reconciles.discard)

    if start_bridge:
        from sandbox.phones import load_accounts, sync as sync_phones

        for line in await sync_phones(settings, await load_accounts(container.sessionmaker)):
            log.info("%s", line)  # the sandbox's PJSIP endpoints follow the users table
        bridge = Bridge(host=settings.ami_host, port=settings.ami_port, username=settings.ami_user,
                        secret=settings.ami_secret, model=model, ping_interval=settings.ami_ping_interval,
                        ping_timeout=settings.ami_ping_timeout, reconnect_max=settings.ami_reconnect_max,
                        on_resynced=resynced)
        container.bridge = bridge
        bridge.start()
        agi = await start_ivr(container, model_getter=lambda: model)  # menu from config/ivr.toml, prompts built
        container.agi = agi
        container.basedata.bind_ivr(container.ivr_menus)  # a menu saved in the browser serves, not the file
    _freeze_startup_heap()
    try:
        yield
    finally:
        await sla.stop()
        await transfers.stop()
        await sip_audit.stop()
        await recordings.stop()
        await supervisor.stop()
        if agi is not None:
            await agi.stop()
        if container.bridge is not None:
            await container.bridge.stop()
        await store.stop()
        reader.close()
        container.kb.close()
