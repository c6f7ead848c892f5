"""Data-quality figures of the hospital scans (seed 000 §3.5.2), per department and period.

Read from the log (the accepted scans: their events and :class:`ScanRecord`\\s, a cancel
being the record's ``Cancelled`` event; the suppliers' shipments) and from the table of
refused scans (:mod:`ledger.refused_scans`). One row per institution × department (the
location id the scan was made at) × period (``day``: ``2026-03-05``, ``week``: ISO
``2026-W10``, ``month``: ``2026-03``; UTC), the scan's time deciding both filter and bucket:

* **scans**: accepted scans plus refused ones (a ``cancel`` is not a scan of its own: it
  counts as the correction of the scan it cancels, in that scan's row);
* **scan accuracy**: 1 − (red + cancelled) / scans;
* **back-fill rate**: accepted scans recorded as back-filled / accepted scans;
* **anomaly rate**: refused scans for a ``recalled``, ``frozen`` or ``already_bound``
  (duplicate bind) code / scans;
* **bind rate**: codes bound (and not cancelled) / codes in bind scans (accepted or
  refused), also per location
  kind (``pharmacy``: the outpatient and inpatient pharmacies, ``ward``, ``department``…);
* **receiving scan rate**: boxes received with a ``receive`` scan / boxes the ledger knows
  came to the institution — those a supplier's shipping event (``POST /capture``) names
  a location of the institution as its destination, and those received by scan (a
  hospital that scans single-point learns of a box only then). A box counts once: at its
  receiving scan (location, time) when there is one, else at its shipment's destination
  and time. A case counts as its boxes;
* **upload success / timeliness** (the 医保 uploads, :mod:`projections.outbox`): of the
  messages the scans of the row owed the 医保 platform (superseded ones aside), the share
  acknowledged, and the share acknowledged within :data:`TIMELY` of the scan (seed 003 asks
  for real-time upload, batch as a fallback); null when no message was owed or when the
  caller gives no uploads.

Reads the whole log on each call (an auditor's figure, not a hot path).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger.application import Ledger
from ledger.locations import parse_location_uri
from ledger.master_data import current_master_data
from ledger.refused_scans import RefusedScans, moment
from ledger.scan_record import ScanRecord

PERIODS = ("day", "week", "month")
ANOMALIES = {"recalled": "recalled", "frozen": "frozen", "already_bound": "alreadyBound"}
NOT_SCANNING = frozenset({"settle"})
"""Operations of the HIS rather than of a terminal's scanner (a settlement told later): not
counted in the scanning figures, stored or refused."""
_RECORD = f"{ScanRecord.__module__}:{ScanRecord.__qualname__}"
_TOPICS = [f"{_RECORD}.Scanned", f"{_RECORD}.Cancelled"]


TIMELY = timedelta(hours=24)
"""An upload acknowledged within this time of its scan counts as timely."""


@dataclass(frozen=True)
class Upload:
    """A message a scan owed the 医保 platform, for the figures."""

    institution: str
    department: str
    """The location id the scan was made at."""
    made: datetime
    """The scan's (event) time."""
    acknowledged: datetime | None


class QualityAsked(ValueError):
    """A parameter of the figures that cannot be read: ``name`` says which."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def parse_time(name: str, value: str | None) -> datetime | None:
    """A ``from`` / ``to`` bound: a date (midnight UTC) or a date-time with its offset."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QualityAsked(
            name, f"{value[:40]!r} is not a date (YYYY-MM-DD) or a date-time with an offset"
        ) from None
    if found.tzinfo is None:
        raise QualityAsked(name, f"{value[:40]!r} has no UTC offset")
    return found.astimezone(UTC)


def period_of(moment_: datetime, period: str) -> str:
    day = moment_.astimezone(UTC).date()
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


