"""Random sequences of hospital scans against a small reference model of the rules.

A hypothesis :class:`~hypothesis.stateful.RuleBasedStateMachine` posts every operation of
``POST /scans`` (recall by code only; no back-fill, orders or containers) over four codes,
the small hospital of :mod:`tests.scan_support` and two patients, and checks each answer
against :class:`Model`, written here from the issue's rules (``issues show 11``,
``../shared/DOMAIN.md`` §3–4) and independent of :mod:`ledger.scan_rules`:

* the answer's colour and every code's reason words; red is a 409 that stores nothing (the
  log does not move, the model does not change); green and yellow are 201 and the model
  applies the operation;
* after every step, the read side (``GET /codes/{code}``) says the model's hospital state
  and location, and 404 for a code with no live scan;
* a cancel restores the codes' earlier state on both sides, and is refused while a later
  scan depends on it; a resent ``scanId`` (a cancel sent again, too) answers the same and
  stores nothing.

Examples share one ledger (a new store per example would cost more than the example):
each example scans codes of its own under scanIds of its own (the patients are shared).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger.application import Ledger
from ledger.code_library import UNDO_DEPTH
from ledger.locations import location_uri
from ledger.verify import verify_chain
from tests.http_support import INSTITUTION, http_client
from tests.scan_support import box, load_hospital, post_scan
from tests.test_library_snapshot import assert_restores

# -- the hospital, as the model sees it --------------------------------------------------

PARENT = {"WH": None, "OP": None, "OP-1": "OP", "W3": None, "W5": None, "ENT": None}
"""Scan locations and their parents below the institution (OP-1 is OP's window)."""
PLACES = sorted(PARENT)
WAREHOUSE = "WH"
PATIENTS = ("P-1", "P-2")
CODES = 4


def lineage(place: str) -> list[str]:
    chain: list[str] = []
    current: str | None = place
    while current is not None:
        chain.append(current)
        current = PARENT.get(current)
    return chain


def related(here: str, there: str | None) -> bool:
    """Whether a code at ``there`` counts as at ``here``: the same place, one within the
    other (the window OP-1 is in the pharmacy OP)."""
    return there is not None and (here in lineage(there) or there in lineage(here))


# -- the reference model -------------------------------------------------------------------

HELD = {
    "bound": "already_bound",
    "recalled": "recalled",
    "frozen": "frozen",
    "lent": "lent",
    "destroyed": "destroyed",
    "exited": "exited",
    "consumed": "consumed",
}
"""A state that stops a pack from being used, and the reason word a refusal gives."""
YELLOW = {"unknown_to_library", "near_expiry", "back_filled", "short_of_order", "not_on_books_here"}
EXPIRY_MATTERS = {
    "receive",
    "transfer",
    "accept",
    "pick",
    "bind",
    "administer",
    "unbind",
    "lend",
    "lend_return",
    "unfreeze",
}
"""Operations that hand a pack on or use it, refused when it has expired."""
SHELF = {"in_stock", "frozen", "recalled"}
"""States of a pack physically on a shelf (it may be returned, destroyed, counted)."""
RELEASES = {"lend_return": ("lent", "not_lent"), "unfreeze": ("frozen", "not_frozen")}
"""Operations that end a hold: the state they need, and the word when it is not so."""


FLOWS = [
    "transfer",
    "accept",
    "pick",
    "bind",
    "unbind",
    "return_to_warehouse",
    "lend",
    "lend_return",
    "freeze",
    "unfreeze",
    "stocktake",
]
ENDS = ["receive", "administer", "return_to_supplier", "recall", "destroy", "commission"]
OPERATIONS = FLOWS * 3 + ENDS
"""Every operation but cancel (a rule of its own) and recall by lot; those that move a pack
on within the hospital drawn more often than those that end its stay (else most packs
would soon be recalled, destroyed or gone)."""

SUITS = {
    "transfer": {"in_stock"},
    "pick": {"in_stock"},
    "lend": {"in_stock"},
    "bind": {"in_stock", "lent"},
    "freeze": {"in_stock", "lent"},
    "accept": {"in_transit"},
    "administer": {"bound"},
    "unbind": {"bound"},
    "lend_return": {"lent"},
    "unfreeze": {"frozen"},
    "return_to_warehouse": SHELF,
    "return_to_supplier": SHELF,
    "destroy": SHELF,
    "stocktake": SHELF,
    "receive": {"not_received", "exited"},
    "commission": {"not_received"},
}
"""The states in which an operation is expected to pass (to steer the draws, not to judge)."""


@dataclass(frozen=True)
class Pack:
    """One code as the model knows it."""

    state: str = "not_received"
    location: str | None = None
    destination: str | None = None
    patient: str | None = None
    bound_at: str | None = None
    expires: str | None = None
    hold: str | None = None
    """``recalled`` or ``frozen``: what still holds a pack moved since (back to the
    warehouse), though its state says in transit or in stock."""


HOLD_ALLOWED = {"return_to_warehouse", "accept", "return_to_supplier", "destroy", "stocktake"}
HOLD_ALLOWED |= {"recall"}
"""What may be done to a held pack that was moved (and unfreeze, to a frozen one)."""


@dataclass(frozen=True)
class Act:
    """One scan's circumstances."""

    operation: str
    location: str
    failed: bool = False
    """The quality check of an unbind failed (the pack is frozen, not back in stock)."""
    patient: str | None = None
    department: str | None = None
    destination: str | None = None
    expires: str | None = None

    @property
    def binder(self) -> str:
        return self.department or self.location


def colour(reasons: list[str]) -> str:
    if any(r not in YELLOW for r in reasons):
        return "red"
    return "yellow" if reasons else "green"


def expiry(expires: str | None, today: str) -> list[str]:
    if expires is None:
        return []
    if expires < today:
        return ["expired"]
    soon = (datetime.fromisoformat(today) + timedelta(days=90)).date().isoformat()
    return ["near_expiry"] if expires <= soon else []


def on_shelf_here(pack: Pack, act: Act, allowed: set[str]) -> list[str]:
    """A pack that must be in one of the ``allowed`` states at the scan's location."""
    if pack.state in allowed:
        return [] if related(act.location, pack.location) else ["not_in_stock_here"]
    if pack.state in HELD:
        return [HELD[pack.state]]
    if pack.state == "in_transit":
        return [
            "not_accepted" if related(act.location, pack.destination) else "in_transit_elsewhere"
        ]
    return ["not_in_stock_here"]


def held_or(pack: Pack, otherwise: str) -> list[str]:
    return [HELD.get(pack.state, otherwise)]


def reasons_for(pack: Pack, seen: bool, act: Act, today: str) -> list[str]:
    """What the rules say of one pack (none: green)."""
    op, state, here = act.operation, pack.state, act.location
    found: list[str]
    moved_while_held = pack.hold is not None and state in ("in_stock", "in_transit")
    releasing = op == "unfreeze" and pack.hold == "frozen"
    if moved_while_held and op not in HOLD_ALLOWED and not releasing:
        found = [str(pack.hold)]
    elif releasing and state == "in_stock":
        found = [] if related(here, pack.location) else ["not_in_stock_here"]
    elif op == "receive":
        if state in ("not_received", "exited"):
            found = []
        elif state in ("recalled", "destroyed", "consumed"):
            found = [HELD[state]]
        else:
            found = ["already_received"]
    elif op in ("transfer", "pick", "lend"):
        found = on_shelf_here(pack, act, {"in_stock"})
    elif op in ("return_to_warehouse", "return_to_supplier", "destroy"):
        found = on_shelf_here(pack, act, SHELF)
    elif op == "accept":
        if state == "in_transit":
            found = [] if related(here, pack.destination) else ["in_transit_elsewhere"]
        elif state == "in_stock" and related(here, pack.location):
            found = ["already_received"]
        else:
            found = held_or(pack, "not_in_transit_here")
    elif op == "bind":
        if state == "not_received":
            found = ["unknown_to_library"]  # single-point scanning: accepted, look
        else:
            found = on_shelf_here(pack, act, {"in_stock", "lent"})
    elif op == "administer":
        if state != "bound":
            found = held_or(pack, "not_bound")
        else:
            found = ["wrong_patient"] if pack.patient != act.patient else []
    elif op == "unbind":
        if state != "bound":
            found = held_or(pack, "not_bound")
        else:
            found = []
            if not related(here, pack.bound_at) and pack.bound_at != act.binder:
                found.append("not_bound_here")  # whoever bound, unbinds
            if act.patient is not None and pack.patient != act.patient:
                found.append("wrong_patient")
    elif op in RELEASES:  # back on the shelf where it was lent out or frozen
        held, otherwise = RELEASES[op]
        if state != held:
            found = held_or(pack, otherwise)
        else:
            found = [] if related(here, pack.location) else ["not_in_stock_here"]
    elif op == "freeze":
        found = on_shelf_here(pack, act, {"in_stock", "lent"})
    elif op == "recall":
        found = [HELD[state]] if state in ("recalled", "destroyed", "exited", "consumed") else []
    elif op == "stocktake":
        found = [] if state in SHELF and related(here, pack.location) else ["not_on_books_here"]
    elif op == "commission":
        found = ["already_commissioned"] if seen else []
    else:
        raise AssertionError(op)
    if op in EXPIRY_MATTERS:
        found += expiry(act.expires or pack.expires, today)
    return found


def after(pack: Pack, act: Act) -> Pack:
    """The pack once the scan is stored, and what holds it."""
    moved = _after(pack, act)
    if moved.state in ("frozen", "recalled"):
        hold = "recalled" if "recalled" in (moved.state, pack.hold) else moved.state
    else:
        gone = moved.state in ("destroyed", "exited", "consumed", "not_received")
        released = act.operation == "unfreeze" and pack.hold == "frozen"
        hold = None if gone or released else pack.hold
    return replace(moved, hold=hold)


def _after(pack: Pack, act: Act) -> Pack:
    op, here = act.operation, act.location
    if op == "receive":
        return replace(Pack(expires=act.expires or pack.expires), state="in_stock", location=here)
    if op in ("transfer", "return_to_warehouse"):
        return replace(pack, state="in_transit", location=None, destination=act.destination)
    if op in ("accept", "lend_return", "unfreeze"):
        return replace(Pack(expires=pack.expires), state="in_stock", location=here)
    if op in ("pick", "stocktake"):
        return pack
    if op == "bind":
        return replace(pack, state="bound", patient=act.patient, bound_at=act.binder)
    if op == "administer":
        return replace(pack, state="consumed")
    if op == "unbind":
        state = "frozen" if act.failed else "in_stock"
        return replace(Pack(expires=pack.expires), state=state, location=here)
    simple = {
        "return_to_supplier": ("exited", pack.location),
        "lend": ("lent", here),
        "freeze": ("frozen", here),
        "recall": ("recalled", pack.location),
        "destroy": ("destroyed", here),
        "commission": (pack.state, here),
    }
    state, location = simple[op]
    return replace(Pack(expires=pack.expires), state=state, location=location)


@dataclass
class Stored:
    """A scan the ledger stored: what to resend, what it answered, and its codes."""

    body: dict[str, Any]
    answer: dict[str, Any]
    codes: list[int]
    cancel_answer: dict[str, Any] | None = None


@dataclass
class Model:
    packs: list[Pack] = field(default_factory=lambda: [Pack() for _ in range(CODES)])
    history: list[list[tuple[str, Pack, int]]] = field(
        default_factory=lambda: [[] for _ in range(CODES)]
    )
    """Per code, its live scans in order: the scanId, the pack before it, and how many
    cancels back the library can still go once it is cancelled."""
    undo: list[int] = field(default_factory=lambda: [0] * CODES)
    """Per code, how many of its last scans can be cancelled one after another (the library
    keeps ``UNDO_DEPTH`` earlier states)."""
    scans: dict[str, Stored] = field(default_factory=dict)

    def last_scan(self, n: int) -> str | None:
        return self.history[n][-1][0] if self.history[n] else None


# -- the machine ----------------------------------------------------------------------------

_examples = itertools.count(1)
_FUTURE = (datetime.now(UTC) + timedelta(days=2000)).date().isoformat()


class Scans(RuleBasedStateMachine):
    """Scans through ``POST /scans`` against :class:`Model` (``client`` / ``ledger`` are
    set by :func:`machine`)."""

    client: TestClient
    ledger: Ledger

    def __init__(self) -> None:
        super().__init__()
        self.example = next(_examples)
        self.serial = itertools.count(1)
        self.codes = [box(self.example * 100 + n) for n in range(CODES)]
        self.model = Model()
        self.today = datetime.now(UTC).date()
        self.moved: set[int] = set(range(CODES))
        """The codes stored scans named since the read side was last compared (a refused
        scan stores nothing: the log position says so)."""

    # -- posting and checking ---------------------------------------------------------------

    def scan_id(self) -> str:
        return f"e{self.example}-{next(self.serial)}"

    def post(self, act: Act, picked: list[int], **extra: Any) -> None:
        today = datetime.now(UTC).date().isoformat()
        body: dict[str, Any] = {
            "operation": act.operation,
            "location": act.location,
            "codes": [self.codes[n] for n in picked],
            "scanId": self.scan_id(),
            **{k: v for k, v in extra.items() if v is not None},
        }
        expected = [
            reasons_for(self.model.packs[n], bool(self.model.history[n]), act, today)
            for n in picked
        ]
        overall = colour([r for found in expected for r in found])
        before = self.ledger.log_position()
        answer = post_scan(self.client, **body)
        shown = answer.json()
        got = [[r["reason"] for r in c["reasons"]] for c in shown["codes"]]
        assert got == expected, (body, shown)
        assert [c["colour"] for c in shown["codes"]] == [colour(r) for r in expected]
        assert shown["colour"] == overall, shown
        if overall == "red":
            assert answer.status_code == 409, answer.text
            assert self.ledger.log_position() == before, "a refused scan stored something"
            return
        assert answer.status_code == 201, answer.text
        assert len(shown["eventIDs"]) == 1 and shown["scanId"] == body["scanId"]
        self.moved.update(picked)
        for n in picked:
            pack, undo = self.model.packs[n], self.model.undo[n]
            self.model.history[n].append((body["scanId"], pack, min(undo, UNDO_DEPTH - 1)))
            self.model.packs[n] = after(pack, act)
            self.model.undo[n] = min(undo + 1, UNDO_DEPTH)
        self.model.scans[body["scanId"]] = Stored(body, shown, picked)

    # -- the operations ---------------------------------------------------------------------

    def packs(self, data: st.DataObject, operation: str) -> list[int]:
        """Which codes to scan: mostly one or two whose state suits the operation, else
        any."""
        suits = [n for n, p in enumerate(self.model.packs) if p.state in SUITS.get(operation, ())]
        some = st.lists(st.integers(0, CODES - 1), min_size=1, max_size=2, unique=True)
        if suits:
            suited = st.lists(st.sampled_from(suits), min_size=1, max_size=2, unique=True)
            some = st.one_of(suited, suited, suited, some)
        return data.draw(some, label="codes")

    def place(self, data: st.DataObject, picked: list[int]) -> str:
        """Where the scan is: mostly a place the first code has to do with (where it is, is
        going, was bound; the pharmacy's window), else anywhere."""
        pack = self.model.packs[picked[0]]
        near = [p for p in (pack.location, pack.destination, pack.bound_at) if p in PARENT]
        near += ["OP-1" for p in near if p == "OP"]
        places = st.sampled_from(PLACES)
        if near:
            places = st.one_of(*[st.sampled_from(near)] * 3, places)
        return data.draw(places, label="location")

    def patient(self, picked: list[int]) -> st.SearchStrategy[str]:
        """Mostly the patient the first code is bound to, else either."""
        bound = self.model.packs[picked[0]].patient
        either = st.sampled_from(PATIENTS)
        return st.one_of(st.just(bound), st.just(bound), either) if bound else either

    @initialize(picked=st.lists(st.integers(0, CODES - 1), min_size=3, max_size=CODES, unique=True))
    def received_at_start(self, picked: list[int]) -> None:
        """Most sequences worth trying start with codes in the warehouse (one of them may be
        left out: never received)."""
        self.post(Act("receive", WAREHOUSE), picked, source="SUP")

    @rule(operation=st.sampled_from(OPERATIONS), data=st.data())
    def scan(self, operation: str, data: st.DataObject) -> None:
        """One scan of one or two codes (one rule for every operation: each sequence mixes
        them all, so transfers meet accepts and binds meet administrations)."""
        picked = self.packs(data, operation)
        draw = data.draw
        if operation == "receive":
            where = draw(st.sampled_from([WAREHOUSE, WAREHOUSE, "OP"]), label="location")
            dates = {
                "near": (self.today + timedelta(days=30)).isoformat(),
                "past": (self.today - timedelta(days=30)).isoformat(),
                "far": _FUTURE,
            }
            date = dates.get(draw(st.sampled_from(["", "", "near", "past", "far"])))
            self.post(Act("receive", where, expires=date), picked, source="SUP", expires=date)
            return
        where = self.place(data, picked)
        if operation == "transfer":
            to = draw(st.sampled_from(PLACES), label="destination")
            self.post(Act("transfer", where, destination=to), picked, destination=to)
        elif operation == "bind":
            patient = draw(st.sampled_from(PATIENTS), label="patient")
            department = draw(st.sampled_from([None, None, "ENT"]), label="department")
            act = Act("bind", where, patient=patient, department=department)
            self.post(act, picked, patient=patient, department=department)
        elif operation == "administer":
            patient = draw(self.patient(picked), label="patient")
            self.post(Act("administer", where, patient=patient), picked, patient=patient)
        elif operation == "unbind":
            patient = draw(st.none() | self.patient(picked), label="patient")
            department = draw(st.sampled_from([None, None, "ENT"]), label="department")
            failed = draw(st.booleans(), label="quality failed")
            act = Act("unbind", where, patient=patient, department=department, failed=failed)
            quality = "failed" if failed else "passed"
            self.post(act, picked, patient=patient, department=department, quality=quality)
        elif operation == "return_to_supplier":
            self.post(Act(operation, where), picked, destination="SUP")
        elif operation == "return_to_warehouse":  # to the one warehouse, unnamed
            self.post(Act(operation, where, destination=WAREHOUSE), picked)
        elif operation == "freeze":
            failed = draw(st.booleans(), label="quality failed")
            self.post(Act(operation, where), picked, quality="failed" if failed else None)
        else:
            self.post(Act(operation, where), picked)

    # -- cancel and resend ------------------------------------------------------------------

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        scan_id = data.draw(st.sampled_from([*sorted(self.model.scans), "nothing"]), label="scan")
        if scan_id not in self.model.scans:  # never stored (or refused)
            before = self.ledger.log_position()
            answer = post_scan(self.client, operation="cancel", scanId=scan_id)
            assert answer.status_code == 409, answer.text
            assert [r["reason"] for r in answer.json()["reasons"]] == ["no_such_scan"]
            assert self.ledger.log_position() == before
            return
        target = self.model.scans[scan_id]
        before = self.ledger.log_position()
        answer = post_scan(self.client, operation="cancel", scanId=scan_id, reason="mistake")
        shown = answer.json()
        if target.cancel_answer is not None:  # sent again: the first answer, nothing stored
            assert answer.status_code == 201, answer.text
            assert shown == target.cancel_answer
            assert self.ledger.log_position() == before
            return
        refusals = [
            ["cancel_not_last"]
            if self.model.last_scan(n) != scan_id
            else ["cancel_too_old"]
            if self.model.undo[n] == 0
            else []
            for n in target.codes
        ]
        got = [[r["reason"] for r in c["reasons"]] for c in shown["codes"]]
        assert got == refusals, (target.body, shown)
        if any(refusals):
            assert answer.status_code == 409, answer.text
            assert shown["colour"] == "red"
            assert self.ledger.log_position() == before
            return
        assert answer.status_code == 201, answer.text
        assert shown["colour"] == "green" and shown["scanId"] == scan_id
        assert shown["eventIDs"] == target.answer["eventIDs"], "the correction names the event"
        self.moved.update(target.codes)
        for n in target.codes:
            last, pack, undo = self.model.history[n].pop()
            assert last == scan_id
            self.model.packs[n], self.model.undo[n] = pack, undo
        target.cancel_answer = shown

    @precondition(lambda self: bool(self.model.scans))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        """A terminal on flaky Wi-Fi sends a stored scan again."""
        scan_id = data.draw(st.sampled_from(sorted(self.model.scans)), label="scan")
        stored = self.model.scans[scan_id]
        before = self.ledger.log_position()
        answer = post_scan(self.client, **stored.body)
        assert answer.status_code == 201, answer.text
        assert answer.json() == stored.answer
        assert self.ledger.log_position() == before, "a resent scan stored something"

    # -- the read side agrees ---------------------------------------------------------------

    @invariant()
    def read_side_agrees(self) -> None:
        for n in sorted(self.moved):
            code, pack = self.codes[n], self.model.packs[n]
            status = self.client.get(f"/codes/{code}")
            if not self.model.history[n]:
                assert status.status_code == 404, (n, pack, status.text)
                assert pack == Pack(), pack
                continue
            assert status.status_code == 200, status.text
            shown = status.json()
            assert shown["hospitalState"] == pack.state, (n, pack, shown)
            where = location_uri(INSTITUTION, pack.location) if pack.location else None
            assert shown["location"] == where, (n, pack, shown)
        self.moved.clear()


def machine(client: TestClient, ledger: Ledger) -> type[Scans]:
    return type("BoundScans", (Scans,), {"client": client, "ledger": ledger})


def run(ledger: Ledger, examples: int, steps: int) -> None:
    with http_client(ledger) as client:
        load_hospital(client)
        run_state_machine_as_test(
            machine(client, ledger),
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    assert verify_chain(ledger).intact
    assert_restores(ledger)  # earlier states, orders and scans kept for the cancels


# Wide on SQLite, small on PostgreSQL (the same machine; a PostgreSQL round trip costs more).
# 50 runs of 50 steps on SQLite: 100 runs were the suite's longest test (47-60 s of its 10
# minutes); hypothesis draws other runs each time the suite runs.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_scans_follow_the_model_on_sqlite(ledger: Ledger) -> None:
    run(ledger, examples=50, steps=50)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_scans_follow_the_model_on_postgres(ledger: Ledger) -> None:
    run(ledger, examples=25, steps=50)
