"""The row of a seed-004 event table (3–11) an EPCIS event makes: every field the event
(and, for table 3, its product's master data) says, in the seed's order; a field whose
value is not known is left out, for :mod:`adapters.beijing.missing` to name.

Where each field comes from (README "Beijing messages" says it for operators):

* ``eventTime`` / ``eventTimeZoneOffset``: the event's, as captured;
* ``epcList`` / ``parentID`` / ``childEPCs``: its codes in the platform's form
  (:func:`adapters.beijing.reading.platform_code`);
* ``bizLocation``: its bizLocation, else its readPoint;
* ``bizTransactionList`` (5, 6): its CBV ``po``/``inv``/``recadv``/``desadv`` entries
  (a scan's ``purchase_order``, ``invoice``, ``receipt_note``, ``dispatch_note``), the
  scan's ``order`` as the ``po`` when there is no other; values as the ledger has them
  (:mod:`adapters.beijing.reading`); (11): every entry as it is;
* ``extension`` (5, 6): its ``owning_party`` / ``possessing_party`` sources and
  ``location`` destinations, given only with an owning party (the list's required entry);
* ``prescription`` / ``prescribeDoc`` (7, 8, 10): the scan's ``prescription`` and the bind's
  ``prescriber_name`` (``tc:prescriberName``);
* table 3: lot and expiry from the ILMD, ``certificateNo`` from ``tc:certificateNo`` else
  the product's ``approval_no``, ``ImportID`` from ``tc:importId``;
* table 4: ``idcode:Extension`` when the event gives expiry and production date
  (``tc:``/``cbvmda:`` ``itemExpirationDate``, ``productionDate``, ``lotNumber``), ``QTY``
  the number of children;
* table 9: ``cbvmda:lotNumber`` when the event gives one, ``QTY`` the number of codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.beijing import reading
from adapters.beijing.reading import BTT, SDT, cbv, platform_code, text, typed, unique
from adapters.beijing.tables import Table

Row = dict[str, Any]


def _put(row: Row, name: str, value: Any) -> None:
    if value not in (None, ""):
        row[name] = value


def _codes(epcs: Iterable[str]) -> list[str]:
    return unique(platform_code(epc) for epc in epcs)


def _when(event: Mapping[str, Any]) -> Row:
    row: Row = {}
    _put(row, "eventTime", text(event, "eventTime"))
    _put(row, "eventTimeZoneOffset", text(event, "eventTimeZoneOffset"))
    return row


def _location(row: Row, event: Mapping[str, Any]) -> None:
    where = reading.place(event)
    if where:
        row["bizLocation"] = {"id": where}


def scanned(event: Mapping[str, Any], epcs: Iterable[str]) -> Row:
    """The fields every scan table begins with (tables 3, 5–12)."""
    row = _when(event)
    row["epcList"] = _codes(epcs)
    _location(row, event)
    return row


def commissioning(event: Mapping[str, Any], approval: str | None) -> Row:
    row = scanned(event, reading.epc_list(event))
    ilmd = event.get("ilmd")
    _put(row, "cbvmda:lotNumber", reading.mda(ilmd, "lotNumber"))
    _put(row, "cbvmda:itemExpirationDate", reading.mda(ilmd, "itemExpirationDate"))
    _put(row, "certificateNo", text(event, "tc:certificateNo") or approval)
    _put(row, "ImportID", text(event, "tc:importId"))
    return row


def _batch(event: Mapping[str, Any], name: str) -> str | None:
    return text(event, "tc:" + name) or reading.mda(event, name)


def aggregation(event: Mapping[str, Any]) -> Row:
    row = _when(event)
    parent = text(event, "parentID")
    _put(row, "parentID", platform_code(parent) if parent else None)
    children = reading.epc_list(event, "childEPCs")
    row["childEPCs"] = _codes(children)
    _location(row, event)
    expires, made = _batch(event, "itemExpirationDate"), _batch(event, "productionDate")
    if expires and made:
        batch: Row = {}
        _put(batch, "LOT", _batch(event, "lotNumber"))
        batch.update({"EXP": expires, "MFG": made, "QTY": str(len(children))})
        row["idcode:Extension"] = batch
    return row


def _transactions(event: Mapping[str, Any], table: Table) -> list[Row]:
    (field,) = [f for f in table.fields if f.name == "bizTransactionList"]
    listed = {member.type for member in field.members}
    given = typed(event, "bizTransactionList", "bizTransaction")
    has_po = any(_btt(kind) == BTT + "po" for kind, _ in given)
    out = []
    for kind, value in given:
        type_ = BTT + "po" if reading.is_order(kind) and not has_po else _btt(kind)
        if type_ in listed:
            out.append({"type": type_, "bizTransaction": value})
    return out


def _parties(event: Mapping[str, Any]) -> Row | None:
    sources = [
        {"type": SDT + word, "source": value}
        for kind, value in typed(event, "sourceList", "source")
        if (word := str(cbv(kind, "sdt"))) in ("owning_party", "possessing_party")
    ]
    if not any(s["type"] == SDT + "owning_party" for s in sources):
        return None
    destinations = [
        {"type": SDT + "location", "destination": value}
        for kind, value in typed(event, "destinationList", "destination")
        if cbv(kind, "sdt") == "location"
    ]
    return {"sourceList": sources, "destinationList": destinations}


def moving(event: Mapping[str, Any], table: Table) -> Row:
    """A receiving (5) or shipping (6) row."""
    row = scanned(event, reading.epc_list(event))
    row["bizTransactionList"] = _transactions(event, table)
    _put(row, "extension", _parties(event))
    return row


def dispensed(event: Mapping[str, Any], epcs: Iterable[str]) -> Row:
    """A use (7), take-away (8) or split (10) row naming ``epcs``."""
    row = scanned(event, epcs)
    _put(row, "prescribeDoc", text(event, "tc:prescriberName"))
    _put(row, "prescription", reading.prescription(event))
    return row


def recall(event: Mapping[str, Any]) -> Row:
    epcs = reading.epc_list(event)
    row = scanned(event, epcs)
    _put(row, "cbvmda:lotNumber", _batch(event, "lotNumber"))
    if row["epcList"]:
        row["QTY"] = str(len(row["epcList"]))
    return row


def destruction(event: Mapping[str, Any]) -> Row:
    row = scanned(event, reading.epc_list(event))
    row["bizTransactionList"] = [
        {"type": _btt(kind), "bizTransaction": value}
        for kind, value in typed(event, "bizTransactionList", "bizTransaction")
    ]
    return row


_CBV_TYPES = {"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv"}
_CBV_TYPES |= {"rma", "testprd", "testres", "upevt"}


def _btt(kind: str) -> str:
    """A bizTransaction type as its CBV URN when it is a CBV word, else as it is."""
    word = cbv(kind, "btt")
    return BTT + word if word in _CBV_TYPES else kind
