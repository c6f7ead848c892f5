"""What a ledger needs of an identifier, fast: canonical form, product, lot, expiry, instance.

The same parser as :func:`epcis.identifiers.parse_identifier`, with a fast path in front.

:func:`epcis.identifiers.parse_identifier` is thorough and costs ~0.2 ms a call; a catch-up
of a million events meets millions of codes. :func:`facts_of` answers the two forms that
make up nearly all of them — SGTIN / SSCC EPC URNs and their canonical GS1 Digital Links,
with plain serials — by hand (check digit included), and everything else through
``parse_identifier`` behind a cache. The answers are the same (a test compares them over
generated codes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from epcis.identifiers.check_digit import verify_key
from epcis.identifiers.limits import check_digit_problem, limit_problem
from epcis.identifiers.model import IdentifierError, shown
from epcis.identifiers.parse import parse_identifier


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """``canonical``: the canonical form, or the raw string when it does not parse (then
    ``parsed`` is False and the rest None / False)."""

    canonical: str
    parsed: bool
    product: str | None
    lot: str | None
    expiry: str | None
    is_instance: bool


_SERIAL = r"[0-9A-Za-z]{1,20}"
_SGTIN_URN = re.compile(rf"urn:epc:id:sgtin:([0-9]{{6,12}})\.([0-9]{{1,7}})\.({_SERIAL})")
_SSCC_URN = re.compile(r"urn:epc:id:sscc:([0-9]{6,12})\.([0-9]{5,11})")
_SGTIN_LINK = re.compile(rf"https://id\.gs1\.org/01/([0-9]{{14}})/21/({_SERIAL})")
_SSCC_LINK = re.compile(r"https://id\.gs1\.org/00/([0-9]{18})")


@lru_cache(maxsize=1 << 14)
def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of a key's digits (without the check digit)."""
    odd = sum(map(int, digits[-1::-2]))  # from the right: x3, x1, x3 …
    even = sum(map(int, digits[-2::-2]))
    return str(-(odd * 3 + even) % 10)


def _fast(raw: str) -> CodeInfo | None:
    if raw.startswith("urn:epc:id:sgtin:"):
        found = _SGTIN_URN.fullmatch(raw)
        if found is None:
            return None
        prefix, item, serial = found.groups()
        if len(prefix) + len(item) != 13:
            return None
        body = item[0] + prefix + item[1:]
        gtin = body + check_digit(body)
        return CodeInfo(f"https://id.gs1.org/01/{gtin}/21/{serial}", True, gtin, None, None, True)
    if raw.startswith("https://id.gs1.org/01/"):
        found = _SGTIN_LINK.fullmatch(raw)
        if found is None:
            return None
        gtin, serial = found.groups()
        if check_digit(gtin[:13]) != gtin[13]:
            return None
        return CodeInfo(raw, True, gtin, None, None, True)
    if raw.startswith("urn:epc:id:sscc:"):
        found = _SSCC_URN.fullmatch(raw)
        if found is None:
            return None
        prefix, reference = found.groups()
        if len(prefix) + len(reference) != 17:
            return None
        body = reference[0] + prefix + reference[1:]
        return CodeInfo(
            f"https://id.gs1.org/00/{body}{check_digit(body)}", True, None, None, None, True
        )
    if raw.startswith("https://id.gs1.org/00/"):
        found = _SSCC_LINK.fullmatch(raw)
        if found is None or check_digit(found.group(1)[:17]) != raw[-1]:
            return None
        return CodeInfo(raw, True, None, None, None, True)
    return None


@lru_cache(maxsize=1 << 16)
def _parsed(raw: str) -> CodeInfo:
    try:
        ident = parse_identifier(raw)
    except Exception:
        return CodeInfo(raw, False, None, None, None, False)
    return CodeInfo(
        ident.canonical, True, ident.product_key, ident.lot, ident.expiry, ident.is_instance
    )


_KNOWN_MAX = 1 << 18
_known: dict[str, CodeInfo] = {}
"""The answers, by raw form; those of the fast path under the canonical form too (an
event names a code by its EPC URN, the views then ask about its Digital Link: one parse,
not two). Emptied when full."""


def facts_of(raw: str) -> CodeInfo:
    """What the views need of ``raw`` (see :class:`CodeInfo`)."""
    found = _known.get(raw)
    if found is not None:
        return found
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    found = _fast(raw)
    if found is None:
        found = _known[raw] = _parsed(raw)
        return found
    _known[raw] = _known[found.canonical] = found  # the fast path answers both the same
    return found


def slow_facts_of(raw: str) -> CodeInfo:
    """:func:`facts_of` without the fast path (for the test that compares them)."""
    return _parsed.__wrapped__(raw)


_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


def code_problem(raw: str) -> str | None:
    """Why ``raw`` cannot be a code, or None when it can (a lookup may still find nothing).

    A value the identifier parser reads can; so can a URI it does not know (a private
    ``urn:…`` or ``https:…`` identifier, an EPC scheme it does not parse) that capture
    accepts as an identifier: the views keep those as given. Anything else — a value that
    is no URI, a GS1 key with a wrong check digit, an EPC URI or Digital Link beyond its
    standard's limits — capture refuses: the parser's message says why. (Ask after a
    lookup found nothing: events captured before a check existed may hold such values.)"""
    try:
        parse_identifier(raw)
    except IdentifierError as exc:
        reason = str(exc)
    else:
        return None
    text = raw.strip()
    if (
        _URI_SCHEME.match(text)
        and limit_problem(text) is None
        and check_digit_problem(text) is None
    ):
        return None
    return reason


_GTIN_LENGTHS = (8, 12, 13, 14)


def product_key(raw: str) -> str:
    """The product key the views store (GTIN-14 for GS1) of a product given as a GTIN-8, -12,
    -13 or -14 (check digit verified), or as an identifier of a product class (a GTIN's
    Digital Link ``https://id.gs1.org/01/…``, element string ``(01)…``, EPC pattern
    ``urn:epc:idpat:sgtin:….*``, a Chinese drug trace code's 7-digit 药品标识码).
    Raises :class:`IdentifierError` saying what is wrong."""
    text = raw.strip()
    if text.isascii() and text.isdigit():
        if len(text) in _GTIN_LENGTHS:
            gtin = text.zfill(14)
            try:
                verify_key("01", gtin)
            except IdentifierError as exc:
                raise IdentifierError(f"not a GTIN-{len(text)}: {exc}") from None
            return gtin
        if len(text) == 7 and text[0] == "8":
            return text  # the 药品标识码 of a Chinese drug trace code
        raise IdentifierError(
            f"{len(text)} digits: a GTIN has 8, 12, 13 or 14 digits"
            " (a Chinese drug product code 7, starting with 8)"
        )
    found = parse_identifier(text)
    if found.product_key is None:
        raise IdentifierError(f"{found.kind or found.scheme} {shown(text)} names no product")
    if found.is_instance or found.lot is not None:
        raise IdentifierError(
            f"{shown(text)} names one {'item' if found.is_instance else 'lot'}, not a product"
            " (give its GTIN)"
        )
    return found.product_key


def canonical(raw: str) -> str:
    """The canonical form of an identifier, or the raw string when it does not parse."""
    return facts_of(raw).canonical
