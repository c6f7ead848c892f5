"""The hospital state rule (ledger.lifecycle): every row of DOMAIN.md §3, in CBV's short
words, its URN and its Web URI forms, from the hospital states it can follow."""

from __future__ import annotations

import pytest

from ledger.lifecycle import (
    ADMINISTERING,
    CONSUMED,
    LENDING,
    PROJECT_VOCABULARY,
    HospitalState,
    hospital_state_after,
    next_hospital_state,
)

H = HospitalState
NOT_RECEIVED, IN_STOCK, IN_TRANSIT, BOUND = H.NOT_RECEIVED, H.IN_STOCK, H.IN_TRANSIT, H.BOUND
OBJ, AGG, TRANS = "ObjectEvent", "AggregationEvent", "TransformationEvent"

# (operation, previous, event type, action, bizStep, disposition, role, hospital state after)
ROWS: list[tuple[str, H, str, str | None, str | None, str | None, str, H]] = [
    ("delivery note", NOT_RECEIVED, AGG, "ADD", "packing", "in_transit", "child", NOT_RECEIVED),
    (
        "delivery note (case)",
        NOT_RECEIVED,
        AGG,
        "ADD",
        "packing",
        "in_transit",
        "parent",
        NOT_RECEIVED,
    ),
    ("supplier ships", NOT_RECEIVED, OBJ, "OBSERVE", "shipping", "in_transit", "epc", NOT_RECEIVED),
    ("supplier ships back", H.EXITED, OBJ, "OBSERVE", "shipping", "in_transit", "epc", H.EXITED),
    (
        "warehouse receiving",
        NOT_RECEIVED,
        OBJ,
        "OBSERVE",
        "receiving",
        "in_progress",
        "epc",
        IN_STOCK,
    ),
    (
        "warehouse receiving",
        NOT_RECEIVED,
        OBJ,
        "OBSERVE",
        "receiving",
        "sellable_not_accessible",
        "epc",
        IN_STOCK,
    ),
    (
        "received again",
        H.EXITED,
        OBJ,
        "OBSERVE",
        "receiving",
        "sellable_not_accessible",
        "epc",
        IN_STOCK,
    ),
    ("case opened", IN_STOCK, AGG, "DELETE", "unpacking", None, "child", IN_STOCK),
    ("warehouse → pharmacy", IN_STOCK, OBJ, "OBSERVE", "shipping", "in_transit", "epc", IN_TRANSIT),
    (
        "pharmacy acceptance",
        IN_TRANSIT,
        OBJ,
        "OBSERVE",
        "receiving",
        "sellable_accessible",
        "epc",
        IN_STOCK,
    ),
    ("pick verify", IN_STOCK, OBJ, "OBSERVE", "picking", None, "epc", IN_STOCK),
    ("pick verify", IN_STOCK, OBJ, "OBSERVE", "inspecting", None, "epc", IN_STOCK),
    ("bind", IN_STOCK, OBJ, "OBSERVE", "dispensing", "dispensed", "epc", BOUND),
    (
        "bind, never received (single-point)",
        NOT_RECEIVED,
        OBJ,
        "OBSERVE",
        "dispensing",
        "dispensed",
        "epc",
        BOUND,
    ),
    (
        "pre-scan: the box",
        IN_STOCK,
        TRANS,
        None,
        "repackaging",
        "partially_dispensed",
        "input",
        IN_STOCK,
    ),
    (
        "pre-scan: a sub-code",
        NOT_RECEIVED,
        TRANS,
        None,
        "repackaging",
        "active",
        "output",
        IN_STOCK,
    ),
    ("patient return", BOUND, OBJ, "OBSERVE", "receiving", "returned", "epc", IN_STOCK),
    ("after QA", IN_STOCK, OBJ, "OBSERVE", "receiving", "sellable_accessible", "epc", IN_STOCK),
    ("return failing QA", BOUND, OBJ, "OBSERVE", "holding", "damaged", "epc", H.FROZEN),
    ("pharmacy → warehouse", IN_STOCK, OBJ, "OBSERVE", "shipping", "in_transit", "epc", IN_TRANSIT),
    ("warehouse → supplier", IN_STOCK, OBJ, "OBSERVE", "shipping", "returned", "epc", H.EXITED),
    ("lend", IN_STOCK, OBJ, "OBSERVE", LENDING, "reserved", "epc", H.LENT),
    ("lend (reserving)", IN_STOCK, OBJ, "OBSERVE", "reserving", "reserved", "epc", H.LENT),
    ("lend return", H.LENT, OBJ, "OBSERVE", "receiving", "sellable_accessible", "epc", IN_STOCK),
    ("lent, then ordered", H.LENT, OBJ, "OBSERVE", "dispensing", "dispensed", "epc", BOUND),
    ("freeze", IN_STOCK, OBJ, "OBSERVE", "holding", "damaged", "epc", H.FROZEN),
    ("freeze", IN_STOCK, OBJ, "OBSERVE", "holding", "non_sellable_other", "epc", H.FROZEN),
    ("freeze", IN_STOCK, OBJ, "OBSERVE", "holding", None, "epc", H.FROZEN),
    ("unfreeze", H.FROZEN, OBJ, "OBSERVE", "inspecting", "sellable_accessible", "epc", IN_STOCK),
    ("recall", IN_STOCK, OBJ, "OBSERVE", "holding", "recalled", "epc", H.RECALLED),
    ("recall by lot", BOUND, OBJ, "OBSERVE", "holding", "recalled", "quantity", H.RECALLED),
    (
        "recall before receipt",
        NOT_RECEIVED,
        OBJ,
        "OBSERVE",
        "holding",
        "recalled",
        "epc",
        H.RECALLED,
    ),
    ("destroy", H.RECALLED, OBJ, "DELETE", "destroying", "destroyed", "epc", H.DESTROYED),
    ("stocktake", IN_STOCK, OBJ, "OBSERVE", "cycle_counting", None, "epc", IN_STOCK),
    (
        "stocktake, never received",
        NOT_RECEIVED,
        OBJ,
        "OBSERVE",
        "cycle_counting",
        None,
        "epc",
        NOT_RECEIVED,
    ),
    ("commissioning", NOT_RECEIVED, OBJ, "ADD", "commissioning", "active", "epc", NOT_RECEIVED),
    ("commissioning, no bizStep", NOT_RECEIVED, OBJ, "ADD", None, "active", "epc", NOT_RECEIVED),
    ("administer", BOUND, OBJ, "OBSERVE", ADMINISTERING, CONSUMED, "epc", H.CONSUMED),
    ("administer", BOUND, OBJ, "OBSERVE", ADMINISTERING, None, "epc", H.CONSUMED),
    ("consumed in a transformation", IN_STOCK, TRANS, None, "other", None, "input", H.CONSUMED),
    ("association", IN_STOCK, "AssociationEvent", "ADD", "commissioning", None, "child", IN_STOCK),
]

