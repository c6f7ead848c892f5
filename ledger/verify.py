"""Walk the log and check the tamper-evidence chain (``tracecode verify``).

The walk reads the stored records in log order (the store's own notification order) and
checks for each one that it decodes, that its position is the next one, that it links to
the record before it, that its link covers its content, and that its event still has the
Event Hash ID it was stored under. At the end the chain head must be the last record.
An altered, removed, inserted or reordered row breaks one of these; the report names the
first bad record and what is wrong with it.

A row rewritten together with every link after it passes this walk: that is what signed
checkpoints are for (:mod:`ledger.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from epcis.event_hash import EventHasher
from ledger.application import Ledger
from ledger.domain import GENESIS_LINK, EventRecord, chain_link, record_content

_FIELDS = (
    "key",
    "hash_id",
    "event_id",
    "position",
    "record_time",
    "capture_id",
    "event",
    "namespaces",
)


@dataclass(frozen=True)
class Finding:
    """One thing wrong: where (position and/or the store's notification id) and what."""

    message: str
    position: int | None = None
    notification_id: int | None = None
    event_id: str | None = None

    def __str__(self) -> str:
        where = []
        if self.position is not None:
            where.append(f"position {self.position}")
        if self.notification_id is not None:
            where.append(f"log row {self.notification_id}")
        if self.event_id:
            where.append(f"eventID {self.event_id}")
        return f"{', '.join(where) or 'ledger'}: {self.message}"


@dataclass
class VerifyReport:
    checked: int = 0
    last_position: int = 0
    last_link: str = GENESIS_LINK
    links: dict[int, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


def verify_chain(ledger: Ledger, *, keep_links: Iterable[int] = ()) -> VerifyReport:
    """Check the whole chain; ``keep_links`` lists positions whose links to remember."""
    wanted = set(keep_links)
    report = VerifyReport()
    expected = 1
    previous_link = GENESIS_LINK
    seen: set[int] = set()
    for notification_id, state in ledger.raw_records():
        report.checked += 1
        if state is None or not all(k in state for k in (*_FIELDS, "link", "previous_link")):
            report.findings.append(
                Finding("the stored record cannot be read: it was altered", None, notification_id)
            )
            continue
        position = state["position"]
        found = _check_record(state, notification_id)
        if position in seen:
            found.insert(0, "this position is stored twice: a record was inserted")
        elif position > expected:
            found.insert(
                0,
                f"positions {expected}..{position - 1} are missing here: "
                "records were removed or moved",
            )
        elif position < expected:
            found.insert(0, f"comes after position {expected - 1}: records were reordered")
        elif state["previous_link"] != previous_link:
            found.append("does not link to the record before it: the chain is broken here")
        for message in found:
            report.findings.append(Finding(message, position, notification_id, state["event_id"]))
        seen.add(position)
        expected = max(expected, position + 1)
        previous_link = state["link"]
        if position in wanted:
            report.links[position] = state["link"]
        report.last_position, report.last_link = position, state["link"]
    head_position, head_link = ledger.current_head()
    if (head_position, head_link) != (report.last_position, report.last_link):
        report.findings.append(
            Finding(
                f"the chain head says position {head_position} but the log ends at "
                f"position {report.last_position}: records at the end were removed or added",
                head_position,
            )
        )
    return report


def _check_record(state: dict[str, Any], notification_id: int) -> list[str]:
    found: list[str] = []
    content = record_content(**{k: state[k] for k in _FIELDS})
    if chain_link(state["previous_link"], content) != state["link"]:
        found.append("its content does not match its link: the record was altered")
    try:
        hasher = EventHasher(state["namespaces"])
        if hasher.hash_id(state["event"]) != state["hash_id"]:
            found.append("its event no longer has the Event Hash ID it was stored under")
    except Exception as exc:  # a mangled event may not even hash
        found.append(f"its event cannot be hashed ({exc})")
    originator = state.get("originator_id")
    if originator is not None and originator != EventRecord.create_id(state["key"]):
        found.append("it is stored under another event's identity")
    return found
