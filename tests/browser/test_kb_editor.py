"""The knowledge editor (/kb/editor) in real headless Chromium against the real server
(issue 14): an expert writes an article, previews the server's rendering
(in a sandboxed frame: no script runs), publishes it; a save made meanwhile
by someone else shows as a conflict, not a silent overwrite; the history
lists every version; an answer script is written on the same page; an agent's desk search, typed in Chinese, finds the new
text; an agent gets the editors-only notice on the editor."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.realdesk import login
from tests.browser.test_catalog_admin import api, sign_in_anywhere

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

TITLE = "空调室外机结霜怎么办"
BODY = "**先确认**室外温度是否低于 0°C。<script>window.pwned = 1</script>\n\n除霜后仍不制热：预约上门检修。"


def test_expert_writes_publishes_and_the_agent_finds_it(page, new_page, sync_server):
    server = sync_server
    server.add_user("erin", role="expert")
    sign_in_anywhere(page, server, "erin")
    page.goto(server.base_url + "/kb/editor")
    page.get_by_test_id("kbe-new").click()
    page.get_by_test_id("kbe-title").fill(TITLE)
    page.get_by_test_id("kbe-products").fill("KFR-35GW")
    page.get_by_test_id("kbe-tags").fill("repair")
    page.get_by_test_id("kbe-body").fill(BODY)
    page.get_by_test_id("kbe-preview-btn").click()
    preview = page.frame_locator('[data-testid="kbe-preview"]')
    expect(preview.locator("strong")).to_have_text("先确认")  # the server's Markdown rendering
    expect(preview.locator("body")).to_contain_text("<script>")  # raw HTML stays text
    assert page.evaluate("window.pwned") is None
    page.get_by_test_id("kbe-save").click()
    expect(page.get_by_test_id("kbe-version")).to_have_text("version 1")
    page.get_by_test_id("kbe-publish").click()
    expect(page.get_by_test_id("kbe-state")).to_have_text("published")
    article_id = page.locator('[data-testid="kbe-item"][aria-current="true"]').get_attribute("data-id")

    # someone else saves meanwhile: this editor's save is a visible conflict, the text typed is kept
    with api(server, "erin") as http:
        current = http.get(f"/api/v1/kb/articles/{article_id}").json()
        r = http.put(f"/api/v1/kb/articles/{article_id}",
                     json={"title": TITLE, "body": current["body"] + "\n\n（他人修改）", "products": ["KFR-35GW"],
                           "tags": ["repair"], "version": current["version"]})
        assert r.status_code == 200, r.text
    body = page.get_by_test_id("kbe-body")
    body.fill(BODY + "\n\n化霜时室外机冒白气属正常现象。")
    page.get_by_test_id("kbe-save").click()
    expect(page.get_by_test_id("kbe-conflict")).to_contain_text("version 3, not 2")
    expect(body).to_have_value(BODY + "\n\n化霜时室外机冒白气属正常现象。")
    page.get_by_test_id("kbe-overwrite").click()
    expect(page.get_by_test_id("kbe-conflict")).to_have_count(0)
    expect(page.get_by_test_id("kbe-version")).to_have_text("version 4")
    page.get_by_test_id("kbe-history-btn").click()
    expect(page.get_by_test_id("kbe-version-row")).to_have_count(4)  # created, published, theirs, mine

    # an answer script for a ticket type, written on the same page; an empty one names its field
    page.get_by_test_id("kbs-type").select_option("install")
    page.get_by_test_id("kbs-lang").select_option("en")
    page.get_by_test_id("kbs-save").click()
    expect(page.locator('[data-testid="kbs-error"][data-field="opening"]')).to_be_visible()
    page.get_by_test_id("kbs-opening").fill("Installation desk, which product did you buy?")
    page.get_by_test_id("kbs-questions").fill("Which model?\nWhich day suits you?")
    page.get_by_test_id("kbs-save").click()
    expect(page.get_by_test_id("kbs-status")).to_have_text("Saved as version 1.")
    with api(server, "alice") as http:
        [script] = http.get("/api/v1/kb/scripts", params={"ticket_type": "install", "lang": "en"}).json()["items"]
    assert script["questions"] == ["Which model?", "Which day suits you?"] and script["editor"] == "erin"
    assert page.dialogs == []

    # the agent's desk search, typed in Chinese, finds the new text of the published article
    desk = new_page()
    login(desk, server, "alice", wait_available=False)
    desk.get_by_test_id("kb-query").press_sequentially("白气属正常")
    desk.get_by_test_id("kb-query").press("Enter")
    hit = desk.get_by_test_id("kb-results").get_by_test_id("kb-item")
    expect(hit).to_have_count(1)
    expect(hit).to_have_text(TITLE)

    # an agent on the editor: the editors-only notice, no editor
    desk.goto(server.base_url + "/kb/editor")
    expect(desk.get_by_test_id("kbe-notice")).to_contain_text("expert")
    expect(desk.get_by_test_id("kbe-editor")).to_have_count(0)
