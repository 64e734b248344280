"""The desk's knowledge-base box (kb.js, issue 14) in headless Chromium, against
the fake backend, the KB answers routed by Playwright: Chinese typed in the
page is searched as typed, results and the pop's suggestions are text (hostile
titles stay text), an article opens as text, and it attaches to the caller's
open ticket from the pop."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.test_desk_static import open_desk, screen_pop, tid, unexpected_errors

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)> 滚筒"
DRUM = {"id": 5, "title": "洗衣机滚筒不转怎么办", "body": "**先检查门锁** <script>alert(1)</script>",
        "body_html": "<p>x</p>", "products": ["XQG100"], "fault_codes": ["E21"], "tags": ["repair"],
        "state": "published", "version": 2, "author": "erin", "editor": "erin", "created_at": None,
        "updated_at": None, "published_at": None}


def kb_routes(page, searched: list, attached: list) -> None:
    def search(route):
        searched.append(parse_qs(urlsplit(route.request.url).query)["q"][0])
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"mode": "fts", "items": [
            {"id": 5, "title": DRUM["title"], "snippet": "…滚筒不转…", "state": "published", "products": ["XQG100"],
             "tags": [], "fault_codes": [], "score": 1.5, "updated_at": None},
            {"id": 6, "title": HOSTILE, "snippet": HOSTILE, "state": "published", "products": [], "tags": [],
             "fault_codes": [], "score": 1.0, "updated_at": None}]}))

    def article(route):
        route.fulfill(status=200, content_type="application/json", body=json.dumps(DRUM))

    def attach(route):
        attached.append((urlsplit(route.request.url).path, json.loads(route.request.post_data)))
        route.fulfill(status=201, content_type="application/json",
                      body=json.dumps({"ticket_id": 31, "article_id": 5, "title": DRUM["title"], "history_id": 9}))

    page.route("**/api/v1/kb/search?*", search)
    page.route("**/api/v1/kb/articles/5", article)
    page.route("**/api/v1/tickets/31/articles", attach)


def test_chinese_search_suggestions_and_attach(page, fake_backend):
    searched, attached = [], []
    kb_routes(page, searched, attached)
    open_desk(page, fake_backend)
    expect(tid(page, "kb")).to_be_visible()
    tid(page, "kb-query").fill("滚筒不转")
    tid(page, "kb-query").press("Enter")
    results = tid(page, "kb-results")
    expect(results.get_by_test_id("kb-item")).to_have_count(2)
    assert searched == ["滚筒不转"]
    expect(results.get_by_test_id("kb-item").nth(1)).to_have_text(HOSTILE)
    assert page.locator("img[src=x]").count() == 0
    fake_backend.push(screen_pop(kb_suggestions=[{"id": 5, "title": DRUM["title"]},
                                                 {"id": 7, "title": HOSTILE}]))
    suggestions = tid(page, "kb-suggestions").get_by_test_id("kb-item")
    expect(suggestions).to_have_count(2)
    expect(suggestions.nth(0)).to_have_text(DRUM["title"])
    suggestions.nth(0).click()
    expect(tid(page, "kb-article-title")).to_have_text(DRUM["title"])
    expect(tid(page, "kb-article-body")).to_have_text(DRUM["body"])  # the Markdown as text
    assert page.locator("[data-testid=kb] script, [data-testid=kb] strong").count() == 0
    tid(page, "kb-attach").click()
    expect(tid(page, "kb-status")).to_contain_text("#31")
    assert attached == [("/api/v1/tickets/31/articles", {"article_id": 5})]
    assert unexpected_errors(page) == [] and page.dialogs == []
