"""Wiring of the IVR into ``ctidesk serve``: menu, prompts, services, FastAGI server.

Order matters: the menu is validated first (an invalid menu stops the start
with every problem listed), then the prompts are built (cached: milliseconds
when nothing changed) so the first caller hears them, then the server
listens. A menu edited while serving is re-validated on the next call; if it
is good its new prompts are built in the background.
"""
from __future__ import annotations

import asyncio
import logging

from ivr import prompts
from ivr.agi import FastAGIServer, MenuSource
from ivr.services import LiveServices

log = logging.getLogger(__name__)


class _ReloadingSource(MenuSource):
    def __init__(self, *a, on_reload=None, **kw) -> None:
        super().__init__(*a, **kw)
        self.on_reload = on_reload

    def reload(self) -> bool:
        ok = super().reload()
        if ok and self.on_reload is not None:
            self.on_reload(self.menu)
        return ok

    def install(self, menu, origin=None) -> None:
        super().install(menu, origin)
        if menu is not None and self.on_reload is not None:
            self.on_reload(menu)  # its new prompts are synthesised, as after a file edit


async def build_prompts(menu, settings) -> None:
    try:
        report = await prompts.build(menu, settings)
        if report.built:
            log.info("IVR prompts built: %d new, %d unchanged, %d recorded", len(report.built), report.kept,
                     report.recorded)
    except (prompts.PromptError, OSError) as exc:
        log.error("IVR prompts could not be built (callers will hear silence where a prompt is missing): %s", exc)


async def start_ivr(container, *, model_getter) -> FastAGIServer:
    settings = container.settings
    tasks: set[asyncio.Task] = set()

    def rebuild(menu) -> None:
        task = asyncio.get_running_loop().create_task(build_prompts(menu, settings))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    menus = _ReloadingSource(settings.ivr_config, recorded_dir=settings.ivr_prompts_dir,
                             calendar=settings.calendar_config, on_reload=rebuild)
    container.ivr_menus = menus
    # Only into an Asterisk that is there: never create directories inside a
    # sandbox root that has not been provisioned yet (unit tests, fresh machines).
    if settings.host_path(settings.ivr_sounds_dir).is_dir():
        await build_prompts(menus.menu, settings)
        try:
            settings.host_path(settings.ivr_voicemail_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.error("IVR voicemail directory %s: %s", settings.ivr_voicemail_dir, exc)
    else:
        log.warning("Asterisk's sounds directory %s is not there: IVR prompts not built",
                    settings.host_path(settings.ivr_sounds_dir))
    services = LiveServices(container, lambda: menus.menu)
    server = FastAGIServer(host=settings.agi_host, port=settings.agi_port, bus=container.bus,
                           model_getter=model_getter, menus=menus, services=services)
    await server.start()
    return server
