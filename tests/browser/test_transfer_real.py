"""The desk's transfer section (transfer.js, issue 11) in headless Chromium,
against the real server and sandbox Asterisk: alice hands a live call to the
expert erin with notes; erin's desk pops the same call and shows alice's notes
as text (hostile text stays text); alice's desk says the caller went to erin."""
from __future__ import annotations

import pytest

from tests.browser.conftest import _new_page
from tests.browser.realdesk import cli_ok, login

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

NOTES = "<img src=x onerror=alert(1)> wants an engineer on Friday"


def test_blind_transfer_from_the_desk_shows_the_handoff_to_the_expert(page, browser, sync_server):
    server = sync_server
    server.add_user("erin", role="expert", extension="1004")
    cli_ok(server, "sandbox", "phone", "1001", "--answer-delay", "1", "--talk-time", "40")
    cli_ok(server, "sandbox", "phone", "1004", "--answer-delay", "2", "--talk-time", "3")
    erin_context, erin = _new_page(browser)
    try:
        login(page, server, "alice")
        login(erin, server, "erin", wait_available=False)
        cli_ok(server, "call", "--from", "13700137088", "--name", "Transfer Caller", "--hold", "40")
        page.wait_for_selector('[data-testid="pop"][data-status="answered"]', timeout=20_000)
        call_id = page.get_by_test_id("pop").get_attribute("data-call-id")
        submit = page.get_by_test_id("transfer-submit")
        submit.wait_for(timeout=10_000)
        page.get_by_test_id("transfer-expert").fill("erin")
        page.get_by_test_id("transfer-notes").fill(NOTES)
        submit.click()
        notes = erin.get_by_test_id("transfer-handoff-notes")
        notes.wait_for(timeout=20_000)
        assert notes.inner_text() == NOTES
        assert erin.locator("img[src=x]").count() == 0
        assert erin.get_by_test_id("pop").get_attribute("data-call-id") == call_id
        page.wait_for_function(
            "() => (document.querySelector('[data-testid=\"transfer-status\"]') || {}).textContent"
            "?.includes('erin')", timeout=20_000)
        erin.wait_for_selector('[data-testid="pop"][data-status="ended"]', timeout=30_000)
        assert page.page_errors == [] and erin.page_errors == []
        assert erin.dialogs == [] and page.dialogs == []
    finally:
        erin_context.close()
        cli_ok(server, "sandbox", "phone", "1004", "--reset")
