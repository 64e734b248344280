"""The HTML pages: each is a static file in ``static/``, served at its own route.

Every page begins with ``static/head.html`` (doctype, the <head>'s shared meta
tags and icon); the page's file holds the rest, from its <title> on. The desk,
supervisor and recordings modules list their pages with :func:`add_pages`
instead of one small view each.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

STATIC = Path(__file__).resolve().parent / "static"
HEAD = "head.html"


def page(name: str, static: Path = STATIC) -> HTMLResponse:
    """The page ``name`` of the folder ``static``: its ``head.html``, then the page's own file."""
    return HTMLResponse((static / HEAD).read_text(encoding="utf-8") + (static / name).read_text(encoding="utf-8"))


def _view(name: str):
    async def view():
        return page(name)
    return view


def add_pages(router: APIRouter, pages: dict[str, str]) -> None:
    """Serve each page at its route, e.g. ``{"/desk": "desk.html"}`` (view ``desk_page``)."""
    for route, name in pages.items():
        router.add_api_route(route, _view(name), methods=["GET"], include_in_schema=False,
                             name=f"{Path(name).stem}_page")
