"""Which syntax a request body is in (``Content-Type``) and which one to answer in (``Accept``).

Request bodies: JSON-LD as ``application/json`` or ``application/ld+json``; XML as
``application/xml`` or ``text/xml``. Anything else, a compressed body, or a body whose first
character contradicts its declared type is answered 415.

Responses: ``Accept`` is matched per RFC 9110 §12.5.1 (media ranges, ``q`` weights, the most
specific range decides); when several offers are equally acceptable the server's order wins,
so a missing ``Accept`` or ``*/*`` gets the first offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from adapters.http.problems import ProblemError
from epcis.problems import excerpt

Syntax = Literal["json", "xml"]

JSON_LD = "application/ld+json"
JSON = "application/json"
XML = "application/xml"
TEXT_XML = "text/xml"
REQUEST_TYPES: dict[str, Syntax] = {JSON_LD: "json", JSON: "json", XML: "xml", TEXT_XML: "xml"}
DOCUMENT_CONTENT = {
    media: {"schema": {"type": "object" if syntax == "json" else "string"}}
    for media, syntax in REQUEST_TYPES.items()
}
"""The OpenAPI ``content`` of a body in any of the request types (an EPCIS document or
event, in JSON-LD or XML)."""


def media_type(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype`` (lower case) and the parameters of a media type."""
    main, *params = value.split(";")
    out: dict[str, str] = {}
    for param in params:
        name, _, val = param.partition("=")
        if name.strip():
            out[name.strip().lower()] = val.strip().strip('"')
    return main.strip().lower(), out


def request_syntax(content_type: str | None, content_encoding: str | None = None) -> Syntax:
    """The syntax a request declares for its body; a 415 problem when it is not one we read."""
    supported = ", ".join(REQUEST_TYPES)
    if content_encoding and content_encoding.strip().lower() not in ("", "identity"):
        raise ProblemError(
            415,
            f"Content-Encoding {excerpt(content_encoding)} is not supported; send the document "
            "uncompressed",
        )
    if not content_type:
        raise ProblemError(415, f"a Content-Type is required: one of {supported}")
    kind, _ = media_type(content_type)
    syntax = REQUEST_TYPES.get(kind)
    if syntax is None:
        raise ProblemError(
            415, f"Content-Type {excerpt(kind)} is not supported; use one of {supported}"
        )
    return syntax


def check_body_syntax(declared: Syntax, data: bytes) -> None:
    """A 415 problem when the body is plainly in the other syntax than its Content-Type says."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    found: Syntax | None = "xml" if head == b"<" else "json" if head in (b"{", b"[") else None
    if found is not None and found != declared:
        names = {"json": "JSON", "xml": "XML"}
        raise ProblemError(
            415,
            f"the Content-Type says {names[declared]} but the body is {names[found]}",
        )


def _ranges(accept: str) -> list[tuple[str, float]]:
    out = []
    for item in accept.split(","):
        if not item.strip():
            continue
        kind, params = media_type(item)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        out.append((kind, q))
    return out


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The q of the most specific range that matches ``offer`` (0 when none does)."""
    main = offer.split("/", 1)[0]
    best: tuple[int, float] | None = None
    for kind, q in ranges:
        if kind == offer:
            specificity = 2
        elif kind == f"{main}/*":
            specificity = 1
        elif kind == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, q)
    return best[1] if best else 0.0


def acceptable(accept: str | None, offers: Sequence[str]) -> list[str]:
    """The offers ``Accept`` allows, best first (equal weights: in the server's order)."""
    if not accept or not accept.strip():
        return list(offers)
    ranges = _ranges(accept)
    weighted = [(q, n, offer) for n, offer in enumerate(offers) if (q := _quality(offer, ranges))]
    return [offer for _, _, offer in sorted(weighted, key=lambda w: (-w[0], w[1]))]


def choose(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer to answer with, or None when ``Accept`` rules out every one."""
    allowed = acceptable(accept, offers)
    return allowed[0] if allowed else None


def not_acceptable(accept: str | None, offers: Sequence[str], why: str = "") -> ProblemError:
    return ProblemError(
        406,
        f"cannot answer in any type that Accept {excerpt(accept)} allows; "
        f"available: {', '.join(offers)}" + (f" ({why})" if why else ""),
    )


def negotiate(accept: str | None, offers: Sequence[str]) -> str:
    """Like :func:`choose`, but a 406 problem when nothing offered is acceptable."""
    chosen = choose(accept, offers)
    if chosen is None:
        raise not_acceptable(accept, offers)
    return chosen
