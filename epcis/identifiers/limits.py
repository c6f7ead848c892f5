"""Is an identifier within its standard's limits? One cheap check for every identifier field.

:func:`limit_problem` answers for one value of an EPCIS identifier field (an EPC, a class,
a location, a party, a business transaction): ``None`` when it is within the limits of the
standard it follows, else a message saying which limit it breaks, quoting at most
:data:`~epcis.identifiers.model.SHOWN_PREFIX` characters of it.

* Any value: at most :data:`MAX_IDENTIFIER_LENGTH` characters (checked after its own
  standard's limits, so that a too-long serial is reported as such).
* EPC pure identity and class URIs (``urn:epc:id:…``, ``urn:epc:class:lgtin:…``) and
  ``CompanyPrefix.Reference.*`` pattern URIs: the GS1 EPC Tag Data Standard's syntax and
  limits, by :func:`epcis.identifiers.epc_uri.parse_epc_uri` (the one place they live),
  plus the US DoD schemes ``usdod`` and ``adi`` here. Tag and raw URIs, other pattern URIs
  and schemes the parser does not know only get the length bound.
* GS1 Digital Links: each AI value (path and query, percent-decoded) within the length and
  character set of its AI in the GS1 General Specifications, as biip's AI table gives them.
* MA codes, bare or as the last path segment of an http(s) URI: the segment formats of
  :mod:`epcis.identifiers.ma_code` (no published maximum length was found: the general
  bound applies).
* A value without a URI scheme (XML's ``xsd:anyURI`` lets one through) that is a Chinese
  drug trace code, bare or issuer-prefixed (or any 20 digits): exactly 20 digits starting
  with 8; so is the code in its URN ``urn:tracecode:cn-drug:…`` (and a sub-code's unit a
  number from 1).
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import parse_qsl, unquote

from biip.gs1_application_identifiers import GS1ApplicationIdentifier

from epcis.identifiers import cn_drug_code, epc_uri, ma_code
from epcis.identifiers.check_digit import CHECKED_LENGTH, KEY_NAMES, mod10
from epcis.identifiers.digital_link import SHORT_NAMES, split_uri
from epcis.identifiers.element_string import ai_info, explain
from epcis.identifiers.gs1 import PRIMARY_KEYS
from epcis.identifiers.model import IdentifierError, shown

MAX_IDENTIFIER_LENGTH = 2048
"""The bound on identifiers no standard bounds (private ``https:``/``urn:`` URIs, business
transaction ids), and on every other identifier once its own limits are met: the URL length
most software assumes (the sitemaps protocol's limit; browsers and CDNs start failing past about
2,000). The longest standard identifier is far shorter: an EPC URI of at most 30
percent-encoded characters after the prefix is under 130 characters, a GS1 Digital Link
with a key and every qualifier a few hundred."""

TDS = "GS1 EPC Tag Data Standard"
GENSPECS = "GS1 General Specifications"

_SKIPPED_EPC_ERRORS = (
    "matches many keys",
    "unknown EPC scheme",
    "unknown EPC URI form",
    "not supported",
)
"""Refusals of :func:`parse_epc_uri` that are about what it parses, not what TDS allows."""
_EPC_HEAD = re.compile(r"urn:epc:([a-z]+):([A-Za-z0-9-]+):")
_GTIN_SSCC_LENGTHS = frozenset({8, 12, 13, 14, 18})

# US DoD schemes of TDS: usdod (CAGE/DoDAAC + 36-bit serial) and adi (CAGE/DoDAAC + part
# number of 0..32 + serial of 1..30 characters of A-Z 0-9 - /).
_CAGE = re.compile(r"[A-Z0-9]{5,6}", re.ASCII)
_ADI_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/")
_ADI_PART_MAX = 32
_ADI_SERIAL_MAX = 30
_USDOD_SERIAL_MAX = 2**36 - 1


# The shapes nearly every identifier has, plainly within the limits: an SGTIN, LGTIN, SSCC,
# SGLN or PGLN URI with an alphanumeric serial / lot / extension, or an id.gs1.org Digital
# Link of a GTIN (+ serial or lot), SSCC or GLN. One regex (company prefix + reference digit
# counts spelled out) decides them in one call, ~0.3 µs against ~9 µs through the parser;
# any other value takes the full way, which accepts all that this accepts (a test compares).


def _key(total: int) -> str:
    """CompanyPrefix.Reference of ``total`` digits, the prefix 6 to 12 of them."""
    return "(?:" + "|".join(rf"[0-9]{{{cp}}}\.[0-9]{{{total - cp}}}" for cp in range(6, 13)) + ")"


_TEXT20 = r"\.[A-Za-z0-9]{1,20}"
PLAINLY_WITHIN = re.compile(
    "|".join(
        (
            rf"urn:epc:(?:id:sgtin|class:lgtin):{_key(13)}{_TEXT20}",
            rf"urn:epc:id:sscc:{_key(17)}",
            rf"urn:epc:id:sgln:{_key(12)}{_TEXT20}",
            rf"urn:epc:id:pgln:{_key(12)}",
            r"https://id\.gs1\.org/(?:01/[0-9]{14}(?:/(?:21|10)/[A-Za-z0-9]{1,20})?"
            r"|00/[0-9]{18}|414/[0-9]{13})",
        )
    )
)
"""Values matching this in full are within their limits (a fast path, not a definition)."""
_plainly_within = PLAINLY_WITHIN.fullmatch


def limit_problem(value: str) -> str | None:
    """Why ``value`` is beyond its identifier standard's limits, or None."""
    if _plainly_within(value) is not None:
        return None
    return full_limit_problem(value)


