"""The HIS's own book figures as the third leg of 账-物-码 (``POST /reconciliation/books``,
``tracecode books``): imported, replaced by later figures, chosen as of the period's end,
converted from smallest units, set beside the codes and the count; every bad file refused
whole with the ledger unchanged. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from ledger.access import Role
from ledger.application import Ledger
from ledger.verify import verify_chain
from projections.schema import utc_text
from tests.http_support import RoleKeys, http_client
from tests.scan_support import code, load_hospital, post_scan

L1, A1, U9 = ("8200001", "L1"), ("8100002", "A1"), ("8100001", "U9")
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
T1, T2 = BASE + timedelta(days=1), BASE + timedelta(days=2)


def at(moment: datetime) -> str:
    return utc_text(moment.isoformat())


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def admin(client: TestClient) -> dict[str, str]:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    return auth.header(Role.ADMIN)


def post_books(client: TestClient, text: str, media: str = "text/csv") -> Any:
    headers = {"Content-Type": media, **admin(client)}
    return client.post("/reconciliation/books", content=text.encode(), headers=headers)


def scan(
    client: TestClient, minute: int, operation: str, location: str, codes: list[str], **body: Any
) -> None:
    when = (BASE + timedelta(minutes=minute)).isoformat()
    answer = post_scan(
        client, operation=operation, location=location, codes=codes, eventTime=when, **body
    )
    assert answer.status_code == 201, (operation, answer.text)


def stock_the_pharmacy(client: TestClient) -> list[str]:
    """4 boxes of XB02 lot L1 at OP, 2 of XA01 (box) lot A1 at its window OP-1; a count
    that finds 3 of the 4 L1 boxes and both A1 boxes. Returns the L1 codes."""
    boxes = [code("8200001", n) for n in range(1, 5)]
    amox = [code("8100002", n) for n in range(1, 3)]
    lots = {"expires": "2099-12-31", "source": "SUP"}
    scan(client, 1, "receive", "WH", boxes, lot="L1", **lots)
    scan(client, 2, "receive", "WH", amox, lot="A1", **lots)
    scan(client, 3, "transfer", "WH", boxes, destination="OP")
    scan(client, 4, "accept", "OP", boxes)
    scan(client, 5, "transfer", "WH", amox, destination="OP-1")
    scan(client, 6, "accept", "OP-1", amox)
    scan(client, 60, "stocktake", "OP", boxes[:3])
    scan(client, 61, "stocktake", "OP-1", amox)
    return boxes


def reconciled(client: TestClient, until: datetime, **params: str) -> dict[str, Any]:
    asked = {"location": "OP", "from": at(BASE), "to": at(until), **params}
    answer = client.get("/reconciliation", params=asked)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def lines_of(body: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(line["product"], line["lot"]): line for line in body["lines"]}


FIRST = "\n".join(
    [
        "location,product,lot,quantity,unit,asOf,level",
        f"OP,XB02,L1,4,,{T1.isoformat()},",
        f"OP-1,XA01,A1,48,unit,{T1.isoformat()},box",
        f"OP,06901234567892,U9,7,code,{T1.isoformat()},",
    ]
)


def test_imports_are_replaced_from_their_as_of_on_and_chosen_as_of_the_period_end(
    client: TestClient, ledger: Ledger
) -> None:
    stock_the_pharmacy(client)
    before = reconciled(client, T1 + timedelta(hours=1))
    assert before["hisBooks"] is None
    assert all(line["hisQuantity"] is None for line in before["lines"])
    assert before["disagreements"] == {"booksVsCodes": 0, "codesVsCount": 1}

    first = post_books(client, FIRST)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["institution"] == "H1"
    assert [(s["location"], s["asOf"], s["lines"]) for s in made["snapshots"]] == [
        ("OP", at(T1), 2),
        ("OP-1", at(T1), 1),
    ]
    body = reconciled(client, T1 + timedelta(hours=1))
    assert body["hisBooks"]["id"] == made["id"] and body["hisBooks"]["asOf"] == at(T1)
    assert body["hisBooks"]["importedAt"] == made["importedAt"]
    lines = lines_of(body)
    assert lines[L1]["hisQuantity"] == 4 and lines[L1]["hisDifference"] == 0
    assert lines[L1]["disagreements"] == ["codesVsCount"]  # the count missed one box
    assert lines[A1]["hisQuantity"] == 2 and lines[A1]["hisQuantityUnits"] == 48
    assert lines[A1]["disagreements"] == []
    only_his = lines[U9]  # the HIS has it, the codes do not
    assert only_his["theoreticalClosing"] == only_his["opening"] == only_his["counted"] == 0
    assert only_his["hisQuantity"] == 7 and only_his["hisDifference"] == 7
    assert only_his["disagreements"] == ["booksVsCodes"] and only_his["ybCode"] == "XA01"
    assert body["disagreements"] == {"booksVsCodes": 1, "codesVsCount": 1}

    # a later import for OP replaces its figures from its asOf on; OP-1 keeps the first
    second = post_books(
        client, f"location,product,lot,quantity,asOf\nOP,8200001,L1,3,{T2.isoformat()}\n"
    )
    assert second.status_code == 201, second.text
    later = reconciled(client, T2 + timedelta(hours=1))
    assert later["hisBooks"]["id"] == second.json()["id"] and later["hisBooks"]["asOf"] == at(T2)
    assert [(s["location"], s["id"]) for s in later["hisBooks"]["locations"]] == [
        ("OP", second.json()["id"]),
        ("OP-1", made["id"]),
    ]
    lines = lines_of(later)
    assert lines[L1]["hisQuantity"] == 3 and lines[L1]["hisDifference"] == -1
    assert lines[L1]["disagreements"] == ["booksVsCodes", "codesVsCount"]
    assert lines[A1]["hisQuantity"] == 2 and U9 not in lines
    # a period that ends before the second asOf still has the first figures
    assert lines_of(reconciled(client, T1 + timedelta(hours=1)))[L1]["hisQuantity"] == 4
    # figures for the same asOf imported again: the later import holds
    again = post_books(
        client, f"location,product,lot,quantity,asOf\nOP,XB02,L1,5,{T1.isoformat()}\n"
    )
    assert again.status_code == 201, again.text
    corrected = reconciled(client, T1 + timedelta(hours=1))
    assert corrected["hisBooks"]["id"] == again.json()["id"]
    assert lines_of(corrected)[L1]["hisQuantity"] == 5 and U9 not in lines_of(corrected)
    # before any figure: none
    assert reconciled(client, T1 - timedelta(hours=1))["hisBooks"] is None
    # a window alone uses only its own figures
    window = reconciled(client, T2 + timedelta(hours=1), location="OP-1")
    assert [s["location"] for s in window["hisBooks"]["locations"]] == ["OP-1"]

    as_csv = client.get(
        "/reconciliation",
        params={
            "location": "OP",
            "from": at(BASE),
            "to": at(T2 + timedelta(hours=1)),
            "format": "csv",
        },
    )
    rows = {(r["product"], r["lot"]): r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert rows[L1]["hisQuantity"] == "3" and rows[L1]["hisDifference"] == "-1"
    assert rows[L1]["disagreements"] == "booksVsCodes codesVsCount"

    history = client.get("/reconciliation/books").json()["imports"]
    assert [i["id"] for i in history] == [made["id"], second.json()["id"], again.json()["id"]]
    figure = history[0]["snapshots"][1]["figures"][0]
    assert (figure["product"], figure["given"], figure["unit"], figure["quantity"]) == (
        "XA01",
        48,
        "unit",
        2,
    )
    window_only = client.get("/reconciliation/books", params={"location": "OP-1"}).json()
    assert [i["id"] for i in window_only["imports"]] == [made["id"]]
    assert [s["location"] for s in window_only["imports"][0]["snapshots"]] == ["OP-1"]
    report = verify_chain(ledger)
    assert report.intact, report


def test_as_of_defaults_to_the_import_time(client: TestClient) -> None:
    made = post_books(client, "location,product,lot,quantity\nWH,XB02,,10\n")
    assert made.status_code == 201, made.text
    snapshot = made.json()["snapshots"][0]
    assert snapshot["asOf"] == utc_text(made.json()["importedAt"])
    later = datetime.now(UTC) + timedelta(minutes=1)
    body = reconciled(client, later, location="WH")
    assert lines_of(body)[("8200001", None)]["hisQuantity"] == 10
    assert (
        reconciled(client, datetime.now(UTC) - timedelta(hours=1), location="WH")["hisBooks"]
        is None
    )


HEAD = "location,product,lot,quantity"
FUTURE = "2999-01-01T00:00:00Z"
BAD_FILES = [
    ("where,product,lot,quantity\nOP,XB02,L1,1", [(1, "where"), (1, "location")]),
    ("location,product,quantity\nOP,XB02,1", [(1, "lot")]),
    ("location,product,lot,quantity,quantity\nOP,XB02,L1,1,1", [(1, "quantity")]),
    (f"{HEAD}\nOP,XB02,L1,four", [(2, "quantity")]),
    (f"{HEAD}\nOP,XB02,L1,2.5", [(2, "quantity")]),
    (f"{HEAD}\nOP,XB02,L1,-1", [(2, "quantity")]),
    (f"{HEAD}\nOP,XZ99,L1,1", [(2, "product")]),
    (f"{HEAD}\nNOWHERE,XB02,L1,1", [(2, "location")]),
    (f"{HEAD}\nSUP,XB02,L1,1", [(2, "location")]),
    (f"{HEAD}\nOP,XB02,L1,1\nOP,8200001,L1,2", [(3, "product")]),
    (f"{HEAD}\nOP,XA01,A1,1", [(2, "product")]),
    (f"{HEAD},level\nOP,XA01,A1,1,middle", [(2, "level")]),
    (f"{HEAD},unit\nOP,XB02,L1,1,box", [(2, "unit")]),
    (f"{HEAD},unit\nOP,XB02,L1,15,unit", [(2, "quantity")]),
    (f"{HEAD},asOf\nOP,XB02,L1,1,yesterday", [(2, "asOf")]),
    (f"{HEAD},asOf\nOP,XB02,L1,1,2026-01-01T08:00:00", [(2, "asOf")]),
    (f"{HEAD},asOf\nOP,XB02,L1,1,2026-01-01", [(2, "asOf")]),
    (f"{HEAD},asOf\nOP,XB02,L1,1,{FUTURE}", [(2, "asOf")]),
    (f"{HEAD}\nOP,XB02,L1", [(2, "")]),
    ("", [(1, "")]),
    (HEAD, [(1, "")]),
    (f"{HEAD}\nOP,XB02,L1,-1\nMARS,XB02,L1,1\nOP,XB02,L2,1", [(2, "quantity"), (3, "location")]),
]

BAD_NAMES = [
    "unknown column",
    "missing column",
    "column twice",
    "quantity not a number",
    "quantity not whole",
    "negative quantity",
    "unknown product",
    "unknown location",
    "supplier location",
    "duplicate row",
    "ambiguous ybCode",
    "no such level",
    "bad unit",
    "units not a whole number of codes",
    "asOf not a time",
    "asOf without offset",
    "asOf a date",
    "asOf in the future",
    "too few values",
    "empty file",
    "header only",
    "every error",
]


def test_each_bad_file_is_a_400_listing_every_error_and_stores_nothing(
    client: TestClient, ledger: Ledger
) -> None:
    logged = len(list(ledger.notifications()))
    for name, (text, where) in zip(BAD_NAMES, BAD_FILES, strict=True):
        answer = post_books(client, text)
        assert answer.status_code == 400, (name, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        errors = answer.json()["errors"]
        assert [(e["line"], e["column"]) for e in errors] == where, (name, errors)
        assert all(e["message"] for e in errors), name
        assert len(list(ledger.notifications())) == logged, name
    assert client.get("/reconciliation/books").json() == {"imports": []}


def test_only_csv_is_taken(client: TestClient, ledger: Ledger) -> None:
    logged = len(list(ledger.notifications()))
    answer = post_books(client, f"{HEAD}\nOP,XB02,L1,1", media="application/json")
    assert answer.status_code == 415, answer.text
    assert len(list(ledger.notifications())) == logged


def test_the_command_line_imports_shows_and_reconciles(
    client: TestClient, ledger: Ledger, tmp_path: Path
) -> None:
    stock_the_pharmacy(client)
    runner = CliRunner()
    env = {"TRACECODE_DATABASE_URL": ledger.settings.url}
    good = tmp_path / "books.csv"
    good.write_text(FIRST + "\n", encoding="utf-8")
    made = runner.invoke(main, ["books", "import", str(good)], env=env)  # H1, from the locations
    assert made.exit_code == 0, made.output + str(made.stderr)
    assert made.stdout.startswith("HIS books of H1: import ")
    assert f"OP-1 as of {at(T1)}: 1 lines" in made.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEAD}\nOP,XB02,L1,-2\n", encoding="utf-8")
    logged = len(list(ledger.notifications()))
    refused = runner.invoke(main, ["books", "import", str(bad), "--institution", "H1"], env=env)
    assert refused.exit_code == 1 and f"{bad}: line 2, column quantity:" in refused.stderr
    assert len(list(ledger.notifications())) == logged
    other = runner.invoke(main, ["books", "import", str(good), "--institution", "H2"], env=env)
    assert other.exit_code == 1 and "is not a location of H2" in other.stderr
    shown = runner.invoke(main, ["books", "show", "--location", "OP"], env=env)
    assert shown.exit_code == 0, shown.stderr
    imports = json.loads(shown.stdout)["imports"]
    assert len(imports) == 1 and [s["location"] for s in imports[0]["snapshots"]] == ["OP"]
    args = [
        "reconcile",
        "--location",
        "OP",
        "--from",
        at(BASE),
        "--to",
        at(T1 + timedelta(hours=1)),
    ]
    answer = runner.invoke(main, args, env=env)
    assert answer.exit_code == 0, answer.stderr
    found = json.loads(answer.stdout)
    assert found["hisBooks"]["id"] == imports[0]["id"]
    assert lines_of(found)[U9]["hisQuantity"] == 7
    as_csv = runner.invoke(main, [*args, "--csv"], env=env)
    assert as_csv.stdout.splitlines()[0].endswith(",hisQuantity,hisDifference,disagreements")
    verified = runner.invoke(main, ["verify"], env=env)
    assert verified.exit_code == 0 and "intact" in verified.stdout, verified.stdout