@dataclass
class Row:
    institution: str
    department: str
    kind: str | None
    period: str
    accepted: int = 0
    red: int = 0
    cancelled: int = 0
    back_filled: int = 0
    anomalies: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ANOMALIES.values(), 0))
    anomalous: int = 0
    bound: int = 0
    bind_attempts: int = 0
    received: int = 0
    expected: int = 0
    uploads: int = 0
    uploaded: int = 0
    timely: int = 0

    @property
    def scans(self) -> int:
        return self.accepted + self.red

    def as_json(self) -> dict[str, Any]:
        return {
            "institution": self.institution,
            "department": self.department,
            "kind": self.kind,
            "period": self.period,
            "scans": self.scans,
            "accepted": self.accepted,
            "red": self.red,
            "cancelled": self.cancelled,
            "backFilled": self.back_filled,
            "anomalies": {**self.anomalies, "total": self.anomalous},
            "binds": {"bound": self.bound, "attempts": self.bind_attempts},
            "receiving": {"scanned": self.received, "expected": self.expected},
            "uploads": {"owed": self.uploads, "acknowledged": self.uploaded, "timely": self.timely},
            "rates": {
                "scanAccuracy": _complement(_rate(self.red + self.cancelled, self.scans)),
                "backFill": _rate(self.back_filled, self.accepted),
                "anomaly": _rate(self.anomalous, self.scans),
                "bind": _rate(self.bound, self.bind_attempts),
                "receivingScan": _rate(self.received, self.expected),
                "uploadSuccess": _rate(self.uploaded, self.uploads),
                "uploadTimeliness": _rate(self.timely, self.uploads),
            },
        }


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 6)


def _complement(rate: float | None) -> float | None:
    return None if rate is None else round(1 - rate, 6)


