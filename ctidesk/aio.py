"""Small asyncio helpers the services share."""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Task | None) -> None:
    """Cancel ``tasks`` (None ones are skipped) and wait until each has ended.

    A service's ``stop()`` must not return while its task still runs (it would
    touch a closed engine or socket), and one task's failure must not keep the
    rest of a shutdown from running: an exception other than the cancellation
    is logged with its traceback, not raised, not lost silently either."""
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    for t in live:
        try:
            await t
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("task %s failed while it was being stopped", t.get_name())
