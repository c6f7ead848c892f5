"""What a stored EPCIS event says, in the forms seed 004's rows take.

* **Codes.** The ledger names a Chinese drug trace code by its URN
  ``urn:tracecode:cn-drug:<20 digits>`` (:mod:`epcis.identifiers.cn_drug_code`); the platform
  writes it ``AHM.<20 digits>`` (seed 004's examples, :data:`ISSUER`). A split unit's
  sub-code (``…:unit:<n>``) is the hospital's own and unknown to the platform: it is named
  by its box. Any other EPC (a GS1 URN, a Digital Link) is sent as the ledger has it.
* **Places and parties** are the ledger's URIs (``urn:tracecode:loc:<institution>:<id>``):
  master data holds no idcode (``MA.156…``) identifiers to send instead.
* **Orders and documents** (tables 5–6's ``po``, ``inv``, ``recadv``, ``desadv``) are the
  ledger's URIs too: ``urn:tracecode:order:<institution>:<order>`` and a scan's documents
  ``urn:tracecode:doc:<institution>:<type>:<number>``
  (:func:`ledger.scan_events.document_uri`). The seed's examples
  (``http://idcode.org.cn/epcis/po/MA.156.M2.123456.POnum``) put the issuer's idcode
  before the number; master data holds none, and an institution's own code there would be
  an identifier idcode never issued. The ledger's URI names the same three things (whose,
  which kind, which number), so the platform can tell two hospitals' ``PO-1`` apart.
* **CBV words** come short (``receiving``), as URNs or as ``https://ref.gs1.org/cbv/``
  URIs; :func:`cbv` reads all three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from epcis.identifiers.cn_drug_code import LENGTH, URN_PREFIX, is_trace_code_urn
from ledger.lifecycle import PROJECT_VOCABULARY
from ledger.locations import parse_location_uri
from ledger.scan_events import ORDER_TYPE, PRESCRIPTION_TYPE, parse_order_uri

ISSUER = "AHM"
"""The issuing agency in front of a trace code on the platform (seed 004: ``AHM.8123…``)."""
BTT = "urn:epcglobal:cbv:btt:"
SDT = "urn:epcglobal:cbv:sdt:"
MDA = "urn:epcglobal:cbv:mda:"
TAKING_AWAY = PROJECT_VOCABULARY + "bizstep:taking_away"
"""bizStep of a drug taken out of the hospital by its patient (带离, seed 004 §二(八));
DOMAIN.md §3 leaves it to the project's vocabulary. No scan writes it yet: an integration
captures it (``POST /capture``), naming the prescription as a bind does."""
_GS1_WEB = "https://ref.gs1.org/cbv/"
_WEB_KINDS = {"bizstep": "BizStep-", "disp": "Disp-", "btt": "BTT-", "sdt": "SDT-"}


def cbv(value: Any, kind: str) -> str | None:
    """A CBV value of ``kind`` (``bizstep``, ``disp``, ``btt``, ``sdt``) as its bare word;
    other URIs as they are; None for no string."""
    if not isinstance(value, str) or not value:
        return None
    for prefix in (f"urn:epcglobal:cbv:{kind}:", _GS1_WEB + _WEB_KINDS[kind]):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def platform_code(epc: str) -> str:
    """The form the platform names ``epc`` by (see the module)."""
    if is_trace_code_urn(epc):
        digits = epc[len(URN_PREFIX) :][:LENGTH]
        return f"{ISSUER}.{digits}"
    return epc


def trace_code(epc: str) -> str:
    """The code the outbox orders messages by: a trace code's 20 digits (a sub-code's
    box's), any other EPC as it is."""
    return epc[len(URN_PREFIX) :][:LENGTH] if is_trace_code_urn(epc) else epc


T = TypeVar("T")


def unique(values: Iterable[T]) -> list[T]:
    """``values`` without repeats, in order."""
    return list(dict.fromkeys(values))


def boxes_of_units(epcs: Iterable[str]) -> list[str]:
    """The boxes (as their URNs) whose split units' sub-codes ``epcs`` names, in order."""
    return unique(
        epc[: len(URN_PREFIX) + LENGTH]
        for epc in epcs
        if is_trace_code_urn(epc) and len(epc) > len(URN_PREFIX) + LENGTH
    )


def epc_list(event: Mapping[str, Any], name: str = "epcList") -> list[str]:
    values = event.get(name)
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def place(event: Mapping[str, Any]) -> str | None:
    """Where the event happened: its bizLocation, else its readPoint (a bind has no
    bizLocation: the drug leaves with the patient, from the read point)."""
    for name in ("bizLocation", "readPoint"):
        found = event.get(name)
        if isinstance(found, Mapping) and isinstance(found.get("id"), str):
            return str(found["id"])
    return None


def institution_of(event: Mapping[str, Any], fallback: str) -> str:
    """The institution whose place the event names, else ``fallback`` (the capturer)."""
    where = place(event)
    parsed = parse_location_uri(where) if where else None
    return parsed[0] if parsed else fallback


def typed(event: Mapping[str, Any], name: str, value_key: str) -> list[tuple[str, str]]:
    """``(type, value)`` of each entry of a typed list (bizTransactionList, sourceList…)."""
    entries = event.get(name)
    if not isinstance(entries, list):
        return []
    return [
        (str(entry.get("type") or ""), str(entry[value_key]))
        for entry in entries
        if isinstance(entry, Mapping) and isinstance(entry.get(value_key), str)
    ]


def prescription(event: Mapping[str, Any]) -> str | None:
    """The scan's ``prescription`` (the HIS's number for the patient's visit or
    prescription, read for seed 004's 病历号/门诊号), taken out of its bizTransaction."""
    for kind, value in typed(event, "bizTransactionList", "bizTransaction"):
        if kind == PRESCRIPTION_TYPE:
            return order_number(value)
    return None


def order_number(uri: str) -> str:
    """The HIS's number in ``urn:tracecode:order:<institution>:<number>``; another URI as
    it is."""
    found = parse_order_uri(uri)
    return found[1] if found is not None else uri


def is_order(kind: str) -> bool:
    return kind == ORDER_TYPE


def text(event: Mapping[str, Any], *names: str) -> str | None:
    """The first of the fields ``names`` holding a non-empty string."""
    for name in names:
        value = event.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def mda(values: Any, name: str) -> str | None:
    """A CBV master-data attribute (``lotNumber``…) of ILMD or an event, prefixed
    ``cbvmda:`` or written as its URI."""
    if not isinstance(values, Mapping):
        return None
    return text(values, "cbvmda:" + name, MDA + name)
