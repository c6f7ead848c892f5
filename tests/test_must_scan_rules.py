"""Must-scan rules: the rules file in tests/data decides, over HTTP and the command line;
history (``as_of``); bad files refused naming line and field, nothing stored; and scans
answer yellow ``short_of_codes`` / red ``over_codes`` against the codes the rules expect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from ledger.access import LOCAL, Role
from ledger.application import Ledger
from ledger.master_data_import import import_master_data
from ledger.must_scan_book import RuleBook, import_rules, rule_books
from ledger.verify import verify_chain
from tests.http_support import RoleKeys, http_client
from tests.master_data_support import PRODUCTS, csv_bytes
from tests.must_scan_support import MORE_PRODUCTS, RULES, RULES_FILE
from tests.scan_support import LOCATIONS, box, code, load_hospital, post_scan

YAML = {"Content-Type": "application/yaml"}


def _auth(client: TestClient, role: Role) -> dict[str, str]:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    return auth.header(role)


def post_rules(client: TestClient, data: bytes, media: str = "application/yaml") -> Any:
    headers = {"Content-Type": media, **_auth(client, Role.ADMIN)}
    return client.post("/rules", content=data, headers=headers)


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        more = {"Content-Type": "text/csv", **_auth(opened, Role.ADMIN)}
        made = opened.post("/masterdata", content=csv_bytes(MORE_PRODUCTS), headers=more)
        assert made.status_code == 201, made.text
        imported = post_rules(opened, RULES)
        assert imported.status_code == 201, imported.text
        assert imported.json() == {"institution": "H1", "rules": 5, "changed": True, "version": 1}
        yield opened


def decide(client: TestClient, role: Role = Role.READER, **query: Any) -> Any:
    return client.get("/rules/decide", params=query, headers=_auth(client, role))


def decided(client: TestClient, **query: Any) -> dict[str, Any]:
    answer = decide(client, **query)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# -- decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "location", "quantity", "must", "mode", "expected", "rule"),
    [
        ("ZP01", "OP", 40, False, "whole", 0, 0),  # a preparation: exempt
        ("8400001", "W3", 5, False, "whole", 0, 1),  # a loose injection, by trace prefix
        ("XS03", "W3", 45, True, "split", 0, 2),  # split at a ward
        ("XS03", "OP-1", 45, True, "whole", 2, 4),  # a window within OP: whole boxes
        ("XS03", "ENT", 45, True, "split", 0, None),  # no rule: master data's split flag
        ("XB02", "WH", 200, False, "whole", 0, 3),  # bulk warehouse issue
        ("XB02", "WH", 199, True, "whole", 20, None),  # below the rule's quantity
        ("XB02", "OP", 21, True, "whole", 3, 4),
        ("XA01", "W5", 30, True, "split", 0, 2),  # split on its unit level
    ],
)
def test_decisions_from_the_rules_file(
    client: TestClient,
    product: str,
    location: str,
    quantity: int,
    must: bool,
    mode: str,
    expected: int,
    rule: int | None,
) -> None:
    body = decided(client, product=product, location=location, quantity=quantity)
    assert (body["mustScan"], body["mode"], body["expectedCodes"]) == (must, mode, expected)
    assert (body["rule"] or {}).get("index") == rule, body
    assert body["reasons"], body


def test_decision_answer_in_full(client: TestClient) -> None:
    body = decided(client, product="XB02", location="OP", quantity=21)
    assert body == {
        "product": "XB02",
        "location": "OP",
        "quantity": 21,
        "mustScan": True,
        "mode": "whole",
        "expectedCodes": 3,
        "unitsPerBox": 10,
        "rule": {
            "index": 4,
            "name": "the outpatient pharmacy dispenses whole boxes",
            "when": {"location": ["OP"], "must_scan": True},
            "then": {"mode": "whole"},
        },
        "reasons": [
            "rule 5 'the outpatient pharmacy dispenses whole boxes' matched",
            "XB02 is on the must-scan list (master data)",
            "whole packs: 21 units in boxes of 10",
        ],
    }
    # no quantity: the codes expected are not known; a terminal may ask too
    answer = decide(client, Role.TERMINAL, product="XB02", location="OP")
    assert answer.status_code == 200 and answer.json()["expectedCodes"] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"product": "NOPE", "location": "OP"}, "product"),
        ({"product": "XB02", "location": "NOWHERE"}, "location"),
        ({"product": "XB02", "location": "OP", "quantity": "0"}, "quantity"),
        ({"product": "XB02", "location": "OP", "quantity": "two"}, "quantity"),
        ({"product": "XB02", "location": "OP", "as_of": "yesterday"}, "as_of"),
    ],
)
def test_decide_names_the_bad_parameter(
    client: TestClient, query: dict[str, str], parameter: str
) -> None:
    answer = decide(client, **query)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["query"] == parameter


def test_decide_for_another_institution_is_refused(client: TestClient) -> None:
    answer = decide(client, product="XB02", location="OP", institution="H2")
    assert answer.status_code == 403
    regulator = decide(client, Role.REGULATOR, product="XB02", location="OP", institution="H1")
    assert regulator.status_code == 200 and regulator.json()["expectedCodes"] is None


# -- stored, with history --------------------------------------------------------------------


def test_rules_read_back_and_history(client: TestClient, ledger: Ledger) -> None:
    first = client.get("/rules").json()["ruleBooks"]
    assert [b["institution"] for b in first] == ["H1"] and first[0]["version"] == 1
    assert first[0]["rules"][0]["name"].startswith("院内制剂免扫")
    again = post_rules(client, RULES)
    assert again.json() == {"institution": "H1", "rules": 5, "changed": False, "version": 1}
    # the warehouse rule's threshold lowered: a second version
    changed = RULES.replace(b"min_quantity: 200", b"min_quantity: 100")
    second = post_rules(client, changed)
    assert second.status_code == 201 and second.json()["version"] == 2
    then = first[0]["recordedAt"]
    assert decided(client, product="XB02", location="WH", quantity=150)["mustScan"] is False
    old = decided(client, product="XB02", location="WH", quantity=150, as_of=then)
    assert old["mustScan"] is True and old["expectedCodes"] == 15
    assert client.get("/rules", params={"as_of": then}).json()["ruleBooks"] == first
    before = client.get("/rules", params={"as_of": "2000-01-01T00:00:00Z"}).json()
    assert before == {"ruleBooks": []}
    # JSON is YAML too
    as_json = json.dumps({"rules": [{"name": "all", "then": {"must_scan": True}}]})
    third = post_rules(client, as_json.encode(), "application/json")
    assert third.status_code == 201 and third.json()["version"] == 3
    report = verify_chain(ledger)
    assert report.intact
    assert RuleBook.chain_kind == "must-scan rules"


RULE = b"rules:\n  - name: a\n"
WHOLE = b"    then: {mode: whole}\n"
MAX_QUANTITY = "/rules/0/when/max_quantity"
BAD_FILES = [
    (RULE + b"    then: {must_scan: maybe}\n", 3, "/rules/0/then/must_scan"),
    (RULE + b"    when: {location_kind: clinic}\n" + WHOLE, 3, "/rules/0/when/location_kind"),
    (RULE + b"    when:\n      colour: red\n" + WHOLE, 4, "/rules/0/when/colour"),
    (RULE + b"    then: {mode: half}\n", 3, "/rules/0/then/mode"),
    (b"rules:\n  - when: {split: true}\n    then: {mode: split}\n", 2, "/rules/0/name"),
    (RULE + WHOLE + b"  - name: a\n" + WHOLE, 4, "/rules/1/name"),
    (RULE + b"    when: {min_quantity: -3}\n" + WHOLE, 3, "/rules/0/when/min_quantity"),
    (RULE + b"    when: {min_quantity: 5, max_quantity: 2}\n" + WHOLE, 3, MAX_QUANTITY),
    (RULE + b"    when: {product: NOPE}\n" + WHOLE, 3, "/rules/0/when/product"),
    (RULE + b"    when: {location: MARS}\n" + WHOLE, 3, "/rules/0/when/location"),
    (RULE + b"    then: {}\n", 3, "/rules/0/then"),
    (b"rule:\n  - name: a\n", 2, "/rule"),
    (b"rules:\n  - &x {name: a, then: {mode: whole}}\n  - *x\n", 3, ""),
    (b"rules: [\n  {name: a,\n", 3, ""),
    (b"\xff\xfe", 0, ""),
]


@pytest.mark.parametrize(("data", "line", "pointer"), BAD_FILES)
def test_bad_rules_files_store_nothing(
    client: TestClient, ledger: Ledger, data: bytes, line: int, pointer: str
) -> None:
    answer = post_rules(client, data)
    assert answer.status_code == 400, answer.text
    errors = answer.json()["errors"]
    assert any(e.get("line") == line and e.get("pointer", "") == pointer for e in errors), errors
    assert rule_books(ledger)["H1"].version == 1


def test_rules_wrong_media_type(client: TestClient) -> None:
    assert post_rules(client, RULES, "text/csv").status_code == 415


# -- the command line ------------------------------------------------------------------------


def test_cli_import_show_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("TRACECODE_DATABASE_URL", url)
    runner = CliRunner()
    for text, institution in ((PRODUCTS, "H1"), (MORE_PRODUCTS, "H1"), (LOCATIONS, None)):
        path = tmp_path / "md.csv"
        path.write_bytes(csv_bytes(text))
        extra = ["--institution", institution] if institution else []
        done = runner.invoke(main, ["masterdata", "import", str(path), *extra])
        assert done.exit_code == 0, done.stderr
    unnamed = runner.invoke(main, ["rules", "import", str(RULES_FILE)])
    assert unnamed.exit_code == 2 and "--institution" in unnamed.stderr
    done = runner.invoke(main, ["rules", "import", str(RULES_FILE), "--institution", "H1"])
    assert done.exit_code == 0, done.stderr
    assert done.stdout == "rules of H1: 5 rules, version 1\n"
    again = runner.invoke(main, ["rules", "import", str(RULES_FILE), "--institution", "H1"])
    assert again.stdout == "rules of H1: 5 rules, unchanged\n"

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"rules:\n  - name: x\n    when: {form: [ ]}\n    then: {mode: whole}\n")
    failed = runner.invoke(main, ["rules", "import", str(bad), "--institution", "H1"])
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.splitlines()[-1] == (
        f"{bad}: line 3, /rules/0/when/form: one value or a non-empty list of values"
    )

    asked = ["rules", "decide", "--product", "XS03", "--location", "W3", "--quantity", "45"]
    found = runner.invoke(main, [*asked, "--institution", "H1"])
    assert found.exit_code == 0, found.stderr
    body = json.loads(found.stdout)
    assert (body["mode"], body["expectedCodes"], body["rule"]["index"]) == ("split", 0, 2)
    unknown = runner.invoke(
        main, ["rules", "decide", "--product", "NOPE", "--location", "W3", "--institution", "H1"]
    )
    assert unknown.exit_code == 1 and "--product" in unknown.stderr
    shown = runner.invoke(main, ["rules", "show", "--institution", "H1"])
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["ruleBooks"][0]["version"] == 1
    earlier = runner.invoke(main, ["rules", "show", "--as-of", "2000-01-01T00:00:00Z"])
    assert json.loads(earlier.stdout) == {"ruleBooks": []}


# -- scans use the rules ---------------------------------------------------------------------


def at_op(client: TestClient, *codes: str) -> None:
    for body in (
        {"operation": "receive", "location": "WH"},
        {"operation": "transfer", "location": "WH", "destination": "OP"},
        {"operation": "accept", "location": "OP"},
    ):
        answer = post_scan(client, codes=list(codes), **body)
        assert answer.status_code == 201, answer.text


def words(answer: Any) -> list[str]:
    return [r["reason"] for r in answer.json()["reasons"]]


def test_scans_compare_codes_with_the_rules(client: TestClient) -> None:
    boxes = [box(n) for n in range(1, 6)]
    at_op(client, *boxes)
    patient = {"operation": "bind", "location": "OP", "patient": "P-1"}
    # 21 tablets: 3 boxes expected at OP; two scanned (the order goes on): yellow
    short = post_scan(client, **patient, order="RX1", codes=boxes[:2], product="XB02", quantity=21)
    assert short.status_code == 201 and short.json()["colour"] == "yellow", short.text
    assert words(short) == ["short_of_codes"]
    # a third code on the same order: the order's codes count, green
    third = post_scan(client, **patient, order="RX1", codes=boxes[2:3], product="XB02", quantity=21)
    assert third.status_code == 201 and third.json()["colour"] == "green", third.text
    # 10 tablets with two boxes: red, nothing stored
    over = post_scan(client, **patient, order="RX2", codes=boxes[3:5], product="XB02", quantity=10)
    assert over.status_code == 409 and words(over) == ["over_codes"], over.text
    # expected lines are checked the same way (over_order too, from the units)
    lines = post_scan(
        client,
        **patient,
        order="RX3",
        codes=boxes[3:5],
        expected=[{"product": "8200001", "quantity": 30}],
    )
    assert lines.status_code == 201, lines.text
    assert words(lines) == ["short_of_order", "short_of_codes"]


def test_exempt_and_split_products_expect_no_codes(client: TestClient) -> None:
    loose = [code("8400001", n) for n in (1, 2)]
    at_op(client, *loose)
    answer = post_scan(
        client, operation="pick", location="OP", codes=loose[:1], product="ZI01", quantity=30
    )
    assert answer.status_code == 201 and answer.json()["colour"] == "green", answer.text


def bind_two(client: TestClient, patient: str, first: str, second: str) -> Any:
    """Two boxes of XB02 bound for 5 tablets (one box expected)."""
    return post_scan(
        client,
        operation="bind",
        location="OP",
        patient=patient,
        codes=[first, second],
        product="XB02",
        quantity=5,
    )


def test_without_rules_scans_are_as_before(ledger: Ledger) -> None:
    with http_client(ledger) as client:
        load_hospital(client)
        at_op(client, box(1), box(2))
        answer = bind_two(client, "P-1", box(1), box(2))
        assert answer.status_code == 201 and answer.json()["colour"] == "green", answer.text
        # the rules arrive: the writer follows them at once
        import_rules(ledger, LOCAL, RULES, "H1")
        at_op(client, box(3), box(4))
        over = bind_two(client, "P-2", box(3), box(4))
        assert over.status_code == 409 and words(over) == ["over_codes"], over.text


def test_import_checks_master_data_of_the_institution(ledger: Ledger) -> None:
    import_master_data(ledger, LOCAL, csv_bytes(LOCATIONS), "H1")
    from ledger.must_scan_file import RulesInvalid

    with pytest.raises(RulesInvalid, match=r"line 20, /rules/3/when/product: 'XB02'"):
        import_rules(ledger, LOCAL, RULES, "H1")
    assert rule_books(ledger) == {}
