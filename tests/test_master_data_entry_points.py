"""Master data through its entry points: ``POST /masterdata`` and ``GET /masterdata/…``
over HTTP, ``tracecode masterdata import`` on the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from ledger.access import Role
from ledger.application import Ledger
from ledger.verify import verify_chain
from tests.conftest import open_ledger
from tests.http_support import RoleKeys, http_client
from tests.master_data_support import LOCATIONS, PRODUCT_HEADER, PRODUCTS, csv_bytes

PROBLEM = "application/problem+json"


def _post(client: TestClient, data: bytes, role: Role = Role.ADMIN, media: str = "text/csv") -> Any:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    sent = {"Content-Type": media, **auth.header(role)}
    return client.post("/masterdata", content=data, headers=sent)


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        yield opened


def test_post_and_read(client: TestClient, ledger: Ledger) -> None:
    made = _post(client, csv_bytes(PRODUCTS, bom=True), media="text/csv; charset=utf-8")
    assert made.status_code == 201, made.text
    assert made.json() == {
        "kind": "products",
        "institutions": ["H1"],
        "added": ["XA01/unit", "XA01/box", "XA01/case", "XB02/box"],
        "changed": [],
        "unchanged": [],
    }
    places = _post(client, csv_bytes(LOCATIONS), Role.READER)
    assert places.status_code == 403  # a reader
    places = _post(client, csv_bytes(LOCATIONS))
    assert places.status_code == 201 and len(places.json()["added"]) == 5

    products = client.get("/masterdata/products").json()["products"]
    assert [p["trace_prefix"] for p in products] == ["8100001", "8100002", "8100003", "8200001"]
    box = next(p for p in products if p["level"] == "box" and p["yb_code"] == "XA01")
    assert box["institution"] == "H1" and box["units"] == 24 and box["name"] == "阿莫西林胶囊"
    then = box["recordedAt"]
    locations = client.get("/masterdata/locations").json()["locations"]
    assert {loc["id"]: loc["parent"] for loc in locations}["WH"] == "H1"

    renamed = PRODUCTS.replace("某药业", "某药业股份")
    again = _post(client, csv_bytes(renamed))
    assert again.json()["changed"] == ["XA01/unit", "XA01/box", "XA01/case"]
    now = client.get("/masterdata/products").json()["products"]
    assert {p["manufacturer"] for p in now if p["yb_code"] == "XA01"} == {"某药业股份"}
    old = client.get("/masterdata/products", params={"as_of": then}).json()["products"]
    assert {p["manufacturer"] for p in old if p["yb_code"] == "XA01"} == {"某药业"}
    assert verify_chain(ledger).intact


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger, http_client(ledger) as c:
        yield c


def test_bad_file_is_a_400_naming_lines(sqlite_client: TestClient) -> None:
    text = PRODUCT_HEADER + "\nXC,,8400001,pallet,1,n,,,,,1,0\nXD,,840000,box,1,n,,,,,1,0"
    answer = _post(sqlite_client, csv_bytes(text))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith(PROBLEM)
    errors = answer.json()["errors"]
    assert errors[0]["line"] == 2 and errors[0]["column"] == "level"
    assert errors[1] == {"line": 3, "column": "trace_prefix", "message": "'840000' is not 7 digits"}
    assert sqlite_client.get("/masterdata/products").json() == {"products": []}


def test_other_media_type_and_bad_as_of(sqlite_client: TestClient) -> None:
    answer = _post(sqlite_client, csv_bytes(PRODUCTS), media="text/plain")
    assert answer.status_code == 415
    not_json = _post(sqlite_client, csv_bytes(PRODUCTS), media="application/json")
    assert not_json.status_code == 400  # read as the EPCIS document it says it is
    bad = sqlite_client.get("/masterdata/locations", params={"as_of": "yesterday"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["query"] == "as_of"


def test_each_institution_sees_its_own(sqlite_client: TestClient) -> None:
    other = LOCATIONS.replace(",H1\n", ",H2\n").replace(",H1", ",H2")
    answer = _post(sqlite_client, csv_bytes(other))
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["column"] == "institution_code"
    auth = sqlite_client.auth
    assert isinstance(auth, RoleKeys)
    made = _post(sqlite_client, csv_bytes(LOCATIONS))
    assert made.status_code == 201
    regulator = sqlite_client.get("/masterdata/locations", headers=auth.header(Role.REGULATOR))
    assert len(regulator.json()["locations"]) == 5


# -- the command line ------------------------------------------------------------------------


def test_cli_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    products = tmp_path / "products.csv"
    products.write_bytes(csv_bytes(PRODUCTS, bom=True))
    runner = CliRunner()
    refused = runner.invoke(main, ["masterdata", "import", str(products)])
    assert refused.exit_code == 2 and "--institution" in refused.stderr
    done = runner.invoke(main, ["masterdata", "import", str(products), "--institution", "H9"])
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "products of H9: 4 added, 0 changed, 0 unchanged"
    assert lines[1:] == ["added XA01/unit", "added XA01/box", "added XA01/case", "added XB02/box"]
    again = runner.invoke(main, ["masterdata", "import", str(products), "--institution", "H9"])
    assert again.stdout == "products of H9: 0 added, 0 changed, 4 unchanged\n"

    locations = tmp_path / "locations.csv"
    locations.write_bytes(csv_bytes(LOCATIONS))
    placed = runner.invoke(main, ["masterdata", "import", str(locations)])
    assert placed.exit_code == 0 and placed.stdout.startswith("locations of H1: 5 added")

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(LOCATIONS + "\nX,x,shop,NOPE,H1"))
    failed = runner.invoke(main, ["masterdata", "import", str(bad)])
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.splitlines()[-1] == (
        f"{bad}: line 7, column kind: 'shop' is not one of institution, warehouse, pharmacy, "
        "ward, department, supplier, external"
    )
