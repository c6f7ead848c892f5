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
NR, IN_STOCK, IN_TRANSIT, BOUND = H.NOT_RECEIVED, H.IN_STOCK, H.IN_TRANSIT, H.BOUND
EXITED, LENT, FROZEN, RECALLED = H.EXITED, H.LENT, H.FROZEN, H.RECALLED
DESTROYED, USED_UP = H.DESTROYED, H.CONSUMED
OBJ, AGG, TRANS = "ObjectEvent", "AggregationEvent", "TransformationEvent"
ASSOC = "AssociationEvent"
OBS, SNA, SA = "OBSERVE", "sellable_not_accessible", "sellable_accessible"

# (operation, previous, event type, action, bizStep, disposition, role, hospital state after)
# fmt: off
ROWS: list[tuple[str, H, str, str | None, str | None, str | None, str, H]] = [
    ("delivery note", NR, AGG, "ADD", "packing", "in_transit", "child", NR),
    ("delivery note (case)", NR, AGG, "ADD", "packing", "in_transit", "parent", NR),
    ("supplier ships", NR, OBJ, OBS, "shipping", "in_transit", "epc", NR),
    ("supplier ships back", EXITED, OBJ, OBS, "shipping", "in_transit", "epc", EXITED),
    ("warehouse receiving", NR, OBJ, OBS, "receiving", "in_progress", "epc", IN_STOCK),
    ("warehouse receiving", NR, OBJ, OBS, "receiving", SNA, "epc", IN_STOCK),
    ("received again", EXITED, OBJ, OBS, "receiving", SNA, "epc", IN_STOCK),
    ("case opened", IN_STOCK, AGG, "DELETE", "unpacking", None, "child", IN_STOCK),
    ("warehouse → pharmacy", IN_STOCK, OBJ, OBS, "shipping", "in_transit", "epc", IN_TRANSIT),
    ("pharmacy acceptance", IN_TRANSIT, OBJ, OBS, "receiving", SA, "epc", IN_STOCK),
    ("pick verify", IN_STOCK, OBJ, OBS, "picking", None, "epc", IN_STOCK),
    ("pick verify", IN_STOCK, OBJ, OBS, "inspecting", None, "epc", IN_STOCK),
    ("bind", IN_STOCK, OBJ, OBS, "dispensing", "dispensed", "epc", BOUND),
    ("bind, never received (single-point)", NR, OBJ, OBS, "dispensing", "dispensed", "epc", BOUND),
    ("pre-scan: box", IN_STOCK, TRANS, None, "repackaging", "partially_dispensed", "input",
     IN_STOCK),
    ("pre-scan: a sub-code", NR, TRANS, None, "repackaging", "active", "output", IN_STOCK),
    ("patient return", BOUND, OBJ, OBS, "receiving", "returned", "epc", IN_STOCK),
    ("after QA", IN_STOCK, OBJ, OBS, "receiving", SA, "epc", IN_STOCK),
    ("return failing QA", BOUND, OBJ, OBS, "holding", "damaged", "epc", FROZEN),
    ("pharmacy → warehouse", IN_STOCK, OBJ, OBS, "shipping", "in_transit", "epc", IN_TRANSIT),
    ("warehouse → supplier", IN_STOCK, OBJ, OBS, "shipping", "returned", "epc", EXITED),
    ("lend", IN_STOCK, OBJ, OBS, LENDING, "reserved", "epc", LENT),
    ("lend (reserving)", IN_STOCK, OBJ, OBS, "reserving", "reserved", "epc", LENT),
    ("lend return", LENT, OBJ, OBS, "receiving", SA, "epc", IN_STOCK),
    ("lent, then ordered", LENT, OBJ, OBS, "dispensing", "dispensed", "epc", BOUND),
    ("freeze", IN_STOCK, OBJ, OBS, "holding", "damaged", "epc", FROZEN),
    ("freeze", IN_STOCK, OBJ, OBS, "holding", "non_sellable_other", "epc", FROZEN),
    ("freeze", IN_STOCK, OBJ, OBS, "holding", None, "epc", FROZEN),
    ("unfreeze", FROZEN, OBJ, OBS, "inspecting", SA, "epc", IN_STOCK),
    ("recall", IN_STOCK, OBJ, OBS, "holding", "recalled", "epc", RECALLED),
    ("recall by lot", BOUND, OBJ, OBS, "holding", "recalled", "quantity", RECALLED),
    ("recall before receipt", NR, OBJ, OBS, "holding", "recalled", "epc", RECALLED),
    ("destroy", RECALLED, OBJ, "DELETE", "destroying", "destroyed", "epc", DESTROYED),
    ("stocktake", IN_STOCK, OBJ, OBS, "cycle_counting", None, "epc", IN_STOCK),
    ("stocktake, never received", NR, OBJ, OBS, "cycle_counting", None, "epc", NR),
    ("commissioning", NR, OBJ, "ADD", "commissioning", "active", "epc", NR),
    ("commissioning, no bizStep", NR, OBJ, "ADD", None, "active", "epc", NR),
    ("administer", BOUND, OBJ, OBS, ADMINISTERING, CONSUMED, "epc", USED_UP),
    ("administer", BOUND, OBJ, OBS, ADMINISTERING, None, "epc", USED_UP),
    ("consumed in a transformation", IN_STOCK, TRANS, None, "other", None, "input", USED_UP),
    ("association", IN_STOCK, ASSOC, "ADD", "commissioning", None, "child", IN_STOCK),
]
# fmt: on

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
