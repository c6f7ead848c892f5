"""Chinese drug traceability codes (药品追溯码, NMPAB/T 1002-2019): 20 digits starting with 8.

The first 7 digits are the 药品标识码 (product and packaging level, one prefix per level);
the last 13 are the serial. There is no public check digit: a code is valid when it has
this format and its prefix is in the product-prefix table, which lives outside this module.

A code has no URI of its own, and EPCIS wants URIs: its canonical form is the URN
``urn:tracecode:cn-drug:<20 digits>`` in the project's namespace ``urn:tracecode:``
(:data:`URN_PREFIX`), whether it was read bare, issuer-prefixed (``AHM.8…``) or as the URN.
``urn:tracecode:cn-drug:<20 digits>:unit:<n>`` (n ≥ 1) is reserved for the in-hospital
sub-code of the n-th smallest unit split from that box: it points back to its box code.
"""

from __future__ import annotations

import re
import unicodedata

from epcis.identifiers.model import Identifier, IdentifierError, shown

LENGTH = 20
PREFIX_LENGTH = 7
URN_PREFIX = "urn:tracecode:cn-drug:"
"""The canonical URI of a code is this followed by its 20 digits."""
UNIT_MARK = ":unit:"

NOTES = (
    "no public check digit for Chinese drug trace codes: validity is format + product-prefix"
    " lookup",
    "packaging level is encoded in the 7-digit product prefix (药品标识码): resolve it with"
    " the product-prefix table",
)
_CANONICAL_NOTE = f"the canonical form is the URN {URN_PREFIX}<20 digits>"

_ISSUER_PREFIXED = re.compile(r"([A-Za-z]{2,4})\.(.*)", re.DOTALL)


def check_code(code: str) -> None:
    """Raise unless ``code`` is 20 ASCII digits starting with 8."""
    for index, char in enumerate(code):
        if not "0" <= char <= "9":
            kind = (
                "a non-ASCII digit"
                if unicodedata.decimal(char, None) is not None
                else "a non-digit"
            )
            raise IdentifierError(
                f"{kind} {char!r} at position {index + 1} of Chinese drug trace code {code!r}"
            )
    if len(code) != LENGTH:
        raise IdentifierError(
            f"{len(code)} digits where {LENGTH} are needed for a Chinese drug trace code"
        )
    if code[0] != "8":
        raise IdentifierError(f"Chinese drug trace codes start with 8, got {code[0]!r}")


def _trace_code(
    raw: str,
    code: str,
    *,
    scheme: str,
    symbology: str | None = None,
    issuer: str | None = None,
    notes: tuple[str, ...] = NOTES,
) -> Identifier:
    """The identifier of a checked 20-digit code: its canonical form is :func:`urn_of`."""
    return Identifier(
        raw=raw,
        canonical=urn_of(code),
        family="cn-drug-trace-code",
        scheme=scheme,
        product_key=code[:PREFIX_LENGTH],
        serial=code[PREFIX_LENGTH:],
        is_instance=True,
        issuer=issuer,
        symbology=symbology,
        notes=notes,
    )


def urn_of(code: str) -> str:
    """The canonical URI of a checked 20-digit code."""
    return URN_PREFIX + code


def parse_cn_drug_code(raw: str, code: str, *, symbology: str | None = None) -> Identifier:
    check_code(code)
    return _trace_code(
        raw, code, scheme="trace-code-20", symbology=symbology, notes=(_CANONICAL_NOTE, *NOTES)
    )


def is_trace_code_urn(text: str) -> bool:
    """``urn:tracecode:cn-drug:…`` (URN scheme and namespace are case-insensitive)."""
    return text[: len(URN_PREFIX)].lower() == URN_PREFIX


def parse_trace_code_urn(raw: str, text: str) -> Identifier:
    """``urn:tracecode:cn-drug:<20 digits>`` or its split-unit sub-code ``…:unit:<n>``."""
    code, mark, unit = text[len(URN_PREFIX) :].partition(":")
    try:
        check_code(code)
    except IdentifierError as exc:
        raise IdentifierError(f"after {URN_PREFIX!r}: {exc}") from None
    if not mark:
        return _trace_code(raw, code, scheme="urn", notes=(_CANONICAL_NOTE, *NOTES))
    if not unit[:5].lower() == "unit:":
        raise IdentifierError(
            f"after the 20-digit code only ':unit:<n>' may follow, got {shown(':' + unit)}"
        )
    number = unit[5:]
    if not (number.isascii() and number.isdigit()) or number[0] == "0":
        raise IdentifierError(
            f"the unit of a split-unit sub-code is a whole number from 1 without leading"
            f" zeros, got {shown(number)}"
        )
    box = _trace_code(raw, code, scheme="urn-unit")
    return box.replace(
        canonical=f"{urn_of(code)}{UNIT_MARK}{number}",
        attributes={"box": urn_of(code), "unit": number},
        notes=(
            f"in-hospital sub-code of smallest unit {number} split from box {urn_of(code)}",
            *NOTES,
        ),
    )


def trace_code_urn(value: str) -> str | None:
    """The canonical URN of ``value`` when it is a trace code written bare, issuer-prefixed
    or as its URN (exactly as given: no trimming), else None."""
    head = value[:1]
    try:
        if "0" <= head <= "9":
            check_code(value)
            return urn_of(value)
        if is_trace_code_urn(value):
            return parse_trace_code_urn(value, value).canonical
        if is_issuer_prefixed(value):
            return parse_issuer_prefixed(value, value).canonical
    except IdentifierError:
        return None
    return None


def is_issuer_prefixed(text: str) -> bool:
    """``AHM.8123…``: an issuing-agency code, a dot, then digits."""
    found = _ISSUER_PREFIXED.fullmatch(text)
    if found is None:
        return False
    return found.group(1).upper() != "MA" and found.group(2)[:1].isdigit()


def parse_issuer_prefixed(raw: str, text: str, *, symbology: str | None = None) -> Identifier:
    """An issuing-agency prefix (seed 004: ``AHM.``) in front of a 20-digit trace code."""
    found = _ISSUER_PREFIXED.fullmatch(text)
    if not found:
        raise IdentifierError(f"expected ISSUER.<20-digit code>, got {text!r}")
    issuer, code = found.group(1).upper(), found.group(2)
    try:
        check_code(code)
    except IdentifierError as exc:
        raise IdentifierError(f"after issuer prefix '{issuer}.': {exc}") from None
    return _trace_code(
        raw,
        code,
        scheme="issuer-prefixed",
        issuer=issuer,
        symbology=symbology,
        notes=(
            f"issuer prefix '{issuer}' kept as issuer; {_CANONICAL_NOTE}",
            *NOTES,
        ),
    )
