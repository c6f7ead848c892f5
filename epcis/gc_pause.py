"""No cyclic garbage collection while a document that may nest deeply is parsed.

The C JSON decoder recurses once per nesting level, and a hostile document (100,000
``[``) takes it to the interpreter's recursion limit before it gives up. A garbage
collection that starts there (the decoder allocates a list per level, so one may) runs
the finalizers of whatever garbage other code left, with no stack left for them: they fail
as "unraisable" errors (seen once in the suite: an unraisable ``RecursionError`` during the
100,000-deep test). The parser makes no reference cycles, so pausing the collector costs
nothing but a delay; it is paused only for documents with enough brackets to nest that deep.

The projection runner pauses it the same way for each batch it applies
(:meth:`projections.runner.ReadModelRunner`): a batch of 5,000 events makes a few hundred
thousand short-lived objects (facts, folds, rows) that reference counting frees when the
batch ends, and the collector walking them again and again as they piled up was 40 % of a
catch-up's CPU (20,000 events: 9.4 s with it, 5.7 s without). The write side's code library
is restored or folded whole the same way (:mod:`ledger.library_snapshot`), and a recall
trail builds each chunk of its lines so (:mod:`projections.recall_trail`), never while the
caller holds them. One counter for every pause,
parses and batches alike: two counters would let one re-enable or re-disable the collector
under the other (a parse that began inside a batch ended by disabling it for good).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEEP_ENOUGH = 256
"""Brackets ("[" and "{") from which a document might nest deep enough to matter: a
single event has tens."""

_lock = threading.Lock()
_pausing = 0  # parses in flight that paused the collector
_was_enabled = True


def may_nest_deeply(text: str) -> bool:
    return text.count("[") + text.count("{") >= DEEP_ENOUGH


@contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """Pause the cyclic collector for the block (when ``pause``), whatever other threads
    do: it runs again once the last paused block ends, if it ran before the first."""
    global _pausing, _was_enabled
    if not pause:
        yield
        return
    with _lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()


def pauses_in_flight() -> int:
    """How many paused blocks are running now (in any thread)."""
    with _lock:
        return _pausing
