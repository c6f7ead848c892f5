"""The constrained canonical GS1 Digital Link URI that the EPCIS Event Hash ID hashes.

The Event Hash ID algorithm (CBV 2.0, canonicalisation rules 3 and 4) replaces every EPC
URI, EPC class URI, EPC pattern URI and GS1 Digital Link URI by a canonical Digital Link on
``https://id.gs1.org`` holding only the finest level of identification. Hash IDs must agree
across implementations, so this module reproduces, rule for rule, the behaviour of the
public reference ``dl_normaliser.normaliser`` (RalphTro/epcis-event-hash-generator, MIT),
its quirks included, each marked *quirk* below. It is an independent implementation; the
tests pin it to the reference's outputs.

One deliberate difference: the reference anchors with ``$``, which in Python also matches
before a trailing newline (and then returns the newline, or crashes); here a value ending
in a newline is not normalised (None). Strip values before hashing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from epcis.identifiers.check_digit import mod10

CANONICAL_DOMAIN = "https://id.gs1.org"

# One character of an EPC URI component in the reference's GS3A3 grammar: a percent-escape
# of a CSET 82 character, or a character allowed as is.
_GS3A3 = (
    r"(?:%2[125-9A-Fa-f]|%3[0-9A-Fa-f]|%4[1-9A-Fa-f]|%5[0-9AaFf]|%6[1-9A-Fa-f]|%7[0-9Aa]"
    r"|[!')(*+,.0-9:;=A-Za-z_-])"
)
# One character of a CPI component reference (CSET 39 plus its escapes).
_CSET39 = r"(?:%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z-])"
# The characters of a Digital Link value that the reference's output check accepts.
_DL_SET = r"\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A"
_DL_CHAR = f"[{_DL_SET}]"


def _cp_dot_ref(total: int, twelve: str = r"\d{12}\.") -> str:
    """``CompanyPrefix.Reference`` with 6..12 prefix digits and ``total`` digits in all.

    ``twelve`` is the branch for a 12-digit prefix; *quirk*: for GRAI, GDTI and the
    SGCN pattern the reference wrote it as ``\\d{12}\\.\\.`` (two dots).
    """
    branches = [rf"\d{{{k}}}\.\d{{{total - k}}}" for k in range(6, 13) if total - k > 0]
    if total == 12:
        branches.append(twelve)
    return "(?:" + "|".join(branches) + ")"


def _cp_dot_text(char: str, total: int) -> str:
    """``CompanyPrefix.Text`` where prefix digits plus text characters are at most ``total``."""
    return "(?:" + "|".join(rf"\d{{{k}}}\.{char}{{1,{total - k}}}" for k in range(6, 13)) + ")"


_WEB_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in "!()*+,:"})


def _web_escape(text: str) -> str:
    """Percent-encode ``!()*+,:`` (GS1 Digital Link table 7-1); other escapes stay as they are."""
    return text.translate(_WEB_ESCAPES)


def _with_check_digit(digits: str) -> str:
    return digits + str(mod10(digits))


def _gtin(body: str) -> str:
    """GTIN-14 (or SSCC) from ``CP.Ref…``: the indicator (extension) digit moves to the front."""
    cp, ref = body.split(".", 2)[:2]
    return _with_check_digit(ref[0] + cp + ref[1:])


def _key(body: str, total: int) -> str:
    """``CP.Ref`` digits (``total`` of them) followed by their check digit."""
    return _with_check_digit(body[: total + 1].replace(".", "", 1))


def _after_key(body: str, total: int) -> str:
    """Whatever follows ``CP.Ref`` and one more character (normally the separating dot).

    *quirk*: the reference cuts at a fixed offset, so for GDTI the character after the
    document type is dropped whatever it is, and for a 12-digit-prefix GRAI the third dot
    is kept in the serial.
    """
    return body[total + 2 :]


def _cp_and_rest(body: str) -> tuple[str, str]:
    cp, _, rest = body.partition(".")
    return cp, rest


def _sgln(body: str) -> str:
    gln, extension = _key(body, 12), _after_key(body, 12)
    if extension == "0":
        return f"414/{gln}"
    return f"414/{gln}/254/{_web_escape(extension)}"


def _cpi(body: str) -> str:
    cp, rest = _cp_and_rest(body)
    ref, _, serial = rest.rpartition(".")
    return f"8010/{_web_escape(cp + ref)}/8011/{serial}"


def _cpi_pattern(body: str) -> str:
    cp, rest = _cp_and_rest(body)
    return f"8010/{_web_escape(cp + rest.rpartition('.')[0])}"


def _itip(body: str) -> str:
    return f"8006/{_gtin(body)}{body[15:17]}{body[18:20]}"


def _keyed(start: str, total: int) -> Callable[[str], str]:
    """The path ``start`` + the ``CP.Ref`` key (``total`` digits) with its check digit."""
    return lambda body: f"{start}{_key(body, total)}"


def _keyed_serial(start: str, total: int) -> Callable[[str], str]:
    """:func:`_keyed` followed by the serial after the key, web-escaped."""
    return lambda body: f"{start}{_key(body, total)}{_web_escape(_after_key(body, total))}"


def _prefixed_text(start: str) -> Callable[[str], str]:
    """The path ``start`` + ``CompanyPrefix`` + its text reference, web-escaped (GIAI, GINC)."""

    def build(body: str) -> str:
        cp, rest = _cp_and_rest(body)
        return start + cp + _web_escape(rest)

    return build


# quirk: GRAI, GDTI and the SGCN pattern take a 12-digit prefix followed by two dots
_CP_DOT_REF_12_TWO_DOTS = _cp_dot_ref(12, r"\d{12}\.\.")


_Rule = tuple[str, str, Callable[[str], str]]

_URN_RULES: tuple[_Rule, ...] = (
    # (prefix, grammar of what follows it, path of the canonical Digital Link);
    # in GTIN-based bodies ("CP.IndicatorRef.") the value starts at offset 15
    (
        "urn:epc:id:sgtin:",
        _cp_dot_ref(13) + rf"\.{_GS3A3}{{1,20}}",
        lambda b: f"01/{_gtin(b)}/21/{_web_escape(b[15:])}",
    ),
    ("urn:epc:id:sscc:", _cp_dot_ref(17), lambda b: f"00/{_gtin(b)}"),
    ("urn:epc:id:sgln:", _cp_dot_ref(12) + rf"\.{_GS3A3}{{1,20}}", _sgln),
    (
        "urn:epc:id:grai:",
        _CP_DOT_REF_12_TWO_DOTS + rf"\.{_GS3A3}{{1,16}}",
        _keyed_serial("8003/0", 12),
    ),
    ("urn:epc:id:giai:", _cp_dot_text(_GS3A3, 30), _prefixed_text("8004/")),
    ("urn:epc:id:gsrn:", _cp_dot_ref(17), _keyed("8018/", 17)),
    ("urn:epc:id:gsrnp:", _cp_dot_ref(17), _keyed("8017/", 17)),
    (
        # quirk: no dot is required between document type and serial
        "urn:epc:id:gdti:",
        _CP_DOT_REF_12_TWO_DOTS + rf"{_GS3A3}{{1,20}}",
        _keyed_serial("253/", 12),
    ),
    ("urn:epc:id:cpi:", _cp_dot_text(_CSET39, 30) + r"\.\d{1,12}", _cpi),
    # the serial is digits, which web-escaping leaves as they are
    ("urn:epc:id:sgcn:", _cp_dot_ref(12) + r"\.\d{1,12}", _keyed_serial("255/", 12)),
    ("urn:epc:id:ginc:", _cp_dot_text(_GS3A3, 30), _prefixed_text("401/")),
    ("urn:epc:id:gsin:", _cp_dot_ref(16), _keyed("402/", 16)),
    (
        "urn:epc:id:itip:",
        _cp_dot_ref(13) + rf"\.\d{{2}}\.\d{{2}}\.{_GS3A3}{{1,20}}",
        lambda b: f"{_itip(b)}/21/{_web_escape(b[21:])}",
    ),
    (
        "urn:epc:id:upui:",
        _cp_dot_ref(13) + rf"\.{_GS3A3}{{1,28}}",
        lambda b: f"01/{_gtin(b)}/235/{_web_escape(b[15:])}",
    ),
    ("urn:epc:id:pgln:", _cp_dot_ref(12), _keyed("417/", 12)),
    (
        "urn:epc:class:lgtin:",
        _cp_dot_ref(13) + rf"\.{_GS3A3}{{1,20}}",
        lambda b: f"01/{_gtin(b)}/10/{_web_escape(b[15:])}",
    ),
    ("urn:epc:idpat:sgtin:", _cp_dot_ref(13) + r"\.\*", lambda b: f"01/{_gtin(b)}"),
    ("urn:epc:idpat:grai:", _CP_DOT_REF_12_TWO_DOTS + r"\.\*", _keyed("8003/0", 12)),
    ("urn:epc:idpat:gdti:", _CP_DOT_REF_12_TWO_DOTS + r"\.\*", _keyed("253/", 12)),
    ("urn:epc:idpat:sgcn:", _CP_DOT_REF_12_TWO_DOTS + r"\.\*", _keyed("255/", 12)),
    ("urn:epc:idpat:cpi:", _cp_dot_text(_CSET39, 30) + r"\.\*", _cpi_pattern),
    (
        "urn:epc:idpat:itip:",
        _cp_dot_ref(13) + r"\.\d{2}\.\d{2}\.\*",
        _itip,
    ),
    ("urn:epc:idpat:upui:", _cp_dot_ref(13) + r"\.\*", lambda b: f"01/{_gtin(b)}"),
)


_COMPILED = tuple((prefix, re.compile(grammar), build) for prefix, grammar, build in _URN_RULES)

# Digital Link side -------------------------------------------------------------------

_DL_KEYS = (
    "01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc"
    "|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai"
)
# Only the first branch of the reference's Digital Link recogniser can end in a result.
_LOOKS_LIKE_DL = re.compile(rf"https?:[^?#]*/(?:{_DL_KEYS})/\d{{4}}[^/]")

_SHORT_NAMES = (
    ("/gtin/", "/01/"),
    ("/itip/", "/8006/"),
    ("/cpid/", "/8010/"),
    ("/gln/", "/414/"),
    ("/party/", "/417/"),
    ("/gsrnp/", "/8017/"),
    ("/gsrn/", "/8018/"),
    ("/gcn/", "/255/"),
    ("/sscc/", "/00/"),
    ("/gdti/", "/253/"),
    ("/ginc/", "/401/"),
    ("/gsin/", "/402/"),
    ("/grai/", "/8003/"),
    ("/giai/", "/8004/"),
    ("/cpv/", "/22/"),
    ("/lot/", "/10/"),
    ("/ser/", "/21/"),
)

# quirk: the dots of id.gs1.org are regex wildcards in the reference; kept so.
_ID = r"https://id.gs1.org/"
_ON_CANONICAL_DOMAIN = re.compile(
    _ID + r"(?:01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)/\d{4}[^/]"
)
_REHOME_ORDER: tuple[str, ...] = ("00", "01", "253", "255", "401", "402", "414", "417")
_REHOME_ORDER += ("8003", "8004", "8006", "8010", "8017", "8018")
_GTIN_DIGITS = (
    (re.compile(_ID + r"01/\d{13}"), "0"),
    (re.compile(_ID + r"01/\d{12}"), "00"),
    (re.compile(_ID + r"01/\d{8}"), "000000"),  # quirk: also pads 9 to 11 digits
)
_GTIN14 = re.compile(_ID + r"01/\d{14}")
_GTIN_OR_ITIP = _ID + r"(?:8006/\d{18}|01/\d{14})"
_CPV_LAST = re.compile(_GTIN_OR_ITIP + rf"/22/{_DL_CHAR}{{0,20}}\Z")
_CPV_THEN_MORE = re.compile(_GTIN_OR_ITIP + rf"/22/[/{_DL_SET}]{{0,20}}\Z")
_LOT_AND_SERIAL = re.compile(_GTIN_OR_ITIP + rf"/10/{_DL_CHAR}{{0,20}}/21/{_DL_CHAR}{{0,20}}\Z")

_VALID_OUTPUT = re.compile(
    _ID
    + "(?:"
    + "|".join(
        (
            r"00/\d{18}",
            rf"01/\d{{14}}/21/{_DL_CHAR}{{0,20}}",
            rf"01/\d{{14}}/10/{_DL_CHAR}{{0,20}}",
            r"01/\d{14}",
            rf"01/\d{{14}}/235/{_DL_CHAR}{{0,28}}",
            rf"253/\d{{13}}{_DL_CHAR}{{0,17}}",
            r"255/\d{13}\d{0,12}",
            rf"401/{_DL_CHAR}{{0,30}}",
            r"402/\d{17}",
            r"414/\d{13}",
            rf"414/\d{{13}}/254/{_DL_CHAR}{{0,20}}",
            r"417/\d{13}",
            rf"8003/\d{{14}}{_DL_CHAR}{{0,16}}",
            rf"8004/{_DL_CHAR}{{0,30}}",
            rf"8006/\d{{18}}/21/{_DL_CHAR}{{0,20}}",
            rf"8006/\d{{18}}/10/{_DL_CHAR}{{0,20}}",
            r"8006/\d{18}",
            r"8010/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}/8011/\d{0,12}",
            r"8010/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}",
            r"8017/\d{18}",
            r"8018/\d{18}",
        )
    )
    + r")\Z"
)


def canonical_digital_link(value: str) -> str | None:
    """The constrained canonical GS1 Digital Link URI of an EPC URI / class / pattern URI or
    of a Digital Link on any domain; None for anything else (the hash then uses the value
    as it is)."""
    if not isinstance(value, str) or "." not in value:
        return None
    for prefix, grammar, build in _COMPILED:
        if value.startswith(prefix):
            body = value[len(prefix) :]
            if grammar.fullmatch(body):
                return f"{CANONICAL_DOMAIN}/{build(body)}"
            return None
    if not _LOOKS_LIKE_DL.match(value):
        return None
    return _constrain_digital_link(value)


def _constrain_digital_link(uri: str) -> str | None:
    uri = uri.partition("?")[0]
    for short, ai in _SHORT_NAMES:
        uri = uri.replace(short, ai)
    if not _ON_CANONICAL_DOMAIN.match(uri):
        # quirk: the first key found in this fixed order wins, wherever it is in the path
        for key in _REHOME_ORDER:
            at = uri.find(f"/{key}/")
            if at != -1:
                uri = CANONICAL_DOMAIN + uri[at:]
                break
    if not _GTIN14.match(uri):
        for pattern, zeros in _GTIN_DIGITS:
            if pattern.match(uri):
                uri = uri.replace("/01/", "/01/" + zeros)  # quirk: every "/01/"
                break
    uri = _drop_cpv(uri)
    if _LOT_AND_SERIAL.match(uri):
        head, _, tail = uri.partition("/10/")
        uri = head + tail[tail.find("/") :]
    return uri if _VALID_OUTPUT.match(uri) else None


def _drop_cpv(uri: str) -> str:
    """Remove the consumer product variant (AI 22) that follows a GTIN or ITIP.

    *quirk*: when more qualifiers follow it, only if at most 20 characters follow ``/22/``.
    """
    head, found, tail = uri.partition("/22/")
    if not found:
        return uri
    if _CPV_LAST.match(uri):
        return head
    if _CPV_THEN_MORE.match(uri):
        return head + tail[tail.find("/") :]
    return uri
