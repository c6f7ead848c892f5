"""The split-unit pool against a reference model: random pre-scans, split binds and split
returns through ``POST /scans``. No unit is ever bound twice, every allocation is first
expiry first and never takes more from a box than it holds, and the pool folded again from
the log is the pool the writer decided with."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from ledger.access import Role
from ledger.application import Ledger
from ledger.code_library import CodeLibrary, Overlay
from ledger.code_pool import pool
from ledger.verify import verify_chain
from tests.http_support import RoleKeys, http_client
from tests.master_data_support import PRODUCT_HEADER, csv_bytes
from tests.scan_support import code as code_of
from tests.scan_support import load_hospital, post_scan

URN = "urn:tracecode:cn-drug:"
UNITS = 10  # each example's product: boxes of 10
_serials = itertools.count(1000)


def at_op(where: str | None) -> bool:
    return where is not None and where.endswith(":OP")


@dataclass
class PoolModel:
    """Units in the pool (by box: expiry, pre-scan order) and units bound per order."""

    boxes: dict[str, tuple[str, int]] = field(default_factory=dict)  # box -> (expiry, order)
    free: set[str] = field(default_factory=set)
    bound: dict[str, set[str]] = field(default_factory=dict)

    def fefo(self) -> list[str]:
        def key(unit: str) -> tuple[str, int, str, int]:
            box_code, _, n = unit.rpartition(":unit:")
            expiry, order = self.boxes[box_code]
            return (expiry, order, box_code, int(n))

        return sorted(self.free, key=key)


class PoolScans(RuleBasedStateMachine):
    client: TestClient
    ledger: Ledger
    library: CodeLibrary
    """Followed from the log by the test, apart from the server's."""

    def __init__(self) -> None:
        """Each example its own product (so its own pool: the ledger is shared)."""
        super().__init__()
        self.model = PoolModel()
        self.orders = [f"O{next(_serials)}" for _ in range(3)]
        serial = next(_serials)
        self.product, self.prefix = f"SP{serial}", f"83{serial:05d}"
        row = f"{self.product},,{self.prefix},box,{UNITS},某片,1mg*{UNITS},片剂,某药业,H1,1,1"
        auth = self.client.auth
        assert isinstance(auth, RoleKeys)
        made = self.client.post(
            "/masterdata",
            content=csv_bytes(PRODUCT_HEADER + "\n" + row),
            headers={"Content-Type": "text/csv", **auth.header(Role.ADMIN)},
        )
        assert made.status_code == 201, made.text

    def scan(self, **body: Any) -> Any:
        return post_scan(self.client, location="OP", **body)

    @rule(expiry=st.sampled_from(["2099-01-31", "2099-02-28", "2099-03-31"]))
    def prescan(self, expiry: str) -> None:
        code = code_of(self.prefix, next(_serials))
        for operation, extra in (
            ("receive", {"location": "WH", "expires": expiry}),
            ("transfer", {"location": "WH", "destination": "OP"}),
            ("accept", {}),
            ("prescan", {}),
        ):
            answer = post_scan(
                self.client, **{"location": "OP", **extra}, operation=operation, codes=[code]
            )
            assert answer.status_code == 201, answer.text
        urn = URN + code
        self.model.boxes[urn] = (expiry, len(self.model.boxes))
        self.model.free |= {f"{urn}:unit:{n}" for n in range(1, UNITS + 1)}

    @rule(quantity=st.integers(1, 25), which=st.integers(0, 2))
    def bind(self, quantity: int, which: int) -> None:
        order = self.orders[which]
        answer = self.scan(
            operation="bind", product=self.product, quantity=quantity, patient="P", order=order
        )
        expected = self.model.fefo()[:quantity]
        if len(expected) < quantity:
            assert answer.status_code == 409, answer.text
            assert [r["reason"] for r in answer.json()["reasons"]] == ["pool_short"]
            return
        assert answer.status_code == 201, answer.text
        body = answer.json()
        taken = [c["code"] for c in body["codes"]]
        assert taken == expected, "first expiry first, then pre-scan order, box, unit"
        assert all(a["units"] <= UNITS for a in body["allocations"]), "the split-sale rule"
        assert sum(a["units"] for a in body["allocations"]) == quantity
        assert not set(taken) & set().union(*self.model.bound.values()), "bound twice"
        self.model.free -= set(taken)
        self.model.bound.setdefault(order, set()).update(taken)

    @rule(quantity=st.integers(1, 12), which=st.integers(0, 2))
    def give_back(self, quantity: int, which: int) -> None:
        order = self.orders[which]
        answer = self.scan(operation="unbind", product=self.product, quantity=quantity, order=order)
        bound = self.model.bound.get(order, set())
        if len(bound) < quantity:
            assert answer.status_code == 409, answer.text
            return
        assert answer.status_code == 201, answer.text
        back = {c["code"] for c in answer.json()["codes"]}
        assert back <= bound and len(back) == quantity
        bound -= back
        self.model.free |= back

    @invariant()
    def the_pool_is_the_model(self) -> None:
        self.library.catch_up(self.ledger)  # the pool folded again from the log alone
        mine = pool(Overlay(self.library), [self.prefix], at_op)
        assert mine == self.model.fefo()
        assert pool(Overlay(self.ledger.library), [self.prefix], at_op) == mine  # the writer's


def run(ledger: Ledger, examples: int, steps: int) -> None:
    with http_client(ledger) as client:
        load_hospital(client)
        attributes = {"client": client, "ledger": ledger, "library": CodeLibrary()}
        machine = type("Bound", (PoolScans,), attributes)
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    assert verify_chain(ledger).intact


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_pool_follows_the_model_on_sqlite(ledger: Ledger) -> None:
    run(ledger, examples=30, steps=25)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_the_pool_follows_the_model_on_postgres(ledger: Ledger) -> None:
    run(ledger, examples=8, steps=15)
