"""``GET /metrics/quality``: the figures match counts the test keeps itself while it scans."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from ledger.access import Role
from ledger.application import Ledger
from tests.http_support import RoleKeys, http_client
from tests.quality_support import Tally, shipment, summed
from tests.scan_support import box, load_hospital

KINDS = {"WH": "warehouse", "OP": "pharmacy", "OP-1": "pharmacy", "W3": "ward"}


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def hospital_month(client: TestClient) -> Tally:
    tally = Tally(client)
    shipment(client, *(box(n) for n in range(1, 7)))  # 6 boxes shipped, 5 received below
    tally.scan("green", operation="receive", location="WH", codes=[box(n) for n in (1, 2, 3, 4)])
    tally.scan("red", operation="receive", location="WH", codes=[box(1)])  # already_received
    tally.scan("green", operation="receive", location="WH", codes=[box(9)])  # not shipped
    tally.scan("green", operation="receive", location="WH", codes=[box(5)], scanId="R5")
    tally.cancel("R5")  # box 5 no longer received: shipped, not receipt-scanned
    tally.scan(
        "green",
        operation="transfer",
        location="WH",
        destination="OP",
        codes=[box(1), box(2), box(3)],
    )
    tally.scan("green", operation="transfer", location="WH", destination="W3", codes=[box(9)])
    tally.scan("green", operation="accept", location="OP", codes=[box(1), box(2), box(3)])
    tally.scan("green", operation="accept", location="W3", codes=[box(9)])
    tally.scan("green", operation="bind", location="OP-1", codes=[box(1)], patient="P-1")
    tally.scan("red", operation="bind", location="OP-1", codes=[box(1)], patient="P-2")
    tally.scan(
        "green", operation="bind", location="OP-1", codes=[box(2)], patient="P-3", scanId="B2"
    )
    tally.cancel("B2")
    earlier = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    tally.scan("yellow", operation="pick", location="OP", codes=[box(3)], eventTime=earlier)
    tally.scan("green", operation="bind", location="OP-1", codes=[box(3)], patient="P-4")
    tally.scan("green", operation="bind", location="W3", codes=[box(9)], patient="P-5")
    tally.scan("green", operation="recall", location="WH", codes=[box(4)])
    tally.scan("red", operation="transfer", location="WH", destination="OP", codes=[box(4)])
    tally.scan("red", operation="bind", location="W3", codes=[box(9)], patient="P-6")
    tally.scan(
        "red", operation="accept", location="W3", codes=[box(7)]
    )  # not in transit: no anomaly
    return tally


def test_the_figures_match_what_was_posted(client: TestClient) -> None:
    tally = hospital_month(client)
    got = client.get("/metrics/quality")
    assert got.status_code == 200, got.text
    body = got.json()
    expected = {k: +v for k, v in tally.counts.items()}
    expected["WH"]["expected"] = 7  # six shipped and box 9, received unshipped
    assert summed(body["rows"]) == expected
    for row in body["rows"]:
        assert row["kind"] == KINDS[row["department"]] and row["institution"] == "H1"
        assert row["rates"]["uploadSuccess"] is None
    op = [r for r in body["rows"] if r["department"] == "OP-1"]
    scans = sum(r["scans"] for r in op)
    errors = sum(r["red"] + r["cancelled"] for r in op)
    if len(op) == 1:  # (the back-filled bind may fall on another day's row only with period=day)
        assert op[0]["rates"]["scanAccuracy"] == round(1 - errors / scans, 6)
        assert op[0]["rates"]["bind"] == round(2 / 4, 6)
    wh = [r for r in body["rows"] if r["department"] == "WH"]
    assert sum(r["receiving"]["scanned"] for r in wh) == 5  # boxes 1-4 and 9 (not 5: cancelled)
    assert body["bindsByKind"]["pharmacy"] == {"bound": 2, "attempts": 4, "rate": 0.5}
    assert body["bindsByKind"]["ward"] == {"bound": 1, "attempts": 2, "rate": 0.5}


def test_filters_and_csv(client: TestClient) -> None:
    hospital_month(client)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    later = client.get("/metrics/quality", params={"from": tomorrow})
    assert later.status_code == 200 and later.json()["rows"] == []
    one = client.get("/metrics/quality", params={"department": "W3", "period": "day"})
    assert {r["department"] for r in one.json()["rows"]} == {"W3"}
    shipped = client.get("/metrics/quality", params={"to": "2026-03-02", "period": "week"})
    (row,) = shipped.json()["rows"]  # only the shipment's box 5 and 6, never received
    assert (row["department"], row["period"], row["receiving"]) == (
        "WH",
        "2026-W09",
        {"scanned": 0, "expected": 2},
    )
    as_csv = client.get("/metrics/quality", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(lines) == len(client.get("/metrics/quality").json()["rows"])
    assert {line["department"] for line in lines} == {"WH", "OP", "OP-1", "W3"}
    also = client.get("/metrics/quality", params={"format": "csv"})
    assert also.text == as_csv.text


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-03-01T00:00:00"}, "from"),  # no offset
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"period": "year"}, "period"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    client: TestClient, params: dict[str, str], name: str
) -> None:
    got = client.get("/metrics/quality", params=params)
    assert got.status_code == 400, got.text
    assert got.json()["errors"][0]["query"] == name
    assert name in got.json()["detail"]


def test_a_reader_sees_its_institution_a_regulator_all(client: TestClient, ledger: Ledger) -> None:
    hospital_month(client)
    other = RoleKeys.create(ledger, "H2")
    theirs = client.get("/metrics/quality", headers=other.header(Role.READER))
    assert theirs.status_code == 200 and theirs.json()["rows"] == []
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    everyone = client.get("/metrics/quality", headers=auth.header(Role.REGULATOR))
    assert {r["institution"] for r in everyone.json()["rows"]} == {"H1"}
    assert everyone.json()["rows"] == client.get("/metrics/quality").json()["rows"]


def test_the_command_line_gives_the_same_figures(client: TestClient, ledger: Ledger) -> None:
    hospital_month(client)
    env = {"TRACECODE_DATABASE_URL": ledger.settings.url}
    runner = CliRunner()
    shown = runner.invoke(main, ["quality", "--period", "week", "--institution", "H1"], env=env)
    assert shown.exit_code == 0, shown.output
    over_http = client.get("/metrics/quality", params={"period": "week"}).json()
    assert json.loads(shown.stdout) == over_http
    as_csv = runner.invoke(main, ["quality", "--csv", "--department", "W3"], env=env)
    assert as_csv.exit_code == 0 and as_csv.stdout.startswith("institution,department,")
    assert {row["department"] for row in csv.DictReader(io.StringIO(as_csv.stdout))} == {"W3"}
    nobody = runner.invoke(main, ["quality", "--institution", "H9"], env=env)
    assert nobody.exit_code == 0 and json.loads(nobody.stdout)["rows"] == []
    for bad, name in ((["--from", "soon"], "--from"), (["--period", "year"], "--period")):
        refused = runner.invoke(main, ["quality", *bad], env=env)
        assert refused.exit_code == 2 and name in refused.stderr, refused.stderr
