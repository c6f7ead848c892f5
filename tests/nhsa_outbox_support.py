"""A hospital with a 12-character 医保 code, its master data with the 医保 columns, and the
outbox over it delivering to a stand-in 医保 platform on localhost (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from adapters.bootstrap import http_app
from adapters.nhsa.delivery import NhsaSettings, NhsaTransport
from adapters.nhsa.owed import NhsaOwes
from adapters.nhsa.standin import running
from ledger.access import Role
from ledger.application import Ledger
from ledger.settlement_persons import SettlementPersons
from projections.outbox import OutboxDelivery, listed, outbox_runner
from projections.runner import ReadModelRunner
from tests.http_support import RoleKeys
from tests.master_data_support import PRODUCT_HEADER, csv_bytes

HOSPITAL = "H11010500123"
OTHER = "H11010500456"
PRODUCTS = "\n".join(
    [
        PRODUCT_HEADER + ",his_code,his_name,rx_flag,price",
        "XB02,,8200001,box,10,头孢克肟片,0.1g*10片,片剂,另一药业,国药准字H2,1,1,"
        "H-XB02,头孢克肟片(院内),1,12.5",
        "XA01,16901234567899,8100002,box,24,阿莫西林胶囊,0.25g*24粒,胶囊剂,某药业,国药准字H1,1,0,"
        "H-XA01,阿莫西林胶囊(院内),1,0.8",
    ]
)
LOCATIONS = "\n".join(
    [
        "id,name,kind,parent,institution_code,admdvs",
        f"{HOSPITAL},第一医院,institution,,{HOSPITAL},620102",
        f"WH,药库,warehouse,{HOSPITAL},{HOSPITAL},",
        f"OP,门诊药房,pharmacy,{HOSPITAL},{HOSPITAL},",
        f"W3,三病区,ward,{HOSPITAL},{HOSPITAL},",
        f"SUP,某医药公司,supplier,,{HOSPITAL},",
    ]
)
OPERATORS = f"id,name,institution_code,cert\nOP-07,王药师,{HOSPITAL},ZY-20260001\n"
INSURED = {
    "mdtrt_setl_type": "1",
    "setl_id": "SETL-0001",
    "mdtrt_sn": "MDTRT-0001",
    "psn_no": "PSN-7731000123",
    "psn_cert_type": "01",
    "hi_feesetl_type": "1",
    "insuplc_admdvs": "620100",
    "certno": "11010119900101123X",
    "psn_name": "张小明",
}
STAFF = {
    "prescriber_name": "李医生",
    "pharmacist_name": "王药师",
    "pharmacist_cert": "ZY-20260001",
    "receipt": "RCPT-0001",
}
PATIENT = "110101199001011234"


def box(serial: int) -> str:
    return f"8200001{serial:013d}"


def amoxicillin(serial: int) -> str:
    return f"8100002{serial:013d}"


@dataclass
class World:
    ledger: Ledger
    client: TestClient
    runner: ReadModelRunner
    delivery: OutboxDelivery
    url: str

    def scan(self, **body: Any) -> dict[str, Any]:
        auth = self.client.auth
        assert isinstance(auth, RoleKeys)
        answer = self.client.post("/scans", json=body, headers=auth.header(Role.TERMINAL))
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        assert made["colour"] in ("green", "yellow"), made
        return made

    def import_csv(self, text: str) -> None:
        auth = self.client.auth
        assert isinstance(auth, RoleKeys)
        _import(self.client, auth, text)

    def open_stocktake(self, location: str) -> str:
        auth = self.client.auth
        assert isinstance(auth, RoleKeys)
        made = self.client.post(
            "/stocktakes", json={"location": location}, headers=auth.header(Role.TERMINAL)
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    def close_stocktake(self, count: str) -> None:
        auth = self.client.auth
        assert isinstance(auth, RoleKeys)
        done = self.client.post(f"/stocktakes/{count}/close", headers=auth.header(Role.TERMINAL))
        assert done.status_code == 200, done.text

    def deliver(self) -> int:
        """Derive what is new, then one delivery round."""
        self.runner.run_until_caught_up()
        return self.delivery.deliver()

    def received(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(self.url + "/messages").json()
        return found

    def messages(self, **where: Any) -> list[dict[str, Any]]:
        return [m.as_json() for m in listed(self.runner, limit=10_000, **where)]

    def at_pharmacy(self, *codes: str, lot: str = "L2503011") -> None:
        """Received from the supplier into the warehouse, moved to the pharmacy."""
        self.scan(
            operation="receive",
            location="WH",
            codes=list(codes),
            lot=lot,
            manufactured="2025-03-01",
            expires="2027-02-28",
            operatorId="OP-07",
        )
        self.scan(operation="transfer", location="WH", destination="OP", codes=list(codes))
        self.scan(operation="accept", location="OP", codes=list(codes))


def _import(client: TestClient, keys: RoleKeys, text: str) -> None:
    headers = {"Content-Type": "text/csv", **keys.header(Role.ADMIN)}
    made = client.post("/masterdata", content=csv_bytes(text), headers=headers)
    assert made.status_code == 201, made.text


@contextmanager
def world(ledger: Ledger, **transport: Any) -> Iterator[World]:
    keys = RoleKeys.create(ledger, HOSPITAL)
    app = http_app(ledger)
    app.state.role_keys = keys
    with running() as url, TestClient(app) as client:
        client.auth = keys
        for text in (PRODUCTS, LOCATIONS, OPERATORS):
            _import(client, keys, text)
        owes = NhsaOwes(ledger)
        runner = outbox_runner(ledger, [owes])
        persons = SettlementPersons(ledger)
        sender = NhsaTransport(NhsaSettings(url=url + "/"), persons.find)
        delivery = OutboxDelivery(
            runner,
            owes,
            sender,
            event_of=ledger.get_event,
            base_backoff=0.01,
            max_backoff=0.05,
            **transport,
        )
        try:
            yield World(ledger, client, runner, delivery, url)
        finally:
            delivery.close()
            runner.close()
