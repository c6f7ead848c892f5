"""A cancel: the earlier scan's event declared in error, unless later scans depend on it.

Only a code's last scan can be cancelled: the library restores the state before it (and
then the scan before that one can be cancelled, back to the few states the library keeps,
:data:`ledger.code_library.UNDO_DEPTH`: beyond them the cancel is red ``cancel_too_old``). A
cancel sent again answers what it answered the first time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from epcis.identifiers.facts import canonical
from epcis.timestamps import utc_now
from ledger.capture import PreparedEvent
from ledger.code_library import CodeState
from ledger.gate import GateDecision, GroupView
from ledger.scan_answer import CodeAnswer, ScanAnswer, replayed
from ledger.scan_events import NAMESPACES, declaration
from ledger.scan_record import ScanRecord, scan_ref, stored_scan
from ledger.scan_rules import Colour, Reason, found

if TYPE_CHECKING:
    from ledger.scan_gate import ScanGate
    from ledger.scan_places import Places


class Cancel:
    """A cancel: the earlier scan's event declared in error, unless later scans depend on it."""

    def __init__(self, gate: ScanGate, view: GroupView, places: Places, answer: ScanAnswer):
        self.gate, self.view, self.places, self.answer = gate, view, places, answer

    def decide(self) -> GateDecision:
        scan, answer = self.gate.scan, self.answer
        target = self._target()
        if target is None:
            answer.colour = Colour.RED
            answer.reasons.append(found(Reason.NO_SUCH_SCAN, scan.scan_id or scan.event_id or ""))
            return GateDecision(answer, store=False)
        answer.scan_id = target.scan_id
        if target.cancelled:
            return GateDecision(replayed(target.cancel_answer), store=False)
        stored = [self.view.ledger.get_event(key) for key in target.keys]
        events = [s for s in stored if s is not None]
        for stored_event in events:
            for code in _named(stored_event.event):
                state: CodeState = self.view.library.get(code)
                if state.last_hash != stored_event.hash_id:
                    answer.codes.append(
                        CodeAnswer(code, code, Colour.RED, [found(Reason.CANCEL_NOT_LAST)])
                    )
                elif state.previous is None:  # cancelled back past what the library keeps
                    answer.codes.append(
                        CodeAnswer(code, code, Colour.RED, [found(Reason.CANCEL_TOO_OLD)])
                    )
                else:
                    answer.codes.append(CodeAnswer(code, code, Colour.GREEN, []))
        if any(c.colour is Colour.RED for c in answer.codes):
            answer.colour = Colour.RED
            return GateDecision(answer, store=False)
        prepared: list[PreparedEvent] = []
        for stored_event in events:
            corrected = declaration(stored_event.event, scan.reason)
            prepared.append(
                PreparedEvent(
                    len(prepared), corrected, stored_event.hash_id, None, dict(NAMESPACES)
                )
            )
        answer.event_ids = [p.hash_id for p in prepared]
        answer.stored = True
        target.cancel(
            keys=[p.key for p in prepared], answer=answer.as_json(), recorded_at=utc_now()
        )
        return GateDecision(answer, store=True, events=prepared, entries=[target], anchor=target.id)

    def _target(self) -> ScanRecord | None:
        scan, ledger = self.gate.scan, self.view.ledger
        if scan.scan_id is not None:
            return stored_scan(
                self.view, ScanRecord.create_id(scan_ref(self.places.institution, scan.scan_id))
            )
        stored = ledger.get_event(scan.event_id or "")
        if stored is None:
            return None
        ref = stored.event.get("tc:scan")
        if not isinstance(ref, str) or not ref.startswith(self.places.institution + "/"):
            return None
        return stored_scan(self.view, ScanRecord.create_id(ref))


def _named(event: dict[str, Any]) -> list[str]:
    return [canonical(v) for v in event.get("epcList") or () if isinstance(v, str)]
