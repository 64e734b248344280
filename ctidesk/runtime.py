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


async def refresh_directory(container, *, everywhere: bool = True) -> None:
    """Reload agents from the users table (users are added by another process).

    Clustered, the other instances reload too: the agent may sign in on a
    follower while the leader is the one that must map their ringing phone to
    them for the pop."""
    directory = container.directory
    await directory.refresh(container.sessionmaker)
    container.model.agent_devices.update(directory.device_names())
    if everywhere and container.cluster is not None:
        container.cluster.publish("directory")


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
    from recordings.service import RecordingService  # issue 5: rows from MixMonitor events, ingest worker

    recordings = RecordingService(container, model=model, directory=directory,
                                  normalize=functools.partial(normalize, country_code=settings.default_country_code))
    container.recordings = recordings
    bus.subscribe(recordings)
    from agent_desk.transfer import TransferService  # issue 11: expert seat transfer

    transfers = container.transfers = TransferService(container, directory=directory, model=model)
    bus.subscribe(transfers)
    from accounts.sip_audit import SipAuthAudit  # issue 11: failed SIP authentication -> audit rows

    sip_audit = container.sip_audit = SipAuthAudit(container.sessionmaker)
    bus.subscribe(sip_audit)
    sip_audit.start()
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

    async def lead() -> None:
        """What one instance alone may run: the SLA scheduler, the recordings ingest,
        and (``start_bridge``) AMI, FastAGI and so every event the call writer
        stores. Run at start-up by a lone instance, or on winning the lease
        (``ctidesk.cluster``): a new leader's bridge resyncs from Asterisk, so the
        calls in progress are picked up and their rows completed (upserts)."""
        sla.start()
        recordings.start()
        if not start_bridge:
            return
        from sandbox.phones import load_accounts, sync as sync_phones

        for line in await sync_phones(settings, await load_accounts(container.sessionmaker)):
            log.info("%s", line)  # the sandbox's PJSIP endpoints follow the users table
        bridge = Bridge(host=settings.ami_host, port=settings.ami_port, username=settings.ami_user,
                        secret=settings.ami_secret, model=model, ping_interval=settings.ami_ping_interval,
                        ping_timeout=settings.ami_ping_timeout, reconnect_max=settings.ami_reconnect_max,
                        on_resynced=resynced)
        container.bridge = bridge
        bridge.start()
        container.agi = await start_ivr(container, model_getter=lambda: model)  # menu from config/ivr.toml
        container.basedata.bind_ivr(container.ivr_menus)  # a menu saved in the browser serves, not the file

    async def follow() -> None:
        """Stepped down (lease lost): stop at once what only the leader may run."""
        await sla.stop()
        await recordings.stop()
        agi, container.agi = container.agi, None
        if agi is not None:
            await agi.stop()
        bridge, container.bridge = container.bridge, None
        if bridge is not None:
            await bridge.stop()

    cluster = None
    if settings.redis_url:
        cluster = await _join_cluster(container, lead=lead, follow=follow)
    else:
        await lead()
    _freeze_startup_heap()
    try:
        yield
    finally:
        if cluster is not None:
            await cluster.lease.stop()  # releases the lease: a follower takes over at once
            await cluster.stop()
            await cluster.redis.aclose()
        await sla.stop()
        await transfers.stop()
        await sip_audit.stop()
        await recordings.stop()
        await supervisor.stop()
        if container.agi is not None:
            await container.agi.stop()
        if container.bridge is not None:
            await container.bridge.stop()
        await store.stop()
        reader.close()
        container.kb.close()


def _feed_key(key):
    """A feed key back from JSON: tuples became lists."""
    return tuple(_feed_key(k) for k in key) if isinstance(key, list) else key


async def _join_cluster(container, *, lead, follow):
    """Several instances on one Redis (``ctidesk.cluster``): desk and wallboard
    frames fan out through it, a follower's AMI actions go to the leader, and
    the lease decides who runs ``lead``. The first turn of the lease is taken
    before serving, so a lone instance leads from its first request."""
    from ctidesk import cluster as cl

    settings = container.settings
    me = cl.instance_id()
    redis = cl.connect(settings.redis_url)
    lease = cl.Lease(redis, me=me, ttl_s=settings.cluster_lease_ttl_s, on_elected=lead, on_lost=follow)
    cluster = cl.Cluster(redis, me=me, lease=lease)
    container.cluster = cluster
    hub, feed = container.hub, container.supervisor.feed
    hub.publish = lambda username, text: cluster.publish("desk", user=username, text=text)
    cluster.handlers["desk"] = lambda m: hub.deliver(m["user"], m["text"])
    feed.publish = lambda key, text: cluster.publish("feed", key=key, text=text)
    cluster.handlers["feed"] = lambda m: feed.offer_text(_feed_key(m["key"]), m["text"])
    refreshing: set[asyncio.Task] = set()

    def refresh(_m) -> None:
        task = asyncio.create_task(refresh_directory(container, everywhere=False))
        refreshing.add(task)
        task.add_done_callback(refreshing.discard)

    cluster.handlers["directory"] = refresh

    async def run_action(action: dict, timeout: float):
        from cti.protocol import AMIConnectionLost

        bridge = container.bridge
        if bridge is None or not bridge.connected:
            raise AMIConnectionLost("the leader's AMI connection is down")
        resp = await bridge.action(action, timeout=timeout)
        return [dict(r) for r in resp] if isinstance(resp, list) else (dict(resp) if resp is not None else None)

    cluster.run_action = run_action
    container.actions.forward = cluster.forward
    try:
        await cluster.start()
        await lease.step()
    except Exception as exc:
        await cluster.stop()
        await redis.aclose()
        raise RuntimeError(f"cannot join the cluster on Redis (redis_url): {exc}") from None
    log.info("cluster: instance %s started as %s", me, "leader" if lease.leader else "follower")
    lease.start()
    return cluster
