"""Reading JSON-LD safely: every kind of bad input gets a clear error with a location."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from epcis.jsonld import read_json, write_json
from epcis.limits import Limits
from epcis.problems import DocumentError
from tests.conftest import EXAMPLES

SAMPLE = EXAMPLES / "json" / "Example_9.6.1-ObjectEvent.jsonld"


class CountingStream(io.RawIOBase):
    """A stream of ``{"a": "xxxx…`` that would be ``size`` bytes; counts what was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = 1 << 16 if n < 0 else n
        n = min(n, self.size - self.served)
        chunk = (b'{"a": "' if self.served == 0 else b"") + b"x" * n
        chunk = chunk[:n]
        self.served += len(chunk)
        return chunk


def test_reads_a_gs1_example() -> None:
    result = read_json(SAMPLE.read_bytes())
    assert result.document["type"] == "EPCISDocument"
    assert result.problems == ()


def test_round_trips_through_write_json() -> None:
    doc = read_json(SAMPLE.read_bytes()).document
    assert read_json(write_json(doc)).document == doc


def test_syntax_error_names_line_and_column() -> None:
    with pytest.raises(DocumentError) as caught:
        read_json(b'{\n  "type": "EPCISDocument",\n  "schemaVersion": 2.0,,\n}')
    problem = caught.value.problems[0]
    assert problem.line == 3
    assert "column" in problem.message
    assert problem.rule == "json-syntax"


def test_truncated_document_is_refused() -> None:
    data = SAMPLE.read_bytes()
    with pytest.raises(DocumentError) as caught:
        read_json(data[: len(data) // 2])
    assert "invalid JSON" in caught.value.problems[0].message


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(DocumentError, match="must be a JSON object, not list"):
        read_json(b"[1, 2]")


def test_non_utf8_is_refused() -> None:
    with pytest.raises(DocumentError, match="not UTF-8"):
        read_json(b'{"a": "\xff"}')


def test_oversized_stream_is_refused_without_reading_it_whole() -> None:
    stream = CountingStream(1 << 30)
    with pytest.raises(DocumentError) as caught:
        read_json(stream, Limits(max_bytes=1 << 20))  # type: ignore[arg-type]
    assert caught.value.problems[0].rule == "size-limit"
    assert stream.served <= (1 << 20) + (1 << 16)


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deep_nesting_is_refused_quickly(depth: int) -> None:
    data = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(DocumentError) as caught:
        read_json(data, Limits(max_depth=64))
    assert "nesting deeper than 64" in caught.value.problems[0].message


def test_duplicate_keys_are_reported_with_their_pointer() -> None:
    data = json.dumps({"epcisBody": {"eventList": [{}]}}).replace(
        "{}", '{"eventID": "a", "eventID": "b"}'
    )
    result = read_json(data.encode())
    assert result.document["epcisBody"]["eventList"][0]["eventID"] == "b"
    (error,) = result.problems
    assert error.pointer == "/epcisBody/eventList/0/eventID"
    assert error.is_error, "a key repeated with different values makes the event ambiguous"
    assert "different values" in error.message


def test_a_key_repeated_with_the_same_value_is_only_a_warning() -> None:
    data = '{"a": {"x": [1, {"k": 2}], "x": [1, {"k": 2}], "n": 1, "n": true}}'
    problems = read_json(data.encode()).problems
    by_pointer = {p.pointer: p for p in problems}
    assert not by_pointer["/a/x"].is_error
    assert by_pointer["/a/n"].is_error, "1 and true are different JSON values"


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ('{"a": ["x", "\\ud800"]}', "/a/1"),
        ('{"a": {"b": "tail \\udfff"}}', "/a/b"),
        ('{"a": {"\\ud800": 1}}', "/a"),
    ],
)
def test_a_lone_surrogate_escape_is_refused_at_its_pointer(text: str, pointer: str) -> None:
    with pytest.raises(DocumentError) as caught:
        read_json(text.encode())
    (problem,) = caught.value.problems
    assert problem.pointer == pointer
    assert "surrogate" in problem.message


def test_a_surrogate_pair_and_an_escaped_backslash_are_fine() -> None:
    document = read_json(b'{"a": "\\ud83d\\ude00", "b": "\\\\ud800"}').document
    assert document == {"a": "\N{GRINNING FACE}", "b": "\\ud800"}


@pytest.mark.parametrize(
    "literal", ["9" * 101, "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "0." + "1" * 100]
)
def test_numbers_a_double_cannot_hold_or_too_long_are_refused_at_their_line(literal: str) -> None:
    with pytest.raises(DocumentError) as caught:
        read_json(f'{{\n "a": 1,\n "q": {literal}\n}}'.encode())
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert problem.rule == "json-number"


def test_numbers_within_the_limits_are_read() -> None:
    document = read_json(b'{"a": 99999999999999999999, "b": 1.5e300, "c": -0.0}').document
    assert document == {"a": 99999999999999999999, "b": 1.5e300, "c": -0.0}


def test_no_garbage_collection_runs_while_a_deep_document_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collection at the recursion limit would run other objects' finalizers with no
    stack left (epcis.gc_pause): the collector is paused while a document with many
    brackets is parsed, not for a small one, and runs again after."""
    import gc

    import epcis.jsonld

    collector_on: list[bool] = []
    real_loads = json.loads

    def loads(text: str, **kwargs: Any) -> Any:
        collector_on.append(gc.isenabled())
        return real_loads(text, **kwargs)

    monkeypatch.setattr(epcis.jsonld.json, "loads", loads)
    deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(DocumentError):
        read_json(deep, Limits(max_depth=64))
    read_json(b'{"a": [' + b"[1]," * 2_000 + b"[1]]}")  # many brackets, shallow: paused too
    read_json(b'{"a": [[1], {"b": 2}]}')
    assert collector_on == [False, False, True]
    assert gc.isenabled()


def test_the_collector_pause_nests_and_keeps_a_disabled_collector_disabled() -> None:
    import gc

    from epcis.gc_pause import collector_paused

    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "another parse is still in flight"
    assert gc.isenabled()
    with collector_paused(False):
        assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled(), "it was off before: it stays off"
    finally:
        gc.enable()
