"""The garbage collector is paused while a batch is applied, and only then (one pause
for batches and deep parses alike, :mod:`epcis.gc_pause`)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from epcis.gc_pause import collector_paused


@pytest.fixture(autouse=True)
def _collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_paused_inside_and_enabled_again_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_enabled_again_after_an_error() -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("a failed batch")
    assert gc.isenabled()


def test_overlapping_pauses_end_with_the_last() -> None:
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector_paused():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the other thread's batch is still running
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_collector_the_process_disabled_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_pauses_in_flight_are_counted() -> None:
    from epcis.gc_pause import pauses_in_flight

    assert pauses_in_flight() == 0
    with collector_paused():
        with collector_paused():
            assert pauses_in_flight() == 2
        assert pauses_in_flight() == 1
    assert pauses_in_flight() == 0


def test_a_trail_chunk_is_built_paused_and_its_lines_taken_with_the_collector_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from projections import recall_trail

    building: list[bool] = []  # the collector's state while each chunk was built

    def chunk(self: Any, members: list[str], via: dict[str, str | None]) -> Iterator[Any]:
        building.append(gc.isenabled())
        for member in members:
            yield recall_trail.TrailLine(member, via[member], *[None] * 9, ())  # type: ignore[call-arg]

    monkeypatch.setattr(recall_trail._Reader, "_chunk", chunk)
    monkeypatch.setattr(recall_trail, "CHUNK", 2)
    lines = recall_trail._Reader(None, None, None).lines(dict.fromkeys("abc"))  # type: ignore[arg-type]
    assert next(lines).code == "a"
    assert building == [False]
    assert gc.isenabled()  # not while the caller holds the lines (a slow client)
    assert [line.code for line in lines] == ["b", "c"]
    assert building == [False, False]
    assert gc.isenabled()
