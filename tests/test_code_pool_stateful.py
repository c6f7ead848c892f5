"""The split-unit pool against a reference model: random pre-scans, split binds and split
returns through ``POST /scans``, with cancels of them, freezes of units and stocktakes of
boxes (which move a box back in allocation order). No unit is ever bound twice, every
allocation is first expiry first and never takes more from a box than it holds, and the
pool folded again from the log is the pool the writer decided with.

The pool is read from the library's index (:mod:`ledger.pool_index`); here it is also
walked the old way, every unit sorted (:func:`walk`), and the two must agree: after every
step, and when the whole log is folded again in groups of several sizes, after every event
of a group not yet committed (the index with the group's changes laid over it)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from epcis.identifiers.cn_drug_code import UNIT_MARK
from ledger.access import Role
from ledger.application import Ledger
from ledger.code_library import CodeLibrary, Overlay, product_digits
from ledger.code_pool import pool
from ledger.lifecycle import HospitalState
from ledger.pool_index import box_of, unit_number
from ledger.reading import RECORD_TOPIC
from ledger.records import StoredEvent, stored_event
from ledger.verify import verify_chain
from tests.http_support import RoleKeys, http_client
from tests.master_data_support import PRODUCT_HEADER, csv_bytes
from tests.scan_support import code as code_of
from tests.scan_support import load_hospital, post_scan
from tests.test_library_snapshot import assert_restores

URN = "urn:tracecode:cn-drug:"
UNITS = 10  # each example's product: boxes of 10
_serials = itertools.count(1000)


def at_op(where: str | None) -> bool:
    return where is not None and where.endswith(":OP")


def walk(library: Overlay, units: Iterable[str], here: Callable[[str | None], bool]) -> list[str]:
    """The pool the old way: every unit of the product, those free here sorted."""
    found = []
    for code in units:
        state = library.get(code)
        if state.state is HospitalState.IN_STOCK and state.held is None and here(state.location):
            box = box_of(code) or code
            boxed = library.get(box)
            key = (boxed.expires or "9999-12-31", boxed.event_time, box, unit_number(code))
            found.append((*key, code))
    return [entry[-1] for entry in sorted(found)]


def only(place: str) -> Callable[[str | None], bool]:
    return lambda where: where == place


def index_is_walk(library: Overlay, prefix: str, units: Iterable[str]) -> list[str]:
    """The pool at the outpatient pharmacy, after checking that the index gives what the
    walk gives there and at every location a unit of the product is."""
    units = list(units)
    places = {p for u in units if (p := library.get(u).location) is not None}
    wheres: list[Callable[[str | None], bool]] = [at_op, *map(only, places)]
    for here in wheres:
        size, listed = pool(library, [prefix], here)
        assert listed == walk(library, units, here)
        assert size == len(listed)
    return pool(library, [prefix], at_op)[1]


@dataclass
class PoolModel:
    """Units in the pool (by box: expiry, pre-scan order) and units bound per order."""

    boxes: dict[str, tuple[str, int]] = field(default_factory=dict)  # box -> (expiry, order)
    free: set[str] = field(default_factory=set)
    bound: dict[str, set[str]] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)
    last: tuple[str, str, str, set[str]] | None = None
    """The last scan, when it was a split bind or return: (scanId, operation, order, units)."""
    moves: int = 0

    def fefo(self) -> list[str]:
        def key(unit: str) -> tuple[str, int, str, int]:
            box_code, _, n = unit.rpartition(":unit:")
            expiry, order = self.boxes[box_code]
            return (expiry, order, box_code, int(n))

        return sorted(self.free, key=key)

    def move(self) -> int:
        self.moves += 1
        return self.moves


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
        self.model.boxes[urn] = (expiry, self.model.move())
        self.model.free |= {f"{urn}:unit:{n}" for n in range(1, UNITS + 1)}
        self.model.last = None

    @rule(quantity=st.integers(1, 25), which=st.integers(0, 2))
    def bind(self, quantity: int, which: int) -> None:
        order, scan_id = self.orders[which], f"S{next(_serials)}"
        answer = self.scan(
            operation="bind",
            product=self.product,
            quantity=quantity,
            patient="P",
            order=order,
            scanId=scan_id,
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
        self.model.last = (scan_id, "bind", order, set(taken))

    @rule(quantity=st.integers(1, 12), which=st.integers(0, 2))
    def give_back(self, quantity: int, which: int) -> None:
        order, scan_id = self.orders[which], f"S{next(_serials)}"
        answer = self.scan(
            operation="unbind",
            product=self.product,
            quantity=quantity,
            order=order,
            scanId=scan_id,
        )
        bound = self.model.bound.get(order, set())
        if len(bound) < quantity:
            assert answer.status_code == 409, answer.text
            return
        assert answer.status_code == 201, answer.text
        back = {c["code"] for c in answer.json()["codes"]}
        assert back <= bound and len(back) == quantity
        bound -= back
        self.model.free |= back
        self.model.last = (scan_id, "unbind", order, back)

    @rule()
    def cancel(self) -> None:
        """Cancel the last scan, when it was a split bind or return: its units go back."""
        if self.model.last is None:
            return
        scan_id, operation, order, units = self.model.last
        answer = self.scan(operation="cancel", scanId=scan_id)
        assert answer.status_code == 201, answer.text
        bound = self.model.bound.setdefault(order, set())
        if operation == "bind":
            bound -= units
            self.model.free |= units
        else:
            bound |= units
            self.model.free -= units
        self.model.last = None

    @rule(which=st.integers(0, 1000), frozen=st.booleans())
    def freeze_or_unfreeze(self, which: int, frozen: bool) -> None:
        """A free unit frozen leaves the pool (held); a frozen one unfrozen comes back."""
        source, target = (
            (self.model.frozen, self.model.free) if frozen else (self.model.free, self.model.frozen)
        )
        if not source:
            return
        unit = sorted(source)[which % len(source)]
        answer = self.scan(operation="unfreeze" if frozen else "freeze", codes=[unit])
        assert answer.status_code == 201, answer.text
        source.discard(unit)
        target.add(unit)
        self.model.last = None

    @rule(which=st.integers(0, 1000))
    def count_a_box(self, which: int) -> None:
        """A stocktake of a pre-scanned box: its last event is now, so its units come after
        those of the other boxes of its expiry."""
        if not self.model.boxes:
            return
        urn = sorted(self.model.boxes)[which % len(self.model.boxes)]
        answer = self.scan(operation="stocktake", codes=[urn])
        assert answer.status_code == 201, answer.text
        self.model.boxes[urn] = (self.model.boxes[urn][0], self.model.move())
        self.model.last = None

    @invariant()
    def the_pool_is_the_model(self) -> None:
        self.library.catch_up(self.ledger)  # the pool folded again from the log alone
        units = [f"{box}:unit:{n}" for box in self.model.boxes for n in range(1, UNITS + 1)]
        mine = index_is_walk(Overlay(self.library), self.prefix, units)
        assert mine == self.model.fefo()
        writer = index_is_walk(Overlay(self.ledger.library), self.prefix, units)
        assert writer == mine  # the writer's


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
    refold_in_groups(ledger)
    assert_restores(ledger)  # the index placed again from a snapshot's states


def refold_in_groups(ledger: Ledger) -> None:
    """Fold the whole log again in groups of several sizes, checking the pool of every
    product a group touches after each of its events (the index with the group's changes
    over it) and once the group is committed (the index alone)."""
    events = [
        stored_event(ledger.mapper.to_domain_event(n).__dict__, n.id)
        for n in ledger.notifications([RECORD_TOPIC])
    ]
    everything = CodeLibrary()
    whole = Overlay(everything)
    for stored in events:
        whole.follow(stored)
    units: dict[str, list[str]] = {}
    for code in whole.codes:
        if UNIT_MARK in code:
            units.setdefault(product_digits(code)[:7], []).append(code)
    for size in (1, 3, 17, len(events) or 1):  # a run of no captures has no events
        library = CodeLibrary()
        for start in range(0, len(events), size):
            overlay = Overlay(library)
            touched: set[str] = set()
            for stored in events[start : start + size]:
                overlay.follow(stored)
                touched = touched_products(stored, touched)
                if size < len(events):
                    for prefix in touched & set(units):
                        index_is_walk(overlay, prefix, units[prefix])
            overlay.commit()
            for prefix in touched & set(units):
                index_is_walk(Overlay(library), prefix, units[prefix])


def touched_products(stored: StoredEvent, touched: set[str]) -> set[str]:
    """The trace prefixes of the codes an event names, added to ``touched``."""
    event = stored.event
    named = [*(event.get("epcList") or ()), *(event.get("outputEPCList") or ())]
    named += event.get("inputEPCList") or ()
    return touched | {product_digits(str(code))[:7] for code in named}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_pool_follows_the_model_on_sqlite(ledger: Ledger) -> None:
    run(ledger, examples=30, steps=25)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_the_pool_follows_the_model_on_postgres(ledger: Ledger) -> None:
    run(ledger, examples=8, steps=15)
