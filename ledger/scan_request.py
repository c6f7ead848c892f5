"""A terminal's scan as it is posted: read and checked field by field.

One request is one terminal action (``operation``) on one or more codes as scanned. What
is wrong with it is a :class:`ScanInvalid` naming every bad field by its JSON pointer
(``/codes/2``, ``/expected/0/quantity``); such a scan stores nothing. Whether the codes may
undergo the operation is decided later, against the code library (:mod:`ledger.scan_rules`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from epcis.identifiers import IdentifierError, parse_identifier
from epcis.identifiers.model import Identifier
from ledger.master_data import moment

MAX_CODES = 1000
"""The most codes one scan may carry (a pallet's boxes, scanned one by one, is far less)."""
MAX_TEXT = 200


class Operation(StrEnum):
    RECEIVE = "receive"
    TRANSFER = "transfer"
    ACCEPT = "accept"
    PICK = "pick"
    BIND = "bind"
    ADMINISTER = "administer"
    UNBIND = "unbind"
    RETURN_TO_WAREHOUSE = "return_to_warehouse"
    RETURN_TO_SUPPLIER = "return_to_supplier"
    LEND = "lend"
    LEND_RETURN = "lend_return"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    RECALL = "recall"
    DESTROY = "destroy"
    STOCKTAKE = "stocktake"
    COMMISSION = "commission"
    CANCEL = "cancel"
    PRESCAN = "prescan"
    SETTLE = "settle"


NEEDS_DESTINATION = {Operation.TRANSFER}
NO_LOCATION = {Operation.CANCEL, Operation.SETTLE}
"""Operations that need no location (a cancel names its scan; a settlement is the HIS's)."""
NEEDS_PATIENT = {Operation.BIND}
CARRIES_LOT = {Operation.RECEIVE, Operation.COMMISSION}


@dataclass(frozen=True)
class FieldError:
    pointer: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class ScanInvalid(ValueError):
    """A scan that cannot be read; every bad field (nothing was stored)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        shown = "; ".join(f"{e.pointer}: {e.message}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(shown + more)


SETTLEMENT_TYPES = ("1", "2")
"""``mdtrt_setl_type`` (就诊结算类型, seed 003 §三(二)3): 1 医保结算 (insured), 2 自费结算."""
SETTLEMENT_FACTS = {
    "mdtrt_setl_type": 1,
    "setl_id": 30,
    "mdtrt_sn": 30,
    "psn_cert_type": 6,
    "hi_feesetl_type": 6,
    "insuplc_admdvs": 6,
}
"""The settlement's fields that name no person, with their NHSA lengths: they go in the
log (``tc:`` fields of the event). ``setl_id`` and ``mdtrt_sn`` name a settlement and a
visit, records of the HIS and the insurer, not a person: like the order number and the
patient's pseudonym the log already keeps, they link to a person only through another
system's records; and the outbox needs them to say which settlement a 3505 belongs to
and to reverse it (3506 / 3507). ``psn_cert_type`` is a dictionary code (which kind of
certificate), the same for millions."""
PERSONAL_FIELDS = {"psn_no": 30, "certno": 50, "psn_name": 50}
"""The settlement's fields that identify the person (人员编号, 证件号码, 姓名): never in the
log; kept in an erasable table by the patient's pseudonym (:mod:`ledger.settlement_persons`)."""
STAFF_FIELDS = {"prescriber_name": 50, "pharmacist_name": 50, "pharmacist_cert": 50, "receipt": 40}
"""What a bind may say of the staff and the sale (3505's ``prsc_dr_name``, ``phar_name``,
``phar_prac_cert_no``, ``rtal_docno``), with the NHSA lengths: staff acting in their
office, not patients, so they go in the event."""
DOCUMENT_FIELDS = {
    "purchase_order": "po",
    "invoice": "inv",
    "receipt_note": "recadv",
    "dispatch_note": "desadv",
}
"""The documents of a delivery a scan may name, with their CBV 2.0 bizTransaction types
(the Beijing platform's receiving and shipping rows need them, seed 004 tables 5–6): the
HIS's or WMS's purchase order (采购订单), the supplier's invoice (发票), the receipt note
(入库单) and the dispatch note (出库单)."""
_SHIPPING_DOCUMENTS = ("purchase_order", "invoice", "dispatch_note")
TAKES_DOCUMENTS = {
    Operation.RECEIVE: ("purchase_order", "invoice", "receipt_note"),
    Operation.RETURN_TO_SUPPLIER: _SHIPPING_DOCUMENTS,
    Operation.TRANSFER: _SHIPPING_DOCUMENTS,
}
"""Which operation names which documents: goods received, goods shipped out (a transfer
may go to a place of kind ``supplier`` / ``external``, another party)."""
MAX_DOCUMENT = 40
"""A document number's most characters (as 3505's ``rtal_docno``, 零售单据号 C40)."""
DOCUMENT_NUMBER = re.compile(r"[A-Za-z0-9._/-]+")
"""What a document number is made of: as the HIS prints it, no spaces."""


@dataclass(frozen=True)
class SettlementInput:
    """A settlement as the HIS sends it (the 医保 field names): ``facts`` for the log,
    ``personal`` for the erasable table (only the fields given)."""

    facts: dict[str, str]
    personal: dict[str, str]


@dataclass(frozen=True)
class ExpectedLine:
    product: str
    quantity: int


@dataclass(frozen=True)
class ScannedCode:
    """One code as scanned, and what it was read as."""

    raw: str
    identifier: Identifier

    @property
    def canonical(self) -> str:
        return self.identifier.canonical

    @property
    def epc(self) -> str:
        """The form an event names it by: the EPC URN where there is one, else the canonical
        form (a trace code's URN, a Digital Link)."""
        found = self.identifier.epc_urn
        return found if found and self.identifier.is_instance else self.identifier.canonical


@dataclass(frozen=True)
class Scan:
    """A scan read from its JSON body."""

    operation: Operation
    location: str | None
    codes: tuple[ScannedCode, ...] = ()
    scan_id: str | None = None
    order: str | None = None
    prescription: str | None = None
    patient: str | None = None
    department: str | None = None
    destination: str | None = None
    source: str | None = None
    product: str | None = None
    lot: str | None = None
    manufactured: str | None = None
    expires: str | None = None
    quantity: int | None = None
    expected: tuple[ExpectedLine, ...] | None = None
    partial: bool = False
    event_time: datetime | None = None
    reason: str | None = None
    quality: str | None = None
    operator_id: str | None = None
    event_id: str | None = None
    """A cancel: the eventID of the scan it cancels (or its ``scanId``)."""
    stocktake: str | None = None
    """A stocktake scan: the count (:mod:`ledger.stocktake`) it belongs to."""
    staff: dict[str, str] = field(default_factory=dict)
    """A bind's :data:`STAFF_FIELDS` that were given."""
    settlement: SettlementInput | None = None
    """A bind's or a settle's settlement."""
    documents: dict[str, str] = field(default_factory=dict)
    """The :data:`DOCUMENT_FIELDS` given, by field name: their numbers."""
    extra: dict[str, Any] = field(default_factory=dict)


_TEXT_FIELDS = (
    "location",
    "scanId",
    "order",
    "prescription",
    "department",
    "destination",
    "source",
    "product",
    "lot",
    "reason",
    "operatorId",
    "eventID",
    "stocktake",
)
_KNOWN = {
    "operation",
    "codes",
    "patient",
    "manufactured",
    "expires",
    "quantity",
    "expected",
    "eventTime",
    "quality",
    "partial",
    "settlement",
    *_TEXT_FIELDS,
    *STAFF_FIELDS,
    *DOCUMENT_FIELDS,
}


def read_scan(body: Any) -> Scan:
    """A :class:`Scan` from a parsed JSON body; :class:`ScanInvalid` with every problem."""
    errors: list[FieldError] = []
    if not isinstance(body, dict):
        raise ScanInvalid([FieldError("", "a scan is a JSON object")])
    for name in body:
        if name not in _KNOWN:
            errors.append(FieldError(f"/{_escape(name)}", f"unknown field {name!r}"))
    operation = _operation(body.get("operation"), errors)
    texts = {name: _text(body, name, errors) for name in _TEXT_FIELDS}
    codes = _codes(body.get("codes"), errors, required=_needs_codes(operation, body))
    patient = _text(body, "patient", errors, limit=64)
    dates = {name: _date(body, name, errors) for name in ("manufactured", "expires")}
    quantity = _count(body.get("quantity"), "/quantity", errors)
    expected = _expected(body.get("expected"), errors)
    event_time = _time(body.get("eventTime"), errors)
    quality = body.get("quality")
    if quality is not None and quality not in ("passed", "failed"):
        errors.append(FieldError("/quality", "quality is 'passed' or 'failed'"))
    partial = body.get("partial", False)
    if not isinstance(partial, bool):
        errors.append(FieldError("/partial", "partial is true or false"))
    staff = {
        name: value
        for name, limit in STAFF_FIELDS.items()
        if (value := _text(body, name, errors, limit=limit)) is not None
    }
    settlement = _settlement(body.get("settlement"), errors)
    documents = _documents(body, operation, errors)
    if operation is not None:
        _needs(operation, body, texts, patient, errors)
    if errors or operation is None:
        raise ScanInvalid(errors)
    return Scan(
        operation=operation,
        location=texts["location"],
        codes=tuple(codes),
        scan_id=texts["scanId"],
        order=texts["order"],
        prescription=texts["prescription"],
        patient=patient,
        department=texts["department"],
        destination=texts["destination"],
        source=texts["source"],
        product=texts["product"],
        lot=texts["lot"],
        manufactured=dates["manufactured"],
        expires=dates["expires"],
        quantity=quantity,
        expected=expected,
        partial=bool(partial),
        event_time=event_time,
        reason=texts["reason"],
        quality=quality,
        operator_id=texts["operatorId"],
        event_id=texts["eventID"],
        stocktake=texts["stocktake"],
        staff=staff,
        settlement=settlement,
        documents=documents,
    )


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _operation(value: Any, errors: list[FieldError]) -> Operation | None:
    if value is None:
        errors.append(FieldError("/operation", "operation is required"))
        return None
    try:
        return Operation(value)
    except ValueError:
        words = ", ".join(o.value for o in Operation)
        errors.append(FieldError("/operation", f"unknown operation {value!r}: one of {words}"))
        return None


def _needs_codes(operation: Operation | None, body: dict[str, Any]) -> bool:
    if operation in (Operation.CANCEL, Operation.SETTLE):
        return False
    if operation in (Operation.BIND, Operation.UNBIND) and "product" in body:
        return "quantity" not in body  # split units: the pool allocates
    return not (operation is Operation.RECALL and "lot" in body)


def _text(
    body: dict[str, Any],
    name: str,
    errors: list[FieldError],
    limit: int = MAX_TEXT,
    *,
    raw: Any = None,
    at: str = "/",
) -> Any:
    value = body.get(name) if raw is None else raw
    pointer = at + name
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(pointer, f"{name} is a non-empty string"))
        return None
    if len(value) > limit:
        errors.append(FieldError(pointer, f"{name} is longer than {limit} characters"))
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        errors.append(FieldError(pointer, f"{name} holds a control character"))
        return None
    return value.strip()


