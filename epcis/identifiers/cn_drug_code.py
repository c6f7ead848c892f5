"""Chinese drug traceability codes (药品追溯码, NMPAB/T 1002-2019): 20 digits starting with 8.

The first 7 digits are the 药品标识码 (product and packaging level, one prefix per level);
the last 13 are the serial. There is no public check digit: a code is valid when it has
this format and its prefix is in the product-prefix table, which lives outside this module.
"""

from __future__ import annotations

import re
import unicodedata

from epcis.identifiers.model import Identifier, IdentifierError

LENGTH = 20
PREFIX_LENGTH = 7

NOTES = (
    "no public check digit for Chinese drug trace codes: validity is format + product-prefix"
    " lookup",
    "packaging level is encoded in the 7-digit product prefix (药品标识码): resolve it with"
    " the product-prefix table",
)

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
    symbology: str | None,
    issuer: str | None = None,
    notes: tuple[str, ...] = NOTES,
) -> Identifier:
    """The identifier of a checked 20-digit code: its canonical form is the bare code."""
    return Identifier(
        raw=raw,
        canonical=code,
        family="cn-drug-trace-code",
        scheme=scheme,
        product_key=code[:PREFIX_LENGTH],
        serial=code[PREFIX_LENGTH:],
        is_instance=True,
        issuer=issuer,
        symbology=symbology,
        notes=notes,
    )


def parse_cn_drug_code(raw: str, code: str, *, symbology: str | None = None) -> Identifier:
    check_code(code)
    return _trace_code(raw, code, scheme="trace-code-20", symbology=symbology)


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
            f"issuer prefix '{issuer}' kept as issuer; the canonical form is the bare code",
            *NOTES,
        ),
    )
