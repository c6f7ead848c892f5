"""Lenient input, canonical storage: Chinese drug trace codes read as their URN on capture.

EPCIS wants a URI wherever an EPC is expected; a 20-digit trace code has none of its own,
and documents write it bare (``8123…``) or issuer-prefixed (``AHM.8123…``, seed 004). On
capture each such value in ``epcList``, ``parentID``, ``childEPCs``, ``inputEPCList`` and
``outputEPCList`` is replaced by its canonical URN ``urn:tracecode:cn-drug:…`` before the
document is validated and hashed, so that the stored event and its Event Hash ID are those
of the canonical event (whoever sends the URN itself gets the same hash). Each replacement
is returned as a :class:`CodeReading`, for the capture to record the raw form. Any other
value is left as it is, for validation to judge.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from epcis.identifiers.cn_drug_code import trace_code_urn
from epcis.problems import pointer_join
from epcis.validation.rules.identifiers import EPC_LISTS
from epcis.validation.rules.walk import iter_events


@dataclass(frozen=True)
class CodeReading:
    """``raw`` at ``pointer`` (in event ``event``, in document order) was read as ``urn``."""

    event: int
    pointer: str
    raw: str
    urn: str

    @property
    def note(self) -> str:
        return f"{self.pointer}: {self.raw!r} read as {self.urn}"


def read_trace_codes(document: MutableMapping[str, Any]) -> list[CodeReading]:
    """Replace every trace code written bare, issuer-prefixed or in another case of its URN
    where an EPC is expected by its canonical URN, in place; what was replaced, in order."""
    readings = []
    for at, event in iter_events(document):
        if not isinstance(event, MutableMapping):
            continue
        index = int(at.rsplit("/", 1)[1]) if at else 0
        for container, key, path in _epc_slots(event):
            raw = container[key]
            urn = trace_code_urn(raw) if isinstance(raw, str) else None
            if urn is not None and urn != raw:
                container[key] = urn
                readings.append(CodeReading(index, pointer_join(at, *path), raw, urn))
    return readings


def _epc_slots(event: MutableMapping[str, Any]) -> Iterator[tuple[Any, Any, tuple[Any, ...]]]:
    """(container, key, path within the event) of every instance identifier of an event."""
    if "parentID" in event:
        yield event, "parentID", ("parentID",)
    for name in EPC_LISTS:
        values = event.get(name)
        if isinstance(values, list):
            for position in range(len(values)):
                yield values, position, (name, position)
