"""Browser tier: real headless Chromium (Debian's /usr/bin/chromium) via Playwright.

This tier must visibly run in CI: if Chromium is missing or does not start the
fixtures call ``pytest.fail`` (never skip).

Fixtures:
  browser       session-scoped Playwright Browser
  page          a fresh context + page per test, with
                  page.console_errors  list[str]  console.error messages
                  page.page_errors     list[str]  uncaught exceptions
                  page.dialogs         list[str]  alert/confirm/prompt seen (auto-dismissed)
                and a teardown that fails the test if any dialog appeared
  fake_backend  the page-isolation fake server (tests/browser/fake_backend.py),
                started once per session and reset for every test
  webrtc_browser  a second session-scoped Chromium for the softphone tests:
                fake microphone (a beep) without a permission prompt, ICE on
                loopback, and trust for exactly the sandbox's WSS certificate
                (``--ignore-certificate-errors-spki-list``, its SPKI pin)
  webrtc_page   a fresh context + page of that browser (same attributes as page)
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright_instance():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"browser tier: playwright is not installed: {exc}", pytrace=False)
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


def launch_chromium(playwright_instance, extra_args: list[str] | tuple[str, ...] = ()):
    """Debian's Chromium, headless, with CHROMIUM_ARGS plus ``extra_args``; fails the test if it cannot."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"browser tier: {CHROMIUM} not found (install Debian's chromium package)", pytrace=False)
    try:
        return playwright_instance.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args], timeout=60_000)
    except Exception as exc:  # noqa: BLE001 - report whatever went wrong
        pytest.fail(f"browser tier: could not launch {CHROMIUM}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = launch_chromium(playwright_instance)
    try:
        yield browser
    finally:
        browser.close()


def webrtc_args(cert: Path) -> list[str]:
    """Chromium flags for a softphone test: media without a device or a prompt,
    ICE candidates on 127.0.0.1 (Chromium leaves loopback out by default), and
    the sandbox's self-signed WSS certificate trusted by its key pin only."""
    from sandbox.tls import spki_sha256

    if not cert.is_file():
        pytest.fail(f"browser tier: the sandbox WSS certificate {cert} is missing (ctidesk sandbox up makes it)",
                    pytrace=False)
    return ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
            f"--ignore-certificate-errors-spki-list={spki_sha256(cert)}"]


@pytest.fixture(scope="session")
def webrtc_browser(playwright_instance, sandbox):
    from sandbox.tls import certificate_paths

    cert, _key = certificate_paths(sandbox.settings.sandbox_state_dir)
    browser = launch_chromium(playwright_instance, webrtc_args(cert))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def _fake_backend_server():
    from tests.browser.fake_backend import FakeBackend

    backend = FakeBackend().start()
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture
def fake_backend(_fake_backend_server):
    _fake_backend_server.reset()
    yield _fake_backend_server
    # Leave no desk socket of this test around for the next one.
    try:
        _fake_backend_server.close_sockets(1001)
    except Exception:  # noqa: BLE001
        pass


def _new_page(browser, base_url: str | None = None, locale: str = "en-US"):
    kwargs = {"locale": locale, "viewport": {"width": 1366, "height": 900}}
    if base_url:
        kwargs["base_url"] = base_url
    context = browser.new_context(**kwargs)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console_errors = []
    page.page_errors = []
    page.dialogs = []

    def on_console(msg):
        if msg.type == "error":
            page.console_errors.append(msg.text)

    def on_dialog(dialog):
        page.dialogs.append(f"{dialog.type}: {dialog.message}")
        try:
            dialog.dismiss()
        except Exception:  # noqa: BLE001 - page may be closing
            pass

    page.on("console", on_console)
    page.on("pageerror", lambda exc: page.page_errors.append(str(exc)))
    page.on("dialog", on_dialog)
    return context, page


@pytest.fixture
def new_page(browser, request):
    """Factory for extra pages (other locale, second agent...); closed at teardown."""
    contexts = []

    def make(base_url: str | None = None, locale: str = "en-US"):
        context, page = _new_page(browser, base_url, locale)
        contexts.append((context, page))
        return page

    yield make
    dialogs = [d for _, p in contexts for d in p.dialogs]
    for context, _ in contexts:
        context.close()
    if dialogs:
        pytest.fail(f"unexpected JavaScript dialog(s): {dialogs}", pytrace=False)


@pytest.fixture
def webrtc_page(webrtc_browser):
    """A fresh page of the softphone browser, microphone allowed."""
    context, page = _new_page(webrtc_browser)
    context.grant_permissions(["microphone"])
    yield page
    dialogs = list(page.dialogs)
    context.close()
    if dialogs:
        pytest.fail(f"unexpected JavaScript dialog(s): {dialogs}", pytrace=False)


@pytest.fixture
def page(browser, request):
    """A fresh page; base_url is the fake backend's when the test uses it."""
    base_url = None
    if "fake_backend" in request.fixturenames:
        base_url = request.getfixturevalue("fake_backend").base_url
    context, page = _new_page(browser, base_url)
    yield page
    dialogs = list(page.dialogs)
    context.close()
    if dialogs:
        pytest.fail(f"unexpected JavaScript dialog(s): {dialogs}", pytrace=False)


# The end-to-end browser tests drive the real server and sandbox Asterisk.
from tests.realenv import ami, sandbox, sync_server  # noqa: E402,F401  (pytest fixtures)