@dataclass
class Quality:
    """The figures asked for: rows in (institution, department, period) order, and the bind
    figures per location kind."""

    start: datetime | None
    end: datetime | None
    period: str
    department: str | None
    rows: list[Row]

    def by_kind(self) -> dict[str, dict[str, Any]]:
        kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in self.rows:
            if row.bind_attempts:
                kinds[row.kind or "unknown"][0] += row.bound
                kinds[row.kind or "unknown"][1] += row.bind_attempts
        return {
            kind: {"bound": bound, "attempts": tried, "rate": _rate(bound, tried)}
            for kind, (bound, tried) in sorted(kinds.items())
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "from": None if self.start is None else self.start.isoformat(),
            "to": None if self.end is None else self.end.isoformat(),
            "period": self.period,
            "department": self.department,
            "rows": [row.as_json() for row in self.rows],
            "bindsByKind": self.by_kind(),
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.rows:
            shown = row.as_json()
            rates = shown["rates"]
            writer.writerow(
                [
                    row.institution,
                    row.department,
                    row.kind or "",
                    row.period,
                    row.scans,
                    row.accepted,
                    row.red,
                    row.cancelled,
                    row.back_filled,
                    row.anomalous,
                    row.bound,
                    row.bind_attempts,
                    row.received,
                    row.expected,
                    *("" if rates[k] is None else rates[k] for k in _CSV_RATES),
                ]
            )
        return out.getvalue()


_CSV_RATES = (
    "scanAccuracy",
    "backFill",
    "anomaly",
    "bind",
    "receivingScan",
    "uploadSuccess",
    "uploadTimeliness",
)
CSV_COLUMNS = [
    "institution",
    "department",
    "kind",
    "period",
    "scans",
    "accepted",
    "red",
    "cancelled",
    "back_filled",
    "anomalies",
    "bound",
    "bind_attempts",
    "received",
    "expected",
    "scan_accuracy",
    "back_fill_rate",
    "anomaly_rate",
    "bind_rate",
    "receiving_scan_rate",
    "upload_success",
    "upload_timeliness",
]


def quality(
    ledger: Ledger,
    scope: str | None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    period: str = "month",
    department: str | None = None,
    uploads: Iterable[Upload] = (),
) -> Quality:
    """The figures of ``scope`` (None: every institution) for scans made in ``[start,
    end)``, per ``period``, of one ``department`` (a location id) or all; the upload
    figures from ``uploads`` (the outbox's, which this side does not read)."""
    if period not in PERIODS:
        raise QualityAsked("period", f"{period[:40]!r} is not one of {', '.join(PERIODS)}")
    if start is not None and end is not None and end <= start:
        raise QualityAsked("to", "is not after from")
    _, data = current_master_data(ledger)
    kinds = {key: row["kind"] for key, row in data.locations.items()}
    rows: dict[tuple[str, str, str], Row] = {}

    def row(institution: str, location: str, when: datetime) -> Row | None:
        if (start is not None and when < start) or (end is not None and when >= end):
            return None
        if department is not None and location != department:
            return None
        key = (institution, location, period_of(when, period))
        if key not in rows:
            rows[key] = Row(institution, location, kinds.get((institution, location)), key[2])
        return rows[key]

    records: dict[str, dict[str, Any]] = {}
    cancelled: set[Any] = set()
    for notification in ledger.notifications(_TOPICS):
        state = ledger.mapper.to_domain_event(notification).__dict__
        if notification.topic.endswith(".Scanned"):
            if scope is None or state["institution"] == scope:
                records[state["ref"]] = state
        else:
            cancelled.add(state["originator_id"])
    arrivals: dict[str, tuple[str, str, datetime]] = {}
    receipts: dict[str, tuple[str, str, datetime]] = {}
    scans: set[str] = set()
    for stored in ledger.stored_events():
        event = stored.event
        if "errorDeclaration" in event:
            continue
        when = _time(event.get("eventTime"))
        if when is None:
            continue
        ref = event.get("tc:scan")
        if ref is None:
            _shipment(event, when, scope, arrivals)
            continue
        record = records.get(ref)
        if record is None or record["operation"] in NOT_SCANNING:
            continue
        location = _location_id(event.get("readPoint", {}).get("id"))
        counted = row(record["institution"], location, when)
        is_cancelled = record["originator_id"] in cancelled
        if counted is not None:
            if ref not in scans:  # a scan may store several events (a pre-scan: one a box)
                scans.add(ref)
                counted.accepted += 1
                counted.cancelled += is_cancelled
                counted.back_filled += bool(event.get("tc:backFilled"))
            if record["operation"] == "bind":
                counted.bound += 0 if is_cancelled else len(event.get("epcList", []))
                counted.bind_attempts += len(event.get("epcList", []))
        if record["operation"] == "receive" and not is_cancelled:
            containers = {c["canonical"] for c in record["answer"]["codes"] if c.get("contents")}
            for epc in event.get("epcList", []):
                if epc not in containers:
                    receipts.setdefault(epc, (record["institution"], location, when))
    for epc, (institution, location, when) in {**arrivals, **receipts}.items():
        counted = row(institution, location, when)
        if counted is not None:
            counted.expected += 1
            counted.received += epc in receipts
    bounds = (None if start is None else moment(start), None if end is None else moment(end))
    for refused in RefusedScans(ledger).between(scope, *bounds):
        if refused.operation == "cancel" or refused.operation in NOT_SCANNING:
            continue
        counted = row(refused.institution, refused.location or "", _time(refused.scan_time))  # type: ignore[arg-type]
        if counted is None:
            continue
        counted.red += 1
        words = refused.words()
        hit = [name for word, name in ANOMALIES.items() if word in words]
        for name in hit:
            counted.anomalies[name] += 1
        counted.anomalous += bool(hit)
        if refused.operation == "bind":
            counted.bind_attempts += len(refused.codes)
    for upload in uploads:
        if scope is not None and upload.institution != scope:
            continue
        counted = row(upload.institution, upload.department, upload.made)
        if counted is None:
            continue
        counted.uploads += 1
        if upload.acknowledged is not None:
            counted.uploaded += 1
            counted.timely += upload.acknowledged - upload.made <= TIMELY
    return Quality(start, end, period, department, [rows[k] for k in sorted(rows)])


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)


def _location_id(uri: Any) -> str:
    parsed = parse_location_uri(uri) if isinstance(uri, str) else None
    return parsed[1] if parsed is not None else str(uri or "")


def _shipment(
    event: dict[str, Any],
    when: datetime,
    scope: str | None,
    arrivals: dict[str, tuple[str, str, datetime]],
) -> None:
    """A supplier's shipping event to a location of the institution: its boxes arrive."""
    step = str(event.get("bizStep", ""))
    if step.rsplit(":", 1)[-1].rsplit("/", 1)[-1] != "shipping":
        return
    for destination in event.get("destinationList", []) or []:
        parsed = parse_location_uri(str(destination.get("destination", "")))
        if parsed is None or (scope is not None and parsed[0] != scope):
            continue
        for epc in [*event.get("epcList", []), *event.get("childEPCs", [])]:
            arrivals.setdefault(epc, (parsed[0], parsed[1], when))
        return
