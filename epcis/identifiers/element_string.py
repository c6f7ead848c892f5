"""GS1 element strings as scanners send them (``]d2`` + AIs with GS separators) or as
printed (``(01)…(17)…``), read with biip; errors are explained in terms of the AI at fault.
"""

from __future__ import annotations

import re

from biip import ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString

from epcis.identifiers.gs1 import Element
from epcis.identifiers.model import IdentifierError

GS = "\x1d"
"""Group separator: how scanners transmit FNC1 between variable-length fields."""

_CSET82 = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!\"%&'()*+,-./:;<=>?_"
)
"""GS1 AI encodable character set 82 (GS1 General Specifications 7.11)."""
_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17"})
_SWALLOWABLE = ("21", "10", "17", "11", "15", "7003")
"""AIs that a variable-length field may silently absorb when its GS is missing."""


def ai_info(code: str) -> GS1ApplicationIdentifier | None:
    """biip's definition of exactly this AI (``extract`` alone matches by prefix)."""
    try:
        found = GS1ApplicationIdentifier.extract(code)
    except ParseError:
        return None
    return found if found.ai == code else None


def _fixed_digits(ai: GS1ApplicationIdentifier) -> int | None:
    """Length of an all-numeric fixed-length AI (``N2+N14`` -> 14), else None."""
    parts = ai.format.split("+")[1:]
    if parts and all(re.fullmatch(r"N\d+", part) for part in parts):
        return sum(int(part[1:]) for part in parts)
    return None


def explain(ai: GS1ApplicationIdentifier, data: str, *, at_end: bool) -> str:
    """Why ``data`` is not a valid value of ``ai``."""
    label = f"AI ({ai.ai})"
    if not data:
        return f"{label} has no data: truncated element string"
    size = _fixed_digits(ai)
    if size is not None:
        for index, char in enumerate(data[:size]):
            if not "0" <= char <= "9":
                return f"{label} needs {size} digits; found {char!r} at data position {index + 1}"
        if len(data) < size:
            hint = ": truncated element string" if at_end else ""
            return f"{label} needs {size} digits, got only {len(data)}{hint}"
    if ai.ai in _DATE_AIS:
        return f"bad date in {label}: {data[:6]!r} is not a valid YYMMDD date"
    for index, char in enumerate(data):
        if char not in _CSET82:
            return (
                f"{label} value {data!r}: character {char!r} at data position {index + 1}"
                " is not in the GS1 character set 82"
            )
    return f"{label} value {data!r} does not match its format {ai.format}"


def _to_element(found: GS1ElementString) -> Element:
    return Element(found.ai.ai, found.value, found.date)


def parse_raw(text: str) -> list[Element]:
    """AIs concatenated, variable-length ones ended by GS (a leading GS/FNC1 is allowed)."""
    elements: list[Element] = []
    pos = 0
    while pos < len(text) and text[pos] == GS:
        pos += 1
    if pos == len(text):
        raise IdentifierError("empty GS1 element string")
    while pos < len(text):
        rest = text[pos:]
        try:
            found = GS1ElementString.extract(rest)
        except ParseError as exc:
            raise IdentifierError(_diagnose(rest, pos, str(exc))) from None
        elements.append(_to_element(found))
        pos += len(found)
        while pos < len(text) and text[pos] == GS:
            pos += 1
    return elements


def _diagnose(rest: str, pos: int, biip_message: str) -> str:
    try:
        ai = GS1ApplicationIdentifier.extract(rest)
    except ParseError:
        return (
            f"no GS1 Application Identifier at position {pos + 1} of the element string:"
            f" {rest[:12]!r}"
        )
    data, gs, _ = rest[len(ai.ai) :].partition(GS)
    reason = explain(ai, data, at_end=not gs)
    return f"{reason} (at position {pos + 1}; biip: {biip_message})"


def parse_hri(text: str) -> list[Element]:
    """Human readable form ``(01)09520123456788(17)270101(10)LOT(21)SER``."""
    compact = "".join(text.split())
    pairs = re.findall(r"\((\d{2,4})\)([^(]*)", compact)
    if not pairs or "".join(f"({a}){d}" for a, d in pairs) != compact:
        raise IdentifierError(
            f"bad human-readable element string {text!r}: expected (AI)data(AI)data…"
        )
    elements = []
    for code, data in pairs:
        ai = ai_info(code)
        if ai is None:
            raise IdentifierError(f"unknown GS1 Application Identifier ({code})")
        try:
            found = GS1ElementString.parse(code + data)
        except ParseError as exc:
            raise IdentifierError(f"{explain(ai, data, at_end=True)} (biip: {exc})") from None
        elements.append(_to_element(found))
    return elements


def _swallowed(elements: list[Element]) -> list[Element]:
    """The AIs that the last, variable-length value seems to hide, if it looks like it ran
    on into them (biip reads such a field greedily to the end)."""
    last = elements[-1]
    ai = ai_info(last.ai)
    if ai is None or ".." not in ai.format:
        return []
    present = {element.ai for element in elements}
    for start in range(1, len(last.value)):
        tail = last.value[start:]
        if not tail.startswith(_SWALLOWABLE):
            continue
        try:
            hidden = parse_raw(tail)
        except IdentifierError:
            continue
        if all(element.ai not in present for element in hidden):
            return hidden
    return []


def missing_separator_notes(elements: list[Element]) -> list[str]:
    """Check a scan that holds no GS at all for a variable-length field that ran on.

    A lot (10) that hides a serial (21) is an error: the item would lose its identity.
    Anything else is only noted, since a serial or lot may well contain such digits.
    """
    hidden = _swallowed(elements) if elements else []
    if not hidden:
        return []
    last = elements[-1]
    names = ", ".join(f"({e.ai}) {e.value!r}" for e in hidden)
    if last.ai == "10" and any(e.ai == "21" for e in hidden):
        raise IdentifierError(
            f"AI (10) value {last.value!r} seems to run into AI {names}: the GS (FNC1)"
            " separator after the variable-length AI (10) is missing; set the scanner to"
            " transmit FNC1 as GS (0x1D)"
        )
    return [
        f"AI ({last.ai}) value {last.value!r} may hide AI {names}: no GS separator was sent"
        " after a variable-length field"
    ]
