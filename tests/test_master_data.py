"""Master data through its use cases (``ledger.master_data_import``, ``ledger.master_data``,
``ledger.product_lookup``): imported from CSV, kept with history, covered by verify; every
kind of bad row refused with its line and column, storing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.access import LOCAL, Forbidden, Principal, Role
from ledger.application import Ledger
from ledger.master_data import master_data, visible_master_data
from ledger.master_data_import import MasterDataRefused, import_master_data
from ledger.master_data_rows import MasterDataInvalid
from ledger.product_lookup import product_for_code
from ledger.verify import verify_chain
from tests.conftest import open_ledger
from tests.master_data_support import (
    LOCATION_HEADER,
    LOCATIONS,
    PRODUCT_HEADER,
    PRODUCTS,
    csv_bytes,
)

ADMIN_H1 = Principal("key a", Role.ADMIN, "H1")
READER_H1 = Principal("key r", Role.READER, "H1")
READER_H2 = Principal("key r2", Role.READER, "H2")


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as app:
        yield app


def _log_length(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.notifications())


def test_import_keeps_history_and_verify_covers_it(ledger: Ledger) -> None:
    first = import_master_data(ledger, ADMIN_H1, csv_bytes(PRODUCTS, bom=True))
    assert first.kind == "products"
    assert first.added == ["XA01/unit", "XA01/box", "XA01/case", "XB02/box"]
    locations = import_master_data(ledger, ADMIN_H1, csv_bytes(LOCATIONS))
    assert locations.added == ["H1", "WH", "OP", "W3", "SUP"]
    before = master_data(ledger, ["H1"]).recorded[("product", "H1", "XB02/box")]

    length = _log_length(ledger)
    again = import_master_data(ledger, ADMIN_H1, csv_bytes(PRODUCTS))
    assert again.added == [] and again.changed == [] and len(again.unchanged) == 4
    assert _log_length(ledger) == length  # nothing stored, not even a commit

    renamed = PRODUCTS.replace("头孢克肟片,0.1g*10片", "头孢克肟片(新),0.1g*10片")
    changed = import_master_data(ledger, ADMIN_H1, csv_bytes(renamed))
    assert changed.changed == ["XB02/box"] and len(changed.unchanged) == 3

    now = master_data(ledger, ["H1"])
    assert now.products[("H1", "XB02/box")]["name"] == "头孢克肟片(新)"
    then = master_data(ledger, ["H1"], as_of=before)
    assert then.products[("H1", "XB02/box")]["name"] == "头孢克肟片"
    assert master_data(ledger, ["H1"], as_of="2000-01-01T00:00:00Z").products == {}

    report = verify_chain(ledger)
    assert report.intact, report.findings
    assert report.entries >= 10


def test_products_rows_are_typed(sqlite_ledger: Ledger) -> None:
    import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(PRODUCTS))
    row = master_data(sqlite_ledger).products[("H1", "XA01/box")]
    assert row == {
        "yb_code": "XA01",
        "gtin": "16901234567899",
        "trace_prefix": "8100002",
        "level": "box",
        "units": 24,
        "name": "阿莫西林胶囊",
        "spec": "0.25g*24粒",
        "form": "胶囊剂",
        "manufacturer": "某药业",
        "approval_no": "国药准字H1",
        "must_scan": True,
        "split": False,
        "preparation": False,
    }


def test_preparation_column(sqlite_ledger: Ledger) -> None:
    text = PRODUCT_HEADER + ",preparation\nYN1,,8300001,box,1,院内制剂,100ml,合剂,本院,,0,0,1"
    import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(text))
    assert master_data(sqlite_ledger).products[("H1", "YN1/box")]["preparation"] is True


def test_product_for_code(sqlite_ledger: Ledger) -> None:
    import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(PRODUCTS))
    box = product_for_code(sqlite_ledger, "H1", "81000021234567890123")
    assert box is not None and box.level == "box" and box.units == 24
    assert box.product["yb_code"] == "XA01"
    issuer = product_for_code(sqlite_ledger, "H1", "AHM.81000031234567890123")
    assert issuer is not None and issuer.level == "case" and issuer.units == 480
    gs1 = product_for_code(sqlite_ledger, "H1", "(01)06901234567892(21)ABC")
    assert gs1 is not None and gs1.level == "unit"
    link = product_for_code(sqlite_ledger, "H1", "https://id.gs1.org/01/16901234567899/21/X")
    assert link is not None and link.level == "box"
    assert product_for_code(sqlite_ledger, "H1", "89999991234567890123") is None
    assert product_for_code(sqlite_ledger, "H1", "not a code") is None
    assert product_for_code(sqlite_ledger, "H2", "81000021234567890123") is None
    assert product_for_code(sqlite_ledger, "H1", "81000021234567890123", "2000-01-01") is None


def test_product_for_code_as_of_follows_changes(sqlite_ledger: Ledger) -> None:
    import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(PRODUCTS))
    then = master_data(sqlite_ledger).recorded[("product", "H1", "XB02/box")]
    moved = PRODUCTS.replace("8200001,box", "8200009,box")
    import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(moved))
    assert product_for_code(sqlite_ledger, "H1", "82000011234567890123") is None
    assert product_for_code(sqlite_ledger, "H1", "82000091234567890123") is not None
    assert product_for_code(sqlite_ledger, "H1", "82000011234567890123", then) is not None


def test_institutions(sqlite_ledger: Ledger) -> None:
    with pytest.raises(Forbidden):
        import_master_data(sqlite_ledger, READER_H1, csv_bytes(PRODUCTS))
    with pytest.raises(MasterDataRefused):
        import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(PRODUCTS), "H2")
    with pytest.raises(MasterDataRefused, match="--institution"):
        import_master_data(sqlite_ledger, LOCAL, csv_bytes(PRODUCTS))
    import_master_data(sqlite_ledger, LOCAL, csv_bytes(PRODUCTS), "H2")
    import_master_data(sqlite_ledger, LOCAL, csv_bytes(LOCATIONS))  # the rows' own: H1
    assert visible_master_data(sqlite_ledger, READER_H1).products == {}
    assert len(visible_master_data(sqlite_ledger, READER_H2).products) == 4
    assert len(visible_master_data(sqlite_ledger, READER_H1).locations) == 5
    assert len(visible_master_data(sqlite_ledger, LOCAL).products) == 4


def _errors(ledger: Ledger, text: str, who: Principal = ADMIN_H1) -> list[str]:
    length = _log_length(ledger)
    with pytest.raises(MasterDataInvalid) as caught:
        import_master_data(ledger, who, csv_bytes(text))
    assert _log_length(ledger) == length  # all or nothing
    return [str(e) for e in caught.value.errors]


BAD_PRODUCTS = [
    ("XC,,8400001,pallet,1,n,,,,,1,0", "line 2, column level: 'pallet' is not one of"),
    ("XC,,8400001,box,x,n,,,,,1,0", "line 2, column units: 'x' is not a whole number"),
    ("XC,,8400001,box,0,n,,,,,1,0", "line 2, column units: '0' is not a whole number"),
    ("XC,,8400001,box,-3,n,,,,,1,0", "line 2, column units"),
    ("XC,,8400001,unit,2,n,,,,,1,0", "line 2, column units: a unit-level row holds 1 unit"),
    ("XC,,840001,box,1,n,,,,,1,0", "line 2, column trace_prefix: '840001' is not 7 digits"),
    ("XC,,7400001,box,1,n,,,,,1,0", "line 2, column trace_prefix: '7400001' does not start"),
    ("XC,06901234567893,8400001,box,1,n,,,,,1,0", "line 2, column gtin: '06901234567893' has"),
    ("XC,123,8400001,box,1,n,,,,,1,0", "line 2, column gtin: '123' is not a GTIN"),
    ("XC,,8400001,box,1,n,,,,,yes,0", "line 2, column must_scan: 'yes' is not 1 or 0"),
    ("XC,,8400001,box,1,n,,,,,1,2", "line 2, column split: '2' is not 1 or 0"),
    ("XC,,8400001,box,1,,,,,,1,0", "line 2, column name: is empty"),
    (",,8400001,box,1,n,,,,,1,0", "line 2, column yb_code: is empty"),
    ("X C,,8400001,box,1,n,,,,,1,0", "line 2, column yb_code: 'X C' is not a code"),
    ("XC,,8400001,box,1,n\x07,,,,,1,0", "line 2, column name: 'n\\x07' has control"),
    ("XC,,8400001,box,1,n,,,,1,0", "line 2: 11 values where the header has 12"),
]


@pytest.mark.parametrize(("row", "message"), BAD_PRODUCTS)
def test_bad_product_values(sqlite_ledger: Ledger, row: str, message: str) -> None:
    errors = _errors(sqlite_ledger, PRODUCT_HEADER + "\n" + row)
    assert any(e.startswith(message) for e in errors), errors


def test_every_error_is_reported_and_good_rows_are_not_stored(sqlite_ledger: Ledger) -> None:
    text = "\n".join(
        [
            PRODUCT_HEADER,
            "XC,,8400001,box,1,n,,,,,1,0",
            "XD,,8400002,crate,1,n,,,,,1,0",
            "XE,,8400003,box,1,n,,,,,1,9",
        ]
    )
    errors = _errors(sqlite_ledger, text)
    assert errors[0].startswith("line 3, column level") and errors[1].startswith("line 4, column")
    assert master_data(sqlite_ledger).products == {}


SET_RULES = [  # (what is stored first, the file, the errors: each starts so)
    (
        "",
        PRODUCTS + "\nXB02,,8200002,box,10,n,,,,,1,0",
        ["line 6, column level: the product level XB02/box is also on line 5"],
    ),
    (
        "",
        PRODUCTS + "\nXB03,,8200001,box,10,n,,,,,1,0",
        ["line 6, column trace_prefix: trace_prefix 8200001 is also on line 5"],
    ),
    (
        "",
        PRODUCTS + "\nXB03,16901234567899,8200002,box,10,n,,,,,1,0",
        ["line 6, column gtin: gtin 16901234567899 is also on line 3"],
    ),
    (
        "",
        PRODUCTS.replace("case,480", "case,500"),
        ["line 4, column units: a case of XA01 holds 500 units, not a whole number"],
    ),
    (
        PRODUCTS,
        PRODUCT_HEADER + "\nXZ,,8100002,box,5,n,,,,,1,0",
        ["line 2, column trace_prefix: 8100002 is already that of product XA01/box"],
    ),
    (
        PRODUCTS,
        PRODUCT_HEADER + "\nXA01,,8100009,middle,25,n,,,,,1,0",
        [
            "line 2, column units: a middle of XA01 holds 25 units, not a whole number (more "
            "than one) of the box's 24",
            "line 2, column units: a case of XA01 holds 480 units",
        ],
    ),
    (
        "",
        LOCATION_HEADER + "\nOP,门诊药房,pharmacy,NOPE,H1",
        ["line 2, column parent: NOPE is no location (in this file or stored)"],
    ),
    (
        "",
        LOCATION_HEADER + "\nOP,门诊药房,pharmacy,OP,H1",
        ["line 2, column parent: a location cannot be its own parent"],
    ),
    (
        "",
        LOCATION_HEADER + "\nA,a,ward,B,H1\nB,b,ward,A,H1",
        [
            "line 2, column parent: parents go round: A → B → A",
            "line 3, column parent: parents go round: B → A → B",
        ],
    ),
    (
        "",
        LOCATIONS + "\nWH,药库2,warehouse,H1,H1",
        ["line 7, column id: the location WH is also on line 3"],
    ),
    ("", LOCATION_HEADER + "\nX,x,shop,,H1", ["line 2, column kind: 'shop' is not one of"]),
    (
        "",
        LOCATION_HEADER + "\nX,x,ward,,H2",
        ["line 2, column institution_code: H2 is not the institution imported for (H1)"],
    ),
    (
        LOCATIONS,
        LOCATION_HEADER + "\nH1,第一医院,institution,WH,H1",
        ["line 2, column parent: parents go round: H1 → WH → H1"],
    ),
]


@pytest.mark.parametrize(("stored", "text", "expected"), SET_RULES)
def test_set_rules(sqlite_ledger: Ledger, stored: str, text: str, expected: list[str]) -> None:
    if stored:
        import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(stored))
    errors = _errors(sqlite_ledger, text)
    assert len(errors) == len(expected), errors
    for error, start in zip(errors, expected, strict=True):
        assert error.startswith(start), errors


def test_parent_may_be_stored(sqlite_ledger: Ledger) -> None:
    import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(LOCATIONS))
    under_stored = LOCATION_HEADER + "\nER,急诊药房,pharmacy,H1,H1"
    assert import_master_data(sqlite_ledger, ADMIN_H1, csv_bytes(under_stored)).added == ["ER"]


def test_bad_files(sqlite_ledger: Ledger) -> None:
    assert _errors(sqlite_ledger, "a,b,c\n1,2,3")[0].startswith(
        "line 1: the header names neither a products file"
    )
    assert _errors(sqlite_ledger, PRODUCT_HEADER) == ["line 1: the file has a header and no rows"]
    assert _errors(sqlite_ledger, "")[0].startswith("line 1: the header names neither")
    assert _errors(sqlite_ledger, PRODUCT_HEADER + ",colour\nXC,,8400001,box,1,n,,,,,1,0,red") == [
        "line 1, column colour: is not a column: yb_code, gtin, trace_prefix, level, units, "
        "name, spec, form, manufacturer, approval_no, must_scan, split, preparation, "
        "his_code, his_name, rx_flag, price"
    ]
    length = _log_length(sqlite_ledger)
    with pytest.raises(MasterDataInvalid) as caught:
        import_master_data(sqlite_ledger, ADMIN_H1, LOCATIONS.encode("gbk"))
    assert str(caught.value.errors[0]).startswith("line 2: not UTF-8")
    assert _log_length(sqlite_ledger) == length
