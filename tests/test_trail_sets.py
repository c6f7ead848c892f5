"""The recall trail as set queries (:func:`projections.recall_trail.trail_lines`) and its
streamed HTTP answer.

A lot of 2,000 boxes in 100 cases on two pallets, one pallet packed late (captured after
its shipping and receiving), one emptied by a DELETE without children, some cases
unpacked, some boxes dispensed: every trail line, now and as of a moment between the
captures, is what the per-code reference says (the status and
:func:`projections.code_status.effective_facts` of each code), read in small chunks; on
both stores.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import adapters.http.reads as http_reads
from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from ledger.settings import store_settings
from projections import reads, recall_trail
from projections.code_status import HOSPITAL_STATE, effective_facts, statuses
from projections.recall_trail import TrailLine, trail, trail_csv
from projections.runner import ReadModelRunner
from tests.supply_chain import (
    commissioning,
    dispensing,
    ev,
    packing,
    receiving,
    shipping,
    unpacking,
)
from tests.test_http_capture import Api
from tests.test_http_reads import capture as capture_over_http
from tests.test_projections import capture
from tests.test_projections_read import BOXES as BOXES_OF_SCENARIO
from tests.test_projections_read import GTIN, PHARMACY, WAREHOUSE, scenario

BOXES = [f"urn:epc:id:sgtin:0614141.107346.{1000 + n}" for n in range(2000)]
CASES = [f"urn:epc:id:sscc:0614141.{2000000000 + n}" for n in range(100)]
NAMES = {HOSPITAL_STATE: "hospital_state"}
PALLETS = ["urn:epc:id:sscc:0614141.3000000001", "urn:epc:id:sscc:0614141.3000000002"]


@pytest.fixture
def runner(store_url: str) -> Iterator[tuple[Ledger, ReadModelRunner]]:
    ledger = Ledger(store_settings(store_url))
    projection = ReadModelRunner(ledger)
    try:
        yield ledger, projection
    finally:
        projection.close()
        ledger.close()


def in_case(n: int) -> list[str]:
    return BOXES[20 * n : 20 * (n + 1)]


def test_a_large_lot_trail_is_the_per_code_reference(
    runner: tuple[Ledger, ReadModelRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, projection = runner
    lot = {"cbvmda:lotNumber": "LB", "cbvmda:itemExpirationDate": "2028-01-31"}
    capture(ledger, commissioning(8, BOXES, WAREHOUSE, ilmd=lot))
    capture(ledger, *(packing(9, case, in_case(n), WAREHOUSE) for n, case in enumerate(CASES)))
    capture(ledger, packing(10, PALLETS[1], CASES[50:], WAREHOUSE))
    capture(ledger, shipping(11, PALLETS, WAREHOUSE, PHARMACY), receiving(12, PALLETS, PHARMACY))
    (late,) = capture(ledger, packing(10, PALLETS[0], CASES[:50], WAREHOUSE))  # back-filled
    capture(
        ledger,
        unpacking(13, PALLETS[0], CASES[:50], PHARMACY),
        unpacking(13, PALLETS[1], [], PHARMACY),  # empties the pallet, whatever is in it
        *(unpacking(14, CASES[n], in_case(n), PHARMACY) for n in range(0, 100, 7)),
        *(dispensing(15, [BOXES[n]], PHARMACY, f"pseudonym:{n}") for n in range(0, 2000, 97)),
    )
    projection.run_until_caught_up()
    monkeypatch.setattr(recall_trail, "CHUNK", 150)  # chunk edges cut through cases
    with projection.connect() as conn:
        for as_of in (None, late.record_time):
            lines = trail(conn, product=GTIN, lot="LB", as_of=as_of)
            assert [line.code for line in lines] == sorted(canonical(b) for b in BOXES)
            assert lines == reference(conn, lines, as_of)
        pallet = trail(conn, code=PALLETS[0], as_of=late.record_time)
        inside = [canonical(c) for c in CASES[:50] + BOXES[:1000]]
        assert [line.code for line in pallet] == sorted([canonical(PALLETS[0]), *inside])
        assert pallet == reference(conn, pallet, late.record_time)


EVERYTHING = "9999-12-31T23:59:59Z"  # as_of after every record time: the lines from the facts


def test_a_lot_trail_now_takes_in_what_its_codes_hold_and_codes_of_two_lots(
    runner: tuple[Ledger, ReadModelRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trail of a lot now (from the lot's rows of ``view_code_state``, streamed) is
    the trail from the facts when the lot's boxes hold split units (reached through the
    box, across chunk edges), when a unit is of the lot itself (its own line, through no
    one), when a box's facts name a second lot (its row names that one), and when a
    lot-level class names the lot (no line: not a code)."""
    ledger, projection = runner
    boxes = BOXES[:12]
    units = [f"urn:epc:id:sgtin:0614141.207346.{n}" for n in range(7)]
    inner = BOXES[12]  # of the product and lot, packed in another box of the lot
    lot_b = {"cbvmda:lotNumber": "LB", "cbvmda:itemExpirationDate": "2028-01-31"}
    lot_c = {"cbvmda:lotNumber": "LC", "cbvmda:itemExpirationDate": "2029-01-31"}
    capture(ledger, commissioning(8, [*boxes, inner], WAREHOUSE, ilmd=lot_b))
    capture(ledger, commissioning(8, units[:7], WAREHOUSE))
    capture(
        ledger,
        packing(9, boxes[3], units[:3], WAREHOUSE),  # split units of a box of the lot
        packing(9, boxes[10], [units[3], inner], WAREHOUSE),
        packing(9, units[4], units[5:7], WAREHOUSE),  # inside a unit, not in the lot
        commissioning(10, [boxes[7]], WAREHOUSE, ilmd=lot_c),  # a second lot for one box
        ev(
            "ObjectEvent",
            11,
            action="OBSERVE",
            bizStep="inspecting",
            quantityList=[{"epcClass": "urn:epc:class:lgtin:0614141.107346.LB", "quantity": 5}],
            bizLocation={"id": WAREHOUSE},
        ),
        dispensing(12, [boxes[5]], PHARMACY, "pseudonym:5"),
    )
    projection.run_until_caught_up()
    with projection.connect() as conn:
        for chunk in (2, 3, 1000):  # the units' lines fall inside chunks and at their edges
            monkeypatch.setattr(recall_trail, "CHUNK", chunk)
            for lot in ("LB", "LC", None):
                now = trail(conn, product=GTIN, lot=lot)
                assert now == trail(conn, product=GTIN, lot=lot, as_of=EVERYTHING), (chunk, lot)
            lines = {line.code: line for line in trail(conn, product=GTIN, lot="LB")}
            mine = {canonical(c) for c in [*boxes, inner]}
            assert set(lines) == mine | {canonical(u) for u in units[:4]}
            assert [lines[canonical(u)].via for u in units[:4]] == [
                *[canonical(boxes[3])] * 3,
                canonical(boxes[10]),
            ]
            assert lines[canonical(inner)].via is None  # its own line
            assert lines[canonical(boxes[7])].lot == "LC"
            assert lines[canonical(boxes[5])].state == "dispensed"


