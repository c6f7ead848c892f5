"""Which event owes the 医保 platform which message (seed 003; ``../shared/DOMAIN.md`` §7).

========================================== =========== ===================================
event                                      message     notes
========================================== =========== ===================================
receiving from another party (a supplier)  3502 108    purchase in
receiving what another institution sent    3502 101    transfer in (its transfer: 102)
shipping to another institution's location 3502 102    transfer out
shipping back to a party (returned)        3502 109    return to the supplier
destroying                                 3502 105
first stocktake of an institution          3501        per product and lot, ``inv_cnt`` in
                                                       smallest units
dispensing (a bind) once settled           3505        per product and lot; held
                                                       ``incomplete`` until the order's
                                                       settlement is known
receiving returned (an unbind)             3506        per product and lot
an event above declared in error           3507        per batch row it uploaded, once the
                                                       platform may have it
========================================== =========== ===================================

Moves inside one institution (warehouse, pharmacies, wards), lending, recalls, freezes
and pre-scans owe nothing. Every row says where its fields come from: the product's master
data (``med_list_codg`` = 医保 code, ``his_code``, ``his_name``, ``rx_flag``, ``price``), the
codes' batch as received (lot, dates: :data:`codes`), the scan (operator, staff, receipt,
prescription), the order's settlement (:func:`ledger.settlements.settlement_of`).
A required field nobody gave is named in :attr:`Owed.missing`, never invented.

Quantities: a whole pack counts 1 (``trdn_flag`` 0); split units (sub-codes of a box,
:mod:`ledger.code_pool`) count in units (``trdn_flag`` 1) and list their box's code once
(the split-sale rule: no code carries more than its box's units). ``inv_cnt`` of a 3501 is
in smallest units (the field says so). ``fixmedins_bchno`` is one per stock batch
(institution, product, lot): :func:`batch_number`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, Text, select

from adapters.nhsa.answers import BEIJING
from adapters.nhsa.fields import Tables, load
from epcis.identifiers.cn_drug_code import URN_PREFIX
from ledger.application import Ledger, StoredEvent
from ledger.code_library import EXTENSION
from ledger.lifecycle import word
from ledger.locations import parse_location_uri
from ledger.master_data import MasterData, current_master_data, moment
from ledger.operators import name_in
from ledger.pool_index import box_of
from ledger.product_lookup import Catalogue, ProductMatch
from ledger.scan_events import ORDER_TYPE, PRESCRIPTION_TYPE, parse_order_uri
from ledger.settlements import Settlement, settlement_of
from projections.outbox import Message, Owed

PLATFORM = "nhsa"
NODES = {"3501": "invinfo", "3502": "invinfo", "3505": "selinfo", "3506": "selinfo", "3507": "data"}
PERSONAL = ("psn_no", "certno", "psn_name")
"""Joined in when sending (:mod:`adapters.nhsa.delivery`), never kept here."""
DATA_TYPES = {"3501": "1", "3502": "2", "3505": "4", "3506": "4"}
"""``inv_data_type`` of a 3507 by the message it deletes."""

metadata = MetaData()
codes = Table(
    "outbox_nhsa_codes",
    metadata,
    Column("code", Text, primary_key=True),
    Column("institution", String(100)),
    Column("lot", Text),
    Column("manufactured", String(10)),
    Column("expires", String(10)),
    Column("order", Text),
    Column("sent_from", String(100)),  # the institution shipping it to another one
    Column("settlement", Text),  # JSON: the settlement its bind carried (no personal field)
)
state = Table(
    "outbox_nhsa_state",
    metadata,
    Column("institution", String(100), primary_key=True),
    Column("first_stocktake", Text),
)


def batch_number(institution: str, product: str, lot: str | None) -> str:
    """``fixmedins_bchno``: the same for every message of one stock batch (institution,
    医保 code, lot), different between batches; 21 characters (C30)."""
    digest = hashlib.sha256(f"{institution}|{product}|{lot or ''}".encode()).hexdigest()
    return "B" + digest[:20].upper()


def local_time(text: str) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time (the platform's DT)."""
    return moment(text).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def local_date(text: str) -> str:
    return moment(text).astimezone(BEIJING).strftime("%Y-%m-%d")


