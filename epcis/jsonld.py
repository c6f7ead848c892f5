"""Reading and writing EPCIS 2.0 JSON-LD, safely.

Reading refuses input over a size limit without reading it whole, nesting deeper than a
limit, duplicate keys (which would silently lose data) and anything that is not a JSON
object at the top. Every refusal is a :class:`~epcis.problems.DocumentError` with a line
or a JSON pointer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from epcis.limits import DEFAULT_LIMITS, Limits, read_bounded
from epcis.problems import DocumentError, Problem, pointer_join


@dataclass(frozen=True)
class JsonReadResult:
    """A parsed JSON-LD document and what was noticed on the way (warnings only)."""

    document: dict[str, Any]
    warnings: tuple[Problem, ...] = ()


def read_json(source: bytes | str | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> JsonReadResult:
    """Parse a JSON-LD document into the internal form (a plain dict)."""
    data = read_bounded(source, limits)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError.single(
            f"not UTF-8: byte {exc.start} cannot be decoded", rule="json-syntax"
        ) from None
    repeated: dict[int, list[str]] = {}

    def keep_last(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    repeated.setdefault(id(obj), []).append(key)
                seen.add(key)
        return obj

    try:
        value = json.loads(text, object_pairs_hook=keep_last)
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
    warnings = tuple(
        Problem(
            f"duplicate key {key!r}: JSON names should be unique; the last value is used",
            pointer=pointer,
            rule="json-duplicate-key",
            severity="warning",
        )
        for pointer, key in _repeated_keys(value, repeated)
    )
    return JsonReadResult(value, warnings)


def _repeated_keys(
    root: dict[str, Any], repeated: dict[int, list[str]]
) -> Iterator[tuple[str, str]]:
    if not repeated:
        return
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, pointer = stack.pop()
        for key in repeated.get(id(node), []) if isinstance(node, dict) else []:
            yield pointer_join(pointer, key), key
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
