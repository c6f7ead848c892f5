"""A small hospital for scan tests: its master data, codes, and a client that scans.

Institution ``H1`` (the test keys' institution): warehouse ``WH``, outpatient pharmacy
``OP`` with its window ``OP-1``, wards ``W3`` and ``W5``, a department ``ENT``, a supplier
``SUP``. Products: ``XB02`` boxes of 10 (trace prefix 8200001), ``XA01`` boxes of 24
(8100002) in cases of 20 boxes (8100003).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ledger.access import Role
from tests.http_support import RoleKeys
from tests.master_data_support import PRODUCTS, csv_bytes

LOCATIONS = "\n".join(
    [
        "id,name,kind,parent,institution_code",
        "H1,第一医院,institution,,H1",
        "WH,药库,warehouse,H1,H1",
        "OP,门诊药房,pharmacy,H1,H1",
        "OP-1,门诊药房一号窗口,pharmacy,OP,H1",
        "W3,三病区,ward,H1,H1",
        "W5,五病区,ward,H1,H1",
        "ENT,耳鼻喉科,department,H1,H1",
        "SUP,某医药公司,supplier,,H1",
    ]
)


def code(prefix: str, serial: int) -> str:
    """A 20-digit trace code of a product prefix (7 digits) and a serial."""
    return f"{prefix}{serial:013d}"


def box(serial: int) -> str:
    return code("8200001", serial)


def load_hospital(client: TestClient) -> None:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    for text in (PRODUCTS, LOCATIONS):
        sent = {"Content-Type": "text/csv", **auth.header(Role.ADMIN)}
        made = client.post("/masterdata", content=csv_bytes(text), headers=sent)
        assert made.status_code == 201, made.text


def post_scan(client: TestClient, role: Role = Role.TERMINAL, **body: Any) -> Any:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    return client.post("/scans", json=body, headers=auth.header(role))


def reasons(answer: Any) -> list[list[str]]:
    """Each code's reason words, in request order."""
    return [[r["reason"] for r in c["reasons"]] for c in answer.json()["codes"]]
