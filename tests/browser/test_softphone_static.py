"""The softphone stays out of the way of desks without one (fake backend)."""
from __future__ import annotations

import pytest

from tests.browser.test_desk_static import open_desk, tid, unexpected_errors

pytestmark = pytest.mark.browser


def test_no_softphone_and_no_jssip_for_a_desk_without_webrtc_phone(page, fake_backend):
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    open_desk(page, fake_backend)
    assert tid(page, "softphone").is_hidden()
    assert page.evaluate("() => typeof window.JsSIP") == "undefined"
    assert page.evaluate("() => typeof window.ctideskSoftphone") == "undefined"
    assert not [u for u in requested if "jssip" in u or "/api/v1/agent/phone" in u]
    assert unexpected_errors(page) == []
