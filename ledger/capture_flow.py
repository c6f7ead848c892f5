"""The one capture flow: read → limits → prepare → commit → a typed result.

``POST /capture``, ``POST /events`` and ``tracecode capture`` all call :func:`capture`; each
only says how its work runs (:class:`CaptureRunner`: the HTTP API validates small documents
on its event loop, larger ones on a worker thread while it watches the client, and commits
through the group committer; the command line does both in line) and renders the answer.

What can go wrong is a typed refusal (:class:`Refused` and its kinds), raised with nothing
stored; what went right is :class:`Captured`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

from epcis.limits import Limits, OverLimit, TooManyEvents
from ledger.access import Permission, Principal, require
from ledger.capture import (
    Cancelled,
    CaptureCancelled,
    CaptureRequest,
    ErrorBehaviour,
    never_cancelled,
    prepare,
)
from ledger.outcomes import CaptureResult


@dataclass(frozen=True)
class CaptureRules:
    """How a way in captures: its name in the job (``origin``), its limits (``max_events``
    included), the error behaviour, and whether it takes exactly one event."""

    origin: str
    limits: Limits
    error_behaviour: ErrorBehaviour = "rollback"
    one_event: bool = False


class Refused(Exception):
    """The capture stored nothing."""


class TooLarge(Refused):
    """Over a limit of the capture (events, bytes, depth, nodes): refused before validation.
    ``count`` and ``limit`` are set when it was the number of events."""

    def __init__(
        self, message: str, refused: OverLimit, count: int | None = None, limit: int | None = None
    ) -> None:
        super().__init__(message)
        self.problems = list(refused.problems)
        self.count = count
        self.limit = limit


class NotOneEvent(Refused):
    """A way in that takes one event was given a document holding ``count``."""

    def __init__(self, count: int) -> None:
        super().__init__(
            f"POST /events takes exactly one event; this document holds {count} "
            "(post documents to /capture)"
        )
        self.count = count


class InvalidDocument(Refused):
    """The document, or (under ``rollback``) one of its events, is not valid."""

    def __init__(self, request: CaptureRequest) -> None:
        errors = [p for p in request.problems if p.is_error]
        super().__init__(str(errors[0]) if errors else "the document is not valid")
        self.request = request


class EventIdConflict(Refused):
    """Under ``rollback``, an event reuses the eventID of a different event. The job is
    recorded (``result``), with nothing stored."""

    def __init__(self, request: CaptureRequest, result: CaptureResult) -> None:
        super().__init__(result.conflicts[0].message or "eventID conflict")
        self.request = request
        self.result = result


class ClientGone(Refused):
    """Whoever asked went away before the capture was stored."""


@dataclass(frozen=True)
class Captured:
    """A capture that was committed: the prepared request and what became of it."""

    request: CaptureRequest
    result: CaptureResult


class CaptureRunner(Protocol):
    """How an entry point runs the two steps that take time."""

    async def prepare(
        self, work: Callable[[Cancelled], CaptureRequest], size: int
    ) -> CaptureRequest:
        """Run ``work`` (validation and hashing: CPU) and return its request; ``size`` is
        the document's length in bytes (0 when not known)."""
        ...

    async def commit(self, request: CaptureRequest) -> CaptureResult:
        """Store the request; return once it is durable."""
        ...


async def capture(
    source: bytes | IO[bytes],
    rules: CaptureRules,
    principal: Principal,
    runner: CaptureRunner,
) -> Captured:
    """Capture a document (JSON-LD or XML, EPCIS or query document, or one event) for
    ``principal``: its institution is recorded with every event it stores."""
    require(principal, Permission.CAPTURE)

    def work(cancelled: Cancelled) -> CaptureRequest:
        return prepare(
            source,
            origin=rules.origin,
            error_behaviour=rules.error_behaviour,
            limits=rules.limits,
            cancelled=cancelled,
            institution=principal.institution,
            captured_by=principal.subject,
        )

    size = len(source) if isinstance(source, bytes) else 0
    try:
        request = await runner.prepare(work, size)
    except TooManyEvents as exc:
        if rules.one_event:
            raise NotOneEvent(exc.count) from None
        raise TooLarge(
            f"the document holds {exc.count} events; this server captures at most "
            f"{exc.limit} per request (GS1-EPCIS-Capture-Limit): split the document",
            exc,
            exc.count,
            exc.limit,
        ) from None
    except OverLimit as exc:
        raise TooLarge(f"{exc.problems[0].message}: split the document", exc) from None
    except CaptureCancelled:
        raise ClientGone("the client went away before its capture was stored") from None
    if rules.one_event and request.event_count != 1 and not request.document_errors:
        raise NotOneEvent(request.event_count)
    if not request.can_store_anything:
        raise InvalidDocument(request)
    try:
        result = await runner.commit(request)
    except CaptureCancelled:
        raise ClientGone("the client went away before its capture was stored") from None
    if result.conflicts and rules.error_behaviour == "rollback":
        raise EventIdConflict(request, result)
    return Captured(request, result)


class InLine:
    """A :class:`CaptureRunner` that does both steps at once, in the calling thread (the
    command line, tests)."""

    def __init__(self, commit: Callable[[CaptureRequest], CaptureResult]) -> None:
        self._commit = commit

    async def prepare(
        self, work: Callable[[Cancelled], CaptureRequest], size: int
    ) -> CaptureRequest:
        return work(never_cancelled)

    async def commit(self, request: CaptureRequest) -> CaptureResult:
        return self._commit(request)
