"""Test calls into the sandbox (``ctidesk call``): an AMI Originate of a caller leg.

Two ways in (``via``):

* ``sip`` (the default): the caller is ``Local/s@carrier-caller`` on the
  simulated carrier (a second Asterisk, :class:`sandbox.runner.Carrier`); its
  other half dials the DID over the SIP trunk, so the PBX gets a real INVITE
  with the caller in From and P-Asserted-Identity, as from a carrier.
* ``local``: the caller is ``Local/s@ctidesk-caller`` in the PBX itself and
  enters ``ctidesk-inbound`` directly (no SIP; the older, faster path).

Either way the caller answers, optionally keys DTMF, holds and hangs up, and
every call carries ``CTIDESK_TESTCALL=<uuid4>`` so tests can find it in the
event stream (a ``VarSet`` event on the inbound channel; over SIP it rides in
an ``X-Ctidesk-Testcall`` header that the sandbox's trunk context reads).

A trunk carries numbers as carriers write them, with ``+``, spaces or dashes
(``+86 139 1234 5678``); over SIP those are sent as written.

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
from sandbox.config import CALLER_CONTEXT, CARRIER_CALLER_CONTEXT, carrier_ami_port

INBOUND_CONTEXT = "ctidesk-inbound"
CARRIER_OUT_CONTEXT = "carrier-out"
VIAS = ("sip", "local")
DEFAULT_DID = "4000"
# Asterisk copies the CallerID header into a 256-byte buffer.
MAX_CALLERID_BYTES = 255

_NUMBER = re.compile(r"^\+?[0-9]{1,32}$")
# On a trunk a number may be written with spaces or dashes between digit groups.
_TRUNK_NUMBER = re.compile(r"^\+?[0-9]+(?:[ -][0-9]+)*$")
_DTMF = re.compile(r"^[0-9*#A-Da-dw]{1,64}$")
_EXTEN = re.compile(r"^[0-9*#+]{1,32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TestCallError(ValueError):
    """The test call's parameters are invalid."""

    __test__ = False  # not a pytest test class


def quote_callerid(name: str | None, number: str, *, trunk: bool = False) -> str:
    """``"name" <number>`` as Asterisk's ``ast_callerid_parse`` reads it back intact.

    Control characters (CR/LF would break the AMI framing) become spaces.
    ``trunk``: the number may hold spaces/dashes between digit groups.
    """
    pattern = _TRUNK_NUMBER if trunk else _NUMBER
    if not pattern.match(number or "") or len(number) > 40:
        raise TestCallError(f"caller number {number!r}: use digits (optionally a leading +"
                            + (", groups split by spaces or dashes" if trunk else "") + ")")
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
    via: str = "sip",
) -> tuple[str, dict]:
    """``(call_id, Originate action)`` for a test call; validates every input.

    ``via="sip"``: the action is for the carrier's AMI (:func:`ami_settings_for`).

    ``say``/``say_after``/``dtmf2``: the caller "speaks" (sound files such as
    ``hello-world&hello-world``) ``say_after`` s after the DTMF, then keys ``dtmf2``."""
    call_id = call_id or str(uuid.uuid4())
    exten = to or DEFAULT_DID
    if not _EXTEN.match(exten):
        raise TestCallError(f"--to {exten!r}: use an extension of digits")
    variables = [f"CTIDESK_TESTCALL={call_id}"]
    if via == "sip" and from_number and _TRUNK_NUMBER.match(from_number) and not _NUMBER.match(from_number):
        variables.append(f"CALLER_NUMBER={from_number}")  # as written; see carrier-out
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
    if via not in VIAS:
        raise TestCallError(f"--via {via!r}: one of {', '.join(VIAS)}")
    sip = via == "sip"
    action = {
        "Action": "Originate",
        "Channel": f"Local/s@{CARRIER_CALLER_CONTEXT if sip else CALLER_CONTEXT}",
        "Context": CARRIER_OUT_CONTEXT if sip else INBOUND_CONTEXT,
        "Exten": exten,
        "Priority": "1",
        "CallerID": quote_callerid(name, from_number, trunk=sip),
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
    via: str = "sip",
    **caller,
) -> TestCall:
    """Originate a test inbound call. ``settings`` must carry the AMI secret
    (``sandbox.runner.effective_settings()``) and name the PBX's AMI. With no
    ``to``/``dtmf`` it reaches queue ``support`` (the IVR falls back when it
    sets nothing)."""
    call_id, action = build_originate(from_number, name=name, dtmf=dtmf, to=to, hold=hold, via=via, **caller)
    response = await ami_action(ami_settings_for(settings, via), action, timeout=timeout)
    return TestCall(call_id=call_id, action=action, response=response)


def ami_settings_for(settings, via: str):
    """The AMI a test call is originated on: the carrier's for ``sip``, the PBX's for ``local``."""
    return settings.with_(ami_port=carrier_ami_port(settings)) if via == "sip" else settings