def full_limit_problem(value: str) -> str | None:
    """:func:`limit_problem` without the fast path for common shapes.

    The standard's own limit is named first (an SGTIN serial of 3,000 characters breaks the
    20 of TDS; each parser checks lengths before patterns), then the general bound."""
    head = value[:8].lower()
    problem = None
    if head == "urn:epc:":
        problem = _epc_problem("urn:epc:" + value[8:])
    elif head.startswith(("http://", "https:/")):
        problem = _http_problem(value)
    elif cn_drug_code.is_trace_code_urn(value):
        problem = _trace_code_urn_problem(value)
    elif ":" not in value:
        problem = _bare_problem(value)
    if problem is None and len(value) > MAX_IDENTIFIER_LENGTH:
        return (
            f"identifier {shown(value)} is longer than {MAX_IDENTIFIER_LENGTH} characters,"
            " the most any identifier may have here"
        )
    return problem


# --- EPC URIs --------------------------------------------------------------------------------


def _epc_problem(value: str) -> str | None:
    found = _EPC_HEAD.match(value)
    if found is not None and found.group(2) in ("usdod", "adi") and found.group(1) == "id":
        body = value[found.end() :]
        problem = _usdod_problem(body) if found.group(2) == "usdod" else _adi_problem(body)
        return None if problem is None else f"{problem} ({TDS})"
    try:
        epc_uri.parse_epc_uri(value)
    except IdentifierError as exc:
        message = str(exc)
        if any(skipped in message for skipped in _SKIPPED_EPC_ERRORS):
            return None
        return f"{message} ({TDS})"
    return None


def _usdod_problem(body: str) -> str | None:
    cage, dot, serial = body.partition(".")
    if not dot or not _CAGE.fullmatch(cage):
        return f"usdod needs a 5-character CAGE code or 6-character DoDAAC, got {shown(cage)}"
    if not (serial.isascii() and serial.isdigit()) or len(serial) > 11:
        return f"usdod serial must be a decimal number, got {shown(serial)}"
    if int(serial) > _USDOD_SERIAL_MAX or (len(serial) > 1 and serial[0] == "0"):
        return (
            f"usdod serial {shown(serial)} is out of range (0 to {_USDOD_SERIAL_MAX},"
            " no leading zeros)"
        )
    return None


def _adi_problem(body: str) -> str | None:
    parts = body.split(".")
    if len(parts) != 3 or not _CAGE.fullmatch(parts[0]):
        return f"adi needs CAGEOrDODAAC.OriginalPartNumber.Serial, got {shown(body)}"
    for name, text, low, high in (
        ("original part number", parts[1], 0, _ADI_PART_MAX),
        ("serial", parts[2], 1, _ADI_SERIAL_MAX),
    ):
        if len(text) > 3 * high:
            return f"adi {name} {shown(text)} is longer than {high} characters"
        decoded = unquote(text)
        if name == "serial" and decoded.startswith("#"):
            decoded = decoded[1:]  # a leading '#' marks a serial unique only with the part
        if not low <= len(decoded) <= high:
            return f"adi {name} {shown(decoded)} must be {low} to {high} characters"
        if not set(decoded) <= _ADI_CHARS:
            return f"adi {name} {shown(decoded)} may hold only A-Z, 0-9, '-' and '/'"
    return None


# --- http(s) URIs: GS1 Digital Links and MA codes ------------------------------------------


def _digital_link_pairs(value: str) -> list[tuple[str, str]] | None:
    """(AI, percent-decoded value) of a GS1 Digital Link's path (from its primary key on)
    and numeric query parameters; None when ``value`` is not a URI with a GS1 key."""
    try:
        parts = split_uri(value)
    except IdentifierError:
        return None  # not a URI: the JSON Schema (or the XSD) says so
    segments = parts.path.split("/")
    start = next((i for i, s in enumerate(segments) if SHORT_NAMES.get(s, s) in PRIMARY_KEYS), None)
    if start is None or start >= len(segments) - 1:
        return None
    pairs = [
        (SHORT_NAMES.get(segments[i], segments[i]), unquote(segments[i + 1]))
        for i in range(start, len(segments) - 1, 2)
    ]
    pairs.extend((key, text) for key, text in parse_qsl(parts.query) if key.isdigit())
    return pairs


