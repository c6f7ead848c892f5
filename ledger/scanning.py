"""The hospital scan: one terminal action on one or more codes, answered green / yellow / red.

:func:`scan` is the use case every way in calls (``POST /scans``, ``tracecode scan``). It
reads the body (:class:`~ledger.scan_request.ScanInvalid`: 400), turns a patient into its
pseudonym (the mapping kept where it can be erased), and hands the writer a
:class:`ScanGate`. The gate decides at commit time, in the writer's group, against the code
library (:mod:`ledger.code_library`), so that a check and its event are one atomic step:
of 64 terminals binding one code, one binds it and the others are red ``already_bound``.

What the gate does, in order: resolves the locations in the institution's master data
(kept current by the same pass over the log as the library); answers a ``scanId`` seen
before with its first answer; expands a container to the codes inside it; checks every
code (:mod:`ledger.scan_rules`) and the order's expected lines; and, unless something is
red, stores the scan's event (:mod:`ledger.scan_events`) and its
:class:`~ledger.scan_record.ScanRecord`. A red scan stores nothing in the log; the use case
then keeps it in the table of refused scans (:mod:`ledger.refused_scans`, for the quality
figures), on a worker thread so that an asyncio caller's loop is not held up.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.capture import CaptureRequest
from ledger.master_data import current_master_data
from ledger.outcomes import CaptureResult
from ledger.patients import BadPatientId, is_pseudonym, normalise, parse_pseudonym, pseudonym
from ledger.refused_scans import RefusedScans, refusal
from ledger.scan_answer import ScanAnswer
from ledger.scan_gate import ScanGate, only_owner
from ledger.scan_request import FieldError, ScanInvalid, read_scan
from ledger.scan_rules import Colour, ScanSettings

__all__ = ["ScanAnswer", "ScanForbidden", "ScanSettings", "scan"]

log = logging.getLogger(__name__)


class ScanForbidden(Exception):
    """A terminal scanning at another institution's location."""


async def scan(
    body: Any,
    principal: Principal,
    ledger: Ledger,
    commit: Callable[[CaptureRequest], Awaitable[CaptureResult]],
    settings: ScanSettings | None = None,
    *,
    institution: str | None = None,
) -> ScanAnswer:
    """Decide and (unless red) store one scan for ``principal``; ``institution``: whose
    locations a principal of every institution (the command line) scans at."""
    require(principal, Permission.SCAN)
    scan_ = read_scan(body)
    owner = principal.institution or institution or ""
    if not owner and scan_.location is not None:  # the events are the location's owner's
        owner = only_owner(current_master_data(ledger)[1], scan_.location)
    patient = patient_id = None
    if scan_.patient is not None:
        try:
            if is_pseudonym(scan_.patient):
                patient = parse_pseudonym(scan_.patient)
            else:
                patient_id = normalise(scan_.patient)
                patient = pseudonym(patient_id)
        except BadPatientId as exc:
            raise ScanInvalid([FieldError("/patient", str(exc))]) from None
    now = datetime.now(UTC)
    when = scan_.event_time or now
    config = settings or ScanSettings()
    if when - now > config.future_skew:
        raise ScanInvalid([FieldError("/eventTime", "eventTime is in the future")])
    gate = ScanGate(
        scan=scan_,
        institution=owner,
        terminal=principal.subject,
        patient=patient,
        when=when,
        back_filled=now - when > config.back_fill_after,
        settings=config,
        patient_id=patient_id,
    )
    request = CaptureRequest(
        str(uuid.uuid4()),
        "POST /scans",
        "rollback",
        institution=owner,
        captured_by=principal.subject,
        gate=gate,
    )
    result = await commit(request)
    answer: ScanAnswer = result.answer
    if answer.invalid:
        raise ScanInvalid(answer.invalid)
    if answer.forbidden is not None:
        raise ScanForbidden(answer.forbidden)
    if answer.colour is Colour.RED:
        refused = refusal(scan_, answer, principal.subject, when, patient)
        try:
            await asyncio.to_thread(RefusedScans(ledger).keep, refused)
        except Exception:  # the terminal is still told: the figures miss one refusal
            log.exception("refused scan %s of %s not kept", refused.scan_id, refused.institution)
    return answer
