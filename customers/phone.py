"""Phone numbers as Chinese callers, carriers and agents really write them.

Every number that reaches us (AMI caller IDs, the agent's search box, an
imported spreadsheet) goes through :func:`normalize`, and only the normalized
form is stored and compared, so ``010-5555-1234``, ``+86 10 55551234`` and
``01055551234`` are one number. Pure functions, no I/O, cached: this runs for
every call on the AMI path. It never raises on a string; a number we cannot
read comes back with ``normalized=None`` and ``kind='invalid'``.

The national rules are the Chinese numbering plan; ``country_code`` only says
which international prefix is "home" (its numbers get those rules, every
other ``+CC`` is kept as an international E.164 number).

>>> normalize("138-0013-8000")
PhoneNumber(raw='138-0013-8000', normalized='+8613800138000', kind='mobile')
>>> normalize("(010) 5555-1234").normalized
'+861055551234'
>>> normalize("+86 571 8888 1234").normalized
'+8657188881234'
>>> normalize("8601055551234").normalized  # bare 86 plus trunk 0: seen in the wild
'+861055551234'
>>> normalize("400-810-8888")
PhoneNumber(raw='400-810-8888', normalized='+864008108888', kind='service')
>>> normalize("95588").kind, normalize("12345").kind, normalize("110").kind
('service', 'service', 'service')
>>> normalize("55551234")  # no area code: we cannot guess the city
PhoneNumber(raw='55551234', normalized='55551234', kind='local')
>>> normalize("1001")
PhoneNumber(raw='1001', normalized='1001', kind='extension')
>>> normalize("00852 2345 6789").normalized
'+85223456789'
>>> normalize("<unknown>").kind, normalize(None).kind
('anonymous', 'anonymous')
>>> normalize("13800138000abc")
PhoneNumber(raw='13800138000abc', normalized=None, kind='invalid')
>>> search_keys("+86 10 55551234") == search_keys("010-5555-1234")
True
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["PhoneNumber", "normalize", "search_keys", "KINDS", "DIALABLE_KINDS"]

KINDS = ("mobile", "landline", "service", "local", "extension", "international",
         "anonymous", "invalid")
# Kinds that denote a real number one can store on a customer and dial.
DIALABLE_KINDS = frozenset(KINDS) - {"anonymous", "invalid"}

# Longer input is garbage (or an attack) whatever it contains; rejecting it
# before any work keeps the cost per call bounded and the cache small.
MAX_RAW_LEN = 64

_ANONYMOUS = frozenset({"", "unknown", "anonymous", "restricted", "private",
                        "unavailable", "withheld"})

# Separators people type, including the full-width forms a Chinese IME
# produces; full-width digits and plus become ASCII.
_CLEAN = str.maketrans({
    **{c: None for c in " \t-.()\u00a0\u3000（）－．\u2010\u2011\u2012\u2013\u2014"},
    "＋": "+",
    **{chr(0xFF10 + i): str(i) for i in range(10)},
})
_DIGITS = re.compile(r"\+?[0-9]+")  # ASCII only: str.isdigit() accepts other scripts

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Area code + subscriber, without trunk 0: 10/2X with 8 digits, or a
# three-digit code (not starting 1 or 2) with 7-8 digits.
_LANDLINE = re.compile(r"(?:10|2[0-9])[2-9][0-9]{7}|[3-9][0-9]{2}[2-9][0-9]{6,7}")
_SERVICE_LONG = re.compile(r"[48]00[0-9]{7}")
# Emergency and public numbers (110, 119, 120, 122...), carrier hotlines
# (10000, 10010, 10086), government 12xxx (12345, 12315, 12306) and the 95xxx /
# 96xxx enterprise short numbers. Kept to explicit ranges so that the common
# Asterisk extension plans (100, 101, 1001, 6001...) stay extensions.
_SERVICE_SHORT = re.compile(r"11[02479]|12[0-2]|100[0-9]{2}|12[0-9]{3}|9[56][0-9]{3,4}")
_LOCAL = re.compile(r"[2-9][0-9]{6,7}")


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    raw: str
    normalized: str | None
    kind: str

    @property
    def valid(self) -> bool:
        return self.kind in DIALABLE_KINDS


def normalize(raw: str | None, *, country_code: str = "86") -> PhoneNumber:
    """Read ``raw`` the way it was meant; never raises on a string."""
    if raw is None:
        return PhoneNumber("", None, "anonymous")
    if not isinstance(raw, str):
        return PhoneNumber(repr(raw)[:MAX_RAW_LEN], None, "invalid")
    if len(raw) > MAX_RAW_LEN:
        return PhoneNumber(raw, None, "invalid")
    return _normalize(raw, country_code)


def search_keys(raw: str | None, *, country_code: str = "86") -> list[str]:
    """The stored forms a lookup for ``raw`` must match (empty: match nothing).

    Today every readable number has exactly one normalized form, so this is at
    most one key; callers use ``IN (...)`` so that a future ambiguous rule
    (say, a local number tried under the default area code) needs no change
    at the call sites.
    """
    number = normalize(raw, country_code=country_code)
    return [number.normalized] if number.normalized else []


@lru_cache(maxsize=8192)
def _normalize(raw: str, cc: str) -> PhoneNumber:
    text = raw.strip()
    if text.lower().strip("<>") in _ANONYMOUS:
        return PhoneNumber(raw, None, "anonymous")
    text = text.translate(_CLEAN)
    if not _DIGITS.fullmatch(text):
        return PhoneNumber(raw, None, "invalid")
    if text[0] == "+":
        found = _international(text[1:], cc)
    elif text.startswith("00") and len(text) > 6:
        found = _international(text[2:], cc)
    else:
        found = _national(text, cc)
    if found is None:
        return PhoneNumber(raw, None, "invalid")
    return PhoneNumber(raw, found[0], found[1])


def _international(digits: str, cc: str) -> tuple[str, str] | None:
    if cc and digits.startswith(cc):
        return _after_home_cc(digits[len(cc):], cc, short_codes=True)
    if 7 <= len(digits) <= 15 and digits[0] != "0":
        return "+" + digits, "international"
    return None


def _after_home_cc(digits: str, cc: str, *, short_codes: bool) -> tuple[str, str] | None:
    """Classify what follows the home country code (trunk 0 normally absent)."""
    if digits.startswith("0"):  # "+86 (0)10 ..." and "+86 010 ...": tolerated
        digits = digits[1:]
    if _MOBILE.fullmatch(digits):
        return f"+{cc}{digits}", "mobile"
    if _SERVICE_LONG.fullmatch(digits):  # before landline: 400 is no area code
        return f"+{cc}{digits}", "service"
    if _LANDLINE.fullmatch(digits):
        return f"+{cc}{digits}", "landline"
    if short_codes and _SERVICE_SHORT.fullmatch(digits):
        return digits, "service"
    return None


def _national(digits: str, cc: str) -> tuple[str, str] | None:
    n = len(digits)
    if n == 11 and _MOBILE.fullmatch(digits):
        return f"+{cc}{digits}", "mobile"
    if digits[0] == "0":
        rest = digits[1:]
        if _SERVICE_LONG.fullmatch(rest):  # "0400...": a stray trunk 0
            return f"+{cc}{rest}", "service"
        if _LANDLINE.fullmatch(rest):
            return f"+{cc}{rest}", "landline"
        # Carriers present out-of-area mobiles with a trunk 0 prepended.
        if _MOBILE.fullmatch(rest):
            return f"+{cc}{rest}", "mobile"
        if 2 <= n <= 6:
            return digits, "extension"
        return None
    # A bare country code with no "+" (some trunks send "86..."). Only taken
    # when a full national number follows, so a short "86xxx" keeps its 86.
    if cc and n >= 12 and digits.startswith(cc):
        found = _after_home_cc(digits[len(cc):], cc, short_codes=False)
        if found is not None:
            return found
    if _SERVICE_LONG.fullmatch(digits):
        return f"+{cc}{digits}", "service"
    if _SERVICE_SHORT.fullmatch(digits):
        return digits, "service"
    if _LOCAL.fullmatch(digits):
        return digits, "local"
    if 2 <= n <= 6:
        return digits, "extension"
    return None


def dial_string(raw: str | None, *, country_code: str = "86") -> str | None:
    """The digits to dial from a Chinese PBX for a number however it was written:
    national mobiles as 11 digits, landlines with trunk 0, international with 00,
    extensions and short codes as they are; None for anything not dialable.

    >>> dial_string("+86 138 0013 8000"), dial_string("+86 10 5555 1234"), dial_string("+1 212 555 0100")
    ('13800138000', '01055551234', '0012125550100')
    """
    number = normalize(raw, country_code=country_code)
    if number.normalized is None or number.kind not in DIALABLE_KINDS:
        return None
    n = number.normalized
    prefix = "+" + country_code
    if n.startswith(prefix):
        rest = n[len(prefix):]
        return rest if number.kind in ("mobile", "service") and rest[:1] in "14589" else "0" + rest
    if n.startswith("+"):
        return "00" + n[1:]
    return n