def _http_problem(value: str) -> str | None:
    pairs = _digital_link_pairs(value)
    if pairs is not None:
        for ai, text in pairs:
            problem = _ai_value_problem(ai, text)
            if problem is not None:
                return problem
        return None
    embedded = ma_code.ma_in_uri(value)
    return None if embedded is None else _ma_problem(embedded)


@cache
def _ai_limits(code: str) -> tuple[GS1ApplicationIdentifier, int, re.Pattern[str]] | None:
    """biip's AI, the longest its data may be, and its pattern; None for an unknown AI."""
    ai = ai_info(code)
    if ai is None:
        return None
    longest = 0
    for part in ai.format.split("+")[1:]:  # N2+X..20, N4+N14[+X..16], N4+N6+[-] …
        numbers = re.findall(r"[0-9]+", part)
        longest += int(numbers[-1]) if numbers else 1
    return ai, longest, re.compile(ai.pattern, re.ASCII)


def _ai_value_problem(code: str, value: str) -> str | None:
    limits = _ai_limits(code)
    if limits is None:
        return None  # not an AI (a non-GS1 path segment or query parameter)
    ai, longest, pattern = limits
    if len(value) > longest:
        return (
            f"GS1 Digital Link AI ({code}) value {shown(value)} is {len(value)} characters"
            f" long; at most {longest} ({ai.format}, {GENSPECS})"
        )
    if pattern.fullmatch(code + value) is None:
        return f"GS1 Digital Link {explain(ai, value, at_end=False)} ({GENSPECS})"
    return None


# --- values without a URI scheme -----------------------------------------------------------


def _bare_problem(value: str) -> str | None:
    if len(value) > MAX_IDENTIFIER_LENGTH:
        return None  # the general bound says it, without a walk over every character
    if ma_code.is_ma_code(value):
        return _ma_problem(value)
    if cn_drug_code.is_issuer_prefixed(value):
        code = value.partition(".")[2]
    elif (
        value.isascii()
        and value.isdigit()
        and (value[0] == "8" or len(value) == cn_drug_code.LENGTH)
    ):
        if len(value) in _GTIN_SSCC_LENGTHS:
            return None  # a GTIN or SSCC written bare
        code = value
    else:
        return None
    try:
        cn_drug_code.check_code(code)
    except IdentifierError as exc:
        return f"{_short_message(exc, code)} (NMPAB/T 1002-2019)"
    return None


def _trace_code_urn_problem(value: str) -> str | None:
    if len(value) > MAX_IDENTIFIER_LENGTH:
        return None  # the general bound says it
    try:
        cn_drug_code.parse_trace_code_urn(value, value)
    except IdentifierError as exc:
        return f"{_short_message(exc, value)} (NMPAB/T 1002-2019)"
    return None


def _ma_problem(code: str) -> str | None:
    try:
        ma_code.parse_ma_code(code, code)
    except IdentifierError as exc:
        return f"{_short_message(exc, code)} (MA code, ISO/IEC 15459 issuing agency MA)"
    return None


def _short_message(exc: IdentifierError, value: str) -> str:
    """The parser's message with the value it quotes cut short."""
    return str(exc).replace(repr(value), shown(value))


# --- GS1 check digits ------------------------------------------------------------------------

_PLAIN_KEY_LINK = re.compile(r"https://id\.gs1\.org/(01|00|414)/([0-9]+)(?:/.*)?")
"""The common Digital Links, whose one checked key is read without splitting the URI."""


def check_digit_problem(value: str) -> str | None:
    """Why a GS1 key in the Digital Link ``value`` has a wrong check digit, or None.

    Every checked AI of the path and query counts (GTIN, SSCC, GLN, GRAI …). An EPC URI
    has no check digit (its key is written without one), and a bare number in an
    identifier field is not necessarily a GS1 key, so neither ever has this problem. A key
    of the wrong length or with other characters than digits is :func:`limit_problem`'s
    to report."""
    head = value[:8].lower()
    if head.startswith(("http://", "https:/")):
        plain = _PLAIN_KEY_LINK.fullmatch(value)
        if plain is not None and "?" not in value:
            pairs = [(plain.group(1), plain.group(2))]
        else:
            pairs = _digital_link_pairs(value) or []
        for ai, text in pairs:
            problem = _check_digit_message(ai, text)
            if problem is not None:
                return f"GS1 Digital Link {problem}"
        return None
    return None


def _check_digit_message(ai: str, text: str) -> str | None:
    length = CHECKED_LENGTH.get(ai)
    if length is None:
        return None
    key = text[:length]
    if len(key) != length or not key.isascii() or not key.isdigit():
        return None  # the AI's format is limit_problem's to check
    expected = mod10(key[:-1])
    if int(key[-1]) == expected:
        return None
    return (
        f"AI ({ai}): bad {KEY_NAMES[ai]} check digit at position {length} of {shown(key)}:"
        f" expected {expected}, got {key[-1]} ({GENSPECS} 7.9.1)"
    )
