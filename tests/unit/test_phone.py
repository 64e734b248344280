import doctest

import pytest

from customers import phone
from customers.phone import PhoneNumber, normalize, search_keys

CASES = [
    # mobiles, however written
    ("13800138000", "+8613800138000", "mobile"),
    ("138 0013 8000", "+8613800138000", "mobile"),
    ("138-0013-8000", "+8613800138000", "mobile"),
    ("+86 138 0013 8000", "+8613800138000", "mobile"),
    ("+8613800138000", "+8613800138000", "mobile"),
    ("008613800138000", "+8613800138000", "mobile"),
    ("8613800138000", "+8613800138000", "mobile"),
    ("(+86) 199.1234.5678", "+8619912345678", "mobile"),
    ("013800138000", "+8613800138000", "mobile"),  # out-of-area trunk 0
    ("  15912345678\t", "+8615912345678", "mobile"),
    ("１３８００１３８０００", "+8613800138000", "mobile"),  # full-width digits
    ("＋８６　１３８－００１３－８０００", "+8613800138000", "mobile"),
    # landlines with two-digit area codes
    ("010-5555-1234", "+861055551234", "landline"),
    ("(010) 55551234", "+861055551234", "landline"),
    ("01055551234", "+861055551234", "landline"),
    ("+86 10 55551234", "+861055551234", "landline"),
    ("0086 10 5555 1234", "+861055551234", "landline"),
    ("+86 (0)10 5555 1234", "+861055551234", "landline"),
    ("8601055551234", "+861055551234", "landline"),
    ("861055551234", "+861055551234", "landline"),
    ("021-6888-8888", "+862168888888", "landline"),
    ("02087654321", "+862087654321", "landline"),
    # landlines with three-digit area codes, 7 or 8 digit subscribers
    ("0571-8888-1234", "+8657188881234", "landline"),
    ("0755 2345 6789", "+8675523456789", "landline"),
    ("0898-6512345", "+868986512345", "landline"),
    ("+86 571 88881234", "+8657188881234", "landline"),
    ("0086-755-23456789", "+8675523456789", "landline"),
    # service numbers
    ("400-810-8888", "+864008108888", "service"),
    ("800 820 8820", "+868008208820", "service"),
    ("+86 400 810 8888", "+864008108888", "service"),
    ("0400-810-8888", "+864008108888", "service"),
    ("864008108888", "+864008108888", "service"),
    ("95588", "95588", "service"),
    ("96166", "96166", "service"),
    ("110", "110", "service"),
    ("119", "119", "service"),
    ("120", "120", "service"),
    ("12345", "12345", "service"),
    ("10086", "10086", "service"),
    # local landlines without an area code
    ("55551234", "55551234", "local"),
    ("5555-1234", "55551234", "local"),
    ("8765432", "8765432", "local"),
    ("86123456", "86123456", "local"),  # its 86 is not a country code
    # internal extensions
    ("1001", "1001", "extension"),
    ("100", "100", "extension"),
    ("6001", "6001", "extension"),
    ("42", "42", "extension"),
    ("861234", "861234", "extension"),
    ("200101", "200101", "extension"),
    # international
    ("+1 (415) 555-2671", "+14155552671", "international"),
    ("0044 20 7946 0958", "+442079460958", "international"),
    ("+852 2345 6789", "+85223456789", "international"),
    ("+886 2 2345 6789", "+886223456789", "international"),
    # anonymous / withheld
    *[(raw, None, "anonymous") for raw in (None, "", "   ", "<unknown>", "anonymous", "Anonymous", "UNKNOWN",
                                           "restricted", "Private", "unavailable", "withheld")],
    # garbage and hostile input
    ("13800138000abc", None, "invalid"),
    ("'; DROP TABLE customers; --", None, "invalid"),
    ("<script>alert(1)</script>", None, "invalid"),
    ("1" * 30, None, "invalid"),
    ("9" * 5000, None, "invalid"),
    ("+", None, "invalid"),
    ("++8613800138000", None, "invalid"),
    ("138+00138000", None, "invalid"),
    ("1", None, "invalid"),
    ("12800138000", None, "invalid"),  # 12x is not a mobile prefix
    ("1380013800", None, "invalid"),  # one digit short
    ("138001380001", None, "invalid"),  # one digit long
    ("0101234567", None, "invalid"),  # Beijing subscriber one digit short
    ("+86 12345678901", None, "invalid"),
    ("+0123456789", None, "invalid"),
    ("٣٨٠٠١٣٨٠٠٠١", None, "invalid"),  # Arabic-Indic digits pass str.isdigit()
    ("138\x000138000", None, "invalid"),
    ("\u202e13800138000", None, "invalid"),
    ("sip:13800138000@host", None, "invalid"),
    ("*97", None, "invalid"),
    ("0", None, "invalid"),
]


@pytest.mark.parametrize("raw,normalized,kind", CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_normalize(raw, normalized, kind):
    got = normalize(raw)
    assert (got.normalized, got.kind) == (normalized, kind)
    assert got.raw == ("" if raw is None else raw)


def test_enough_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("value", [b"13800138000", 13800138000, object(), ["1"]])
def test_non_string_input_does_not_raise(value):
    assert normalize(value).kind == "invalid"


def test_every_printable_ascii_string_is_safe():
    for i in range(32, 127):
        for s in (chr(i), chr(i) * 3, "138" + chr(i) + "00138000"):
            got = normalize(s)
            assert got.kind in phone.KINDS
            assert (got.normalized is None) == (got.kind in ("invalid", "anonymous"))


def test_result_is_frozen():
    number = normalize("13800138000")
    assert isinstance(number, PhoneNumber)
    with pytest.raises(AttributeError):
        number.kind = "landline"  # type: ignore[misc]
    assert number.valid and not normalize("<unknown>").valid


def test_other_home_country():
    assert normalize("+86 138 0013 8000", country_code="852").kind == "international"


@pytest.mark.parametrize("spelling", [
    "010-5555-1234", "+86 10 55551234", "01055551234", "8601055551234", "(010) 5555 1234",
    "0086-10-5555-1234",
])
def test_search_keys_agree(spelling):
    assert search_keys(spelling) == ["+861055551234"]


@pytest.mark.parametrize("raw", [None, "", "anonymous", "abc", "13800138000abc"])
def test_search_keys_empty_for_unusable(raw):
    assert search_keys(raw) == []


def test_doctests():
    result = doctest.testmod(phone)
    assert result.attempted >= 10 and result.failed == 0
