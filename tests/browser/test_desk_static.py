"""The agent console pages in real headless Chromium, against the fake backend.

These tests pin the page's behaviour and its data-testid hooks; the end-to-end
browser test (real backend + Asterisk) relies on the same hooks.
"""
from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.fake_backend import USERS, token_for

pytestmark = pytest.mark.browser

ALICE = USERS["alice"]["user"]


# ---- helpers ----------------------------------------------------------------


def tid(page, name):
    return page.get_by_test_id(name)


def expect_texts(page, texts: dict[str, str]) -> None:
    """The element of each test id has exactly its text."""
    for name, text in texts.items():
        expect(tid(page, name)).to_have_text(text)


def unexpected_errors(page, allow=()):
    """Console errors and page errors, minus the ones a test expects."""
    patterns = [re.compile(p) for p in allow]
    errors = [e for e in page.console_errors if not any(p.search(e) for p in patterns)]
    return errors + [f"pageerror: {e}" for e in page.page_errors]


def open_desk(page, backend, username="alice"):
    """Sign in as ``username`` (token straight into sessionStorage) and open /desk."""
    page.goto("/login")
    user = USERS[username]["user"]
    page.evaluate(
        "([t, u]) => { sessionStorage.setItem('ctidesk_token', t);"
        " sessionStorage.setItem('ctidesk_user', u); }",
        [token_for(username), json.dumps(user)],
    )
    page.goto("/desk")
    expect(tid(page, "ws-status")).to_have_attribute("data-state", "connected")
    expect(tid(page, "agent-state")).to_have_attribute("data-state", "available")
    backend.wait_for_sockets(1)


def card(**kw):
    base = {
        "id": 7, "name": "Zhang Wei", "kind": "person", "provisional": False,
        "phones": [{"raw": "+86 138 0013 8000", "normalized": "+8613800138000", "kind": "mobile"}],
        "notes": "Prefers calls after 14:00.\nVIP since 2021.",
        "created_at": "2023-03-14T09:26:53Z",
    }
    base.update(kw)
    return base


def screen_pop(call_id="call-1001", **over):
    call = {
        "id": call_id,
        "caller_number": "+86 138 0013 8000",
        "caller_number_normalized": "+8613800138000",
        "caller_name": "Zhang Wei",
        "called_number": "4008001234",
        "queue": "support",
        "ivr_path": [
            {"node": "main_menu", "digits": "2", "at": "2024-05-02T08:59:41Z"},
            {"node": "support_menu", "digits": "1", "at": "2024-05-02T08:59:47Z"},
        ],
        "waiting_s": 42,
        "ringing_at": "2024-05-02T09:00:23Z",
    }
    call.update(over.pop("call", {}))
    msg = {
        "type": "screen_pop",
        "call": call,
        "customer": card(),
        "provisional_customer": None,
        "history": [
            {"id": "1714299300.501", "started_at": "2024-04-28T10:15:00Z", "direction": "inbound", "queue": "support",
             "agent": "bob", "outcome": "answered", "duration_s": 312, "caller_number": "+8613800138000"},
            {"id": "1713628920.488", "started_at": "2024-04-20T16:02:00Z", "direction": "inbound", "queue": "sales",
             "agent": None, "outcome": "abandoned", "duration_s": None, "caller_number": "+8613800138000"},
            {"id": "1712824800.470", "started_at": "2024-04-11T08:40:00Z", "direction": "outbound", "queue": None,
             "agent": "alice", "outcome": "answered", "duration_s": 95, "caller_number": "+8613800138000"},
        ],
        "open_tickets": [
            {"id": 31, "type": "repair", "state": "in_progress",
             "description": "Router reboots every night; technician visit booked.",
             "created_at": "2024-04-28T10:21:00Z"},
            {"id": 29, "type": "complaint", "state": "open",
             "description": "Billed twice for April.", "created_at": "2024-04-20T16:10:00Z"},
        ],
    }
    msg.update(over)
    return msg


# ---- login page ---------------------------------------------------------------


def test_root_and_desk_without_token_go_to_login(page, fake_backend):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(tid(page, "login-username")).to_be_visible()
    expect(tid(page, "login-password")).to_be_visible()
    expect(tid(page, "login-submit")).to_have_text("Sign in")
    expect(tid(page, "login-error")).to_be_hidden()
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert unexpected_errors(page) == []


