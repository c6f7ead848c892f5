"""Limits on what a reader accepts, and reading a stream without going past them."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import IO, TypeVar

from epcis.problems import DocumentError, Problem

_CHUNK = 1 << 16


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """A whole-number setting from the environment, or ``default``; ValueError names it."""
    return _env_number(
        name, default, int, lambda value: value >= minimum, f"a whole number >= {minimum}"
    )


def env_seconds(name: str, default: float, *, zero: bool = False) -> float:
    """A number of seconds from the environment (> 0, or >= 0 with ``zero``), or
    ``default``; ValueError names it."""
    return _env_number(
        name,
        default,
        float,
        lambda value: math.isfinite(value) and (value > 0 or (zero and value == 0)),
        f"a number of seconds {'>= 0' if zero else '> 0'}",
    )


_N = TypeVar("_N", int, float)


def _env_number(
    name: str, default: _N, parse: Callable[[str], _N], acceptable: Callable[[_N], bool], what: str
) -> _N:
    """The setting ``name`` parsed, or ``default`` when it is unset or empty; a value that
    does not parse or is not acceptable raises ValueError saying it must be ``what``."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value: _N | None = parse(raw)
    except ValueError:
        value = None
    if value is None or not acceptable(value):
        raise ValueError(f"{name} must be {what}, not {raw!r}")
    return value


MAX_NUMBER_CHARS = 100
"""The longest number literal a reader accepts (JSON or XML). EPCIS numbers are quantities
and sensor values; a literal of thousands of digits is an attack on the integer parser
(Python refuses to convert more than 4,300 digits), never data."""


@dataclass(frozen=True)
class Limits:
    """How large (bytes), how deeply nested and (when given) how many events a document may
    be. ``max_events`` is checked right after parsing, before any validation work."""

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_events: int | None = None
    max_nodes: int = 2_000_000
    """JSON objects and arrays (XML: elements and other markup) a document may hold, counted
    on the raw bytes as ``{`` and ``[`` (``<``) before parsing: the work of reading and
    checking a document grows with its nodes, not its bytes, and 64 MiB of ``[{},{},…]``
    is 21 million of them (10,000 ordinary events hold about 200,000)."""

    @classmethod
    def from_env(cls) -> Limits:
        """``TRACECODE_MAX_DOCUMENT_BYTES``, ``TRACECODE_MAX_DEPTH`` and
        ``TRACECODE_MAX_NODES``, else the defaults."""
        return cls(
            max_bytes=env_int("TRACECODE_MAX_DOCUMENT_BYTES", cls.max_bytes),
            max_depth=env_int("TRACECODE_MAX_DEPTH", cls.max_depth),
            max_nodes=env_int("TRACECODE_MAX_NODES", cls.max_nodes),
        )


CAPTURE_LIMIT_ENV = "TRACECODE_CAPTURE_LIMIT"
DEFAULT_CAPTURE_EVENTS = 10_000


def capture_limits(max_events: int | None = None) -> Limits:
    """The limits of one capture, for every way in (``POST /capture``, ``tracecode
    capture``): :meth:`Limits.from_env` and at most ``max_events`` events, by default
    ``TRACECODE_CAPTURE_LIMIT`` (10,000)."""
    if max_events is None:
        max_events = env_int(CAPTURE_LIMIT_ENV, DEFAULT_CAPTURE_EVENTS)
    return replace(Limits.from_env(), max_events=max_events)


DEFAULT_LIMITS = Limits()


def read_bounded(source: bytes | str | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """All of ``source`` as bytes, refusing (after at most one chunk more) if it is too large."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise too_large(limits)
        return data
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limits.max_bytes:
            raise too_large(limits)
        chunks.append(chunk)
    return b"".join(chunks)


class OverLimit(DocumentError):
    """A document over a limit of its size or shape: refused before it is read in full."""


class TooManyNodes(OverLimit):
    """More markup than ``Limits.max_nodes`` allows."""


def check_node_count(data: bytes, syntax: str, limits: Limits) -> None:
    """Refuse a document with more than ``limits.max_nodes`` nodes, counted on the raw bytes
    (an upper bound: a ``{`` inside a string counts too), at C speed, before parsing."""
    if len(data) <= limits.max_nodes:
        return
    if syntax == "json":
        count, what = data.count(b"{") + data.count(b"["), "JSON objects and arrays ('{', '[')"
    else:
        count, what = data.count(b"<"), "XML elements and other markup ('<')"
    if count > limits.max_nodes:
        raise TooManyNodes(
            [
                Problem(
                    f"the document holds {count:,} {what}; at most {limits.max_nodes:,} are "
                    "accepted (TRACECODE_MAX_NODES)",
                    rule="size-limit",
                )
            ]
        )


class TooManyEvents(OverLimit):
    """A document holds more events than ``Limits.max_events``: refused before validation."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(
            [
                Problem(
                    f"the document holds {count} events; at most {limit} are accepted",
                    pointer="",
                    rule="count-limit",
                )
            ]
        )
        self.count = count
        self.limit = limit


def check_event_count(count: int, limits: Limits) -> None:
    if limits.max_events is not None and count > limits.max_events:
        raise TooManyEvents(count, limits.max_events)


def too_large(limits: Limits) -> DocumentError:
    return DocumentError.single(
        f"document larger than the limit of {limits.max_bytes} bytes", rule="size-limit"
    )