def ext(event: Mapping[str, Any], name: str) -> Any:
    """A tracecode extension field of an event (``tc:`` or its full URI)."""
    value = event.get(f"tc:{name}")
    return value if value is not None else event.get(EXTENSION + name)


def raw_code(epc: str) -> str:
    """The code the platform knows: a trace code's 20 digits (a sub-code's box's), else
    the EPC as it is."""
    box = box_of(epc) or epc
    if box.startswith(URN_PREFIX):
        return box[len(URN_PREFIX) :].partition(":")[0]
    return box


def _transactions(event: Mapping[str, Any], kind: str) -> list[str]:
    return [
        str(t.get("bizTransaction"))
        for t in event.get("bizTransactionList") or []
        if isinstance(t, Mapping) and t.get("type") == kind
    ]


def _parties(event: Mapping[str, Any], key: str, member: str) -> list[tuple[str, str]]:
    return [
        (str(item.get("type", "")), str(item.get(member, "")))
        for item in event.get(key) or []
        if isinstance(item, Mapping)
    ]


def _word(value: Any) -> str:
    """A bizStep or disposition as its CBV word ("" when there is none)."""
    return word(value) or ""


def _owner(uri: str | None) -> str | None:
    found = parse_location_uri(uri) if uri else None
    return found[0] if found else None


@dataclass
class _Code:
    """What the outbox keeps of a code (:data:`codes`)."""

    code: str
    institution: str | None = None
    lot: str | None = None
    manufactured: str | None = None
    expires: str | None = None
    order: str | None = None
    sent_from: str | None = None
    settlement: str | None = None


class _CodeBook:
    """The kept codes of one batch: read once, changed in memory by :meth:`NhsaOwes.follow`
    and written at the batch's end (the deriving runner holds the tracking row's lock, so
    nobody else writes them meanwhile)."""

    def __init__(self) -> None:
        self.rows: dict[str, _Code] = {}
        self.loaded: set[str] = set()
        self.dirty: set[str] = set()

    def load(self, conn: Connection, wanted: Iterable[str]) -> None:
        missing = sorted({c for c in wanted if c not in self.loaded})
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            for row in conn.execute(select(codes).where(codes.c.code.in_(chunk))):
                self.rows[row.code] = _Code(**row._mapping)
        self.loaded |= set(missing)

    def get(self, conn: Connection, wanted: list[str]) -> dict[str, _Code]:
        self.load(conn, wanted)
        return {c: self.rows[c] for c in wanted if c in self.rows}

    def set(self, conn: Connection, epcs: list[str], **values: Any) -> None:
        self.load(conn, epcs)
        for code in epcs:
            row = self.rows.setdefault(code, _Code(code))
            for name, value in values.items():
                setattr(row, name, value)
            self.dirty.add(code)

    def flush(self, conn: Connection) -> None:
        changed = sorted(self.dirty)
        for start in range(0, len(changed), 500):
            chunk = changed[start : start + 500]
            conn.execute(codes.delete().where(codes.c.code.in_(chunk)))
            conn.execute(codes.insert(), [asdict(self.rows[c]) for c in chunk])
        self.dirty.clear()


def _epcs(event: Mapping[str, Any]) -> list[str]:
    return [str(e) for e in event.get("epcList") or []]


@dataclass
class _Line:
    """Codes of one product and lot in one event: one message row."""

    match: ProductMatch | None
    """None: no product of the institution has the code (its catalogue fields are missing)."""
    lot: str | None
    manufactured: str | None
    expires: str | None
    codes: list[str]
    count: int = 0
    units: int = 0
    split: bool = False


