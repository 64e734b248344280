"""Composition root: builds the container and the FastAPI app around it.

Everything long-lived (engine, bus, AMI bridge, agent hub, FastAGI server) is
created here and nowhere else, and reaches request handlers through
``request.app.state.container``. ``start_bridge=False`` builds the same app
without touching Asterisk, for API tests.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders

from ctidesk.bus import EventBus
from ctidesk.db import make_engine, make_sessionmaker
from ctidesk.schema import import_all_models
from ctidesk.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    engine: Any
    sessionmaker: Any
    bus: EventBus
    bridge: Any = None  # cti.bridge.Bridge when connected to Asterisk
    hub: Any = None  # agent_desk.hub.AgentHub
    actions: Any = None  # cti.actions.Actions: every AMI action, through the bridge
    # The long-lived services, set by ctidesk.runtime.running (named attributes,
    # not a string-keyed dict: a typo is an AttributeError at once, and a reader
    # sees what exists). None until started (API tests run without them).
    directory: Any = None       # agent_desk.directory.AgentDirectory
    model: Any = None           # cti.model.LiveModel
    reader: Any = None          # agent_desk.lookup reader (screen pop queries)
    resolver: Any = None        # customers.resolver.CallerResolver
    store: Any = None           # cti.store.CallStore (journalled call writer)
    screen_pop: Any = None      # agent_desk.screen_pop.ScreenPop
    supervisor: Any = None      # supervisor.service.Supervisor
    supervisor_config: Any = None
    sla: Any = None             # tickets.sla.SlaScheduler
    recordings: Any = None      # recordings.service.RecordingService
    transfers: Any = None       # agent_desk.transfer.Transfers
    sip_audit: Any = None       # accounts.sip_audit (failed SIP logins -> audit)
    agi: Any = None             # ivr FastAGI server
    ivr_menus: Any = None       # ivr menu source (the last good menu)
    login_throttle: Any = None  # accounts.service.LoginThrottle
    kb: Any = None              # knowledge.suggest suggester (the pop's suggested articles)
    basedata: Any = None        # basedata.live.LiveBaseData (SLA, calendar, pause reasons, IVR in force)
    cluster: Any = None         # ctidesk.cluster.Cluster when redis_url is set (several instances)


def build_container(settings: Settings) -> Container:
    from accounts import security
    from cti.actions import Actions
    from tickets import hooks as ticket_hooks

    from tickets import sla

    ticket_hooks.install_defaults()  # SLA and revisit callbacks on every ticket change
    sla.use_settings(settings)  # their policy: settings.sla_config on settings.calendar_config
    security.use_settings(settings)  # the site's argon2 cost
    import_all_models()  # every table in Base.metadata (customer merge reads the whole schema)
    engine = make_engine(settings.effective_database_url)
    container = Container(settings=settings, engine=engine,
                          sessionmaker=make_sessionmaker(engine), bus=EventBus())
    container.actions = Actions(lambda: container.bridge)
    from agent_desk.hub import AgentHub

    container.hub = AgentHub()
    from basedata.live import LiveBaseData  # issue 14: base data edited in the browser

    container.basedata = LiveBaseData(container)
    return container


# How uvicorn serves the app (``ctidesk serve`` and the tests' live server alike).
# No permessage-deflate on the websockets: it compresses every frame once per
# socket, and with 200 wallboards that was most of the bridge's CPU in a burst
# (issue 15); the frames are small JSON on a LAN.
SERVER_OPTIONS = {"ws": "websockets-sansio", "ws_per_message_deflate": False, "lifespan": "on"}


class SecurityHeaders:
    """Security headers on every HTTP response, as plain ASGI middleware.

    Caller names are attacker-controlled: the pages never build HTML from data,
    and the CSP forbids inline script as a second line of defence. (Not
    ``@app.middleware("http")``: that runs each request in an extra task and
    streams the body through a memory channel, about as much CPU as the rest of
    a ``/healthz`` request; issue 15.)"""

    CSP = ("default-src 'self'; connect-src 'self' ws: wss:; "
           "frame-ancestors 'none'; base-uri 'none'")

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings, *, start_bridge: bool = True) -> FastAPI:
    container = build_container(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        from ctidesk import runtime

        async with runtime.running(container, start_bridge=start_bridge):
            yield
        await container.engine.dispose()

    app = FastAPI(title="ctidesk", version="0.1.0", lifespan=lifespan)
    app.state.container = container
    from ctidesk import errors

    errors.install(app)  # service errors -> HTTP, in one place

    app.add_middleware(SecurityHeaders)

    from accounts.http import router as accounts_router
    from agent_desk.http import router as desk_router
    from cti.http import router as cti_router
    from customers.http import router as customers_router
    from tickets.http import router as tickets_router
    from tickets.http_callbacks import router as callbacks_router
    from tickets.http_dispatch import router as dispatch_router

    app.include_router(accounts_router)
    app.include_router(customers_router)
    app.include_router(cti_router)
    app.include_router(desk_router)
    from agent_desk.phone_http import router as phone_router  # issue 11

    app.include_router(phone_router)
    from agent_desk.transfer_http import router as transfer_router  # issue 11: expert seat transfer

    app.include_router(transfer_router)
    app.include_router(tickets_router)
    app.include_router(dispatch_router)
    app.include_router(callbacks_router)
    from recordings.http import router as recordings_router  # issue 5

    app.include_router(recordings_router)
    from supervisor.http import router as supervisor_router  # issue 6
    from supervisor.reports_http import router as reports_router

    app.include_router(supervisor_router)
    app.include_router(reports_router)
    from ivr.http import router as ivr_router  # issue 3

    app.include_router(ivr_router)
    from knowledge.http import router as kb_router, ticket_router as kb_ticket_router  # issue 14

    app.include_router(kb_router)
    app.include_router(kb_ticket_router)
    from basedata.http import pages_router as admin_pages_router, router as basedata_router  # issue 14

    app.include_router(basedata_router)
    app.include_router(admin_pages_router)
    from catalog.http import router as catalog_router  # issue 14: products, fault taxonomy
    from knowledge.http import pages_router as kb_pages_router

    app.include_router(catalog_router)
    app.include_router(kb_pages_router)
    return app
