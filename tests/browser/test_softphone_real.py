"""The desk's browser softphone end to end: headless Chromium (fake microphone),
JsSIP over the sandbox Asterisk's WSS transport, a call from the simulated
carrier over the SIP trunk, audio both ways.

The agent is ``wanda`` (extension 1005, queue support, phone webrtc), made for
these tests: the seeded agents keep their simulated Local phones. Her desk
registers PJSIP endpoint 1005, the queue rings ``PJSIP/1005``, she answers in
the page, and RTP must flow in both directions (the browser's getStats: audio
packets sent and received both grow) before she hangs up from the desk.

If Chromium, the sandbox Asterisk or its certificate is missing the fixtures
FAIL (never skip).
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from cti.oneshot import ami_action, ami_action_list
from tests.browser.realdesk import login
from sandbox.calls import place_test_call
from tests.realenv import in_thread

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

AGENT, EXTENSION = "wanda", "1005"
HOSTILE = "<img src=x onerror=alert(1)> & 'co'"
# The caller "speaks" for ~90 s (real prompts, no DTMF): RTP towards the
# agent. A caller in Wait() sends no audio at all, so Asterisk would have
# nothing to relay to the browser.
TALK = "demo-congrats&demo-instruct"


def _registered(page, srv, sandbox) -> None:
    page.wait_for_selector('[data-testid="softphone"]:not([hidden])', timeout=15_000)
    try:
        page.wait_for_selector('[data-testid="softphone-registration"][data-state="registered"]', timeout=20_000)
    except Exception:
        state = page.evaluate("() => window.ctideskSoftphone && window.ctideskSoftphone.state()")
        raise AssertionError(f"softphone not registered: {state}; console: {page.console_errors}; "
                             f"contacts: {sandbox.rx('pjsip show contacts', check=False)}") from None
    # Asterisk agrees: endpoint 1005 has a contact over the websocket transport.
    deadline = time.monotonic() + 10
    contacts = ""
    while time.monotonic() < deadline:
        contacts = sandbox.rx("pjsip show contacts")
        if re.search(rf"Contact:\s+{EXTENSION}/sip:[^\s]+;transport=ws\s+\S+\s+Avail", contacts):
            return
        time.sleep(0.2)  # polling Asterisk's CLI under a deadline
    raise AssertionError(f"no websocket contact for {EXTENSION} in Asterisk: {contacts}")


def _open_desk(page, srv, sandbox) -> None:
    srv.add_user(AGENT, extension=EXTENSION, queues="support", phone="webrtc")
    login(page, srv, AGENT)
    _registered(page, srv, sandbox)


def _sp_state(page) -> dict:
    return page.evaluate("() => window.ctideskSoftphone.state()")


def _stats(page) -> dict:
    return page.evaluate("() => window.ctideskSoftphone.stats()")


def _rtp_grew(since: dict, now: dict, packets: int) -> bool:
    """Both counters of the audio stream grew by ``packets`` from ``since`` to ``now``."""
    return (now["packetsSent"] - since["packetsSent"] >= packets
            and now["packetsReceived"] - since["packetsReceived"] >= packets)


def _await_rtp(page, since: dict, packets: int, timeout: float) -> dict:
    """The stats once :func:`_rtp_grew` by ``packets`` from ``since``, or the last ones at ``timeout``."""
    deadline = time.monotonic() + timeout
    last = since
    while time.monotonic() < deadline:
        last = _stats(page)
        if _rtp_grew(since, last, packets):
            break
        page.wait_for_timeout(250)  # polling getStats under a deadline
    return last


def _caller_channels(ami) -> list[str]:
    """The PBX's channels from the carrier trunk (the callers' legs)."""
    rows = in_thread(ami_action_list(ami, {"Action": "CoreShowChannels"}, timeout=10))
    return [r["Channel"] for r in rows
            if r.get("Event") == "CoreShowChannel" and r.get("Channel", "").startswith("PJSIP/carrier-")]


@pytest.fixture(autouse=True)
def _no_caller_left(ami):
    """A failed test must not leave its ~2 minute caller queued for the next one."""
    yield
    for channel in _caller_channels(ami):
        in_thread(ami_action(ami, {"Action": "Hangup", "Channel": channel}, timeout=5))


def test_softphone_registers_answers_and_audio_flows_both_ways(webrtc_page, sync_server, sandbox, ami):
    page, srv = webrtc_page, sync_server
    _open_desk(page, srv, sandbox)
    assert _sp_state(page)["call"] is None

    placed = in_thread(place_test_call(ami, "13800138000", name=HOSTILE, hold=20, say=TALK, say_after=0))
    assert placed.ok, placed.response

    # The phone rings in the page, and the screen pop (over /ws/agent) is there
    # while it still rings.
    page.wait_for_selector('[data-testid="softphone-call"][data-state="ringing"]', timeout=25_000)
    pop = page.get_by_test_id("pop")
    pop.wait_for(timeout=10_000)
    assert pop.get_attribute("data-status") == "ringing"
    assert page.get_by_test_id("pop-caller-name").inner_text() == HOSTILE
    assert _sp_state(page)["call"]["status"] == "ringing"
    ringing = _sp_state(page)
    assert ringing["ringing"] is True and ringing["audioContext"] == "running", ringing  # the WebAudio ring tone
    # The caller's name from the SIP From header is text, never markup.
    assert HOSTILE in page.get_by_test_id("softphone-caller").inner_text()
    assert page.locator("img[src=x]").count() == 0

    page.get_by_test_id("softphone-answer").click()
    page.wait_for_selector('[data-testid="softphone-call"][data-state="active"]', timeout=15_000)
    page.wait_for_selector('[data-testid="pop"][data-status="answered"]', timeout=15_000)
    assert _sp_state(page)["ringing"] is False

    # RTP both ways: both counters of the audio stream grow over ~2 s.
    first = _stats(page)
    last = _await_rtp(page, first, 75, 15)
    sent = last["packetsSent"] - first["packetsSent"]
    received = last["packetsReceived"] - first["packetsReceived"]
    print(f"softphone RTP: {first} -> {last}")
    assert sent >= 75 and received >= 75, f"RTP did not flow both ways: first {first}, last {last}"
    assert last["iceConnectionState"] in ("connected", "completed"), last
    # No STUN/TURN: host candidates only (no srflx/relay). The pair in use is
    # the browser's 127.0.0.1 socket (a loopback socket reaches only loopback;
    # Chromium redacts the peer-reflexive remote's address in getStats).
    assert all(c.startswith("host ") for c in last["localCandidates"]), last
    assert all(c.split()[0] in ("host", "prflx") for c in last["remoteCandidates"]), last
    pair = last["selectedPair"]
    assert pair and pair["local"].startswith("127.0.0.1:") and pair["state"] == "succeeded", last

    # Mute shows on the desk and in the session.
    page.get_by_test_id("softphone-mute").click()
    page.wait_for_selector('[data-testid="softphone-mic"][data-muted="true"]')
    assert page.evaluate("() => window.ctideskSoftphone.session.isMuted().audio") is True
    page.get_by_test_id("softphone-mute").click()
    page.wait_for_selector('[data-testid="softphone-mic"][data-muted="false"]')

    # The desk's own agent state follows the answer (not stuck on "ringing").
    page.wait_for_selector('[data-testid="agent-state"][data-state="on_call"]', timeout=10_000)
    # The bar speaks the desk's language (zh-CN here); CTIDESK_SCREENSHOTS=DIR keeps a picture.
    page.get_by_test_id("lang-select").select_option("zh-CN")
    assert page.get_by_test_id("softphone-call-state").inner_text() == "通话中"
    assert page.get_by_test_id("softphone-hangup").inner_text() == "挂断"
    page.get_by_test_id("softphone-dtmf-1").click()
    if os.environ.get("CTIDESK_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["CTIDESK_SCREENSHOTS"]) / "softphone-zh-CN.png"))

    # Hold (a re-INVITE: Asterisk plays the caller music on hold) and back.
    page.get_by_test_id("softphone-hold").click()
    page.wait_for_selector('[data-testid="softphone-hold"][aria-pressed="true"]', timeout=10_000)
    assert page.evaluate("() => window.ctideskSoftphone.session.isOnHold().local") is True
    assert _sp_state(page)["call"]["held"] is True
    page.get_by_test_id("softphone-hold").click()
    page.wait_for_selector('[data-testid="softphone-hold"][aria-pressed="false"]', timeout=10_000)
    # audio flows again after the hold
    resumed = _stats(page)
    now = _await_rtp(page, resumed, 25, 10)
    if not _rtp_grew(resumed, now, 25):
        raise AssertionError(f"no RTP after unhold: {resumed} -> {now}")

    # DTMF from the pad goes into the call.
    page.get_by_test_id("softphone-dtmf-5").click()
    page.get_by_test_id("softphone-dtmf-hash").click()
    assert page.get_by_test_id("softphone-dtmf-sent").inner_text() == "15#"

    page.get_by_test_id("softphone-hangup").click()
    page.wait_for_selector('[data-testid="softphone-call"][data-state="ended"]', timeout=10_000)
    page.wait_for_selector('[data-testid="pop"][data-status="ended"]', timeout=15_000)  # /ws/agent call_ended
    assert _sp_state(page)["call"]["missed"] is False
    deadline = time.monotonic() + 15
    while _caller_channels(ami) and time.monotonic() < deadline:
        time.sleep(0.2)  # polling Asterisk under a deadline
    assert _caller_channels(ami) == [], "the caller's leg outlived the hang-up"
    assert page.page_errors == [] and page.dialogs == []


def test_missed_call_notice_when_the_caller_hangs_up_while_ringing(webrtc_page, sync_server, sandbox, ami):
    page, srv = webrtc_page, sync_server
    _open_desk(page, srv, sandbox)
    placed = in_thread(place_test_call(ami, "13900139000", name="Li Lei", hold=60))
    assert placed.ok, placed.response
    page.wait_for_selector('[data-testid="softphone-call"][data-state="ringing"]', timeout=25_000)
    page.get_by_test_id("pop").wait_for(timeout=10_000)

    # The caller gives up before anybody answers.
    channels = _caller_channels(ami)
    assert channels, "no caller channel while the softphone rings"
    for channel in channels:
        in_thread(ami_action(ami, {"Action": "Hangup", "Channel": channel}, timeout=5))

    notice = page.get_by_test_id("softphone-missed")
    notice.wait_for(timeout=15_000)
    items = page.get_by_test_id("softphone-missed-call")
    assert items.count() == 1
    assert "Li Lei" in items.first.inner_text()
    assert _sp_state(page)["ringing"] is False
    assert _sp_state(page)["missed"] == 1
    page.wait_for_selector('[data-testid="pop"][data-status="ended"]', timeout=15_000)
    # Still registered, ready for the next call.
    assert page.get_by_test_id("softphone-registration").get_attribute("data-state") == "registered"
    assert page.page_errors == [] and page.dialogs == []


def test_softphone_reconnects_and_registers_again_after_a_socket_blip(webrtc_page, sync_server, sandbox, ami):
    page, srv = webrtc_page, sync_server
    _open_desk(page, srv, sandbox)
    # A network blip: the kernel aborts the desk's TCP connection to the WSS
    # port (both ends). Nobody else uses the sandbox's 8089 while this test
    # session holds it (sandbox.runner.exclusive_use).
    kill = subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", "8089"], capture_output=True, text=True)
    assert kill.returncode == 0, kill.stderr
    subprocess.run(["ss", "-K", "src", "127.0.0.1", "sport", "=", "8089"], capture_output=True, text=True)
    page.wait_for_selector('[data-testid="softphone-registration"][data-state="reconnecting"]', timeout=10_000)
    assert page.get_by_test_id("softphone-hint").count() == 0  # not the certificate: it worked before
    page.wait_for_selector('[data-testid="softphone-registration"][data-state="registered"]', timeout=30_000)

    # The new registration is real: a queue call rings this desk again.
    placed = in_thread(place_test_call(ami, "13700137000", name="After Blip", hold=30))
    assert placed.ok, placed.response
    page.wait_for_selector('[data-testid="softphone-call"][data-state="ringing"]', timeout=25_000)
    page.get_by_test_id("softphone-reject").click()
    page.wait_for_selector('[data-testid="softphone-call"][data-state="ended"]', timeout=10_000)
    assert _sp_state(page)["missed"] == 0  # rejected by the agent: not a missed call
    assert page.page_errors == [] and page.dialogs == []


def test_untrusted_certificate_shows_the_hint(page, sync_server):
    """In the ordinary browser (no pin for the sandbox certificate) the WSS
    socket fails: the bar says so and tells the agent how to trust it."""
    srv = sync_server
    srv.add_user(AGENT, extension=EXTENSION, queues="support", phone="webrtc")
    login(page, srv, AGENT, wait_available=False)
    page.wait_for_selector('[data-testid="softphone-registration"][data-state="failed"]', timeout=20_000)
    # no registered phone: app_queue has the member as unavailable, and the desk says so
    page.wait_for_selector('[data-testid="agent-state"][data-state="unavailable"]', timeout=10_000)
    hint = page.get_by_test_id("softphone-hint")
    hint.wait_for()
    assert "https://127.0.0.1:8089/httpstatus" in hint.inner_text()
    assert hint.locator("a").get_attribute("href") == "https://127.0.0.1:8089/httpstatus"
    # JsSIP keeps retrying in the background; the hint stays up meanwhile.
    page.wait_for_timeout(3000)  # spans one retry (2 s): the state must not flicker back
    assert page.get_by_test_id("softphone-registration").get_attribute("data-state") == "failed"
    assert page.page_errors == []
