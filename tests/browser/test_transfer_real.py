"""The desk's transfer section (transfer.js, issue 11) in headless Chromium,
against the real server and sandbox Asterisk: alice hands a live call to the
expert erin with notes; erin's desk pops the same call and shows alice's notes
as text (hostile text stays text); alice's desk says the caller went to erin."""
from __future__ import annotations

import contextlib

import pytest

from tests.browser.conftest import _new_page
from tests.browser.realdesk import cli_ok, login

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

NOTES = "<img src=x onerror=alert(1)> wants an engineer on Friday"


@contextlib.contextmanager
def _alice_answered_with_erin_watching(page, browser, server, *, alice_talk: str, erin_answer: str, erin_talk: str,
                                       caller: str, name: str):
    """alice's desk on an answered trunk call, erin (an expert on 1004) signed in on
    her own page; yields (erin's page, the call id); erin's phone reset after."""
    server.add_user("erin", role="expert", extension="1004")
    cli_ok(server, "sandbox", "phone", "1001", "--answer-delay", "1", "--talk-time", alice_talk)
    cli_ok(server, "sandbox", "phone", "1004", "--answer-delay", erin_answer, "--talk-time", erin_talk)
    erin_context, erin = _new_page(browser)
    try:
        login(page, server, "alice")
        login(erin, server, "erin", wait_available=False)
        cli_ok(server, "call", "--from", caller, "--name", name, "--hold", "50")
        page.wait_for_selector('[data-testid="pop"][data-status="answered"]', timeout=20_000)
        yield erin, page.get_by_test_id("pop").get_attribute("data-call-id")
    finally:
        erin_context.close()
        cli_ok(server, "sandbox", "phone", "1004", "--reset")


def test_blind_transfer_from_the_desk_shows_the_handoff_to_the_expert(page, browser, sync_server):
    with _alice_answered_with_erin_watching(page, browser, sync_server, alice_talk="40", erin_answer="2",
                                            erin_talk="3", caller="13700137088", name="Transfer Caller") as (
            erin, call_id):
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


STATUS_HAS = ("() => {{ const s = document.querySelector('[data-testid=\"transfer-status\"]'); "
              "return !!s && {cond}; }}")


def test_threeway_consult_from_the_desk(page, browser, sync_server):
    """alice picks erin from the picker, consults her (attended), brings the caller
    in with the 3-way button; both desks say it is a 3-way; when alice's phone
    leaves, erin's pop has the call until it ends."""
    with _alice_answered_with_erin_watching(page, browser, sync_server, alice_talk="12", erin_answer="1",
                                            erin_talk="20", caller="13700137099", name="Threeway Caller") as (
            erin, call_id):
        # the picker offers erin, as an expert
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"transfer-targets\"] option')]"
            ".some(o => o.value === 'erin')", timeout=10_000)
        page.get_by_test_id("transfer-mode").select_option("attended")
        page.get_by_test_id("transfer-expert").fill("erin")
        page.get_by_test_id("transfer-submit").click()
        threeway = page.get_by_test_id("transfer-threeway")
        threeway.wait_for(timeout=10_000)
        assert page.get_by_test_id("transfer-cancel").is_visible()
        erin.get_by_test_id("transfer-handoff").wait_for(timeout=20_000)
        assert erin.get_by_test_id("pop").get_attribute("data-call-id") == call_id
        threeway.click()
        cond = "s.textContent.includes('{}') && /3-way|三方/.test(s.textContent)"
        page.wait_for_function(STATUS_HAS.format(cond=cond.format("erin")), timeout=20_000)
        erin.wait_for_function(STATUS_HAS.format(cond=cond.format("alice")), timeout=20_000)
        assert page.get_by_test_id("transfer-consult").count() == 0
        erin.wait_for_selector('[data-testid="pop"][data-status="ended"]', timeout=60_000)
        assert page.page_errors == [] and erin.page_errors == []
