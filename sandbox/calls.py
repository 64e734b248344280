"""Test calls into the sandbox (``ctidesk call``): an AMI Originate of a caller leg.

The caller is ``Local/s@ctidesk-caller`` (answers, optionally keys DTMF, holds,
hangs up); its other side enters ``ctidesk-inbound`` at the DID (4000) or at an
agent extension. Every call carries ``CTIDESK_TESTCALL=<uuid4>`` so tests can
find it in the event stream (a ``VarSet`` event on the inbound channel).

CallerID quoting: Asterisk parses the Originate ``CallerID`` header with
``ast_callerid_parse``: the number is what follows the *last* ``<``, surrounding
double quotes are stripped from the name and a backslash escapes the next
character. So the name is sent as ``"..."`` with ``\\`` and ``"`` escaped, and a
name holding ``<``/``>`` (``<img src=x onerror=alert(1)>``) arrives intact.
Originate ``Variable: CALLERID(name)=...`` would be worse: Asterisk splits
Variable values on commas and strips quotes and backslashes.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from cti.oneshot import ami_action

CALLER_CONTEXT = "ctidesk-caller"
INBOUND_CONTEXT = "ctidesk-inbound"
DEFAULT_DID = "4000"
# Asterisk copies the CallerID header into a 256-byte buffer.
MAX_CALLERID_BYTES = 255

_NUMBER = re.compile(r"^\+?[0-9]{1,32}$")
_DTMF = re.compile(r"^[0-9*#A-Da-dw]{1,64}$")
_EXTEN = re.compile(r"^[0-9*#+]{1,32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TestCallError(ValueError):
    """The test call's parameters are invalid."""

    __test__ = False  # not a pytest test class


def quote_callerid(name: str | None, number: str) -> str:
    """``"name" <number>`` as Asterisk's ``ast_callerid_parse`` reads it back intact.

    Control characters (CR/LF would break the AMI framing) become spaces.
    """
    if not _NUMBER.match(number or ""):
        raise TestCallError(f"caller number {number!r}: use digits (optionally a leading +)")
    if name is None or name == "":
        return f"<{number}>"
    clean = _CONTROL.sub(" ", name)
    escaped = clean.replace("\\", "\\\\").replace('"', '\\"')
    value = f'"{escaped}" <{number}>'
    if len(value.encode("utf-8")) > MAX_CALLERID_BYTES:
        raise TestCallError(
            f"caller name too long: the CallerID must fit in {MAX_CALLERID_BYTES} bytes (UTF-8, quoted)"
        )
    return value


def build_originate(
    from_number: str,
    *,
    name: str | None = None,
    dtmf: str | None = None,
    to: str | None = None,
    hold: float | None = None,
    call_id: str | None = None,
    say: str | None = None,
    say_after: float | None = None,
    dtmf2: str | None = None,
) -> tuple[str, dict]:
    """``(call_id, Originate action)`` for a test call; validates every input.

    ``say``/``say_after``/``dtmf2``: the caller "speaks" (sound files such as
    ``hello-world&hello-world``) ``say_after`` s after the DTMF, then keys ``dtmf2``."""
    call_id = call_id or str(uuid.uuid4())
    exten = to or DEFAULT_DID
    if not _EXTEN.match(exten):
        raise TestCallError(f"--to {exten!r}: use an extension of digits")
    variables = [f"CTIDESK_TESTCALL={call_id}"]
    if dtmf:
        if not _DTMF.match(dtmf):
            raise TestCallError(f"--dtmf {dtmf!r}: use 0-9 * # A-D (w = half-second pause)")
        variables.append(f"CALLER_DTMF={dtmf}")
    if say:
        if not re.fullmatch(r"[A-Za-z0-9_/&-]{1,200}", say):
            raise TestCallError(f"say {say!r}: sound file names joined by &")
        variables.append(f"CALLER_SAY={say}")
        if say_after is not None:
            if not 0 <= float(say_after) <= 600:
                raise TestCallError(f"say_after {say_after!r}: between 0 and 600 seconds")
            variables.append(f"CALLER_SAY_AFTER={float(say_after):g}")
        if dtmf2:
            if not _DTMF.match(dtmf2):
                raise TestCallError(f"dtmf2 {dtmf2!r}: use 0-9 * # A-D (w = half-second pause)")
            variables.append(f"CALLER_DTMF2={dtmf2}")
    if hold is not None:
        if not 0 < float(hold) <= 3600:
            raise TestCallError(f"--hold {hold!r}: between 0 and 3600 seconds")
        variables.append(f"CALLER_HOLD={float(hold):g}")
    action = {
        "Action": "Originate",
        "Channel": f"Local/s@{CALLER_CONTEXT}",
        "Context": INBOUND_CONTEXT,
        "Exten": exten,
        "Priority": "1",
        "CallerID": quote_callerid(name, from_number),
        "Timeout": "30000",
        "Variable": variables,
        "Async": "true",
    }
    return call_id, action


@dataclass
class TestCall:
    __test__ = False  # not a pytest test class

    call_id: str
    action: dict
    response: dict

    @property
    def ok(self) -> bool:
        return self.response.get("Response") == "Success"


async def place_test_call(
    settings,
    from_number: str,
    *,
    name: str | None = None,
    dtmf: str | None = None,
    to: str | None = None,
    hold: float | None = None,
    timeout: float = 10.0,
    **caller,
) -> TestCall:
    """Originate a test inbound call. ``settings`` must carry the AMI secret
    (``sandbox.runner.effective_settings()``). With no ``to``/``dtmf`` it
    reaches queue ``support`` (the IVR falls back when it sets nothing)."""
    call_id, action = build_originate(from_number, name=name, dtmf=dtmf, to=to, hold=hold, **caller)
    response = await ami_action(settings, action, timeout=timeout)
    return TestCall(call_id=call_id, action=action, response=response)