def reference(conn: Any, lines: list[TrailLine], as_of: str | None) -> list[TrailLine]:
    """The lines as the per-code queries answer them (the codes and ``via`` as given)."""
    codes = [line.code for line in lines]
    groups = effective_facts(conn, codes, as_of=as_of)
    found = statuses(conn, codes, as_of, parents=True)
    out = []
    for line in lines:
        s = found.get(line.code)
        out.append(
            TrailLine(
                code=line.code,
                via=line.via,
                product=s.product if s else None,
                lot=s.lot if s else None,
                expiry=s.expiry if s else None,
                state=s.state if s else None,
                hospital_state=s.hospital_state if s else None,
                location=s.location if s else None,
                destination=s.destination if s else None,
                holder=s.holder if s else None,
                parent=s.parent if s else None,
                events=tuple(dict.fromkeys(r.hash_id for r in groups.get(line.code, ()))),
            )
        )
    return out


def test_the_trail_answer_streams_as_it_is_read(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    for event in scenario():
        capture_over_http(api, event)
    taken: list[int] = []  # lines read from the store so far
    read = reads.recall_trail_lines

    def counted(*args: Any, **kwargs: Any) -> Generator[TrailLine, None, None]:
        for line in read(*args, **kwargs):
            taken.append(1)
            yield line

    sent: list[int] = []  # lines read when each piece of the answer was sent
    body = http_reads._trail_body

    async def watched(*args: Any) -> Any:
        async for piece in body(*args):
            sent.append(len(taken))
            yield piece

    monkeypatch.setattr(reads, "recall_trail_lines", counted)
    monkeypatch.setattr(http_reads, "_trail_body", watched)
    monkeypatch.setattr(http_reads, "TRAIL_BATCH", 1)
    params = {"product": GTIN, "lot": "L1"}
    as_json = api.client.get("/trails", params=params)
    assert as_json.status_code == 200, as_json.text
    rows = as_json.json()
    assert [row["code"] for row in rows] == sorted(canonical(b) for b in BOXES_OF_SCENARIO)
    # the first piece went out after one line was read, then one line a piece, then "]"
    assert sent == [1, 2, 3, 4, 4]
    whole = json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert as_json.content == whole.encode("utf-8")  # as a JSONResponse of the list
    assert "content-length" not in as_json.headers  # sent in pieces
    lines = [
        TrailLine(**{NAMES.get(k, k): v for k, v in row.items()} | {"events": tuple(row["events"])})
        for row in rows
    ]
    sent.clear()
    taken.clear()
    as_csv = api.client.get("/trails", params={**params, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text == trail_csv(lines)
    assert sent == [1, 2, 3, 4]
    assert list(csv.reader(io.StringIO(as_csv.text)))[1][0] == lines[0].code
