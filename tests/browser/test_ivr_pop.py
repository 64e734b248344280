"""The IVR path on the screen pop, in real headless Chromium (fake backend):
the caller's keys, language choice and after-hours intent, as hostile text."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_desk_static import open_desk, screen_pop, tid, unexpected_errors

pytestmark = pytest.mark.browser


def test_pop_shows_keys_language_and_intent_of_the_ivr_path(page, fake_backend):
    open_desk(page, fake_backend)
    path = [
        {"node": "welcome", "type": "hours", "digits": None, "outcome": "open", "at": 1795461195.7},
        {"node": "main", "type": "menu", "digits": "9", "outcome": "route", "language": "en", "at": 1795461196.9},
        {"node": "main_en", "type": "menu", "digits": "<b>2</b>", "outcome": "route", "intent": "<img src=x>",
         "at": 1795461199.1},
        {"node": "to_sales", "type": "queue", "outcome": "queue", "queue": "sales", "language": "en",
         "at": 1795461199.2},
    ]
    assert fake_backend.push(screen_pop(call={"ivr_path": path})) == 1
    steps = tid(page, "pop-ivr-step")
    expect(steps).to_have_count(4)
    expect(steps.nth(1)).to_contain_text("main")
    expect(steps.nth(1)).to_contain_text("9")
    expect(steps.nth(1)).to_contain_text("en")
    expect(steps.nth(2)).to_contain_text("<b>2</b>")  # shown as text, never as markup
    expect(steps.nth(2)).to_contain_text("<img src=x>")
    assert page.locator("[data-testid=pop-ivr] img, [data-testid=pop-ivr] b").count() == 0
    assert unexpected_errors(page) == []
