"""The canonical URI of a 20-digit Chinese drug trace code, ``urn:tracecode:cn-drug:…``, and
its reserved split-unit sub-code ``…:unit:<n>``: one canonical form for every spelling."""

from __future__ import annotations

import pytest

from epcis.identifiers import IdentifierError, canonical_digital_link, parse_identifier
from epcis.identifiers.cn_drug_code import trace_code_urn
from epcis.identifiers.facts import canonical, code_problem, facts_of, slow_facts_of
from epcis.identifiers.limits import limit_problem

CODE = "81234567890123456789"
URN = f"urn:tracecode:cn-drug:{CODE}"
SPELLINGS = [
    CODE,
    f"AHM.{CODE}",
    f"ahm.{CODE}",
    f"UPS.{CODE}",
    URN,
    f"URN:TraceCode:CN-DRUG:{CODE}",
]


@pytest.mark.parametrize("raw", SPELLINGS)
def test_every_spelling_has_the_urn_as_canonical_form(raw: str) -> None:
    found = parse_identifier(raw)
    assert found.canonical == URN
    assert found.raw == raw
    assert (found.family, found.product_key, found.serial) == (
        "cn-drug-trace-code",
        "8123456",
        "7890123456789",
    )
    assert found.is_instance
    assert canonical(raw) == URN
    assert facts_of(raw) == slow_facts_of(raw)
    assert facts_of(raw).product == "8123456"
    assert trace_code_urn(raw) == URN


def test_the_issuer_is_kept_apart() -> None:
    found = parse_identifier(f"AHM.{CODE}")
    assert (found.issuer, found.scheme) == ("AHM", "issuer-prefixed")
    assert parse_identifier(URN).scheme == "urn"


def test_a_split_unit_sub_code_points_back_to_its_box() -> None:
    found = parse_identifier(f"{URN}:UNIT:12")
    assert found.canonical == f"{URN}:unit:12"
    assert found.scheme == "urn-unit"
    assert found.attributes == {"box": URN, "unit": "12"}
    assert found.is_instance and found.product_key == "8123456"
    assert any(f"split from box {URN}" in note for note in found.notes)
    assert canonical(f"{URN}:unit:12") == f"{URN}:unit:12"
    assert limit_problem(f"{URN}:unit:12") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"{URN}:unit:0", "whole number from 1"),
        (f"{URN}:unit:01", "without leading zeros"),
        (f"{URN}:unit:", "whole number from 1"),
        (f"{URN}:unit:-1", "whole number from 1"),
        (f"{URN}:unit:x", "whole number from 1"),
        (f"{URN}:lot:1", "only ':unit:<n>' may follow"),
        (f"{URN}:", "only ':unit:<n>' may follow"),
        ("urn:tracecode:cn-drug:8123456789012345678", "19 digits where 20 are needed"),
        ("urn:tracecode:cn-drug:71234567890123456789", "start with 8, got '7'"),
        ("urn:tracecode:cn-drug:", "0 digits where 20 are needed"),
    ],
)
def test_a_malformed_urn_says_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        parse_identifier(raw)
    assert trace_code_urn(raw) is None
    problem = limit_problem(raw)
    assert problem is not None and message in problem
    assert code_problem(raw) is not None


def test_another_urn_of_the_namespace_is_no_trace_code() -> None:
    with pytest.raises(IdentifierError, match=r"not an EPC URI .* or a Chinese drug trace code"):
        parse_identifier("urn:tracecode:loc:pharmacy-1")
    assert limit_problem("urn:tracecode:loc:pharmacy-1") is None


@pytest.mark.parametrize(
    "raw",
    [
        "8123456789012345678",  # 19 digits
        "71234567890123456789",  # does not start with 8
        "AHM.8123x",
        "AHM.",
        f" {CODE}",  # capture reads values as given
        "urn:epc:id:sgtin:0614141.107346.2017",
        "https://id.gs1.org/01/09520123456788/21/1",
    ],
)
def test_trace_code_urn_reads_only_trace_codes(raw: str) -> None:
    assert trace_code_urn(raw) is None


def test_the_event_hash_keeps_the_urn_as_it_is() -> None:
    assert canonical_digital_link(URN) is None


def test_other_families_keep_their_canonical_forms() -> None:
    assert [canonical(raw) for raw in OTHER_FAMILIES] == list(OTHER_FAMILIES.values())


OTHER_FAMILIES = {
    "urn:epc:id:sgtin:0614141.107346.2017": "https://id.gs1.org/01/10614141073464/21/2017",
    "(01)09520123456788(21)1": "https://id.gs1.org/01/09520123456788/21/1",
    "MA.156.M0.100001.10010001.S99": "MA.156.M0.100001.10010001.S99",
}
