"""GS1 Digital Link URIs on any domain, read with biip, and their EPC URI equivalent."""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI

from epcis.identifiers.check_digit import verify_keys
from epcis.identifiers.element_string import ai_info, explain
from epcis.identifiers.epc_uri import format_epc_uri
from epcis.identifiers.gs1 import PRIMARY_KEYS, Element, lookup_company_prefix
from epcis.identifiers.model import IdentifierError

SHORT_NAMES = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
    "glnx": "254",
    "cpsn": "8011",
}
"""Digital Link 1.0 alphanumeric path names, still found in the wild."""


def split_uri(uri: str) -> SplitResult:
    """``urlsplit`` raising :class:`IdentifierError` (it raises ValueError on bad hosts)."""
    try:
        return urlsplit(uri)
    except ValueError as exc:
        raise IdentifierError(f"bad URI {uri!r}: {exc}") from None


def looks_like_digital_link(text: str) -> bool:
    """An http(s) URI with a GS1 primary key AI (or its short name) as a path segment."""
    parts = split_uri(text)
    if parts.scheme not in ("http", "https"):
        return False
    segments = parts.path.split("/")
    return any(SHORT_NAMES.get(s, s) in PRIMARY_KEYS for s in segments[:-1])


def _with_ai_names(segments: list[str]) -> list[str]:
    """Replace short names by AIs in key positions only: a serial may well be ``lot``."""
    start = next((i for i, s in enumerate(segments) if SHORT_NAMES.get(s, s) in PRIMARY_KEYS), None)
    if start is None:
        return segments
    return segments[:start] + [
        SHORT_NAMES.get(s, s) if (i - start) % 2 == 0 else s
        for i, s in enumerate(segments[start:], start)
    ]


def parse_digital_link(uri: str) -> tuple[list[Element], list[str]]:
    """The AI values of a Digital Link (path and query), and notes on what was ignored."""
    parts = split_uri(uri)
    segments = _with_ai_names(parts.path.split("/"))
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()  # one trailing slash
    notes: list[str] = []
    query = parse_qsl(parts.query, keep_blank_values=True)
    ignored = sorted({k for k, _ in query if ai_info(k) is None})
    if ignored:
        notes.append("query parameters that are not GS1 AIs ignored: " + ", ".join(ignored))
    if parts.fragment:
        notes.append(f"fragment #{parts.fragment} ignored")
    normalised = urlunsplit((parts.scheme, parts.netloc, "/".join(segments), parts.query, ""))
    try:
        parsed = GS1DigitalLinkURI.parse(normalised)
    except ParseError as exc:
        raise IdentifierError(f"bad GS1 Digital Link {uri!r}: {_explain(str(exc))}") from None
    elements = [Element(e.ai.ai, e.value, e.date) for e in parsed.element_strings]
    return elements, notes


def _explain(message: str) -> str:
    """Rephrase biip's AI pattern errors (``Failed to match '01123' with GS1 AI (01) …``)."""
    if message.startswith("Failed to match '") and " with GS1 AI (" in message:
        element = message[len("Failed to match '") : message.index("' with GS1 AI (")]
        code = message.split(" with GS1 AI (", 1)[1].split(")", 1)[0]
        ai = ai_info(code)
        if ai is not None:
            return f"{explain(ai, element[len(code) :], at_end=True)} ({message})"
    if message.startswith("Failed to parse GS1 AI (") and "date" in message:
        return "bad date in " + message[len("Failed to parse GS1 ") :]
    return message


def digital_link_to_epc_urn(uri: str, company_prefix_length: int | None = None) -> str | None:
    """The EPC URI (class / pattern URI for a class) of a GS1 Digital Link.

    ``company_prefix_length`` splits the key; without it biip's GS1 prefix table is asked.
    None when the key has no EPC form or the prefix length is not known. A malformed Digital
    Link raises :class:`IdentifierError`.
    """
    elements, _ = parse_digital_link(uri)
    ais = {element.ai: element.value for element in elements}
    key_ai = next((ai for ai in PRIMARY_KEYS if ai in ais), None)
    if key_ai is None:  # pragma: no cover - biip insists on a primary key
        return None
    verify_keys(ais)
    if company_prefix_length is None:
        prefix = lookup_company_prefix(key_ai, ais[key_ai])
        if prefix is None:
            return None
        company_prefix_length = len(prefix)
    return format_epc_uri(ais, company_prefix_length)
