"""The projections bench cuts a catch-up into stretches (:meth:`SizeResult.stretches`), so
a rate that falls as the views grow shows within one run."""

from __future__ import annotations

from bench.projections import SizeResult


def test_stretches_rate_each_part_of_the_catch_up() -> None:
    result = SizeResult(events=400)
    # 100 events per batch: two batches a second, then one a second
    result.marks = [(100, 0.5), (200, 1.0), (300, 2.0), (400, 3.0)]
    assert result.stretches(parts=2) == [(0, 200, 200.0), (200, 400, 100.0)]
    assert "0-100 200/s, 100-200 200/s, 200-300 100/s, 300-400 100/s" in result.stretch_text()
    assert result.stretch_text().endswith("last stretch / first: x2.00")


def test_a_short_catch_up_has_no_stretches() -> None:
    result = SizeResult(events=100)
    assert result.stretch_text() == ""
    result.marks = [(100, 1.0)]
    assert result.stretches() == [(0, 100, 100.0)]
    assert result.stretch_text() == ""
