"""Which seed-004 messages an event of the log owes the Beijing platform
(:class:`projections.outbox.Owes`), one table row per message.

================================================ ===========================================
the event                                        owes
================================================ ===========================================
ADD, bizStep commissioning                       3 commissioning
AggregationEvent ADD                             4 aggregation (parentID, childEPCs)
bizStep receiving, from another party            5 receiving
bizStep shipping, to another party               6 shipping
bizStep dispensing (a bind)                      7 use; and 10 split for each box whose
                                                 units it is the first to dispense
bizStep ``urn:tracecode:voc:bizstep:taking_away`` 8 take-away
disposition recalled                             9 recall
bizStep destroying / disposition destroyed       11 destruction
TransformationEvent repackaging naming a         10 split, one per box in
prescription
================================================ ===========================================

"From / to another party": a source or destination of type ``owning_party`` /
``possessing_party``, or a place of another institution or of kind ``supplier`` /
``external``; a receipt whose disposition is ``sellable_not_accessible`` / ``in_progress``
(the ``receive`` scan: goods arriving); a shipment ``returned`` to no place of the
institution (``return_to_supplier``). Moves inside the institution (transfer, accept,
return to the warehouse) owe nothing, nor do picks, stocktakes, freezes, lending,
settlements, administrations and patients' returns (the seed has no table for them).

A box is split (拆零, §二(十)) when its units are dispensed on a prescription: a pre-scan
(the box into the unit pool, no prescription) owes nothing; the first bind of the box's
units owes its split row (key ``split:<institution>:<box>``), with that bind's
prescription; a TransformationEvent that names a prescription owes it for each box in.

With its first event row, each packaging level (13 drug, key
``drug:<institution>:<prefix>``) and each place of master data (14 entity, key
``entity:<institution>:<id>``) the rows name is owed once, before the event's own rows;
they are built from master data as it is when built (:mod:`adapters.beijing.master_rows`).

Not derived: 1–2 (serial numbers are asked of the platform before codes are printed; the
log records codes already commissioned, so a request made from it would ask for numbers
nobody prints, and table 2 is the platform's answer), and 12 follow-up (§二(九): the patient
uploads the photos or videos through 京通; the log holds none).

An event declared in error owes nothing; the seed gives no message that withdraws one the
platform took, so :meth:`BeijingOwes.reversal` is None (the outbox supersedes what was not
sent).

**Message ids** (:meth:`BeijingOwes.id_stem`): ``<institution>-<yyyyMMddHHmmss>-<nnnn>``,
the time when the event was recorded in Beijing time (UTC+8), ``nnnn`` the outbox's
sequence in that second; the hyphens keep them apart from the 医保 msgids (digits only)
of the same event. An institution code longer than 36 characters is replaced by the first
16 hex digits of its SHA-256 (the id stays within 60 characters).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Table as SqlTable

from adapters.beijing import reading, rows
from adapters.beijing.master_rows import Catalogue, drug_of
from adapters.beijing.missing import missing
from adapters.beijing.reading import TAKING_AWAY, cbv, trace_code, typed, unique
from adapters.beijing.tables import (
    AGGREGATION,
    COMMISSIONING,
    DESTRUCTION,
    DRUG,
    ENTITY,
    RECALL,
    RECEIVING,
    SHIPPING,
    SPLIT,
    TAKE_AWAY,
    USE,
    Table,
)
from ledger.application import Ledger, StoredEvent
from ledger.locations import parse_location_uri
from ledger.master_data import current_master_data
from projections.outbox import Message, Owed

PLATFORM = "beijing"
BEIJING = timezone(timedelta(hours=8))
PARTIES = ("owning_party", "possessing_party")
OUTSIDE_KINDS = ("supplier", "external")
MAX_INSTITUTION = 36

Fact = tuple[Table, str, dict[str, Any], list[str]]
"""A row an event owes: its table, its key, the row, the ledger codes it names."""


class BeijingOwes:
    """The Beijing platform's rules (see the module)."""

    platform = PLATFORM
    id_digits = 4
    tables: tuple[SqlTable, ...] = ()
    """Nothing kept while deriving: each row is read from its event and master data."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._catalogue: tuple[int, Catalogue] | None = None

    def prepare(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        """Master data as it is now, indexed once per change (read once a batch)."""
        position, data = current_master_data(self.ledger)
        kept = self._catalogue
        if kept is None or kept[0] != position:
            self._catalogue = (position, Catalogue(data))

    def catalogue(self) -> Catalogue:
        assert self._catalogue is not None, "prepare() first"
        return self._catalogue[1]

    def finish(self, conn: Connection) -> None:
        """Nothing kept (see :attr:`tables`)."""

    def owed(self, conn: Connection, stored: StoredEvent) -> list[Owed]:
        event = stored.event
        if "errorDeclaration" in event:
            return []
        institution = reading.institution_of(event, stored.institution)
        catalogue = self.catalogue()
        facts = _facts(event, stored.hash_id, institution, catalogue)
        if not facts:
            return []
        out = [*_drugs(facts, institution, catalogue), *_entities(facts, institution, catalogue)]
        for table, key, row, epcs in facts:
            out.append(_owed(table, key, institution, row, unique(trace_code(e) for e in epcs)))
        return out

    def id_stem(self, owed: Owed, recorded: datetime) -> str:
        who = owed.institution
        if len(who) > MAX_INSTITUTION:
            who = hashlib.sha256(who.encode()).hexdigest()[:16]
        return f"{who}-{recorded.astimezone(BEIJING):%Y%m%d%H%M%S}-"

    def follow(self, conn: Connection, stored: StoredEvent) -> None:
        """Nothing to keep (see :attr:`tables`)."""

    def batch_kind(self, kind: str) -> str | None:
        """None: each message is one row (the seed defines no batches)."""
        return None

    def combine(self, members: Sequence[Message]) -> Owed:
        raise NotImplementedError("the Beijing platform's messages are not batched")

    def reversals(self, message: Message, declaration: StoredEvent) -> list[Owed]:
        """None: seed 004 has no message that withdraws a row the platform took."""
        return []


def _owed(
    table: Table,
    key: str,
    institution: str,
    row: dict[str, Any],
    codes: list[str],
    *,
    lasting: bool = False,
) -> Owed:
    return Owed(
        key=key,
        kind=table.key,
        institution=institution,
        body={"table": table.key, "rows": [row]},
        codes=tuple(codes),
        missing=missing(table, row),
        lasting=lasting,
    )


def _facts(
    event: Mapping[str, Any], hash_id: str, institution: str, catalogue: Catalogue
) -> list[Fact]:
    kind = event.get("type")
    step = cbv(event.get("bizStep"), "bizstep")
    epcs = reading.epc_list(event)
    if kind == "AggregationEvent":
        if event.get("action") != "ADD":
            return []
        parent = reading.text(event, "parentID")
        named = ([parent] if parent else []) + reading.epc_list(event, "childEPCs")
        return [(AGGREGATION, f"aggregation:{hash_id}", rows.aggregation(event), named)]
    if kind == "TransformationEvent":
        if step != "repackaging" or reading.prescription(event) is None:
            return []
        return _splits(event, institution, reading.epc_list(event, "inputEPCList"))
    if kind != "ObjectEvent":
        return []
    table = _table(event, step, institution, catalogue)
    if table is None:
        return []
    own = f"{table.key}:{hash_id}"
    if table is COMMISSIONING:
        drugs = [d for e in epcs if (d := drug_of(e)) is not None]
        row = rows.commissioning(event, catalogue.approval(institution, drugs))
    elif table in (RECEIVING, SHIPPING):
        row = rows.moving(event, table)
    elif table in (USE, TAKE_AWAY):
        row = rows.dispensed(event, epcs)
    elif table is RECALL:
        row = rows.recall(event)
    else:
        row = rows.destruction(event)
    facts: list[Fact] = [(table, own, row, epcs)]
    if table is USE:
        facts[:0] = _splits(event, institution, reading.boxes_of_units(epcs))
    return facts


def _table(
    event: Mapping[str, Any], step: str | None, institution: str, catalogue: Catalogue
) -> Table | None:
    disposition = cbv(event.get("disposition"), "disp")
    if event.get("action") == "ADD" and step == "commissioning":
        return COMMISSIONING
    if step == "receiving" and _arrives(event, disposition, institution, catalogue):
        return RECEIVING
    if step == "shipping" and _leaves(event, disposition, institution, catalogue):
        return SHIPPING
    if step == "dispensing":
        return USE
    if step == TAKING_AWAY:
        return TAKE_AWAY
    if disposition == "recalled":
        return RECALL
    if step == "destroying" or disposition == "destroyed":
        return DESTRUCTION
    return None


def _splits(event: Mapping[str, Any], institution: str, boxes: list[str]) -> list[Fact]:
    return [
        (SPLIT, f"split:{institution}:{trace_code(box)}", rows.dispensed(event, [box]), [box])
        for box in boxes
    ]


def _outside(uri: str, institution: str, catalogue: Catalogue) -> bool | None:
    """Whether a place is another party's (True), the institution's own (False), or not
    one of the ledger's places (None)."""
    parsed = parse_location_uri(uri)
    if parsed is None:
        return None
    owner, location = parsed
    return owner != institution or catalogue.kind(owner, location) in OUTSIDE_KINDS