class NhsaOwes:
    """The 医保 platform's rules (an :class:`projections.outbox.Owes`)."""

    platform = PLATFORM
    id_digits = 4
    tables = (codes, state)

    def __init__(
        self,
        ledger: Ledger,
        spec: Tables | None = None,
        interface: tuple[str, str] | None = None,
    ) -> None:
        self.ledger = ledger
        self.interface = interface or (
            os.environ.get("TRACECODE_NHSA_OPTER", ""),
            os.environ.get("TRACECODE_NHSA_OPTER_NAME", ""),
        )
        """Who the messages of captured events name as their operator."""
        self._data: tuple[int, MasterData] | None = None
        self._catalogues: dict[str, Catalogue] = {}
        self._homes: dict[str, dict[str, Any]] = {}
        self.book = _CodeBook()
        self.spec = spec or load()
        """The fields of each message (a province's variant: ``TRACECODE_NHSA_FIELDS``):
        a row carries the fields its message has, and lacks a required one only as
        ``missing``."""

    # -- message ids ------------------------------------------------------------------

    def id_stem(self, owed: Owed, recorded: datetime) -> str:
        """``msgid`` = fixmedins_code + yyyyMMddHHmmss (the record time in Beijing) + 4
        digits (seed 003)."""
        return owed.institution + recorded.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")

    # -- deriving ---------------------------------------------------------------------

    def prepare(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        """Master data as the store has it now, and what is kept of the batch's codes,
        read once a batch."""
        self.book = _CodeBook()
        self.book.load(conn, [box_of(e) or e for s in batch for e in _epcs(s.event)])
        found = current_master_data(self.ledger)
        if self._data is None or found[0] != self._data[0]:
            self._data, self._catalogues, self._homes = found, {}, {}

    def _master(self) -> MasterData:
        assert self._data is not None, "prepare() first"
        return self._data[1]

    def _home(self, data: MasterData, institution: str) -> dict[str, Any]:
        """The institution's own row of its locations (name, admdvs)."""
        if institution not in self._homes:
            self._homes[institution] = _institution_row(data, institution)
        return self._homes[institution]

    def _catalogue(self, data: MasterData, institution: str) -> Catalogue:
        found = self._catalogues.get(institution)
        if found is None:
            found = self._catalogues[institution] = Catalogue(data, institution)
        return found

    def owed(self, conn: Connection, stored: StoredEvent) -> list[Owed]:
        event = stored.event
        if "errorDeclaration" in event or event.get("type") != "ObjectEvent":
            return []
        step, disposition = _word(event.get("bizStep")), _word(event.get("disposition"))
        place = (event.get("bizLocation") or {}).get("id") or (event.get("readPoint") or {}).get(
            "id"
        )
        institution = _owner(place) or stored.institution
        if not institution:
            return []
        data = self._master()
        if step == "dispensing" and disposition == "dispensed":
            return self._sale(conn, stored, institution, data)
        if step == "receiving" and disposition in ("returned", "damaged"):
            return self._return(conn, stored, institution, data)
        if step == "cycle_counting":
            return self._stocktake(conn, stored, institution, data)
        change = self._change_type(conn, stored, institution)
        if change is None:
            return []
        return self._change(conn, stored, institution, data, change)

    def follow(self, conn: Connection, stored: StoredEvent) -> None:
        event = stored.event
        if "errorDeclaration" in event or event.get("type") != "ObjectEvent":
            return
        step = _word(event.get("bizStep"))
        epcs = [str(e) for e in event.get("epcList") or []]
        place = (event.get("bizLocation") or {}).get("id") or (event.get("readPoint") or {}).get(
            "id"
        )
        institution = _owner(place) or stored.institution
        if step == "receiving" and ext(event, "lotNumber") is not None:
            values = {
                "lot": ext(event, "lotNumber"),
                "manufactured": ext(event, "productionDate"),
                "expires": ext(event, "itemExpirationDate"),
            }
            self.book.set(conn, epcs, institution=institution, **values)
        orders = _transactions(event, ORDER_TYPE)
        if step == "dispensing" and orders:
            order = parse_order_uri(orders[0])
            carried = _settled_by(stored, institution or "", order[1] if order else "")
            said = None if carried is None else json.dumps(asdict(carried), ensure_ascii=False)
            self.book.set(conn, epcs, order=orders[0], settlement=said)
        destinations = [d for t, d in _parties(event, "destinationList", "destination")]
        if step == "shipping":
            to = _owner(destinations[0]) if destinations else None
            sent_from = institution if to and to != institution else None
            self.book.set(conn, epcs, sent_from=sent_from)
        if step == "cycle_counting" and institution:
            count = ext(event, "stocktake")
            found = conn.execute(select(state).where(state.c.institution == institution)).first()
            if found is None and count:
                conn.execute(state.insert().values(institution=institution, first_stocktake=count))

    def finish(self, conn: Connection) -> None:
        """Write what :meth:`follow` kept of the batch's codes."""
        self.book.flush(conn)

    def _known(self, conn: Connection, epcs: Iterable[str]) -> dict[str, _Code]:
        return self.book.get(conn, [box_of(e) or e for e in epcs])

    # -- 3502 ---------------------------------------------------------------------------

    def _change_type(self, conn: Connection, stored: StoredEvent, institution: str) -> str | None:
        event = stored.event
        step, disposition = _word(event.get("bizStep")), _word(event.get("disposition"))
        sources = _parties(event, "sourceList", "source")
        destinations = _parties(event, "destinationList", "destination")
        if step == "destroying" or (event.get("action") == "DELETE" and step != "receiving"):
            return "105" if step == "destroying" else None
        if step == "receiving":
            for _, source in sources:
                owner = _owner(source)
                if owner is None:
                    return "108"  # from a party: a purchase
                if owner != institution:
                    return "101"
            epcs = [str(e) for e in event.get("epcList") or []]
            known = self._known(conn, epcs)
            coming = {known[e].sent_from for e in epcs if e in known and known[e].sent_from}
            if coming - {institution}:
                return "101"  # what another institution sent
            if disposition == "sellable_not_accessible":
                return "108"  # a receipt from the supplier (receive)
            return None  # an acceptance of an internal move
        if step == "shipping":
            owners = [_owner(d) for _, d in destinations]
            if disposition == "returned" and all(o is None for o in owners):
                return "109"  # back to the supplier (return_to_supplier)
            if any(o is not None and o != institution for o in owners):
                return "102"
            return None
        return None

    def _change(
        self,
        conn: Connection,
        stored: StoredEvent,
        institution: str,
        data: MasterData,
        change: str,
    ) -> list[Owed]:
        when = local_time(str(stored.event["eventTime"]))

        def fill(line: _Line, operator: str) -> dict[str, Any]:
            return {
                "inv_chg_type": change,
                "cnt": line.units if line.split else line.count,
                "inv_chg_time": when,
                "inv_chg_opter_name": operator,
                "trdn_flag": "1" if line.split else "0",
            }

        return self._per_line("3502", conn, stored, institution, data, fill, with_price=True)

    # -- 3501 ---------------------------------------------------------------------------

    def _stocktake(
        self, conn: Connection, stored: StoredEvent, institution: str, data: MasterData
    ) -> list[Owed]:
        event = stored.event
        count = ext(event, "stocktake")
        first = conn.execute(
            select(state.c.first_stocktake).where(state.c.institution == institution)
        ).scalar()
        if first is not None and first != count:
            return []  # only the first stocktake of coded stock is uploaded
        day = local_date(str(event["eventTime"]))

        def fill(line: _Line, operator: str) -> dict[str, Any]:
            return {"invdate": day, "inv_cnt": line.units}

        return self._per_line("3501", conn, stored, institution, data, fill)

    # -- 3505 / 3506 ------------------------------------------------------------------

    def _sale(
        self, conn: Connection, stored: StoredEvent, institution: str, data: MasterData
    ) -> list[Owed]:
        event = stored.event
        orders = [o for o in map(parse_order_uri, _transactions(event, ORDER_TYPE)) if o]
        settlement = _settled_by(stored, institution, orders[0][1] if orders else "")
        if settlement is None and orders:  # settled later (a settle scan), or not yet
            settlement = settlement_of(self.ledger, *orders[0])
        staff = {
            "prsc_dr_name": ext(event, "prescriberName"),
            "phar_name": ext(event, "pharmacistName"),
            "phar_prac_cert_no": ext(event, "pharmacistCert"),
            "rtal_docno": ext(event, "receipt"),
        }
        prescriptions = [
            o for o in map(parse_order_uri, _transactions(event, PRESCRIPTION_TYPE)) if o
        ]
        return self._sales(
            "3505",
            conn,
            stored,
            institution,
            data,
            settlement,
            staff,
            prescriptions[0][1] if prescriptions else None,
        )

    def _return(
        self, conn: Connection, stored: StoredEvent, institution: str, data: MasterData
    ) -> list[Owed]:
        event = stored.event
        epcs = [str(e) for e in event.get("epcList") or []]
        orders = [o for o in map(parse_order_uri, _transactions(event, ORDER_TYPE)) if o]
        if not orders:
            known = self._known(conn, epcs)
            orders = [
                o
                for o in (parse_order_uri(str(r.order)) for r in known.values() if r.order)
                if o is not None
            ]
        carried = [k.settlement for k in self._known(conn, epcs).values() if k.settlement]
        if carried:  # the settlement its bind carried
            settlement: Settlement | None = Settlement(**json.loads(carried[0]))
        else:  # settled later, or not yet
            settlement = settlement_of(self.ledger, *orders[0]) if orders else None
        return self._sales("3506", conn, stored, institution, data, settlement, {}, None)

    def _sales(
        self,
        infno: str,
        conn: Connection,
        stored: StoredEvent,
        institution: str,
        data: MasterData,
        settlement: Settlement | None,
        staff: dict[str, Any],
        prescription: str | None,
    ) -> list[Owed]:
        when = local_time(str(stored.event["eventTime"]))

        def fill(line: _Line, operator: str) -> dict[str, Any]:
            product = line.match.product if line.match is not None else {}
            row = {k: v for k, v in staff.items() if v is not None}
            if product.get("price"):
                row["finl_trns_pric"] = float(product["price"])
            if prescription is not None and infno == "3505":
                row["rxno"] = prescription
            if infno == "3506" and staff.get("rtal_docno"):
                row["medins_prod_sel_no"] = staff["rtal_docno"]
            row.update(
                {
                    "trdn_flag": "1" if line.split else "0",
                    "sel_retn_cnt": line.units if line.split else line.count,
                    "sel_retn_time": when,
                    "sel_retn_opter_name": operator,
                }
            )
            if settlement is not None:
                facts = {
                    "mdtrt_setl_type": settlement.mdtrt_setl_type,
                    "setl_id": settlement.setl_id,
                    "mdtrt_sn": settlement.mdtrt_sn,
                    "psn_cert_type": settlement.psn_cert_type,
                    "hi_feesetl_type": settlement.hi_feesetl_type,
                }
                row.update({k: v for k, v in facts.items() if v is not None})
            return row

        return self._per_line(infno, conn, stored, institution, data, fill, settlement=settlement)

    # -- 3507 ---------------------------------------------------------------------------

    def reversals(self, message: Message, declaration: StoredEvent) -> list[Owed]:
        data_type = DATA_TYPES.get(message.kind)
        if data_type is None:
            return []
        node = message.body.get("input", {}).get(NODES[message.kind], {})
        batch = node.get("fixmedins_bchno") if isinstance(node, Mapping) else None
        if not batch:
            return []
        envelope = dict(message.body.get("envelope", {}))
        envelope.pop("insuplc_admdvs", None)
        body = {
            "envelope": envelope,
            "input": {"data": {"fixmedins_bchno": batch, "inv_data_type": data_type}},
        }
        return [
            Owed(
                f"{message.key}:reversal",
                "3507",
                message.institution,
                body,
                tuple(message.codes),
            )
        ]

    # -- A variants -----------------------------------------------------------------------

    def batch_kind(self, kind: str) -> str | None:
        """``3505`` → ``3505A`` (when the field tables have it)."""
        batch = kind + "A"
        spec = self.spec.messages.get(batch)
        return batch if spec is not None and spec.batch else None

    def combine(self, members: Sequence[Message]) -> Owed:
        """The A variant carrying ``members`` as its rows (the first one's envelope; each
        row's patient kept in ``persons`` so that the sending joins each row's personal
        fields)."""
        first = members[0]
        batch = self.batch_kind(first.kind)
        assert batch is not None
        node = NODES[first.kind]
        rows = [m.body.get("input", {}).get(node, {}) for m in members]
        codes = list(dict.fromkeys(c for m in members for c in m.codes))
        body = {
            "envelope": dict(first.body.get("envelope", {})),
            "input": {self.spec.messages[batch].node: rows},
            "persons": [m.person for m in members],
        }
        return Owed(f"batch:{first.key}", batch, first.institution, body, tuple(codes))

    # -- shared -------------------------------------------------------------------------

    def _lines(
        self, conn: Connection, stored: StoredEvent, institution: str, data: MasterData
    ) -> list[_Line]:
        """The event's codes by product and lot (in the order first named)."""
        epcs = [str(e) for e in stored.event.get("epcList") or []]
        known = self._known(conn, epcs)
        catalogue = self._catalogue(data, institution)
        lines: dict[tuple[str | None, str | None], _Line] = {}
        for epc in epcs:
            box = box_of(epc)
            code = box or epc
            match = catalogue.product_for_code(code)
            row = known.get(code)
            lot = ext(stored.event, "lotNumber") or (row.lot if row is not None else None)
            key = (None if match is None else str(match.product["yb_code"]), lot)
            line = lines.get(key)
            if line is None:
                line = lines[key] = _Line(
                    match,
                    lot,
                    ext(stored.event, "productionDate") or (row.manufactured if row else None),
                    ext(stored.event, "itemExpirationDate") or (row.expires if row else None),
                    [],
                )
            raw = raw_code(epc)
            if raw not in line.codes:
                line.codes.append(raw)
            if box is not None:
                line.split = True
                line.units += 1
            else:
                line.count += 1
                line.units += match.units if match is not None else 1
        return list(lines.values())

    def _drug(self, line: _Line, institution: str, *, with_price: bool = False) -> dict[str, Any]:
        """The catalogue and batch fields of a row (those known)."""
        product = line.match.product if line.match is not None else {}
        known = product.get("yb_code")
        row: dict[str, Any] = {
            "med_list_codg": known,
            "fixmedins_hilist_id": product.get("his_code"),
            "fixmedins_hilist_name": product.get("his_name"),
            "fixmedins_bchno": batch_number(institution, known, line.lot) if known else None,
            "rx_flag": product.get("rx_flag"),
            "manu_lotnum": line.lot,
            "manu_date": line.manufactured,
            "expy_end": line.expires,
        }
        if with_price and product.get("price"):
            row["pric"] = float(product["price"])
        return {k: v for k, v in row.items() if v is not None}

    def _per_line(
        self,
        infno: str,
        conn: Connection,
        stored: StoredEvent,
        institution: str,
        data: MasterData,
        fill: Callable[[_Line, str], dict[str, Any]],
        *,
        with_price: bool = False,
        settlement: Settlement | None = None,
    ) -> list[Owed]:
        """One message per line of the event: its drug and batch fields, what ``fill``
        gives (from the line and the operator's name) and its codes."""
        operator = self._operator(stored.event, institution, data)
        out = []
        for number, line in enumerate(self._lines(conn, stored, institution, data)):
            row = self._drug(line, institution, with_price=with_price)
            row.update(fill(line, operator[1]))
            row["drug_trac_info"] = _trace(line.codes)
            key = f"{infno}:{stored.hash_id}:{number}"
            owed = self._message(infno, key, institution, data, row, line.codes, operator)
            if settlement is not None:
                envelope = dict(owed.body["envelope"])
                if settlement.insuplc_admdvs:
                    envelope["insuplc_admdvs"] = settlement.insuplc_admdvs
                body = {**owed.body, "envelope": envelope}
                owed = replace(owed, body=body, person=settlement.patient)
            out.append(owed)
        return out

    def _operator(
        self, event: Mapping[str, Any], institution: str, data: MasterData
    ) -> tuple[str, str]:
        """``(opter, opter_name)``: the scan's operator (else its terminal) and the name
        the operators list gives it (else the id); for an event no terminal scanned (an
        integration's capture), the interface operator of the settings
        (``TRACECODE_NHSA_OPTER``, ``TRACECODE_NHSA_OPTER_NAME``), else missing."""
        who = ext(event, "operator") or ext(event, "terminal")
        if not who:
            return self.interface
        return str(who), name_in(data, institution, str(who))

    def _message(
        self,
        infno: str,
        key: str,
        institution: str,
        data: MasterData,
        row: dict[str, Any],
        trace: list[str],
        operator: tuple[str, str],
    ) -> Owed:
        home = self._home(data, institution)
        envelope = {
            "mdtrtarea_admvs": home.get("admdvs"),
            "opter": operator[0],
            "opter_name": operator[1],
            "fixmedins_code": institution,
            "fixmedins_name": home.get("name"),
        }
        absent = [f"/envelope/{k}" for k, v in envelope.items() if not v]
        spec = self.spec.messages[infno]
        node = spec.node
        row = {name: row[name] for name in spec.fields if row.get(name) not in (None, "")}
        named = [
            f"/input/{node}/{name}"
            for name, known in spec.fields.items()
            if name not in row and name not in PERSONAL and known.required.applies(row, [row])
        ]
        return Owed(
            key,
            infno,
            institution,
            {"envelope": {k: v for k, v in envelope.items() if v}, "input": {node: row}},
            tuple(trace),
            tuple(absent + named),
        )


def _settled_by(stored: StoredEvent, institution: str, order: str) -> Settlement | None:
    """The settlement a bind carries itself (its facts are the event's ``tc:`` fields; the
    personal ones are joined when sending): no need to read the order's settlement."""
    event = stored.event
    kind = ext(event, "mdtrt_setl_type")
    if kind is None:
        return None

    def fact(name: str) -> str | None:
        value = ext(event, name)
        return None if value is None else str(value)

    return Settlement(
        institution=institution,
        order=order,
        patient=fact("patient"),
        event=stored.hash_id,
        recorded_at=stored.record_time,
        mdtrt_setl_type=str(kind),
        setl_id=fact("setl_id"),
        mdtrt_sn=fact("mdtrt_sn"),
        psn_cert_type=fact("psn_cert_type"),
        hi_feesetl_type=fact("hi_feesetl_type"),
        insuplc_admdvs=fact("insuplc_admdvs"),
        psn_no=None,
        certno=None,
        psn_name=None,
    )


def _institution_row(data: MasterData, institution: str) -> dict[str, Any]:
    for (owner, _), row in data.locations.items():
        if owner == institution and row.get("kind") == "institution":
            return row
    return {}


def _trace(raw_codes: list[str]) -> list[dict[str, str]]:
    return [{"drug_trac_codg": code} for code in raw_codes]