def _codes(value: Any, errors: list[FieldError], *, required: bool) -> list[ScannedCode]:
    if value is None:
        if required:
            errors.append(FieldError("/codes", "codes is required: the codes as scanned"))
        return []
    if not isinstance(value, list) or (required and not value):
        errors.append(FieldError("/codes", "codes is a non-empty list of codes as scanned"))
        return []
    if len(value) > MAX_CODES:
        errors.append(FieldError("/codes", f"{len(value)} codes: at most {MAX_CODES} a scan"))
        return []
    found: list[ScannedCode] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(value):
        pointer = f"/codes/{index}"
        if not isinstance(raw, str):
            errors.append(FieldError(pointer, "a code is a string, as scanned"))
            continue
        try:
            identifier = parse_identifier(raw)
        except IdentifierError as exc:
            errors.append(FieldError(pointer, f"not a code tracecode can read: {exc}"))
            continue
        if not identifier.is_instance:
            errors.append(
                FieldError(pointer, "names a product or lot, not one pack: scan the pack's code")
            )
            continue
        if identifier.canonical in seen:
            errors.append(
                FieldError(pointer, f"the same code as /codes/{seen[identifier.canonical]}")
            )
            continue
        seen[identifier.canonical] = index
        found.append(ScannedCode(raw, identifier))
    return found