def test_login_wrong_password_shows_error_in_current_language(page, fake_backend):
    page.goto("/login")
    tid(page, "login-username").fill("alice")
    tid(page, "login-password").fill("wrong")
    tid(page, "login-submit").click()
    expect(tid(page, "login-error")).to_be_visible()
    expect(tid(page, "login-error")).to_have_text("Wrong username or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("sessionStorage.getItem('ctidesk_token')") is None

    # The shown error follows a language switch ...
    tid(page, "lang-select").select_option("zh-CN")
    expect(tid(page, "login-error")).to_have_text("用户名或密码错误。")
    expect(tid(page, "login-submit")).to_have_text("登录")

    # ... and a new failure is reported in the current language.
    tid(page, "login-password").fill("still wrong")
    tid(page, "login-submit").click()
    expect(tid(page, "login-error")).to_have_text("用户名或密码错误。")
    assert unexpected_errors(page, allow=[r"status of 401"]) == []


def test_login_rate_limited(page, fake_backend):
    fake_backend.rate_limited = True
    page.goto("/login")
    tid(page, "login-username").fill("alice")
    tid(page, "login-password").fill("correct horse")
    tid(page, "login-submit").click()
    expect(tid(page, "login-error")).to_contain_text("Too many sign-in attempts")


def test_login_success_lands_on_desk_idle(page, fake_backend):
    page.goto("/login")
    tid(page, "login-username").fill("alice")
    tid(page, "login-password").fill("correct horse")
    tid(page, "login-submit").click()
    expect(page).to_have_url(re.compile(r"/desk$"))
    assert page.evaluate("sessionStorage.getItem('ctidesk_token')") == token_for("alice")

    expect(tid(page, "agent-name")).to_have_text("Alice Martin")
    expect(tid(page, "agent-extension")).to_have_text("Ext. 1001")
    expect(tid(page, "ws-status")).to_have_attribute("data-state", "connected")
    expect(tid(page, "ws-status")).to_have_text("Connected")
    # The desk logs the agent into their queues on load.
    expect(tid(page, "agent-state")).to_have_attribute("data-state", "available")
    expect(tid(page, "agent-state")).to_have_text("Available")
    expect(tid(page, "queue-toggle")).to_have_text("Log out of queues")
    assert ("/api/v1/agent/login", "alice") in fake_backend.calls

    expect(tid(page, "idle")).to_be_visible()
    expect(tid(page, "idle")).to_contain_text("Waiting for calls")
    expect(tid(page, "pop")).to_have_count(0)
    assert unexpected_errors(page) == []


# ---- screen pops -----------------------------------------------------------------


def test_pop_ringing_time_is_now_in_local_time_not_1970(page, fake_backend):
    """The server's pop carries Asterisk's time of the ring; the fake sends it
    through the same model (ISO 8601 with offset), and the desk shows the real
    local time and date (it once read epoch seconds as milliseconds: 1970)."""
    open_desk(page, fake_backend)
    rang = time.time() - 3
    assert fake_backend.push(screen_pop(call={"ringing_at": rang, "waiting_s": 40.0})) == 1
    node = tid(page, "pop-ringing-at")
    expect(node).to_have_attribute("data-at", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$"))
    shown_ms = page.evaluate("(iso) => Date.parse(iso)", node.get_attribute("data-at"))
    assert abs(shown_ms / 1000 - rang) < 0.01
    expected = page.evaluate(
        """(ms) => { const d = new Date(ms); const lang = document.documentElement.lang || undefined;
            return [new Intl.DateTimeFormat(lang, { timeStyle: 'medium' }).format(d),
                    new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }).format(d)]; }""", rang * 1000)
    expect(node).to_have_text(expected[0])
    assert expected[1] in node.get_attribute("title")  # today's date, not 1 January 1970
    assert "1970" not in node.get_attribute("title")


def test_pop_waiting_time_shows_and_ticks_while_ringing(page, fake_backend):
    open_desk(page, fake_backend)
    assert fake_backend.push(screen_pop(call={"ringing_at": time.time(), "waiting_s": 65.0})) == 1
    waiting = tid(page, "pop-waiting")
    expect(waiting).to_have_text(re.compile(r"^1 min, ([5-9]|1[0-2]) sec$"))  # waiting_s 65, counting on
    first = waiting.inner_text()
    expect(waiting).not_to_have_text(first, timeout=3000)  # it ticks every second while it rings
    fake_backend.push({"type": "call_answered", "call_id": "call-1001", "agent": "alice"})
    expect(tid(page, "pop")).to_have_attribute("data-status", "answered")
    frozen = waiting.inner_text()
    page.wait_for_timeout(1500)
    assert waiting.inner_text() == frozen  # and stops when answered


def test_known_customer_pop(page, fake_backend):
    open_desk(page, fake_backend)
    assert fake_backend.push(screen_pop()) == 1

    pop = tid(page, "pop")
    expect(pop).to_be_visible()
    expect(pop).to_have_attribute("data-call-id", "call-1001")
    expect(tid(page, "idle")).to_be_hidden()
    expect_texts(page, {"pop-status": "Incoming call", "pop-caller-name": "Zhang Wei",
                        "pop-caller-number": "+86 138 0013 8000", "pop-queue": "support"})
    expect(tid(page, "pop-waiting")).to_contain_text("42")
    expect(tid(page, "pop-ivr")).to_contain_text("main_menu")
    expect(tid(page, "pop-ivr-step")).to_have_count(2)
    expect(tid(page, "pop-customer-name")).to_have_text("Zhang Wei")
    expect(tid(page, "pop-customer-notes")).to_contain_text("VIP since 2021.")
    expect(tid(page, "pop-provisional")).to_have_count(0)

    rows = tid(page, "pop-history").get_by_test_id("pop-history-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-call-id", "1714299300.501")
    expect(rows.nth(0)).to_contain_text("bob")
    expect(rows.nth(0)).to_contain_text("Answered")
    expect(rows.nth(1)).to_contain_text("Abandoned")
    expect(rows.nth(2)).to_contain_text("Outbound")

    tickets = tid(page, "pop-tickets").get_by_test_id("pop-ticket")
    expect(tickets).to_have_count(2)
    expect(tickets.nth(0)).to_contain_text("#31")
    expect(tickets.nth(0)).to_contain_text("Router reboots every night")
    expect(tickets.nth(0)).to_contain_text("In progress")
    expect(tickets.nth(1)).to_contain_text("Billed twice for April.")
    assert unexpected_errors(page) == []


def test_unknown_caller_shows_provisional_notice(page, fake_backend):
    open_desk(page, fake_backend)
    fake_backend.push(screen_pop(
        call_id="call-2002",
        call={"caller_name": None, "caller_number": "021 5555 0199", "caller_number_normalized": "+862155550199",
              "ivr_path": []},
        customer=None,
        provisional_customer=card(id=42, name=None, provisional=True, notes="",
                                  phones=[{"raw": "021 5555 0199", "normalized": "+862155550199",
                                           "kind": "landline"}]),
        history=[], open_tickets=[],
    ))
    expect(tid(page, "pop")).to_have_attribute("data-call-id", "call-2002")
    expect(tid(page, "pop-provisional")).to_have_text("Unknown caller — provisional record #42 created")
    expect(tid(page, "pop-provisional")).to_have_attribute("data-customer-id", "42")
    expect(tid(page, "pop-customer-name")).to_have_count(0)
    expect(tid(page, "pop-caller-name")).to_have_text("Unknown caller")
    expect(tid(page, "pop-caller-number")).to_have_text("021 5555 0199")
    expect(tid(page, "pop-history-row")).to_have_count(0)
    expect(tid(page, "pop-history")).to_contain_text("No previous calls")
    expect(tid(page, "pop-ticket")).to_have_count(0)
    expect(tid(page, "pop-tickets")).to_contain_text("No open tickets")
    assert unexpected_errors(page) == []


def test_hostile_text_is_shown_literally(page, fake_backend):
    open_desk(page, fake_backend)
    evil = "<img src=x onerror=alert(1)>"
    fake_backend.push(screen_pop(
        call_id="call-x",
        call={"caller_name": evil, "queue": "<b>q</b>",
              "ivr_path": [{"node": "<svg onload=alert(2)>", "digits": "<i>1</i>", "at": None}]},
        customer=card(name="<script>alert(3)</script>", notes='"><iframe src=javascript:alert(4)>',
                      kind="<img src=y onerror=alert(5)>"),
        history=[{"id": "1", "started_at": "2024-01-01T00:00:00Z", "direction": "<b>in</b>", "queue": "q",
                  "agent": "<img src=z onerror=alert(6)>", "outcome": "<u>x</u>", "duration_s": 3,
                  "caller_number": "1"}],
        open_tickets=[{"id": 9, "type": "<img src=t onerror=alert(7)>", "state": "open",
                       "description": "<img src=d onerror=alert(8)>", "created_at": None}],
    ))
    pop = tid(page, "pop")
    expect(pop).to_be_visible()
    expect(tid(page, "pop-caller-name")).to_have_text(evil)
    expect(tid(page, "pop-customer-name")).to_have_text("<script>alert(3)</script>")
    expect(tid(page, "pop-customer-notes")).to_have_text('"><iframe src=javascript:alert(4)>')
    expect(tid(page, "pop-ticket")).to_contain_text("<img src=d onerror=alert(8)>")
    expect(tid(page, "pop-history-row")).to_contain_text("<img src=z onerror=alert(6)>")
    expect(tid(page, "pop-queue")).to_have_text("<b>q</b>")
    page.wait_for_timeout(300)  # give any injected handler a chance to fire
    assert pop.locator("img, script, svg, iframe, b, i, u").count() == 0
    assert page.locator("img").count() == 0
    assert page.dialogs == []
    assert unexpected_errors(page) == []
    # The page title also carries the caller name; it must be the literal text too.
    assert evil in page.title()


def test_call_answered_then_ended_keeps_pop_until_dismissed(page, fake_backend):
    open_desk(page, fake_backend)
    fake_backend.push(screen_pop(call_id="c-1"))
    expect(tid(page, "pop-status")).to_have_attribute("data-status", "ringing")
    expect(tid(page, "pop-dismiss")).to_be_hidden()

    # Events for another call are ignored.
    fake_backend.push({"type": "call_answered", "call_id": "c-other", "agent": "alice"})
    fake_backend.push({"type": "call_answered", "call_id": "c-1", "agent": "alice"})
    expect(tid(page, "pop-status")).to_have_attribute("data-status", "answered")
    expect(tid(page, "pop-status")).to_have_text("Connected")

    fake_backend.push({"type": "call_ended", "call_id": "c-1", "outcome": "answered"})
    expect(tid(page, "pop-status")).to_have_attribute("data-status", "ended")
    expect(tid(page, "pop-status")).to_contain_text("Call ended")
    expect(tid(page, "pop")).to_be_visible()
    expect(tid(page, "pop-caller-name")).to_have_text("Zhang Wei")

    tid(page, "pop-dismiss").click()
    expect(tid(page, "pop")).to_have_count(0)
    expect(tid(page, "idle")).to_be_visible()


def test_call_answered_by_another_agent_and_next_pop_replaces(page, fake_backend):
    open_desk(page, fake_backend)
    fake_backend.push(screen_pop(call_id="c-1"))
    fake_backend.push({"type": "call_answered", "call_id": "c-1", "agent": "bob"})
    expect(tid(page, "pop-status")).to_have_attribute("data-status", "answered_other")
    expect(tid(page, "pop-status")).to_have_text("Answered by another agent (bob)")
    expect(tid(page, "pop-dismiss")).to_be_visible()

    fake_backend.push(screen_pop(call_id="c-2", call={"caller_name": "Li Na"}))
    expect(tid(page, "pop")).to_have_attribute("data-call-id", "c-2")
    expect(tid(page, "pop")).to_have_count(1)
    expect(tid(page, "pop-caller-name")).to_have_text("Li Na")
    expect(tid(page, "pop-status")).to_have_attribute("data-status", "ringing")


# ---- language ---------------------------------------------------------------------


def test_language_switch_on_desk(page, fake_backend):
    open_desk(page, fake_backend)
    expect(tid(page, "idle")).to_contain_text("Waiting for calls")
    assert page.evaluate("document.documentElement.lang") == "en"

    tid(page, "lang-select").select_option(label="中文")
    expect(tid(page, "idle")).to_contain_text("等待来电")
    expect_texts(page, {"queue-toggle": "签出队列", "signout": "退出登录", "agent-state": "空闲",
                        "ws-status": "已连接", "agent-extension": "分机 1001"})
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.evaluate("localStorage.getItem('ctidesk_lang')") == "zh-CN"

    fake_backend.push(screen_pop())
    expect(tid(page, "pop-status")).to_have_text("来电振铃")
    expect(tid(page, "pop-history")).to_contain_text("通话历史")
    expect(tid(page, "pop-history-row").nth(0)).to_contain_text("已接听")
    expect(tid(page, "pop-tickets")).to_contain_text("未结工单")

    # Remembered across a reload.
    page.reload()
    expect(tid(page, "ws-status")).to_have_attribute("data-state", "connected")
    expect(tid(page, "idle")).to_contain_text("等待来电")
    assert tid(page, "lang-select").input_value() == "zh-CN"

    # An unknown caller's notice in Chinese, then back to English while it is shown.
    fake_backend.wait_for_sockets(1)
    fake_backend.push(screen_pop(call_id="c-9", customer=None,
                                 provisional_customer=card(id=77, name=None, provisional=True)))
    expect(tid(page, "pop-provisional")).to_have_text("未知来电者 — 已创建临时客户记录 #77")
    tid(page, "lang-select").select_option("en")
    expect(tid(page, "pop-provisional")).to_have_text("Unknown caller — provisional record #77 created")
    expect(tid(page, "queue-toggle")).to_have_text("Log out of queues")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert unexpected_errors(page) == []


def test_default_language_follows_navigator(new_page, fake_backend):
    page = new_page(fake_backend.base_url, locale="zh-CN")
    page.goto("/login")
    expect(tid(page, "login-submit")).to_have_text("登录")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert tid(page, "lang-select").input_value() == "zh-CN"
    tid(page, "lang-select").select_option("en")
    expect(tid(page, "login-submit")).to_have_text("Sign in")


# ---- connection -------------------------------------------------------------------


def test_socket_closed_by_server_reconnects(page, fake_backend):
    open_desk(page, fake_backend)
    assert fake_backend.ws_connects == 1
    fake_backend.close_sockets(1012)
    expect(tid(page, "ws-status")).to_have_attribute("data-state", "reconnecting")
    expect(tid(page, "ws-status")).to_have_text("Reconnecting…")
    expect(tid(page, "ws-status")).to_have_attribute("data-state", "connected")
    fake_backend.wait_for_sockets(1)
    assert fake_backend.ws_connects == 2
    # The new socket delivers pops.
    fake_backend.push(screen_pop(call_id="after-reconnect"))
    expect(tid(page, "pop")).to_have_attribute("data-call-id", "after-reconnect")
    assert unexpected_errors(page) == []


def test_socket_bad_token_goes_to_login(page, fake_backend):
    open_desk(page, fake_backend)
    fake_backend.reject_ws = True
    fake_backend.close_sockets(1012)
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("sessionStorage.getItem('ctidesk_token')") is None


def test_api_401_goes_to_login(page, fake_backend):
    page.goto("/login")
    page.evaluate("sessionStorage.setItem('ctidesk_token', 'expired-token')")
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("sessionStorage.getItem('ctidesk_token')") is None


# ---- queue toggle and sign out -------------------------------------------------------


def test_queue_toggle_and_sign_out(page, fake_backend):
    open_desk(page, fake_backend)
    toggle = tid(page, "queue-toggle")
    expect(toggle).to_have_text("Log out of queues")
    toggle.click()
    expect(tid(page, "agent-state")).to_have_attribute("data-state", "logged_out")
    expect(toggle).to_have_text("Log in to queues")
    assert ("/api/v1/agent/logout", "alice") in fake_backend.calls

    toggle.click()
    expect(tid(page, "agent-state")).to_have_attribute("data-state", "available")
    expect(toggle).to_have_text("Log out of queues")

    # State pushed by the server (e.g. paused from the phone) is shown too.
    fake_backend.push({"type": "agent_state", "state": "paused", "queues": ["sales"], "paused_reason": "lunch"})
    expect(tid(page, "agent-state")).to_have_text("Paused: lunch")

    calls_before = fake_backend.calls.count(("/api/v1/agent/logout", "alice"))
    tid(page, "signout").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert fake_backend.calls.count(("/api/v1/agent/logout", "alice")) == calls_before + 1
    assert page.evaluate("sessionStorage.getItem('ctidesk_token')") is None
    fake_backend.wait_for_no_sockets()
    assert unexpected_errors(page) == []


def test_pages_send_no_inline_code(page, fake_backend):
    """The pages must work under the strict CSP: no inline script or handlers."""
    for path in ("/login", "/desk"):
        resp = page.request.get(path)
        assert resp.status == 200
        assert "default-src 'self'" in resp.headers["content-security-policy"]
        html = resp.text()
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, f"inline <script> in {path}"
        assert re.search(r"\son[a-z]+\s*=", html) is None, f"inline event handler in {path}"
        assert "style=" not in html, f"inline style in {path}"
