"""Reactions to ticket changes, run inside the change's own transaction.

``tickets.service`` calls these lists after it has flushed a change, so a
hook sees the ticket with its id and new values, can change it further or add
rows with the same session, and everything commits (or rolls back) together.
Other packages register here instead of being imported by the service, which
keeps the service free of import cycles with SLA, dispatch and callbacks.

Hooks are ``async def hook(*, db, ticket, actor, **kw)``; always accept
``**kw`` so that new keywords do not break old hooks. Per list:

``on_created``
    ``db``, ``ticket``, ``actor``, ``call_id`` (the call that opened it, or
    None). E.g. SLA computes the due times.
``on_transition``
    ``db``, ``ticket``, ``actor``, ``old``, ``new`` (states), ``resolution``,
    ``reason`` (as given, may be None). E.g. callbacks add a revisit when a
    ticket is resolved; SLA stops or restarts the clock.
``on_updated``
    ``db``, ``ticket``, ``actor``, ``changes``: ``{field: (old, new)}`` with
    Python values, only the fields that really changed.

``actor`` is a username, or a system name such as ``"sla"`` for internal
writers. Hooks run in registration order, awaited one after the other. A
hook that raises fails the whole write: the exception reaches the caller,
who does not commit, so a ticket never exists without what its hooks were
meant to add. Hooks must not commit or roll back the session themselves.

Registration is explicit: :func:`install_defaults` registers the product's
own hooks (SLA due times and clock, revisit callbacks) and is called by the
composition root (``ctidesk.app.build_container``, the ``ctidesk`` command
group) — never as a side effect of importing a module, so what runs on a
ticket change is visible in one place. Registering the same function twice
is a no-op.
"""
from __future__ import annotations

from typing import Awaitable, Callable

Hook = Callable[..., Awaitable[None]]

on_created: list[Hook] = []
on_transition: list[Hook] = []
on_updated: list[Hook] = []

_LISTS: dict[str, list[Hook]] = {
    "on_created": on_created,
    "on_transition": on_transition,
    "on_updated": on_updated,
}


def _list(name: str) -> list[Hook]:
    try:
        return _LISTS[name]
    except KeyError:
        raise ValueError(f"unknown ticket hook {name!r}: one of {', '.join(_LISTS)}") from None


def register(name: str, hook: Hook) -> Hook:
    """Add ``hook`` to the list ``name``; returns it, so it also works as ``@register(...)``'s body."""
    hooks = _list(name)
    if hook not in hooks:
        hooks.append(hook)
    return hook


def unregister(name: str, hook: Hook) -> None:
    hooks = _list(name)
    if hook in hooks:
        hooks.remove(hook)


async def run(name: str, **kw) -> None:
    """Await every hook of ``name`` with ``kw``, in order (see the module docstring)."""
    for hook in list(_list(name)):  # a hook may (un)register others
        await hook(**kw)


def install_defaults() -> None:
    """The product's ticket hooks, in order: SLA first (due times), then callbacks."""
    from tickets import callbacks, sla

    register("on_created", sla.apply_sla)
    register("on_transition", sla.restart_clock)
    register("on_transition", callbacks.on_resolved)