def _ends(ends: list[tuple[str, str]], institution: str, catalogue: Catalogue) -> tuple[bool, bool]:
    """Whether any of a source or destination list is another party, and whether any is
    the institution's own place."""
    outside = [
        True if cbv(kind, "sdt") in PARTIES else _outside(value, institution, catalogue)
        for kind, value in ends
    ]
    return any(found is True for found in outside), any(found is False for found in outside)


def _arrives(
    event: Mapping[str, Any], disposition: str | None, institution: str, catalogue: Catalogue
) -> bool:
    other, _ = _ends(typed(event, "sourceList", "source"), institution, catalogue)
    return other or disposition in ("sellable_not_accessible", "in_progress")


def _leaves(
    event: Mapping[str, Any], disposition: str | None, institution: str, catalogue: Catalogue
) -> bool:
    other, own = _ends(typed(event, "destinationList", "destination"), institution, catalogue)
    return other or (disposition == "returned" and not own)


def _drugs(facts: list[Fact], institution: str, catalogue: Catalogue) -> Iterable[Owed]:
    drugs = unique(d for _, _, _, epcs in facts for e in epcs if (d := drug_of(e)) is not None)
    for drug in drugs:
        row = catalogue.drug(institution, drug)
        key = f"drug:{institution}:{drug.identification}"
        yield _owed(DRUG, key, institution, row, [], lasting=True)


def _entities(facts: list[Fact], institution: str, catalogue: Catalogue) -> Iterable[Owed]:
    places: list[str] = []
    for _, _, row, _ in facts:
        where = row.get("bizLocation", {}).get("id")
        places += [where] if where else []
        extension = row.get("extension") or {}
        places += [s["source"] for s in extension.get("sourceList", [])]
        places += [d["destination"] for d in extension.get("destinationList", [])]
    for uri in unique(places):
        parsed = parse_location_uri(uri)
        if parsed is None:
            continue
        owner, location = parsed
        row = catalogue.entity(owner, location)
        yield _owed(ENTITY, f"entity:{owner}:{location}", institution, row, [], lasting=True)
