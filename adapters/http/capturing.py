"""What ``POST /capture`` and ``POST /events`` share: reading the posted document within the
limits, running the capture, and putting the capture limits on every problem they answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request

from adapters.http.capture_answers import refusal
from adapters.http.negotiation import Syntax, check_body_syntax, request_syntax
from adapters.http.problems import ProblemError
from adapters.http.state import HttpCaptureRunner, read_body, state_of
from ledger import capture_flow
from ledger.access import Principal
from ledger.capture_flow import CaptureRules, Refused
from ledger.outcomes import CaptureResult

CAPTURE_PROBLEMS = (400, 409, 413, 415, 406, 500)
"""What a capture may be answered instead: not valid, an eventID of a different event, over
the limits, a media type not read here, a version not spoken, a failure of the server."""


@contextmanager
def advertising(headers: dict[str, str]) -> Iterator[None]:
    """Put the capture limits on every problem answered from inside the block too."""
    try:
        yield
    except ProblemError as exc:
        exc.headers = {**headers, **exc.headers}
        raise


async def posted_document(request: Request, limits: dict[str, str]) -> tuple[Syntax, bytes]:
    """The posted document and the syntax its ``Content-Type`` declares: 415 for a type
    not read here or a body that contradicts it, 413 (with ``limits``) over the size."""
    syntax = request_syntax(
        request.headers.get("content-type"), request.headers.get("content-encoding")
    )
    data = await read_body(request, state_of(request).max_bytes, limits)
    check_body_syntax(syntax, data)
    return syntax, data


async def capture_posted(
    request: Request, data: bytes, rules: CaptureRules, who: Principal
) -> CaptureResult:
    """Capture ``data`` for ``who``, answered once durable; a refusal (nothing stored) is
    raised as its problem."""
    try:
        captured = await capture_flow.capture(data, rules, who, HttpCaptureRunner(request))
    except Refused as exc:
        raise refusal(exc) from None
    return captured.result