_CBV_FORMS = {
    "short": ("", ""),
    "urn": ("urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:disp:"),
    "web": ("https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Disp-"),
}


def _in_form(value: str | None, prefix: str) -> str | None:
    if value is None or value.startswith(PROJECT_VOCABULARY):
        return value
    return prefix + value


@pytest.mark.parametrize("form", sorted(_CBV_FORMS))
@pytest.mark.parametrize(
    ("operation", "previous", "kind", "action", "step", "disposition", "role", "expected"),
    ROWS,
    ids=[f"{row[0]} from {row[1]}" for row in ROWS],
)
def test_every_operation_of_the_mapping(
    form: str,
    operation: str,
    previous: H,
    kind: str,
    action: str | None,
    step: str | None,
    disposition: str | None,
    role: str,
    expected: H,
) -> None:
    step_prefix, disposition_prefix = _CBV_FORMS[form]
    after = hospital_state_after(
        previous,
        kind,
        action,
        _in_form(step, step_prefix),
        _in_form(disposition, disposition_prefix),
        role,
    )
    assert after is expected, operation


@pytest.mark.parametrize("previous", list(H))
def test_an_error_declaration_changes_nothing(previous: H) -> None:
    assert (
        hospital_state_after(previous, OBJ, "OBSERVE", "holding", "recalled", error_declared=True)
        is previous
    )


@pytest.mark.parametrize("previous", list(H))
def test_no_state_no_change(previous: H) -> None:
    assert next_hospital_state(previous, None, "cycle_counting", "OBSERVE") is previous


def test_the_ten_states_and_their_chinese_words() -> None:
    assert [s.value for s in H] == [
        "not_received",
        "in_stock",
        "in_transit",
        "bound",
        "consumed",
        "exited",
        "lent",
        "frozen",
        "recalled",
        "destroyed",
    ]
    assert [s.chinese for s in H] == [
        "未入库",
        "在库",
        "在途",
        "已赋码",
        "已消耗",
        "已退出",
        "借出",
        "冻结",
        "召回",
        "销毁",
    ]


def test_the_project_vocabulary_is_one_namespace() -> None:
    assert all(w.startswith("urn:tracecode:voc:") for w in (ADMINISTERING, LENDING, CONSUMED))
