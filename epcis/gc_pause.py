"""No cyclic garbage collection while a document that may nest deeply is parsed.

The C JSON decoder recurses once per nesting level, and a hostile document (100,000
``[``) takes it to the interpreter's recursion limit before it gives up. A garbage
collection that starts there (the decoder allocates a list per level, so one may) runs
the finalizers of whatever garbage other code left, with no stack left for them: they fail
as "unraisable" errors (seen once in the suite: an unraisable ``RecursionError`` during the
100,000-deep test). The parser makes no reference cycles, so pausing the collector costs
nothing but a delay; it is paused only for documents with enough brackets to nest that deep.
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
