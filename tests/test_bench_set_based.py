"""The set-based catch-up the projections bench measures (:mod:`bench.set_based`) computes,
from the log alone, what the Python projection keeps in ``view_code_state`` for the bench
stream: every compared column of every code, and a row that differs is counted.
PostgreSQL only (the SQL is PostgreSQL's)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from bench.bulk_log import bulk_load, document_prefixes
from bench.generate import envelope
from bench.projections import INSTITUTION, StreamConfig, stream
from bench.set_based import COMPARED, PREFIX, measure
from ledger.application import Ledger
from ledger.settings import store_settings
from projections.runner import ReadModelRunner
from tests.conftest import postgres_database

# several lots of 288 events each (8 commissionings, 20 cases packed, shipped, received,
# unpacked, half their boxes dispensed); the last case packed and shipped, not received
CONFIG = StreamConfig(events=10 * 288 + 8 + 7 * 14 + 2, lot=400, case=20, commission=50)


@pytest.fixture(scope="module")
def projected() -> Iterator[str]:
    """The bench stream's log, its views projected by the Python runner."""
    with postgres_database() as url:
        bulk_load(
            url,
            stream(CONFIG),
            prefixes=document_prefixes(envelope([], "2026-01-01T00:00:00.000Z")),
            doc_events=25,
            institution=INSTITUTION,
        )
        led = Ledger(store_settings(url))
        runner = ReadModelRunner(led)
        try:
            runner.run_until_caught_up()
        finally:
            runner.close()
            led.close()
        yield url


def _codes(url: str) -> tuple[int, int, list[str]]:
    """Everyone's codes, those in a container now, and the states they are in."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(parent), array_agg(DISTINCT state) FROM view_code_state "
            "WHERE scope = ''"
        ).fetchone()
    assert row is not None
    return row[0], row[1], sorted(s for s in row[2] if s)


def test_the_set_based_states_are_the_projected_ones(projected: str) -> None:
    result = measure(projected)
    codes, packed, states = _codes(projected)
    # the stream ends with cases still packed, some on their way, boxes dispensed
    assert packed > 0 and states == ["dispensed", "in_stock", "in_transit"]
    assert result.events == CONFIG.events
    assert result.codes == result.compared == codes > 400
    assert result.differing == dict.fromkeys(COMPARED, 0)
    assert set(result.seconds) == {"events", "facts", "spans", "effective", "state"}
    assert result.rows["spans"] > 0  # boxes were packed: what cases passed on was resolved
    assert "every compared column equal" in result.line()
    with psycopg.connect(projected) as conn:  # its tables are gone
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", (PREFIX + "%",)
        ).fetchone()
    assert left == (0,)


def test_a_state_that_differs_is_counted(projected: str) -> None:
    first = "(SELECT min(code) FROM view_code_state WHERE scope = '')"
    with psycopg.connect(projected, autocommit=True) as conn:
        (kept,) = conn.execute(  # type: ignore[misc]
            f"SELECT location FROM view_code_state WHERE scope = '' AND code = {first}"
        ).fetchone()
        conn.execute(
            "UPDATE view_code_state SET location = 'urn:example:elsewhere' "
            f"WHERE scope = '' AND code = {first}"
        )
        try:
            result = measure(projected)
        finally:  # as the runner wrote it, for the other test
            conn.execute(
                f"UPDATE view_code_state SET location = %s WHERE scope = '' AND code = {first}",
                (kept,),
            )
    assert result.differing["location"] == 1
    assert sum(result.differing.values()) == 1
    assert "differing: location 1" in result.line()
