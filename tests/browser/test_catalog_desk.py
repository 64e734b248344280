"""The catalogue in the pop's ticket form (catalog-desk.js, issue 14) in headless Chromium
against the fake backend, the catalogue answers routed by Playwright: a model
the catalogue knows narrows the fault classes to its category's (and every
product's), causes and remedies follow the language, hostile labels stay text,
and the script is asked for in the desk's language."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.test_desk_static import open_desk, screen_pop, tid, unexpected_errors

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"
FAULTS = {"classes": [
    {"code": "WM-DRUM", "category_code": "WASHER", "name_zh": "滚筒", "name_en": "Drum", "active": True, "sort": 0,
     "phenomena": [{"code": "WM-NOSPIN", "class_code": "WM-DRUM", "name_zh": "滚筒不转", "name_en": "No spin",
                    "active": True, "sort": 0,
                    "causes": [{"code": "WM-BELT", "phenomenon_code": "WM-NOSPIN", "name_zh": "皮带松脱",
                                "name_en": HOSTILE, "remedy_zh": "更换皮带", "remedy_en": "Replace the belt",
                                "active": True, "sort": 0}]}]},
    {"code": "AC-COOL", "category_code": "AC", "name_zh": "制冷", "name_en": "Cooling", "active": True, "sort": 1,
     "phenomena": []},
    {"code": "ANY-POWER", "category_code": None, "name_zh": "电源", "name_en": "Power", "active": True, "sort": 2,
     "phenomena": []}]}
PRODUCTS = {"categories": [], "models": [{"code": "XQG100", "category_code": "WASHER", "name_zh": "滚筒洗衣机",
                                          "name_en": "Washer", "active": True, "sort": 0}]}


def test_fault_pickers_follow_the_product_and_the_language(page, fake_backend):
    asked = []

    def scripts(route):
        q = parse_qs(urlsplit(route.request.url).query)
        asked.append((q["ticket_type"][0], q["lang"][0]))
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"items": [
            {"ticket_type": q["ticket_type"][0], "lang": q["lang"][0], "opening": HOSTILE, "questions": ["型号？"],
             "closing": "", "version": 1, "editor": "erin", "updated_at": None}]}))

    page.route("**/api/v1/catalog/faults?*", lambda r: r.fulfill(status=200, content_type="application/json",
                                                                 body=json.dumps(FAULTS)))
    page.route("**/api/v1/catalog/products?*", lambda r: r.fulfill(status=200, content_type="application/json",
                                                                   body=json.dumps(PRODUCTS)))
    page.route("**/api/v1/kb/scripts?*", scripts)
    open_desk(page, fake_backend)
    assert fake_backend.push(screen_pop()) >= 1
    expect(tid(page, "ticket-script").get_by_test_id("script-opening")).to_contain_text(HOSTILE)
    assert asked == [("repair", "en")]
    options = tid(page, "ticket-fault-class").locator("option")
    expect(options).to_have_count(4)  # "choose" and every class
    expect(page.locator('datalist#catalog-models option[value="XQG100"]')).to_have_count(1)
    tid(page, "ticket-product").fill("xqg100")
    tid(page, "ticket-product").dispatch_event("change")
    expect(options).to_have_text(["— choose —", "Drum", "Power"])  # the washer's classes and every product's
    tid(page, "ticket-fault-class").select_option("WM-DRUM")
    tid(page, "ticket-fault-phenomenon").select_option("WM-NOSPIN")
    expect(tid(page, "fault-cause")).to_have_text(f"{HOSTILE} — Replace the belt")
    tid(page, "lang-select").select_option("zh-CN")
    expect(tid(page, "fault-cause")).to_have_text("皮带松脱 — 更换皮带")
    expect(tid(page, "ticket-fault-phenomenon")).to_have_value("WM-NOSPIN")  # kept across the re-render
    assert ("repair", "zh-CN") in asked
    assert page.locator("img[src=x]").count() == 0
    tid(page, "ticket-submit").click()
    expect(tid(page, "ticket-created")).to_be_visible()
    body = fake_backend.requests_to("POST", "/api/v1/tickets")[0][2]
    assert (body["fault_class_code"], body["fault_phenomenon_code"], body["product_model"]) == (
        "WM-DRUM", "WM-NOSPIN", "xqg100")
    assert unexpected_errors(page) == [] and page.dialogs == []
