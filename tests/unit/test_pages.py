"""The HTML pages: each route answers its page whole, ``static/head.html`` first."""
from __future__ import annotations

import pytest

from agent_desk.pages import HEAD, STATIC

PAGES = {"/login": "Sign in", "/desk": "Agent desk", "/wallboard": "Wallboard", "/reports": "Reports",
         "/recordings": "Recordings", "/admin": "Administration", "/admin/catalog": "Products &amp; faults",
         "/kb/editor": "Knowledge editor"}


@pytest.mark.parametrize("route", PAGES)
async def test_a_page_is_the_shared_head_then_its_own_file(client, route):
    r = await client.get(route)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    head = (STATIC / HEAD).read_text(encoding="utf-8")
    assert r.text.startswith(head) and r.text.startswith("<!doctype html>\n<html lang=\"en\">\n<head>\n")
    assert f"<title>{PAGES[route]} — CTI Desk</title>" in r.text
    assert r.text.count("<head>") == 1 and r.text.index("</head>") < r.text.index("<body")


def test_every_page_file_is_served():
    files = {p.name for p in STATIC.glob("*.html")} - {HEAD}
    assert files == {"login.html", "desk.html", "wallboard.html", "reports.html", "recordings.html",
                     "admin.html", "catalog-admin.html", "kb-editor.html"}
