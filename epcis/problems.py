"""What is wrong with a document, and where.

Every reader and validator in :mod:`epcis` reports through :class:`Problem`, so that the
command line, the HTTP API and the ledger print the same kind of message:

* JSON input: ``pointer`` is an RFC 6901 JSON pointer (``/epcisBody/eventList/0/action``).
* XML input: ``line`` is the 1-based source line and ``path`` an XPath-like element path
  (``/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent[1]/action``); ``pointer`` may also
  be set when the problem was found on the JSON-LD form the XML was converted to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

MAX_REPORTED = 100
"""How many problems one answer (a 400, a capture job) lists; it says how many more there
were. Ten thousand invalid events are refused with a hundred explanations, not ten
thousand."""
QUOTED_CHARS = 60
"""How much of a bad value a message quotes: enough to recognise it, never the whole
megabyte a hostile client sent."""


def excerpt(value: object, limit: int = QUOTED_CHARS) -> str:
    """``repr`` of a value for a message, cut to ``limit`` characters (saying how long the
    whole was) so that an answer never echoes a huge value back."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(value) if isinstance(value, str) else text
    return f"{text[:limit]!r}… ({len(text)} characters)"


def capped(items: Sequence[T], limit: int = MAX_REPORTED) -> tuple[list[T], int]:
    """The first ``limit`` items, and how many were left out."""
    return list(items[:limit]), max(len(items) - limit, 0)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document."""

    message: str
    pointer: str | None = None
    line: int | None = None
    path: str | None = None
    rule: str = ""
    severity: str = "error"  # "error" rejects the document; "warning" only reports

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def location(self) -> str:
        """``LINE:PATH`` for XML, the JSON pointer for JSON, ``-`` when nothing is known."""
        if self.line is not None or self.path is not None:
            line = "" if self.line is None else str(self.line)
            return f"{line}:{self.path or ''}" if self.path else line
        if self.pointer is not None:
            return self.pointer or "/"
        return "-"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: message, severity, and whichever of pointer, line, path, rule are set."""
        out: dict[str, Any] = {"message": self.message, "severity": self.severity}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        if self.line is not None:
            out["line"] = self.line
        if self.path is not None:
            out["path"] = self.path
        if self.rule:
            out["rule"] = self.rule
        return out

    def __str__(self) -> str:
        label = "" if self.is_error else f"{self.severity}: "
        return f"{self.location}: {label}{self.message}"


class DocumentError(ValueError):
    """A document could not be read or is not valid; ``problems`` says what and where."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("DocumentError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = str(self.problems[0])
        more = len(self.problems) - 1
        super().__init__(first if not more else f"{first} (and {more} more problem(s))")

    @classmethod
    def single(
        cls,
        message: str,
        *,
        pointer: str | None = None,
        line: int | None = None,
        path: str | None = None,
        rule: str = "",
    ) -> DocumentError:
        return cls([Problem(message, pointer=pointer, line=line, path=path, rule=rule)])


def pointer_join(base: str, *parts: str | int) -> str:
    """Extend a JSON pointer, escaping ``~`` and ``/`` as RFC 6901 says."""
    out = base
    for part in parts:
        out += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return out


def raise_if_any(problems: Iterable[Problem]) -> None:
    """Raise a :class:`DocumentError` with all problems when any of them is an error."""
    found = list(problems)
    if any(p.is_error for p in found):
        raise DocumentError(found)
