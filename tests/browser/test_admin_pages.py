"""The administration pages (admin.html, issue 14) in headless Chromium against
the real app (served on loopback, its own SQLite file, no Asterisk needed):
an admin adds a holiday and a pause reason and both are in force at once, and a service site with a
technician; a bad
time zone is shown next to its field and not saved; the IVR tree editor shows
a problem next to its node and saves nothing, then a corrected edit is saved
and is the menu in force; a supervisor gets the admin-only notice."""
from __future__ import annotations

import asyncio
import re
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from ctidesk import calendar as center_calendar
from tests.browser.test_desk_static import unexpected_errors
from tests.factories import PASSWORD, make_user, settings_for
from tests.live import live_app
from tickets import sla

pytestmark = pytest.mark.browser

XMAS_10AM = datetime(2026, 12, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Friday


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The whole app (lifespan included: supervisor, SLA scheduler) in a thread of its own."""
    settings = settings_for(tmp_path_factory.mktemp("admin"))
    ready, state = threading.Event(), {}

    async def main():
        try:
            async with live_app(settings, start_bridge=False) as app:
                async with app.state.container.sessionmaker() as db:
                    await make_user(db, "root", role="admin")
                    await make_user(db, "sam", role="supervisor")
                state["app"], state["stop"], state["loop"] = app, asyncio.Event(), asyncio.get_running_loop()
                ready.set()
                await state["stop"].wait()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the app did not start"
    if "error" in state:
        raise state["error"]
    try:
        yield state["app"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)
        sla.use_policy(None)
        center_calendar.use_center(None, None)


def api(app, path: str, user: str = "root") -> dict:
    with httpx.Client(base_url=app.state.base_url, timeout=10) as http:
        token = http.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD}).json()["access_token"]
        r = http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json()


def sign_in(page, app, username: str, view: str) -> None:
    page.goto(app.state.base_url + "/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r".*/wallboard$"))
    page.goto(f"{app.state.base_url}/admin#{view}")


def test_an_admin_adds_a_holiday_and_a_pause_reason(page, new_page, server):
    sign_in(page, server, "root", "calendar")
    expect(page.get_by_test_id("meta-calendar")).to_contain_text("Version 0")
    page.get_by_test_id("cal-holiday-date").fill("2026-12-25")
    page.get_by_test_id("cal-holiday-add").click()
    expect(page.get_by_test_id("cal-holiday-item").filter(has_text="2026-12-25")).to_have_count(1)
    page.get_by_test_id("comment-calendar").fill("Christmas")
    page.get_by_test_id("save-calendar").click()
    expect(page.get_by_test_id("status-calendar")).to_contain_text("version 1")
    doc = api(server, "/api/v1/basedata/calendar")
    assert doc["version"] == 1 and "2026-12-25" in doc["body"]["holidays"] and doc["comment"] == "Christmas"
    settings = server.state.container.settings
    assert not center_calendar.load_center(settings.calendar_config).is_open(XMAS_10AM)
    # A bad time zone: shown next to its field, nothing saved.
    page.get_by_test_id("cal-timezone").fill("Mars/Olympus")
    page.get_by_test_id("save-calendar").click()
    problem = page.locator('[data-path="timezone"] + [data-testid="problem"]')
    expect(problem).to_contain_text("unknown time zone 'Mars/Olympus'")
    expect(page.get_by_test_id("status-calendar")).to_contain_text("Not saved")
    assert api(server, "/api/v1/basedata/calendar")["version"] == 1
    # A pause reason, with its Chinese label.
    page.get_by_test_id("nav-pause").click()
    expect(page.get_by_test_id("meta-pause_reasons")).to_contain_text("Version 0")
    page.get_by_test_id("pause-new-code").fill("coaching")
    page.get_by_test_id("pause-new-en").fill("Coaching")
    page.get_by_test_id("pause-new-zh").fill("辅导")
    page.get_by_test_id("pause-add").click()
    page.get_by_test_id("save-pause_reasons").click()
    expect(page.get_by_test_id("status-pause_reasons")).to_contain_text("version 1")
    reasons = api(server, "/api/v1/supervisor/config")["pause_reasons"]
    assert reasons["coaching"] == {"en": "Coaching", "zh-CN": "辅导"}
    assert server.state.container.supervisor.live.config.pause_reasons["coaching"]["en"] == "Coaching"
    page.get_by_test_id("ad-lang").select_option("zh-CN")
    expect(page.get_by_test_id("nav-pause")).to_have_text("小休原因")
    expect(page.get_by_test_id("pause-coaching-zh")).to_have_value("辅导")
    assert unexpected_errors(page, allow=[r"status of 422"]) == []  # the refused time zone
    # Sites and technicians (their own API): an empty name is shown next to the field.
    page.get_by_test_id("nav-sites").click()
    form = page.get_by_test_id("site-form")
    form.get_by_test_id("site-add").click()
    expect(form.locator('[data-path="name"] + [data-testid="problem"]')).to_have_count(1)
    form.get_by_test_id("site-name").fill("朝阳网点 <b>")
    form.get_by_test_id("site-regions").fill("北京，朝阳")  # a Chinese comma separates too
    form.get_by_test_id("site-add").click()
    expect(page.get_by_test_id("site-row")).to_have_count(1)
    page.get_by_test_id("technician-name").fill("李工")
    page.get_by_test_id("technician-site").select_option(label="朝阳网点 <b>")
    page.get_by_test_id("technician-add").click()
    expect(page.get_by_test_id("technician-row")).to_contain_text("朝阳网点 <b>")
    (site,) = api(server, "/api/v1/sites")["items"]
    (tech,) = api(server, "/api/v1/technicians")["items"]
    assert site["regions"] == ["北京", "朝阳"] and tech["site_id"] == site["id"]
    assert unexpected_errors(page, allow=[r"status of 422"]) == []
    # Base data is the administrator's: a supervisor is told so.
    other = new_page()
    sign_in(other, server, "sam", "pause")
    expect(other.get_by_test_id("ad-notice")).to_contain_text("Only an administrator")


def test_an_admin_edits_the_ivr_tree(page, server):
    sign_in(page, server, "root", "ivr")
    main = page.get_by_test_id("ivr-node-main")
    expect(main).to_be_visible()
    expect(page.get_by_test_id("ivr-tree").get_by_test_id("ivr-node-to_sales")).to_be_visible()
    # An invalid edit: the sales queue node becomes a transfer with no number.
    page.get_by_test_id("ivr-to_sales-type").select_option("transfer")
    page.get_by_test_id("save-ivr").click()
    node = page.get_by_test_id("ivr-node-to_sales")
    expect(node.get_by_test_id("problem")).to_contain_text("a dialable number")
    expect(node).to_have_class(re.compile("ad-node-bad"))
    expect(page.get_by_test_id("status-ivr")).to_contain_text("Not saved")
    assert api(server, "/api/v1/basedata/ivr")["version"] == 0
    assert server.state.container.basedata.ivr_menu is None
    # Corrected, plus a new key 5 on the main menu: saved, and the menu in force.
    page.get_by_test_id("ivr-to_sales-number").fill("+8610086")
    page.get_by_test_id("ivr-main-new-key").fill("5")
    page.get_by_test_id("ivr-main-new-goto").select_option("to_operator")
    page.get_by_test_id("ivr-main-add-choice").click()
    expect(page.get_by_test_id("ivr-main-choice-5")).to_be_visible()
    page.get_by_test_id("save-ivr").click()
    expect(page.get_by_test_id("status-ivr")).to_contain_text("version 1")
    body = api(server, "/api/v1/basedata/ivr")["body"]
    assert body["nodes"]["main"]["choices"]["5"] == "to_operator"
    assert body["nodes"]["to_sales"] == {"type": "transfer", "number": "+8610086"}
    menu = server.state.container.basedata.ivr_menu
    assert menu.nodes["main"].choices["5"].goto == "to_operator" and menu.nodes["to_sales"].number == "+8610086"
    expect(page.get_by_test_id("ivr-node-to_sales").get_by_test_id("problem")).to_have_count(0)
    assert unexpected_errors(page, allow=[r"status of 422"]) == []  # the refused edit
