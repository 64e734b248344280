"""Tickets and callbacks on the agent desk, in real headless Chromium, against the fake backend.

The screen pop's "New ticket" form and "Attach this call" buttons, and the
"My work" panel (my open tickets, my pending callbacks with a result form).
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_desk_static import open_desk, screen_pop, tid, unexpected_errors

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"


def push_pop(page, backend, **over):
    assert backend.push(screen_pop(**over)) >= 1
    expect(tid(page, "pop")).to_be_visible()
    expect(tid(page, "new-ticket")).to_be_visible()


def test_create_ticket_from_pop(page, fake_backend):
    open_desk(page, fake_backend)
    expect(tid(page, "my-tickets")).to_be_visible()
    expect(tid(page, "my-ticket")).to_have_count(0)
    push_pop(page, fake_backend)

    desc = tid(page, "ticket-description")
    prefilled = desc.input_value()
    assert "+86 138 0013 8000" in prefilled  # the caller's number
    assert "main_menu (2)" in prefilled and "support_menu (1)" in prefilled  # the IVR choices
    tid(page, "ticket-type").select_option("complaint")
    tid(page, "ticket-priority").select_option("high")
    desc.fill(prefilled + "Router dead since Monday.")
    tid(page, "ticket-product").fill("HG-8245")
    tid(page, "ticket-address").fill("1 Main St")
    tid(page, "ticket-submit").click()

    created = tid(page, "ticket-created")
    expect(created).to_have_text("Ticket #100 created")
    expect(created).to_have_attribute("data-ticket-id", "100")
    posts = fake_backend.requests_to("POST", "/api/v1/tickets")
    assert len(posts) == 1
    body = posts[0][2]
    assert body["customer_id"] == 7
    assert body["call_id"] == "call-1001"
    assert body["type"] == "complaint"
    assert body["priority"] == "high"
    assert "+86 138 0013 8000" in body["description"]
    assert body["description"].endswith("Router dead since Monday.")
    assert body["product_model"] == "HG-8245"
    assert body["address"] == "1 Main St"
    assert posts[0][3] == "en"  # Accept-Language follows the UI language

    # Added to the pop's open tickets (already linked to this call) and to My work.
    new_item = page.locator('[data-testid="pop-ticket"][data-ticket-id="100"]')
    expect(new_item).to_be_visible()
    expect(new_item.get_by_test_id("attached")).to_be_visible()
    expect(tid(page, "pop-ticket")).to_have_count(3)
    expect(page.locator('[data-testid="my-ticket"][data-ticket-id="100"]')).to_be_visible()
    assert len(fake_backend.requests_to("GET", "/api/v1/tickets")) >= 2  # refreshed after the create

    # A language switch keeps the form and the confirmation (now in Chinese).
    tid(page, "lang-select").select_option("zh-CN")
    expect(tid(page, "ticket-created")).to_have_text("工单 #100 已创建")
    expect(tid(page, "ticket-product")).to_have_value("HG-8245")
    assert unexpected_errors(page) == []


def test_provisional_customer_id_is_used(page, fake_backend):
    open_desk(page, fake_backend)
    push_pop(page, fake_backend, call_id="call-77", customer=None, provisional_customer={
        "id": 55, "name": None, "kind": "person", "provisional": True, "phones": [], "notes": None,
        "created_at": "2024-05-02T09:00:00Z"})
    tid(page, "ticket-submit").click()
    expect(tid(page, "ticket-created")).to_have_attribute("data-ticket-id", "100")
    body = fake_backend.requests_to("POST", "/api/v1/tickets")[0][2]
    assert body["customer_id"] == 55 and body["call_id"] == "call-77" and body["type"] == "repair"
    assert unexpected_errors(page) == []


def test_422_shows_field_message_in_chinese(page, fake_backend):
    open_desk(page, fake_backend)
    push_pop(page, fake_backend)
    tid(page, "lang-select").select_option("zh-CN")
    expect(tid(page, "ticket-submit")).to_have_text("创建工单")
    tid(page, "ticket-description").fill("   ")
    tid(page, "ticket-submit").click()

    error = tid(page, "ticket-error")
    expect(error).to_have_text("描述不能为空。")
    expect(error).to_have_attribute("data-field", "description")
    # Next to the field: inside the description's own field box.
    field_box = page.locator(".ticket-field-description")
    expect(field_box.get_by_test_id("ticket-description")).to_have_count(1)
    expect(field_box.get_by_test_id("ticket-error")).to_have_text("描述不能为空。")
    expect(tid(page, "ticket-created")).to_have_count(0)
    posts = fake_backend.requests_to("POST", "/api/v1/tickets")
    assert len(posts) == 1 and posts[0][3] == "zh-CN"

    # Fixing it clears the error and creates the ticket.
    tid(page, "ticket-description").fill("路由器坏了")
    tid(page, "ticket-submit").click()
    expect(tid(page, "ticket-created")).to_have_text("工单 #100 已创建")
    expect(tid(page, "ticket-error")).to_have_count(0)
    assert unexpected_errors(page, allow=[r"status of 422"]) == []


def test_attach_call_to_open_ticket(page, fake_backend):
    fake_backend.add_ticket(id=31, type="repair", state="in_progress", description="Router reboots")
    fake_backend.add_ticket(id=29, type="complaint", state="open", description="Billed twice")
    open_desk(page, fake_backend)
    push_pop(page, fake_backend)
    item = page.locator('[data-testid="pop-ticket"][data-ticket-id="29"]')
    expect(item.get_by_test_id("attach-call")).to_have_text("Attach this call")
    item.get_by_test_id("attach-call").click()
    expect(item.get_by_test_id("attached")).to_have_text("Call attached")
    expect(item.get_by_test_id("attach-call")).to_have_count(0)
    # The other ticket is untouched.
    other = page.locator('[data-testid="pop-ticket"][data-ticket-id="31"]')
    expect(other.get_by_test_id("attach-call")).to_be_visible()

    posts = fake_backend.requests_to("POST", "/api/v1/tickets/29/calls")
    assert len(posts) == 1 and posts[0][2] == {"call_id": "call-1001"}
    assert fake_backend.requests_to("POST", "/api/v1/tickets/31/calls") == []
    assert fake_backend.tickets[29]["calls"] == ["call-1001"]
    assert unexpected_errors(page) == []


def test_my_work_lists_tickets_and_callbacks_when_idle(page, fake_backend):
    fake_backend.add_ticket(id=41, assignee="alice", state="in_progress", description="Fix the fibre")
    fake_backend.add_ticket(id=42, assignee="alice", state="closed", description="Done already")
    fake_backend.add_ticket(id=43, assignee="bob", state="new", description="Not mine")
    fake_backend.add_callback(id=5, customer_name="Li Lei", reason="Check the repair", overdue=True)
    fake_backend.add_callback(id=6, customer_name="Han Meimei", state="done")
    fake_backend.add_callback(id=7, customer_name="Bob's customer", assignee="bob")
    open_desk(page, fake_backend)
    expect(tid(page, "idle")).to_be_visible()
    expect(tid(page, "my-ticket")).to_have_count(1)
    expect(tid(page, "my-ticket")).to_have_attribute("data-ticket-id", "41")
    expect(tid(page, "my-ticket")).to_contain_text("Fix the fibre")
    expect(tid(page, "my-callback")).to_have_count(1)
    expect(tid(page, "my-callback")).to_have_attribute("data-callback-id", "5")
    expect(tid(page, "my-callback")).to_contain_text("Li Lei")
    expect(tid(page, "my-callback")).to_contain_text("Overdue")
    gets = fake_backend.requests_to("GET", "/api/v1/callbacks")
    assert gets and all(r[4] == "alice" for r in gets)

    tid(page, "lang-select").select_option("zh-CN")
    expect(tid(page, "my-tickets")).to_contain_text("我的未结工单")
    expect(tid(page, "my-callbacks")).to_contain_text("我的回访")
    expect(tid(page, "my-callback")).to_contain_text("已逾期")
    assert unexpected_errors(page) == []


def test_callback_result_reached_requires_satisfaction(page, fake_backend):
    fake_backend.add_callback(id=5, customer_name="Li Lei", reason="Check the repair")
    fake_backend.add_callback(id=8, customer_name="Wang Fang", reason="Confirm visit")
    open_desk(page, fake_backend)
    item = page.locator('[data-testid="my-callback"][data-callback-id="5"]')
    expect(item).to_be_visible()
    expect(item.get_by_test_id("callback-satisfaction")).to_be_hidden()
    item.get_by_test_id("callback-outcome").select_option("reached")
    expect(item.get_by_test_id("callback-satisfaction")).to_be_visible()
    item.get_by_test_id("callback-notes").fill("Happy with the fix")
    item.get_by_test_id("callback-save").click()
    expect(item.get_by_test_id("callback-error")).to_have_text(
        "Satisfaction (1–5) is required when the customer was reached.")
    assert fake_backend.requests_to("POST", "/api/v1/callbacks/5/result") == []

    item.get_by_test_id("callback-satisfaction").select_option("4")
    item.get_by_test_id("callback-save").click()
    expect(item).to_have_count(0)  # done: removed from the list
    expect(tid(page, "my-callback")).to_have_count(1)
    posts = fake_backend.requests_to("POST", "/api/v1/callbacks/5/result")
    assert len(posts) == 1
    assert posts[0][2] == {"outcome": "reached", "satisfaction": 4, "notes": "Happy with the fix"}

    # Another outcome needs no satisfaction and does not send one.
    other = page.locator('[data-testid="my-callback"][data-callback-id="8"]')
    other.get_by_test_id("callback-outcome").select_option("no_answer")
    expect(other.get_by_test_id("callback-satisfaction")).to_be_hidden()
    other.get_by_test_id("callback-save").click()
    expect(tid(page, "my-callback")).to_have_count(0)
    assert fake_backend.requests_to("POST", "/api/v1/callbacks/8/result")[0][2] == {"outcome": "no_answer"}
    assert unexpected_errors(page) == []


def test_hostile_ticket_and_callback_text_renders_as_text(page, fake_backend):
    fake_backend.add_ticket(id=51, assignee="alice", state="new", description=HOSTILE)
    fake_backend.add_callback(id=9, customer_name=HOSTILE, reason=HOSTILE)
    open_desk(page, fake_backend)
    expect(tid(page, "my-ticket")).to_contain_text(HOSTILE)
    expect(tid(page, "my-callback")).to_contain_text(HOSTILE)
    pop = screen_pop()
    pop["open_tickets"] = [{"id": 52, "type": "repair", "state": "open", "description": HOSTILE,
                            "created_at": "2024-05-02T09:00:00Z"}]
    fake_backend.push(pop)
    item = page.locator('[data-testid="pop-ticket"][data-ticket-id="52"]')
    expect(item.locator(".ticket-desc")).to_have_text(HOSTILE)
    # Create one with a hostile description too: it comes back and is listed as text.
    tid(page, "ticket-description").fill(HOSTILE)
    tid(page, "ticket-submit").click()
    expect(tid(page, "ticket-created")).to_be_visible()
    new_item = page.locator('[data-testid="pop-ticket"][data-ticket-id="100"]')
    expect(new_item.locator(".ticket-desc")).to_have_text(HOSTILE)
    page.wait_for_timeout(300)
    assert page.locator("img").count() == 0
    assert page.dialogs == []
    assert unexpected_errors(page) == []


def test_call_button_dials_the_callback_from_my_phone(page, fake_backend):
    fake_backend.add_callback(id=12, customer_name="Li Lei", reason="Check the repair")
    open_desk(page, fake_backend)
    item = page.locator('[data-testid="my-callback"][data-callback-id="12"]')
    item.get_by_test_id("callback-dial").click()
    expect(item.get_by_test_id("callback-dial")).to_have_text("Calling — your phone rings first")
    expect(item.get_by_test_id("callback-dial")).to_be_disabled()
    posts = fake_backend.requests_to("POST", "/api/v1/agent/dial")
    assert [p[2] for p in posts] == [{"callback_id": 12}]
    assert unexpected_errors(page) == []
