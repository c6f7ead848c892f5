"""Reading and writing EPCIS 2.0 JSON-LD, safely.

Reading refuses input over a size limit without reading it whole, nesting deeper than a
limit, number literals longer than :data:`~epcis.limits.MAX_NUMBER_CHARS` and the
non-JSON constants ``NaN`` / ``Infinity`` (and numbers too large for a double), and
anything that is not a JSON object at the top. Every refusal is a
:class:`~epcis.problems.DocumentError` with a line or a JSON pointer.

A key repeated in one object with *different* values is an error at its pointer: the
document is ambiguous (``"action": "OBSERVE", "action": "DELETE"``), and a ledger must not
store one reading of it as if it were clear. Repeated with the same value it says nothing
twice, and is only a warning.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from epcis.gc_pause import collector_paused, may_nest_deeply
from epcis.limits import DEFAULT_LIMITS, MAX_NUMBER_CHARS, Limits, read_bounded
from epcis.problems import DocumentError, Problem, pointer_join


@dataclass(frozen=True)
class JsonReadResult:
    """A parsed JSON-LD document and what was noticed on the way: warnings, and the errors
    of a readable but ambiguous document (a key repeated with different values)."""

    document: dict[str, Any]
    problems: tuple[Problem, ...] = ()
    scoped_contexts: bool = False
    """Whether an object below the top has its own ``@context`` (noticed while parsing, so
    that only such documents are walked to lift them)."""


def read_json(source: bytes | str | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> JsonReadResult:
    """Parse a JSON-LD document into the internal form (a plain dict)."""
    data = read_bounded(source, limits)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError.single(
            f"not UTF-8: byte {exc.start} cannot be decoded", rule="json-syntax"
        ) from None
    repeated: dict[int, list[tuple[str, bool]]] = {}
    contexts = 0  # objects with a "@context" key, the top one included

    def keep_last(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal contexts
        obj = dict(pairs)
        if "@context" in obj:
            contexts += 1
        if len(obj) != len(pairs):
            first: dict[str, Any] = {}
            for key, item in pairs:
                if key in first:
                    differs = not _same(first[key], item)
                    repeated.setdefault(id(obj), []).append((key, differs))
                else:
                    first[key] = item
        return obj

    try:
        with collector_paused(may_nest_deeply(text)):
            value = json.loads(
                text,
                object_pairs_hook=keep_last,
                parse_int=_parse_int,
                parse_float=_parse_float,
                parse_constant=_parse_constant,
            )
    except _RefusedNumber as exc:
        line, column = _position(text, exc.token)
        raise DocumentError(
            [Problem(f"{exc.why} (column {column})", line=line, rule="json-number")]
        ) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(
            [
                Problem(
                    f"invalid JSON: {exc.msg} (column {exc.colno})",
                    line=exc.lineno,
                    rule="json-syntax",
                )
            ]
        ) from None
    except RecursionError:
        raise DocumentError.single(
            f"nesting deeper than {limits.max_depth} levels", rule="json-security"
        ) from None
    if _MAYBE_LONE_SURROGATE.search(text):
        where = _lone_surrogate(value, "")
        if where is not None:
            raise DocumentError.single(
                "a lone UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair) is not "
                "a character: the string cannot be stored as UTF-8",
                pointer=where,
                rule="json-syntax",
            )
    if not isinstance(value, dict):
        raise DocumentError.single(
            f"the document must be a JSON object, not {type(value).__name__}",
            pointer="",
            rule="json-syntax",
        )
    deepest = _depth_exceeding(value, limits.max_depth)
    if deepest is not None:
        raise DocumentError.single(
            f"nesting deeper than {limits.max_depth} levels", pointer=deepest, rule="json-security"
        )
    problems = tuple(
        Problem(
            f"duplicate key {key!r} with different values: the document is ambiguous; "
            "send each name once"
            if differs
            else f"duplicate key {key!r} (same value twice): JSON names should be unique",
            pointer=pointer,
            rule="json-duplicate-key",
            severity="error" if differs else "warning",
        )
        for pointer, key, differs in _repeated_keys(value, repeated)
    )
    scoped = contexts > (1 if "@context" in value else 0)
    return JsonReadResult(value, problems, scoped_contexts=scoped)


# A \uD800-\uDFFF escape: the only way a JSON text can hold a lone surrogate, which no
# UTF-8 encoder (nor the compiled schema validator) accepts. Cheap to look for; only a
# match pays for the walk that finds the string it is in.
_MAYBE_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _lone_surrogate(node: Any, pointer: str) -> str | None:
    """The pointer of the first key or string holding a lone surrogate, or None."""
    stack: list[tuple[Any, str]] = [(node, pointer)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, str):
            if not _encodes(value):
                return at
        elif isinstance(value, dict):
            for key, child in value.items():
                inner = pointer_join(at, key) if _encodes(key) else at
                if inner == at:
                    return at
                stack.append((child, inner))
        elif isinstance(value, list):
            stack.extend((child, f"{at}/{i}") for i, child in enumerate(value))
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _RefusedNumber(ValueError):
    def __init__(self, token: str, why: str) -> None:
        super().__init__(why)
        self.token = token
        self.why = why


def _parse_int(token: str) -> int:
    if len(token) > MAX_NUMBER_CHARS:
        raise _RefusedNumber(
            token, f"a number of {len(token)} digits; at most {MAX_NUMBER_CHARS} are accepted"
        )
    return int(token)


def _parse_float(token: str) -> float:
    if len(token) > MAX_NUMBER_CHARS:
        raise _RefusedNumber(
            token,
            f"a number of {len(token)} characters; at most {MAX_NUMBER_CHARS} are accepted",
        )
    number = float(token)
    if not math.isfinite(number):
        raise _RefusedNumber(token, f"the number {token} is too large for a double")
    return number


def _parse_constant(token: str) -> float:
    raise _RefusedNumber(token, f"{token} is not JSON: numbers must be finite")


def _position(text: str, token: str) -> tuple[int, int]:
    """Line and column of the first occurrence of ``token`` (1-based)."""
    offset = max(text.find(token), 0)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (``1`` and ``true`` differ; key order does not matter)."""
    return type(a) is type(b) and a == b


def _repeated_keys(
    root: dict[str, Any], repeated: dict[int, list[tuple[str, bool]]]
) -> Iterator[tuple[str, str, bool]]:
    if not repeated:
        return
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, pointer = stack.pop()
        for key, differs in repeated.get(id(node), []) if isinstance(node, dict) else []:
            yield pointer_join(pointer, key), key, differs
        for name, child in _children(node):
            if isinstance(child, dict | list):
                stack.append((child, f"{pointer}/{name}"))


def write_json(document: dict[str, Any], *, indent: int | None = 2) -> bytes:
    """Serialise the internal form as JSON-LD (UTF-8, non-ASCII kept as is)."""
    return json.dumps(document, ensure_ascii=False, indent=indent).encode("utf-8")


def _depth_exceeding(value: Any, limit: int) -> str | None:
    """The pointer of the first value nested deeper than ``limit``, walked without recursion."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, pointer, depth = stack.pop()
        if depth > limit:
            return pointer
        for key, child in _children(node):
            if isinstance(child, dict | list):
                stack.append((child, f"{pointer}/{key}", depth + 1))
    return None


def _children(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield str(key).replace("~", "~0").replace("/", "~1"), child
    elif isinstance(node, list):
        yield from ((str(i), child) for i, child in enumerate(node))
