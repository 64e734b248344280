"""End to end in headless Chromium: the real server, the real sandbox Asterisk.

A person logs in to the desk, a call is placed with ``ctidesk call``, and the
pop appears while the simulated phone is still ringing. The caller's name is
attacker-controlled: it must show as text, create no element, fire no script.
"""
from __future__ import annotations


import pytest

from tests.browser.realdesk import cli_ok, login
from tests.realenv import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

HOSTILE = "<img src=x onerror=alert(1)>"


def test_login_place_call_see_pop_with_hostile_name_as_text(page, sync_server):
    server = sync_server
    cli_ok(server, "sandbox", "phone", "1001", "--answer-delay", "6", "--talk-time", "1")
    login(page, server, "alice")
    page.get_by_test_id("idle").wait_for()
    cli_ok(server, "call", "--from", "13600136000", "--name", HOSTILE, "--hold", "12")
    pop = page.get_by_test_id("pop")
    pop.wait_for(timeout=20_000)
    assert page.get_by_test_id("pop-caller-name").inner_text() == HOSTILE
    assert pop.get_attribute("data-status") == "ringing"  # popped before the phone answered
    assert pop.locator("img").count() == 0
    assert page.locator("img[src=x]").count() == 0
    assert page.get_by_test_id("pop-provisional").is_visible()  # unknown caller: provisional record
    page.wait_for_selector('[data-testid="pop"][data-status="answered"]', timeout=20_000)
    page.wait_for_selector('[data-testid="pop"][data-status="ended"]', timeout=30_000)
    assert page.dialogs == []


def test_known_customer_pop_in_chinese(page, sync_server):
    server = sync_server
    import httpx

    with httpx.Client(base_url=server.base_url) as http:
        token = http.post("/api/v1/auth/login", json={"username": "sam", "password": PASSWORD}).json()["access_token"]
        r = http.post("/api/v1/customers", headers={"Authorization": f"Bearer {token}"},
                      json={"name": "王五", "kind": "person", "phones": ["+86 135 0000 2222"]})
        assert r.status_code == 201, r.text
    cli_ok(server, "sandbox", "phone", "1001", "--answer-delay", "5", "--talk-time", "1")
    login(page, server, "alice")
    page.get_by_test_id("lang-select").select_option("zh-CN")
    cli_ok(server, "call", "--from", "13500002222", "--name", "Wang Wu", "--hold", "10")
    page.get_by_test_id("pop").wait_for(timeout=20_000)
    assert page.get_by_test_id("pop-customer-name").inner_text() == "王五"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.wait_for_selector('[data-testid="pop"][data-status="ended"]', timeout=30_000)


def test_create_ticket_from_a_real_pop(page, sync_server):
    server = sync_server
    import httpx

    cli_ok(server, "sandbox", "phone", "1001", "--answer-delay", "8", "--talk-time", "1")
    login(page, server, "alice")
    page.get_by_test_id("my-work").wait_for()
    cli_ok(server, "call", "--from", "13700137001", "--name", "Ticket Caller", "--hold", "12")
    pop = page.get_by_test_id("pop")
    pop.wait_for(timeout=20_000)
    call_id = pop.get_attribute("data-call-id")
    assert call_id
    customer_id = pop.locator(".customer").first.get_attribute("data-customer-id")
    assert customer_id
    description = page.get_by_test_id("ticket-description")
    assert "13700137001" in description.input_value().replace(" ", "")
    page.get_by_test_id("ticket-type").select_option("repair")
    description.fill(description.input_value() + "Washing machine leaks.")
    page.get_by_test_id("ticket-submit").click()
    created = page.get_by_test_id("ticket-created")
    created.wait_for(timeout=15_000)
    ticket_id = created.get_attribute("data-ticket-id")
    assert ticket_id
    page.locator(f'[data-testid="my-ticket"][data-ticket-id="{ticket_id}"]').wait_for(timeout=15_000)

    with httpx.Client(base_url=server.base_url) as http:
        token = http.post("/api/v1/auth/login", json={"username": "sam", "password": PASSWORD}).json()["access_token"]
        r = http.get(f"/api/v1/tickets/{ticket_id}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        ticket = r.json()
    assert str(ticket["customer_id"]) == customer_id
    assert ticket["type"] == "repair"
    assert ticket["description"].endswith("Washing machine leaks.")
    assert call_id in ticket["calls"]
    assert page.dialogs == []
