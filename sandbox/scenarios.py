"""Recorded sandbox scenarios: drive a call through the sandbox, capture the AMI wire.

Each scenario starts from a clean state (no members in ctidesk's queues, no
simulated-phone overrides, no live channels), then — inside the capture — logs
agents in with QueueAdd and places a test call exactly as ``ctidesk call`` does.
The capture ends a few seconds after the last channel hangs up.

    tools/capture_trace.py 127.0.0.1 5038 cti - tests/fixtures/ami/ --scenario ringall_two_agents_answered
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.calls import build_originate
from sandbox.config import QUEUES
from sandbox.rawami import RawAmi, RawAmiError, capture

AGENT_EXTENSIONS = ("1001", "1002", "1003")


@dataclass
class Scenario:
    description: str
    caller_number: str
    caller_name: str | None = None
    to: str | None = None
    hold: float | None = None
    dtmf: str | None = None
    # extension -> (answer_delay, talk_time); None keeps the global default
    phones: dict[str, tuple] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    queue: str = "support"


SCENARIOS: dict[str, Scenario] = {
    "ringall_two_agents_answered": Scenario(
        "agents 1001 and 1002 in support; 'Li Si' <13912345678> calls the DID, both ring, "
        "1001 answers after 2 s (1002 would after 6 s), talks 4 s, hangs up",
        caller_number="13912345678", caller_name="Li Si",
        phones={"1001": (2, 4), "1002": (6, 4)}, members=("1001", "1002"),
    ),
    "unknown_caller_abandoned": Scenario(
        "agent 1001 (never answers) in support; 02155550123 without a name calls the DID and "
        "hangs up while waiting (CALLER_HOLD=5)",
        caller_number="02155550123", hold=5,
        phones={"1001": ("never", None)}, members=("1001",),
    ),
    "direct_dial_agent": Scenario(
        "agent 1001 logged in to support; 'Wang Wu' <13700137000> dials extension 1001 directly, "
        "answered after 2 s, talks 4 s",
        caller_number="13700137000", caller_name="Wang Wu", to="1001",
        phones={"1001": (2, 4)}, members=("1001",),
    ),
    "hostile_callerid_name": Scenario(
        "agent 1001 in support; caller name '<img src=x onerror=alert(1)>' <13800138000> calls the DID, "
        "queued and answered after 2 s",
        caller_number="13800138000", caller_name="<img src=x onerror=alert(1)>",
        phones={"1001": (2, 4)}, members=("1001",),
    ),
}


def interface(ext: str) -> str:
    return f"Local/{ext}@agents/n"


def state_interface(ext: str) -> str:
    return f"Local/{ext}@agents"


def _check(resp: dict, what: str) -> dict:
    if resp.get("Response") != "Success":
        raise RawAmiError(f"{what} failed: {resp.get('Message')}")
    return resp


def reset(ami: RawAmi, *, wait_channels: float = 60.0) -> None:
    """No members in ctidesk's queues, no phone overrides, no live channels."""
    deadline = time.monotonic() + wait_channels
    while True:
        items = ami.action_list({"Action": "CoreShowChannels"})
        live = [i for i in items if i.get("Event") == "CoreShowChannel"]
        if not live:
            break
        if time.monotonic() > deadline:
            raise RawAmiError(f"{len(live)} channel(s) still up after {wait_channels:g}s; not a clean state")
        time.sleep(0.5)
    for queue in QUEUES:
        for item in ami.action_list({"Action": "QueueStatus", "Queue": queue}):
            if item.get("Event") == "QueueMember" and item.get("Queue") == queue:
                iface = item.get("Location") or item.get("Interface") or item.get("StateInterface")
                ami.action({"Action": "QueueRemove", "Queue": queue, "Interface": iface})
    for ext in AGENT_EXTENSIONS:
        ami.action({"Action": "DBDelTree", "Family": "simphone", "Key": ext})


class _Tracker:
    """Follows live channels in the captured stream to know when the call is over."""

    def __init__(self):
        self.live: set[str] = set()
        self.hangups = 0
        self.idle_since: float | None = None
        self.events: list[str] = []
        self.lock = threading.Lock()

    def feed(self, headers: dict[str, str]) -> None:
        event = headers.get("Event")
        if not event:
            return
        with self.lock:
            self.events.append(event)
            if event == "Newchannel":
                self.live.add(headers.get("Uniqueid", ""))
                self.idle_since = None
            elif event == "Hangup":
                self.live.discard(headers.get("Uniqueid", ""))
                self.hangups += 1
                if not self.live:
                    self.idle_since = time.monotonic()


def record(name: str, out: Path, *, host: str, port: int, user: str, secret: str,
           max_seconds: float = 90.0, grace: float = 3.0) -> str:
    """Drive scenario ``name`` and write its capture to ``out``. Returns a summary line."""
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with RawAmi(host, port) as driver:
        driver.login(user, secret, events="off")
        reset(driver)
        for ext, (answer_delay, talk_time) in scenario.phones.items():
            for key, value in (("answer_delay", answer_delay), ("talk_time", talk_time)):
                if value is not None:
                    _check(driver.action({"Action": "DBPut", "Family": "simphone",
                                          "Key": f"{ext}/{key}", "Val": str(value)}), "DBPut")
        tracker = _Tracker()
        stop, ready = threading.Event(), threading.Event()
        errors: list[BaseException] = []
        tmp = out.with_name(out.name + ".part")

        def run_capture():
            try:
                with open(tmp, "wb") as fh:
                    capture(host, port, user, secret, fh, max_seconds, stop=stop, ready=ready,
                            on_block=tracker.feed)
            except BaseException as exc:  # noqa: BLE001 - reported by the caller
                errors.append(exc)
                ready.set()

        thread = threading.Thread(target=run_capture, name=f"capture-{name}")
        thread.start()
        try:
            if not ready.wait(10) or errors:
                raise RawAmiError(f"the capture did not start: {errors[0] if errors else 'timeout'}")
            time.sleep(0.5)
            for ext in scenario.members:
                _check(driver.action({"Action": "QueueAdd", "Queue": scenario.queue, "Interface": interface(ext),
                                      "MemberName": f"Agent {ext}", "StateInterface": state_interface(ext),
                                      "Penalty": "0", "Paused": "false"}), f"QueueAdd {ext}")
            time.sleep(0.5)
            # the capture's own AMI connection is the PBX's: the Local caller path
            call_id, action = build_originate(scenario.caller_number, name=scenario.caller_name,
                                              dtmf=scenario.dtmf, to=scenario.to, hold=scenario.hold, via="local")
            _check(driver.action(action), "Originate")
            end = time.monotonic() + max_seconds
            while time.monotonic() < end:
                with tracker.lock:
                    idle = tracker.idle_since
                if idle is not None and time.monotonic() - idle >= grace:
                    break
                time.sleep(0.1)
            else:
                raise RawAmiError(f"scenario {name} did not finish within {max_seconds:g}s")
        finally:
            stop.set()
            thread.join(15)
            try:
                reset(driver, wait_channels=30)
            except RawAmiError:
                pass
        if errors:
            raise RawAmiError(f"capture failed: {errors[0]}")
    tmp.replace(out)
    counts: dict[str, int] = {}
    for event in tracker.events:
        counts[event] = counts.get(event, 0) + 1
    return (f"{out}: {len(tracker.events)} events, {tracker.hangups} hangups, call id {call_id}; "
            + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
