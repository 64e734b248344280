"""Helpers for browser tests against the real server and sandbox Asterisk."""
from __future__ import annotations

import re

from tests.realenv import PASSWORD


def cli_ok(srv, *args: str) -> str:
    """Run ``ctidesk ARGS`` against the test server; fail with its output."""
    r = srv.cli(*args)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def sign_in(page, srv, username: str, *, lands_on: str = "desk") -> None:
    """Log in through the login page and land on the desk (supervisors and
    admins: the wallboard)."""
    page.goto(srv.base_url + "/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(rf".*/{lands_on}$"))


def login(page, srv, username: str, *, wait_available: bool = True) -> None:
    """Sign in, wait for the desk's socket, and (by default) for the agent to
    be available in their queues; on a timeout say which state the desk
    showed and what the server logged."""
    sign_in(page, srv, username)
    page.wait_for_selector('[data-testid="ws-status"][data-state="connected"]', timeout=15_000)
    if wait_available:
        try:
            page.wait_for_selector('[data-testid="agent-state"][data-state="available"]', timeout=15_000)
        except Exception:
            state = page.get_by_test_id("agent-state").get_attribute("data-state")
            raise AssertionError(f"desk state {state!r}, not available; log: {srv.tail(40)}") from None
