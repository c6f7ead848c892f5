"""The GS1 mod-10 check digit (GS1 General Specifications 7.9.1)."""

from __future__ import annotations

from functools import lru_cache

from epcis.identifiers.model import IdentifierError


def gs1_check_digit(digits: str) -> int:
    """Check digit for a GS1 key given without its check digit (GTIN, GLN, SSCC, GSRN …)."""
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise IdentifierError(f"a GS1 check digit needs ASCII digits, got {digits!r}")
    return mod10(digits)


@lru_cache(maxsize=65536)  # a hospital's codes share few GTINs and GLNs
def mod10(digits: str) -> int:
    """Mod-10 without input checks; any Unicode decimal digit counts (as ``int`` reads it).

    The Event Hash ID normaliser needs this leniency: the reference implementation's
    ``\\d`` accepts non-ASCII digits and so must we.
    """
    total = 0
    for i, char in enumerate(reversed(digits)):
        total += int(char) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


KEY_NAMES = {
    "00": "SSCC",
    "01": "GTIN",
    "02": "GTIN",
    "253": "GDTI",
    "255": "GCN",
    "402": "GSIN",
    "414": "GLN",
    "417": "GLN",
    "8003": "GRAI",
    "8006": "GTIN",
    "8017": "GSRN-P",
    "8018": "GSRN",
}
"""AIs whose value starts with a check-digited key, with the key's name."""

CHECKED_LENGTH = {
    "00": 18,
    "01": 14,
    "02": 14,
    "253": 13,
    "255": 13,
    "402": 17,
    "414": 13,
    "417": 13,
    "8003": 14,
    "8006": 14,
    "8017": 18,
    "8018": 18,
}
"""How many leading digits of the AI value the check digit closes."""


def verify_keys(ais: dict[str, str]) -> None:
    """Raise on the first AI value whose GS1 key has a wrong check digit."""
    for ai, value in ais.items():
        verify_key(ai, value)


def verify_key(ai: str, value: str) -> None:
    """Raise if the check digit of the GS1 key in AI ``ai``'s value is wrong."""
    length = CHECKED_LENGTH.get(ai)
    if length is None:
        return
    key = value[:length]
    if len(key) != length or not key.isascii() or not key.isdigit():
        raise IdentifierError(f"{KEY_NAMES[ai]} in AI ({ai}) needs {length} digits, got {key!r}")
    expected = mod10(key[:-1])
    if int(key[-1]) != expected:
        raise IdentifierError(
            f"bad {KEY_NAMES[ai]} check digit at position {length} of {key!r}: "
            f"expected {expected}, got {key[-1]}"
        )
