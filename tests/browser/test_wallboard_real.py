"""Wallboard and reports in headless Chromium against the real server and sandbox Asterisk.

A supervisor signs in and opens the wallboard; an agent signs in at her desk,
a real call rings her phone and is answered: the agent's row and the queue
tile follow live. The supervisor listens in from the wallboard (the agent's
desk shows the notice) and then pauses her with a reason.
Then the reports page shows that call from stored data, with a chart and a
CSV export.
"""
from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.browser.realdesk import cli_ok, login, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]


def test_wallboard_live_then_reports(page, new_page, sync_server):
    server = sync_server
    cli_ok(server, "sandbox", "phone", "1001", "--answer-delay", "3", "--talk-time", "6")
    cli_ok(server, "sandbox", "phone", "1009", "--answer-delay", "1", "--talk-time", "3")  # sam's phone
    sign_in(page, server, "sam", lands_on="wallboard")  # a supervisor lands on the wallboard
    page.wait_for_selector('[data-testid="wb-status"][data-state="connected"]', timeout=15_000)
    row = page.get_by_test_id("agent-alice")
    assert row.get_attribute("data-state") == "logged_out"
    desk = new_page()  # alice at her desk, in her own browser
    login(desk, server, "alice")
    page.wait_for_selector('[data-testid="agent-alice"][data-state="available"]', timeout=15_000)
    tile = page.get_by_test_id("queue-support")
    assert tile.get_by_test_id("q-available").inner_text() == "1"
    assert row.get_by_test_id("listen").is_disabled()  # nothing to listen to yet
    cli_ok(server, "call", "--from", "13600136001", "--name", "<b>Wall</b>", "--hold", "15")
    page.wait_for_selector('[data-testid="agent-alice"][data-state="ringing"]', timeout=20_000)
    page.wait_for_selector('[data-testid="agent-alice"][data-state="on_call"]', timeout=20_000)
    assert tile.get_by_test_id("q-on-call").inner_text() == "1"
    # listen in from the wallboard: sam's phone rings, alice's desk says she is being monitored
    row.get_by_test_id("listen").click()
    notice = desk.get_by_test_id("monitor-notice")
    expect(notice).to_be_visible(timeout=10_000)
    assert notice.get_attribute("data-mode") == "listen" and "listening" in notice.inner_text()
    assert page.get_by_test_id("wb-notice").is_hidden()  # no error on the wallboard
    page.wait_for_selector('[data-testid="agent-alice"][data-state="available"]', timeout=30_000)
    expect(tile.get_by_test_id("q-answered")).to_have_text("1", timeout=10_000)
    # time in state ticks locally
    first = row.get_by_test_id("time").inner_text()
    expect(row.get_by_test_id("time")).not_to_have_text(first, timeout=5_000)
    # pause from the wallboard with a reason
    row.get_by_test_id("pause-reason").select_option("training")
    row.get_by_test_id("pause").click()
    page.wait_for_selector('[data-testid="agent-alice"][data-state="paused"]', timeout=10_000)
    assert "Training" in row.get_by_test_id("state").inner_text()
    assert tile.get_by_test_id("q-paused").inner_text() == "1"
    # in Chinese
    page.get_by_test_id("wb-lang").select_option("zh-CN")
    assert "培训" in page.get_by_test_id("agent-alice").get_by_test_id("state").inner_text()
    page.get_by_test_id("wb-lang").select_option("en")

    # reports: the call is in the stored data
    page.goto(server.base_url + "/reports")
    page.get_by_test_id("table-queues").wait_for(timeout=15_000)
    header = [c.inner_text() for c in page.get_by_test_id("table-queues").locator("th").all()]
    cells = [c.inner_text() for c in page.get_by_test_id("table-queues").locator("tbody tr").first.locator("td").all()]
    got = dict(zip(header, cells))
    assert got["queue"] == "support" and got["answered"] == "1" and got["offered"] == "1"
    answered_bars = page.get_by_test_id("chart-calls").locator('rect[data-series="answered"]')
    assert answered_bars.count() == 1 and answered_bars.first.get_attribute("data-value") == "1"
    assert page.get_by_test_id("chart-occupancy").locator('rect[data-series="alice"]').count() == 1
    with page.expect_download() as info:
        page.get_by_test_id("export-queues-csv").click()
    rows = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8-sig").read())))
    assert rows[0][0] == "queue" and rows[1][0] == "support"
    assert page.page_errors == [] and page.console_errors == []
    assert desk.page_errors == []
