"""Requests the writer decides on at commit time: a :class:`Gate` looks at the code
library, as the group's earlier requests left it, and says what to store.

A hospital scan must be checked against each code's state and appended in one atomic step
(two terminals binding one code: one wins, the other is red). The writer
(:meth:`ledger.application.Ledger.append`) therefore asks each gated request's gate, in
group order and under its lock, what it stores; a retry after another writer moved the
chain head asks again, against the caught-up library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from ledger.code_library import Overlay

if TYPE_CHECKING:
    from ledger.application import Ledger
    from ledger.capture import PreparedEvent


@dataclass
class GroupView:
    """What a gate sees: the library with the group's earlier events folded in, the
    ledger (to read what is stored), and what earlier gates of the group saved, by id."""

    library: Overlay
    ledger: Ledger
    pending: dict[UUID, Any] = field(default_factory=dict)
    stored: set[UUID] = field(default_factory=set)
    """Which of the aggregates the group's gates asked about (:meth:`Gate.lookups`) the
    store holds: one query for the group, not one per request."""
    before_save: dict[str, Callable[[], None]] = field(default_factory=dict)
    """What to do, once per name, in the writer just before the group's transaction (a
    scan's patient mappings: kept even if the transaction must be retried)."""
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateDecision:
    """What to store for a gated request: its events and entries (chained aggregates), or
    nothing (``store`` False); ``answer`` goes back to whoever asked; ``anchor`` is the
    aggregate whose notification id marks the request in the log."""

    answer: Any
    store: bool
    events: list[PreparedEvent] = field(default_factory=list)
    entries: list[Any] = field(default_factory=list)
    anchor: UUID | None = None


class Gate(Protocol):
    def lookups(self) -> list[UUID]:
        """The aggregates the gate will ask whether the store holds (asked for the whole
        group at once; :attr:`GroupView.stored`)."""
        ...

    def decide(self, view: GroupView) -> GateDecision: ...