def _date(body: dict[str, Any], name: str, errors: list[FieldError]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError:
        errors.append(FieldError(f"/{name}", f"{name} is a date, YYYY-MM-DD"))
        return None


def _count(value: Any, pointer: str, errors: list[FieldError]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**9:
        errors.append(FieldError(pointer, "a quantity is a whole number of smallest units, >= 1"))
        return None
    return value


def _expected(value: Any, errors: list[FieldError]) -> tuple[ExpectedLine, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        errors.append(FieldError("/expected", "expected is a list of {product, quantity}"))
        return None
    lines = []
    for index, line in enumerate(value):
        at = f"/expected/{index}"
        if not isinstance(line, dict):
            errors.append(FieldError(at, "an expected line is {product, quantity}"))
            continue
        product = line.get("product")
        if not isinstance(product, str) or not product.strip():
            errors.append(FieldError(f"{at}/product", "product is its 医保 code or trace prefix"))
            continue
        quantity = _count(line.get("quantity"), f"{at}/quantity", errors)
        if quantity is not None:
            lines.append(ExpectedLine(product.strip(), quantity))
    return tuple(lines)


def _time(value: Any, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or "T" not in value:
            raise ValueError
        return moment(value)
    except ValueError:
        errors.append(
            FieldError(
                "/eventTime", "eventTime is an ISO 8601 time, e.g. 2026-11-30T08:00:00+08:00"
            )
        )
        return None


def _needs(
    operation: Operation,
    body: dict[str, Any],
    texts: dict[str, Any],
    patient: str | None,
    errors: list[FieldError],
) -> None:
    """What an operation cannot do without."""
    if operation not in NO_LOCATION and texts["location"] is None and "location" not in body:
        errors.append(FieldError("/location", "location is required: a master-data location id"))
    if operation in NEEDS_DESTINATION and texts["destination"] is None:
        errors.append(FieldError("/destination", f"{operation} needs a destination location id"))
    if operation in NEEDS_PATIENT and patient is None and "patient" not in body:
        errors.append(FieldError("/patient", f"{operation} needs the patient"))
    if operation is Operation.ADMINISTER and patient is None and "patient" not in body:
        errors.append(FieldError("/patient", "administer needs the patient it is given to"))
    split_return = operation is Operation.UNBIND and "quantity" in body and "product" in body
    if split_return and texts["order"] is None:
        errors.append(FieldError("/order", "a return of split units names the order"))
    if operation is Operation.RECALL and "lot" in body and texts["product"] is None:
        errors.append(FieldError("/product", "a recall by lot needs the product"))
    if operation is Operation.CANCEL and texts["scanId"] is None and texts["eventID"] is None:
        errors.append(
            FieldError("/scanId", "cancel names the scan it cancels: its scanId or eventID")
        )
    if "stocktake" in body and operation is not Operation.STOCKTAKE:
        errors.append(FieldError("/stocktake", "only a stocktake scan belongs to a stocktake"))
    for name in ("lot", "manufactured", "expires"):
        if name in body and operation not in CARRIES_LOT and operation is not Operation.RECALL:
            errors.append(FieldError(f"/{name}", f"{operation} does not take {name}"))
    _needs_of_sale(operation, body, texts, errors)


def _needs_of_sale(
    operation: Operation, body: dict[str, Any], texts: dict[str, Any], errors: list[FieldError]
) -> None:
    """What the 医保 sale fields need: a settlement is of an order (on a bind or a
    settle); a settle names the order and its settlement, no codes; the staff and the
    receipt are a bind's."""
    for name in STAFF_FIELDS:
        if name in body and operation is not Operation.BIND:
            errors.append(FieldError(f"/{name}", f"{name} is said on a bind, not on {operation}"))
    if "settlement" in body and operation not in (Operation.BIND, Operation.SETTLE):
        errors.append(
            FieldError(
                "/settlement", f"a settlement is given on a bind or a settle, not {operation}"
            )
        )
    if operation is Operation.SETTLE:
        if "settlement" not in body:
            errors.append(FieldError("/settlement", "settle needs the order's settlement"))
        if "codes" in body:
            errors.append(
                FieldError("/codes", "settle names the order, not codes: its bound codes settle")
            )
        for name in ("patient", "product", "quantity", "expected", "prescription"):
            if name in body:
                errors.append(FieldError(f"/{name}", f"settle does not take {name}"))
    if "settlement" in body and texts["order"] is None and "order" not in body:
        errors.append(FieldError("/order", "a settlement is of an order: name the order"))


def _documents(
    body: dict[str, Any], operation: Operation | None, errors: list[FieldError]
) -> dict[str, str]:
    """The document numbers given: each at most :data:`MAX_DOCUMENT` characters of
    :data:`DOCUMENT_NUMBER`, and only on an operation that takes it
    (:data:`TAKES_DOCUMENTS`)."""
    found: dict[str, str] = {}
    for name in DOCUMENT_FIELDS:
        if name not in body:
            continue
        if operation is not None and name not in TAKES_DOCUMENTS.get(operation, ()):
            which = " or ".join(o.value for o, names in TAKES_DOCUMENTS.items() if name in names)
            errors.append(FieldError(f"/{name}", f"{name} is said on {which}, not {operation}"))
            continue
        number = _text(body, name, errors, limit=MAX_DOCUMENT)
        if number is not None and not DOCUMENT_NUMBER.fullmatch(number):
            errors.append(
                FieldError(
                    f"/{name}", f"{name} is a document number: letters, digits and - _ . / only"
                )
            )
        elif number is not None:
            found[name] = number
    return found


def _settlement(value: Any, errors: list[FieldError]) -> SettlementInput | None:
    """The ``settlement`` object: the 医保 field names, each a string within its NHSA
    length; ``mdtrt_setl_type`` 1 or 2; ``setl_id`` and ``psn_no`` when insured (1, seed
    003 §三(二)4: "医保结算病人上传对应的医保结算 ID 和人员编号")."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(FieldError("/settlement", "settlement is an object of 医保 fields"))
        return None
    before = len(errors)
    limits = {**SETTLEMENT_FACTS, **PERSONAL_FIELDS}
    for name in value:
        if name not in limits:
            errors.append(
                FieldError(
                    f"/settlement/{_escape(name)}",
                    f"unknown settlement field {name!r}: one of {', '.join(limits)}",
                )
            )
    found: dict[str, str] = {}
    for name, limit in limits.items():
        raw = value.get(name)
        if isinstance(raw, int) and not isinstance(raw, bool) and name == "mdtrt_setl_type":
            raw = str(raw)
        text = _text(value, name, errors, limit=limit, raw=raw, at="/settlement/")
        if text is not None:
            found[name] = text
    kind = found.get("mdtrt_setl_type")
    if kind is None and "mdtrt_setl_type" not in value:
        errors.append(
            FieldError(
                "/settlement/mdtrt_setl_type",
                "mdtrt_setl_type is required: 1 医保结算 (insured) or 2 自费结算 (self-pay)",
            )
        )
    elif kind is not None and kind not in SETTLEMENT_TYPES:
        errors.append(
            FieldError(
                "/settlement/mdtrt_setl_type",
                f"mdtrt_setl_type {kind!r} is 1 医保结算 (insured) or 2 自费结算 (self-pay)",
            )
        )
    admdvs = found.get("insuplc_admdvs")
    if admdvs is not None and not (len(admdvs) == 6 and admdvs.isascii() and admdvs.isdigit()):
        errors.append(
            FieldError("/settlement/insuplc_admdvs", "insuplc_admdvs is a 医保区划: 6 digits")
        )
    if kind == "1":
        for name in ("setl_id", "psn_no"):
            if name not in value:
                errors.append(
                    FieldError(f"/settlement/{name}", f"an insured settlement (1) needs its {name}")
                )
    if len(errors) > before:
        return None
    return SettlementInput(
        {k: v for k, v in found.items() if k in SETTLEMENT_FACTS},
        {k: v for k, v in found.items() if k in PERSONAL_FIELDS},
    )


def body_schema() -> dict[str, Any]:
    """The JSON Schema of a scan's body (for the API's documentation; :func:`read_scan`
    is what checks)."""
    text = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
    date = {"type": "string", "format": "date"}
    described = {
        "location": "where: a master-data location id of the terminal's institution",
        "scanId": "the terminal's id of the scan (a retry answers the first answer); "
        "for cancel: the scan to cancel",
        "order": "the HIS order the codes are dispensed against",
        "prescription": "the prescription",
        "department": "the department that binds (whoever bound, unbinds)",
        "destination": "where a transfer goes: a location id",
        "source": "the supplier on receive: a location id",
        "product": "a recall by lot: 医保 code, trace prefix or GTIN",
        "lot": "receive / commission / recall: the lot",
        "reason": "why (kept in the event)",
        "operatorId": "the operator the terminal vouches for",
        "eventID": "cancel: the eventID of the scan's event",
        "stocktake": "stocktake: the id of the open count (POST /stocktakes) it belongs to",
    }
    properties: dict[str, Any] = {
        "operation": {"type": "string", "enum": [o.value for o in Operation]},
        "codes": {
            "type": "array",
            "maxItems": MAX_CODES,
            "items": {"type": "string"},
            "description": "the codes as scanned, in any carrier",
        },
        "patient": {"type": "string", "description": "the patient: kept only as a pseudonym"},
        "manufactured": date,
        "expires": date,
        "quantity": {"type": "integer", "minimum": 1},
        "expected": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["product", "quantity"],
                "properties": {
                    "product": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1},
                },
            },
        },
        "partial": {"type": "boolean"},
        "eventTime": {"type": "string", "format": "date-time"},
        "quality": {"type": "string", "enum": ["passed", "failed"]},
        "settlement": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mdtrt_setl_type"],
            "description": "bind / settle: the order's settlement, 医保 field names; psn_no, "
            "certno and psn_name are kept outside the log (erasable), the rest in the event",
            "properties": {
                name: {"type": "string", "minLength": 1, "maxLength": limit}
                for name, limit in {**SETTLEMENT_FACTS, **PERSONAL_FIELDS}.items()
            }
            | {"mdtrt_setl_type": {"type": "string", "enum": list(SETTLEMENT_TYPES)}},
        },
    }
    for name in _TEXT_FIELDS:
        properties[name] = {**text, "description": described[name]}
    for name, limit in STAFF_FIELDS.items():
        properties[name] = {
            "type": "string",
            "minLength": 1,
            "maxLength": limit,
            "description": "bind: " + name.replace("_", " ") + " (kept in the event)",
        }
    for name, kind in DOCUMENT_FIELDS.items():
        on = " / ".join(o.value for o, names in TAKES_DOCUMENTS.items() if name in names)
        properties[name] = {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_DOCUMENT,
            "pattern": f"^{DOCUMENT_NUMBER.pattern}$",
            "description": f"{on}: the {name.replace('_', ' ')} number, a bizTransaction "
            f"of type {kind} in the event",
        }
    return {
        "type": "object",
        "required": ["operation"],
        "additionalProperties": False,
        "properties": properties,
    }
