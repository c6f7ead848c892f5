"""What a terminal is told of its scan: per code and overall."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.scan_request import FieldError
from ledger.scan_rules import Colour, Found


@dataclass
class CodeAnswer:
    code: str
    canonical: str
    colour: Colour
    reasons: list[Found]
    contents: list[str] = field(default_factory=list)
    product: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "canonical": self.canonical,
            "colour": self.colour.value,
            "reasons": [r.as_json() for r in self.reasons],
        }
        if self.contents:
            out["contents"] = self.contents
        if self.product is not None:
            out["product"] = self.product
        return out


@dataclass
class ScanAnswer:
    """What a terminal is told. ``stored``: the scan's events were stored (now or, for a
    replay, the first time); ``invalid`` / ``forbidden``: the scan could not be decided."""

    colour: Colour
    operation: str
    scan_id: str
    codes: list[CodeAnswer] = field(default_factory=list)
    reasons: list[Found] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    back_filled: bool = False
    stored: bool = False
    replayed: bool = False
    invalid: list[FieldError] = field(default_factory=list)
    forbidden: str | None = None
    allocations: list[dict[str, Any]] = field(default_factory=list)
    """A split bind or return: ``{code, units}`` per box units were taken from or put back."""
    body: dict[str, Any] | None = None
    """A replayed answer as it was first given."""
    institution: str = ""
    """Whose scan it was (resolved by the gate: the command line may name none); not shown."""

    def as_json(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        return {
            "colour": self.colour.value,
            "operation": self.operation,
            "scanId": self.scan_id,
            "codes": [c.as_json() for c in self.codes],
            "reasons": [r.as_json() for r in self.reasons],
            "eventIDs": self.event_ids,
            "backFilled": self.back_filled,
            **({"allocations": self.allocations} if self.allocations else {}),
        }


def replayed(body: dict[str, Any]) -> ScanAnswer:
    """A scan's first answer, given again."""
    return ScanAnswer(
        Colour(body["colour"]),
        body["operation"],
        body["scanId"],
        stored=True,
        replayed=True,
        body=body,
    )
