"""Stock as of a record time from what changed since (issue 14): the maintained lines,
less what the codes touched since count in now, plus what they counted in then, is the
fold of every code as of then (:func:`projections.stock.stock_by_folding`), at every
moment of streams recorded out of eventTime order (late packing, clears, shares between
institutions); and only the codes touched since are folded.

Wide on SQLite, small on PostgreSQL (:func:`tests.test_projections.wide_and_small`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

from hypothesis import strategies as st
from sqlalchemy import func, select, union

import projections.stock as stock_module
from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from ledger.capture import prepare
from projections.runner import ReadModelRunner
from projections.schema import code_facts, links
from projections.stock import changed_since, stock, stock_by_folding
from tests.supply_chain import dispensing, packing, receiving, shipping, unpacking
from tests.test_projections import (
    INSTITUTIONS,
    capture,
    pooled_events,
    stream_document,
    wide_and_small,
)
from tests.test_projections_batch import _twin_event, packing_streams
from tests.test_projections_read import PHARMACY, WAREHOUSE
from tests.test_stock import boxes, commission

BEFORE_ALL = "2000-01-01T00:00:00Z"
CASE = "urn:epc:id:sscc:0614141.7654321000"


def _last_position(runner: ReadModelRunner) -> int:
    with runner.connect() as conn:
        found = conn.execute(
            select(func.max(code_facts.c.position)).union_all(select(func.max(links.c.position)))
        ).scalars()
        return max((p for p in found if p is not None), default=0)


def _record_times(runner: ReadModelRunner, after: int) -> list[str]:
    """The record times of the facts and links of the events after position ``after``."""
    with runner.connect() as conn:
        query = union(
            select(code_facts.c.record_time).where(code_facts.c.position > after),
            select(links.c.record_time).where(links.c.position > after),
        )
        return sorted(conn.execute(query).scalars())


@contextmanager
def _never_folding_all() -> Iterator[None]:
    """Stock as of anything from what changed since, however much did."""
    with patch.object(stock_module, "FOLD_ALL_SHARE", None):
        yield


def check_as_of_everywhere(runner: ReadModelRunner, times: list[str]) -> None:
    """At each record time (and before all, and after all), in every scope, everywhere
    and at each place: stock as of then is the fold as of then — from what changed since
    always, and as :func:`stock` chooses."""
    with runner.connect() as conn:
        for as_of in [BEFORE_ALL, *times, "9999-12-31T23:59:59Z"]:
            for scope in (None, *INSTITUTIONS[:-1]):
                folded = stock_by_folding(conn, as_of=as_of, scope=scope)
                assert stock(conn, as_of=as_of, scope=scope) == folded, (as_of, scope)
                with _never_folding_all():
                    assert stock(conn, as_of=as_of, scope=scope) == folded, (as_of, scope)
                    for place in {line.location for line in folded} - {None}:
                        assert place is not None
                        assert stock(conn, location=place, as_of=as_of, scope=scope) == [
                            line for line in folded if line.location == place
                        ], (as_of, scope, place)


def check_late_packing(
    ledger: Ledger, runner: ReadModelRunner, drawn: tuple[list[dict[str, Any]], list[int]]
) -> None:
    """One stream of packing streams recorded in its drawn order (packings and clears
    arriving after events of their cases), one event a batch."""
    stream, order = drawn
    start = _last_position(runner)
    twin = str(next(_twins))
    for index in order:
        capture(ledger, _twin_event(twin, stream[index]))
        runner.run_once()
    runner.run_until_caught_up()
    check_as_of_everywhere(runner, _record_times(runner, start))


_twins = iter(range(10**6, 10**9))


def check_pooled(ledger: Ledger, runner: ReadModelRunner, stream: list[list[Any]]) -> None:
    """Documents of pooled events, each an institution's in turn (some the same events:
    shares), recorded in any eventTime order."""
    start = _last_position(runner)
    for n, events in enumerate(stream):
        institution = INSTITUTIONS[n % len(INSTITUTIONS)]
        body = stream_document(events)
        ledger.capture(prepare(body, error_behaviour="proceed", institution=institution))
        runner.run_once()
    runner.run_until_caught_up()
    check_as_of_everywhere(runner, _record_times(runner, start))


(
    test_stock_as_of_is_the_fold_with_late_packing,
    test_stock_as_of_is_the_fold_with_late_packing_on_postgres,
) = wide_and_small(check_late_packing, packing_streams())
(
    test_stock_as_of_is_the_fold_over_pooled_streams,
    test_stock_as_of_is_the_fold_over_pooled_streams_on_postgres,
) = wide_and_small(
    check_pooled,
    st.lists(st.lists(pooled_events(), min_size=1, max_size=4), min_size=1, max_size=4),
)


# -- only what changed since is folded ------------------------------------------------------


class _Folded:
    """The codes :func:`stock` folds as of a time, and whether it folded every code."""

    def __init__(self) -> None:
        self.codes: list[list[str]] = []
        self.all = 0

    @contextmanager
    def watching(self) -> Iterator[_Folded]:
        real_facts, real_fold = stock_module.effective_facts, stock_module.foldings

        def facts(conn: Any, codes: Any, **kwargs: Any) -> Any:
            self.codes.append(sorted(codes))
            return real_facts(conn, codes, **kwargs)

        def fold(*args: Any, **kwargs: Any) -> Any:
            self.all += 1
            return real_fold(*args, **kwargs)

        with (
            patch.object(stock_module, "effective_facts", facts),
            patch.object(stock_module, "foldings", fold),
        ):
            yield self


def test_stock_as_of_folds_only_the_codes_touched_since(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    """Twenty boxes at a pharmacy, five of them in a case: stock as of a time folds the
    codes with facts since (a dispensed box), the contents of a case moved since (the
    shipping of the case reaches its boxes), and a box packed since into it — no other
    code; as of before everything, most codes changed: every code is folded."""
    shelf = boxes(300, 20)
    in_case = shelf[:5]
    early = [
        commission(8, shelf),
        packing(9, CASE, in_case, WAREHOUSE),
        shipping(10, shelf[5:], WAREHOUSE, PHARMACY),
        receiving(11, shelf[5:], PHARMACY),
    ]
    stored = [s for event in early for s in capture(ledger, event)]
    runner.run_until_caught_up()
    then = max(s.record_time for s in stored)
    with runner.connect() as conn:
        with _Folded().watching() as seen:
            kept = stock(conn, as_of=then)
        assert kept == stock(conn) == stock_by_folding(conn, as_of=then)
    assert (seen.codes, seen.all) == ([], 0)  # nothing changed since: the kept lines

    capture(ledger, dispensing(12, [shelf[10]], PHARMACY, "pseudonym:p1"))
    capture(ledger, shipping(13, [CASE], WAREHOUSE, PHARMACY))
    capture(ledger, packing(9, CASE, [shelf[5]], WAREHOUSE))  # late: before the shipping
    runner.run_until_caught_up()
    touched = sorted(canonical(c) for c in [shelf[10], CASE, *in_case, shelf[5]])
    with runner.connect() as conn:
        assert sorted(changed_since(conn, then) or ()) == touched
        with _Folded().watching() as seen:
            found = stock(conn, as_of=then)
        assert found == kept == stock_by_folding(conn, as_of=then)
        assert (seen.codes, seen.all) == ([touched], 0)
        assert stock(conn) != kept
        with _Folded().watching() as seen:
            before = stock(conn, as_of=BEFORE_ALL)
        assert before == [] and seen.all == 1

    # a clear recorded since (a DELETE without childEPCs, at an earlier eventTime) reaches
    # everything ever in the case, and nothing else
    middle = max(_record_times(runner, 0))
    clear = unpacking(12, CASE, [], PHARMACY)
    del clear["childEPCs"]
    capture(ledger, clear)
    runner.run_until_caught_up()
    inside = sorted(canonical(c) for c in [CASE, *in_case, shelf[5]])
    with runner.connect() as conn:
        assert sorted(changed_since(conn, middle) or ()) == inside
        with _Folded().watching() as seen:
            found = stock(conn, as_of=middle)
        assert found == stock_by_folding(conn, as_of=middle)
        assert (seen.codes, seen.all) == ([inside], 0)
        assert stock(conn, as_of=middle) != stock(conn)
