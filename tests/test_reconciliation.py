"""Stock reconciliation by code (``GET /reconciliation``, ``tracecode reconcile``): a
generated month of a small hospital (``tests/scan_support.py``) through ``POST /scans``,
whole and split dispensing included, then a stocktake at the outpatient pharmacy with 3
codes missing and 2 extra; the answer must name exactly those, its books must match a model
the test keeps by itself, and the month's data-quality figures the counts it kept."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from ledger.scan_rules import ScanSettings
from projections.schema import utc_text
from tests.http_support import http_client
from tests.quality_support import Tally, shipment, summed
from tests.scan_support import code, load_hospital

OP = {"OP", "OP-1"}
L1, L2, A1 = ("8200001", "L1"), ("8200001", "L2"), ("8100002", "A1")
UNITS = {"8200001": 10, "8100002": 24}


@dataclass
class Pack:
    line: tuple[str, str]
    moved: str = "in_stock"  # the last movement: in_stock, bound, lent, exited, destroyed
    place: str = "WH"
    held: bool = False
    bound_at: int = -1
    left: int | None = None  # pre-scanned: its units still in the pool


@dataclass
class Hospital:
    """The scans sent (counted for the quality figures by a :class:`Tally`), and the model
    of where each pack is."""

    client: TestClient
    start: datetime
    packs: dict[str, Pack] = field(default_factory=dict)
    tick: int = 0
    day: int = 0
    counting: bool = False
    moves: Counter[tuple[tuple[str, str], str]] = field(default_factory=Counter)
    serials: Counter[str] = field(default_factory=Counter)
    tally: Tally = field(init=False)
    back_fill_after: timedelta = timedelta(minutes=10)
    expected_receipts: int = 0
    orders: dict[str, int] = field(default_factory=dict)  # split order -> the day bound
    happened: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.tally = Tally(self.client)
        self.tally.on = False

    def when(self) -> datetime:
        self.tick += 1
        return self.start + timedelta(days=self.day, minutes=self.tick)

    def scan(
        self,
        operation: str,
        location: str,
        codes: list[str],
        colour: str | None = None,
        **body: Any,
    ) -> dict[str, Any]:
        if not codes and "quantity" not in body:
            return {}
        when = self.when()
        self.tally.on = self.counting
        answer = self.tally.scan(
            colour,
            operation=operation,
            location=location,
            **({"codes": codes} if codes else {}),
            eventTime=when.isoformat(),
            **body,
        )
        if answer["colour"] != "red":
            age = datetime.now(UTC) - when
            if abs(age - self.back_fill_after) > timedelta(minutes=1):
                assert answer["backFilled"] == (age > self.back_fill_after), (when, answer)
        return answer

    def move(self, line: tuple[str, str], kind: str) -> None:
        if self.counting:
            self.moves[(line, kind)] += 1

    def shelf(
        self, places: set[str], *, held: bool | None = None, lines: Any = None, split: bool = False
    ) -> list[str]:
        """The packs on the shelves of ``places`` (pre-scanned ones only when ``split``)."""
        return sorted(
            c
            for c, p in self.packs.items()
            if p.moved == "in_stock"
            and p.place in places
            and (held is None or p.held == held)
            and (lines is None or p.line in lines)
            and (split or p.left is None)
        )

    # -- operations, each on the model too ------------------------------------------

    def receive(self, line: tuple[str, str], count: int, *, unshipped: int = 0) -> list[str]:
        """``count`` packs received at the warehouse; while counting, a supplier's shipment
        of them and of ``unshipped`` more packs, which never arrive, goes first."""
        prefix, lot = line
        made = []
        for _ in range(count + unshipped):
            self.serials[prefix] += 1
            made.append(code(prefix, self.serials[prefix]))
        if self.counting:
            shipment(self.client, *made, when=self.when().isoformat())
            self.expected_receipts += len(made)
        made = made[:count]
        self.scan("receive", "WH", made, lot=lot, expires="2099-12-31", source="SUP")
        for c in made:
            self.packs[c] = Pack(line)
        return made

    def transfer(self, codes: list[str], source: str, to: str) -> None:
        if to == "WH":
            self.scan("return_to_warehouse", source, codes)
        else:
            self.scan("transfer", source, codes, destination=to)
        self.scan("accept", to, codes)
        for c in codes:
            pack = self.packs[c]
            if pack.place in OP and to not in OP:
                self.move(pack.line, "transferredOut")
            if pack.place not in OP and to in OP:
                self.move(pack.line, "transferredIn")
            pack.place = to

    def bind(self, codes: list[str], serial: int, *, cancel: bool = False) -> None:
        answer = self.scan("bind", "OP-1", codes, patient=f"P-{serial}", order=f"RX-{serial}")
        if cancel:  # a wrong bind, corrected at once: it counts nowhere in the books
            self.tally.on = self.counting
            self.tally.cancel(answer["scanId"])
            return
        for c in codes:
            self.packs[c].moved, self.packs[c].bound_at = "bound", self.day
            self.move(self.packs[c].line, "dispensed")

    def unbind(self, codes: list[str]) -> None:
        self.scan("unbind", "OP-1", codes)
        for c in codes:
            self.packs[c].moved, self.packs[c].place = "in_stock", "OP-1"
            self.move(self.packs[c].line, "returnedIn")

    def prescan(self, codes: list[str]) -> None:
        self.scan("prescan", "OP", codes)
        for c in codes:
            self.packs[c].left = UNITS[self.packs[c].line[0]]

    def pooled(self) -> int:
        return sum(p.left or 0 for p in self.packs.values() if p.moved == "in_stock" and not p.held)

    def split_bind(self, quantity: int, serial: int) -> None:
        """A split dispensing of ``quantity`` tablets of XB02 at the window, from the pool."""
        pooled = self.pooled()
        order = f"SPLIT-{serial}"
        body = {"product": "XB02", "quantity": quantity, "patient": f"P-{serial}", "order": order}
        if quantity > pooled:
            answer = self.scan("bind", "OP-1", [], "red", **body)
            assert [r["reason"] for r in answer["reasons"]] == ["pool_short"], answer
            self.happened["pool_short"] += 1
            return
        answer = self.scan("bind", "OP-1", [], **body)
        assert sum(a["units"] for a in answer["allocations"]) == quantity
        self.happened["split across boxes"] += len(answer["allocations"]) > 1
        for taken in answer["allocations"]:
            pack = self.packs[taken["code"].rpartition(":")[2]]
            assert pack.left is not None and pack.left >= taken["units"], (pack, taken)
            pack.left -= taken["units"]
            if pack.left == 0:  # its last unit dispensed: the box is off the books
                self.happened["box emptied"] += 1
                pack.moved = "bound"
                self.move(pack.line, "dispensed")
        self.orders[order] = self.day

    def split_unbind(self, order: str, quantity: int) -> None:
        body = {"product": "XB02", "quantity": quantity, "order": order}
        answer = self.scan("unbind", "OP-1", [], **body)
        assert sum(a["units"] for a in answer["allocations"]) == quantity
        for back in answer["allocations"]:
            pack = self.packs[back["code"].rpartition(":")[2]]
            assert pack.left is not None
            if pack.left == 0:  # a unit back in an emptied box: on the books again
                self.happened["box refilled"] += 1
                pack.moved = "in_stock"
                self.move(pack.line, "returnedIn")
            pack.left += back["units"]

    def leave(self, operation: str, location: str, codes: list[str], moved: str) -> None:
        self.scan(operation, location, codes)
        for c in codes:
            if self.packs[c].place in OP:
                self.move(self.packs[c].line, {"lent": "lent", "destroyed": "destroyed"}[moved])
            self.packs[c].moved = moved

    def lend_return(self, codes: list[str]) -> None:
        self.scan("lend_return", "OP", codes)
        for c in codes:
            self.packs[c].moved = "in_stock"
            self.move(self.packs[c].line, "returnedIn")


def books(hospital: Hospital, places: set[str]) -> Counter[tuple[str, str]]:
    return Counter(
        p.line for p in hospital.packs.values() if p.moved == "in_stock" and p.place in places
    )


def units_on_books(hospital: Hospital, places: set[str]) -> Counter[tuple[str, str]]:
    """Smallest units on the books: a whole pack's, a pre-scanned box's left in the pool."""
    found: Counter[tuple[str, str]] = Counter()
    for p in hospital.packs.values():
        if p.moved == "in_stock" and p.place in places:
            found[p.line] += UNITS[p.line[0]] if p.left is None else p.left
    return found


@dataclass
class Month:
    hospital: Hospital
    start: str
    end: str
    opening: Counter[tuple[str, str]]
    closing: Counter[tuple[str, str]]
    closing_units: Counter[tuple[str, str]]
    missing: list[str]
    extra: list[str]
    elsewhere: str
    stocktakes: int


def run_month(client: TestClient, seed: int) -> Month:
    """A month of the hospital: receiving (after the suppliers' shipments, some never
    arriving), transfers, whole and split dispensing, returns, a recall, wrong and
    corrected scans, back-filled ones (older than 25 days), then a stocktake."""
    rng = random.Random(seed)
    hospital = Hospital(client, datetime.now(UTC).replace(microsecond=0) - timedelta(days=40))
    hospital.back_fill_after = timedelta(days=25)
    client.app.state.scan_settings = ScanSettings(back_fill_after=hospital.back_fill_after)  # type: ignore[attr-defined]
    # before the period: stock the warehouse, the pharmacy and a ward
    first = hospital.receive(L1, 30) + hospital.receive(L2, 20) + hospital.receive(A1, 20)
    hospital.transfer(first[:20] + first[30:40] + first[50:60], "WH", "OP")
    hospital.transfer(first[20:25], "WH", "W3")
    hospital.day = 10
    start = hospital.start + timedelta(days=10)
    opening = books(hospital, OP)
    hospital.counting = True
    patient = 0
    for day in range(10, 35):
        hospital.day = day
        if day == 20:  # a recall of lot L2, wherever its codes are
            # (by codes: a back-filled recall by product + lot finds no live code, as
            # scan_gate filters the lot's codes on any finding, back_filled included)
            lot = [c for c, p in hospital.packs.items() if p.line == L2]
            hospital.scan("recall", "OP", lot)
            for c in lot:
                hospital.packs[c].held = True
        recalled = day >= 20
        safe = {L1, A1} if not recalled else {L1, L2, A1}  # nothing of L2 leaves before
        if rng.random() < 0.7:
            made = hospital.receive(
                rng.choice([L1, A1]), rng.randint(2, 6), unshipped=rng.randint(0, 1)
            )
            hospital.transfer(made[: rng.randint(0, len(made))], "WH", "OP")
        whole = [c for c in hospital.shelf({"OP"}, held=False, lines={L1})]
        if whole and rng.random() < 0.3:
            hospital.prescan(rng.sample(whole, min(len(whole), rng.randint(1, 2))))
        for _ in range(rng.randint(0, 2)):
            patient += 1
            hospital.split_bind(rng.randint(1, 12), patient)
        recent = sorted(o for o, bound_on in hospital.orders.items() if bound_on > day - 5)
        if recent and rng.random() < 0.3:  # (within the return window)
            order = rng.choice(recent)
            hospital.split_unbind(order, 1)
            del hospital.orders[order]
        free = hospital.shelf(OP, held=False)
        for c in rng.sample(free, min(len(free), rng.randint(0, 3))):
            patient += 1
            hospital.bind([c], patient, cancel=rng.random() < 0.15)
        bound = [c for c, p in hospital.packs.items() if p.moved == "bound" and p.bound_at == day]
        if bound and rng.random() < 0.3:  # bound again, to another patient: red
            patient += 1
            answer = hospital.scan("bind", "OP-1", bound[:1], "red", patient=f"P-{patient}")
            assert "already_bound" in str(answer["codes"]), answer
        held = hospital.shelf(OP, held=True)
        if held and rng.random() < 0.3:  # a recalled pack at the window: red
            answer = hospital.scan("bind", "OP-1", held[:1], "red", patient="P-0")
            assert "recalled" in str(answer["codes"]), answer
        hospital.unbind([c for c in bound if not hospital.packs[c].held and rng.random() < 0.3])
        back = hospital.shelf(OP, lines=safe)
        hospital.transfer(rng.sample(back, min(len(back), rng.randint(0, 1))), "OP", "WH")
        gone = hospital.shelf({"WH"}, lines=safe)
        for c in rng.sample(gone, min(len(gone), rng.randint(0, 1))):
            hospital.scan("return_to_supplier", "WH", [c], destination="SUP")
            hospital.packs[c].moved = "exited"
        broken = hospital.shelf(OP, lines=safe)
        hospital.leave(
            "destroy", "OP", rng.sample(broken, min(len(broken), rng.randint(0, 1))), "destroyed"
        )
        lent = [c for c, p in hospital.packs.items() if p.moved == "lent"]
        hospital.lend_return(lent)
        if rng.random() < 0.3:
            free = [c for c in hospital.shelf({"OP"}, held=False) if hospital.packs[c].line in safe]
            hospital.leave("lend", "OP", free[:1], "lent")
    hospital.split_bind(hospital.pooled() + 1, patient + 1)  # one more than the pool holds
    hospital.day = 35
    on_books = hospital.shelf(OP, split=True)
    missing = sorted(rng.sample(on_books, 3))
    elsewhere = hospital.shelf({"W3"})[0]
    unknown = code("8200001", 999_999)
    found = [c for c in on_books if c not in missing]
    at_window = [c for c in found if hospital.packs[c].place == "OP-1"]
    hospital.scan("stocktake", "OP-1", at_window)
    hospital.scan(
        "stocktake", "OP", [c for c in found if c not in at_window] + [elsewhere, unknown]
    )
    closing = books(hospital, OP)
    end = hospital.start + timedelta(days=36)
    return Month(
        hospital,
        utc_text(start.isoformat()),
        utc_text(end.isoformat()),
        opening,
        closing,
        units_on_books(hospital, OP),
        missing,
        sorted([elsewhere, unknown]),
        elsewhere,
        1 + bool(at_window),
    )


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def _urn(raw: str) -> str:
    return canonical(raw)


def test_a_month_then_a_stocktake_names_exactly_the_missing_and_extra_codes(
    client: TestClient,
) -> None:
    month = run_month(client, seed=12)
    answer = client.get(
        "/reconciliation", params={"location": "OP", "from": month.start, "to": month.end}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["places"] == ["urn:tracecode:loc:H1:OP", "urn:tracecode:loc:H1:OP-1"]
    assert body["stocktakeScans"] == month.stocktakes and body["countedAt"] is not None
    assert sorted(m["code"] for m in body["missing"]) == [_urn(c) for c in month.missing]
    assert sorted(e["code"] for e in body["extra"]) == [_urn(c) for c in month.extra]
    assert [(e["code"], e["location"]) for e in body["elsewhere"]] == [
        (_urn(month.elsewhere), "urn:tracecode:loc:H1:W3")
    ]
    unknown = next(e for e in body["extra"] if e["code"] != _urn(month.elsewhere))
    assert unknown["hospitalState"] == "not_received" and unknown["location"] is None
    lines = {(line["product"], line["lot"]): line for line in body["lines"]}
    model = month.hospital.moves
    for key in set(month.opening) | set(month.closing) | {k for k, _ in model}:
        line = lines[key]
        assert line["opening"] == month.opening[key], key
        assert line["theoreticalClosing"] == month.closing[key], key
        assert line["booksAtCount"] == month.closing[key], key
        ins = line["received"] + line["transferredIn"] + line["returnedIn"] + line["otherIn"]
        outs = sum(
            line[k]
            for k in ("dispensed", "transferredOut", "returnedToSupplier", "destroyed", "lent")
        )
        assert line["opening"] + ins - outs - line["otherOut"] == line["theoreticalClosing"]
        for kind in ("transferredIn", "transferredOut", "dispensed", "returnedIn", "destroyed"):
            assert line[kind] == model[(key, kind)], (key, kind)
        assert line["lent"] == model[(key, "lent")], key
        assert line["received"] == line["otherIn"] == line["otherOut"] == 0, key
        assert line["counted"] == line["booksAtCount"] - line["missing"] + line["extra"]
        assert line["unitsPerCode"] == UNITS[key[0]]
        assert line["theoreticalClosingUnits"] == month.closing_units[key], key
    assert sum(line["missing"] for line in body["lines"]) == 3
    assert sum(line["extra"] for line in body["lines"]) == 2
    assert lines[L1]["ybCode"] == "XB02"
    recalled = [c for c, p in month.hospital.packs.items() if p.line == L2 and p.held]
    assert recalled  # the recall happened, and its held packs at OP are still on the books

    as_csv = client.get(
        "/reconciliation",
        params={"location": "OP", "from": month.start, "to": month.end},
        headers={"Accept": "text/csv"},
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {(r["product"], r["lot"] or None) for r in rows} == set(lines)
    named = {c for r in rows for c in r["missingCodes"].split()}
    assert named == {_urn(c) for c in month.missing}
    assert {c for r in rows for c in r["extraCodes"].split()} == {_urn(c) for c in month.extra}
    assert (
        client.get(
            "/reconciliation",
            params={"location": "OP", "from": month.start, "to": month.end, "format": "csv"},
        ).text
        == as_csv.text
    )

    # the month's data-quality figures, against the counts the test kept while scanning
    figures = client.get(
        "/metrics/quality", params={"from": month.start, "to": month.end, "period": "week"}
    )
    assert figures.status_code == 200, figures.text
    tally = {k: +v for k, v in month.hospital.tally.counts.items()}
    tally["WH"]["expected"] = month.hospital.expected_receipts
    assert summed(figures.json()["rows"]) == tally
    counted = [tally[d] for d in ("OP", "OP-1")]
    bound, tried = sum(c["bound"] for c in counted), sum(c["attempts"] for c in counted)
    assert figures.json()["bindsByKind"]["pharmacy"]["bound"] == bound
    assert figures.json()["bindsByKind"]["pharmacy"]["attempts"] == tried
    for kind in ("red", "cancelled", "anomalies", "backFilled", "expected"):  # each happened
        assert sum(c[kind] for c in tally.values()) > 0, kind
    assert tally["WH"]["received"] < tally["WH"]["expected"]
    assert set(month.hospital.happened) == {
        "pool_short",
        "box emptied",
        "box refilled",
        "split across boxes",
    }, month.hospital.happened

    # a period before the count: the books only, no comparison
    early = client.get(
        "/reconciliation", params={"location": "OP", "from": month.start, "to": month.start[:10]}
    )
    assert early.status_code == 400 and early.json()["errors"][0]["query"] == "to"


PERIOD = {"location": "OP", "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({k: v for k, v in PERIOD.items() if k != "location"}, "location"),
        ({k: v for k, v in PERIOD.items() if k != "from"}, "from"),
        ({k: v for k, v in PERIOD.items() if k != "to"}, "to"),
        ({**PERIOD, "from": "yesterday"}, "from"),
        ({**PERIOD, "to": "2026-13-01"}, "to"),
        ({**PERIOD, "to": PERIOD["from"]}, "to"),
        ({**PERIOD, "location": "NOWHERE"}, "location"),
        ({**PERIOD, "institution": "H2"}, "institution"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    client: TestClient, params: dict[str, str], parameter: str
) -> None:
    answer = client.get("/reconciliation", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["query"] for e in answer.json()["errors"]] == [parameter]
    assert parameter in answer.json()["detail"]


def test_an_empty_period_and_the_command_line(client: TestClient, ledger: Ledger) -> None:
    answer = client.get("/reconciliation", params=PERIOD)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["lines"] == [] and body["countedAt"] is None and body["institution"] == "H1"
    when = datetime.now(UTC) - timedelta(hours=2)
    hospital = Hospital(client, when)
    made = hospital.receive(L1, 3)
    hospital.transfer(made, "WH", "OP")
    hospital.scan("stocktake", "OP", made[:2])
    since, until = utc_text(when.isoformat()), utc_text(datetime.now(UTC).isoformat())
    runner = CliRunner()
    env = {"TRACECODE_DATABASE_URL": ledger.settings.url}
    args = ["reconcile", "--location", "OP", "--from", since, "--to", until]
    shown = runner.invoke(main, args, env=env)
    assert shown.exit_code == 0, shown.output + str(shown.stderr)
    found = json.loads(shown.stdout)
    assert [m["code"] for m in found["missing"]] == [_urn(made[2])]
    assert found["lines"][0]["transferredIn"] == 3 and found["extra"] == []
    as_csv = runner.invoke(main, [*args, "--csv"], env=env)
    assert as_csv.exit_code == 0 and as_csv.stdout.startswith("location,product,lot,")
    assert _urn(made[2]) in as_csv.stdout
    for bad, name in (
        (["--location", "NOWHERE"], "--location"),
        (["--from", "soon"], "--from"),
        (["--institution", "H2"], "--location"),
    ):
        refused = runner.invoke(main, [*args, *bad], env=env)
        assert refused.exit_code == 2 and name in refused.stderr, refused.stderr
