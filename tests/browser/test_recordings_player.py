"""Recordings in headless Chromium against the real server and sandbox Asterisk:
the agent pauses and resumes the recording from the pop, then plays the call's
recording from the call page and seeks in it (HTTP Range); a supervisor finds
it on the search page and plays it there."""
from __future__ import annotations

import time

import pytest

from cti.oneshot import ami_action
from tests.browser.realdesk import sign_in, cli_ok, login
from tests.realenv import in_thread

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]


def open_stored(page, show_testid: str, timeout: float = 40) -> None:
    """Click "Recordings" until the call's recording is stored and playable."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.get_by_test_id(show_testid).first.click()
        page.wait_for_selector(f'[data-testid="rec-player"], [data-testid="{show_testid[:-5]}-empty"]')
        if page.get_by_test_id("rec-play").count():
            return
        page.wait_for_timeout(500)  # ingest is asynchronous; ask again under the deadline
    raise AssertionError("the recording never became playable")


def play_and_seek(page) -> None:
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if "/audio" in r.url else None)
    page.get_by_test_id("rec-play").first.click()
    page.wait_for_function("() => { const a = document.querySelector('[data-testid=rec-audio]');"
                           " return a && a.currentTime > 0.3; }", timeout=15_000)
    duration = page.evaluate("() => document.querySelector('[data-testid=rec-audio]').duration")
    assert duration > 3
    box = page.get_by_test_id("rec-wave").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)  # seek by the waveform
    page.wait_for_function("(d) => document.querySelector('[data-testid=rec-audio]').currentTime > d * 0.7",
                           arg=duration, timeout=10_000)
    assert 206 in statuses or 200 in statuses, statuses
    seekable = page.evaluate("() => { const s = document.querySelector('[data-testid=rec-audio]').seekable;"
                             " return s.length ? s.end(0) : 0; }")
    assert seekable > 3  # the server accepts Range: the whole file is seekable


def test_pause_from_the_pop_then_play_and_seek_from_the_call_page(page, new_page, sync_server, ami):
    server = sync_server
    cli_ok(server, "sandbox", "phone", "1001", "--answer-delay", "1", "--talk-time", "6")
    r = in_thread(ami_action(ami, {"Action": "DBPut", "Family": "simphone", "Key": "1001/tone", "Val": "440"},
                             timeout=5))
    assert r.get("Response") == "Success", r
    login(page, server, "alice")
    cli_ok(server, "call", "--from", "13600136077", "--name", "Player Test", "--hold", "30")
    page.get_by_test_id("pop").wait_for(timeout=20_000)
    page.wait_for_selector('[data-testid="rec-state"][data-state="recording"]', timeout=20_000)
    page.get_by_test_id("rec-pause").click()
    page.wait_for_selector('[data-testid="rec-state"][data-state="paused"]', timeout=10_000)
    page.get_by_test_id("rec-resume").click()
    page.wait_for_selector('[data-testid="rec-state"][data-state="recording"]', timeout=10_000)
    page.wait_for_selector('[data-testid="pop"][data-status="ended"]', timeout=30_000)
    open_stored(page, "rec-call-show")
    play_and_seek(page)
    assert page.page_errors == [], page.page_errors

    sup = new_page()
    sign_in(sup, server, "sam", lands_on="wallboard")  # a supervisor's login lands on the wallboard
    sup.goto(server.base_url + "/recordings")
    sup.get_by_test_id("rec-search-form").locator("input[name=number]").fill("6077")
    sup.get_by_test_id("rec-search").click()
    sup.wait_for_selector('[data-testid="rec-row"]', timeout=10_000)
    assert sup.get_by_test_id("rec-row").count() >= 1
    sup.get_by_test_id("rec-open").first.click()
    play_and_seek(sup)
    assert sup.page_errors == [] and page.dialogs == []
