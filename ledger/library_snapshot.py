"""Snapshots of the code library, so that a writer starts from the last one, not from the
beginning of the log.

The code library (:mod:`ledger.code_library`) is folded from the whole log before the first
scan is decided. On a ledger of a million events that fold took over four minutes, and a
server could answer nothing until it ended. A snapshot keeps the library as of a
notification id (``after``) in the ledger's own database (a side table, one row). A writer
restores it, then folds only what was logged since.

**Restoring is checked, never trusted.** A snapshot is used only when all three hold:

* its ``fingerprint`` matches. That is a hash of the sources the fold runs: this module,
  :mod:`ledger.code_library`, :mod:`ledger.lifecycle`, :mod:`ledger.pool_index`,
  :mod:`epcis.timestamps` and :mod:`epcis.identifiers`. A release that folds differently
  ignores the old snapshot and folds the log again.
* the notification at ``after`` is still in the log with the same stored bytes (its
  ``mark``, a SHA-256). A store restored from an older backup, or another store, does not
  have it.
* its body unpickles with no globals at all. It holds only builtins: tuples, lists,
  dicts, strings, integers, booleans and None. A row written by someone else cannot make
  the writer run code (the "restricting globals" pattern of the :mod:`pickle` docs).

Otherwise the writer folds the whole log, as without a snapshot, and writes a new snapshot.

**When one is written.** A writer writes a snapshot when its first catch-up spans at least
:data:`SNAPSHOT_EVERY` notification ids (:func:`warm`): at a server's start, and at the
first scan of a command line that had a long tail to fold. Later catch-ups, inside a scan's
group, never write one. ``tracecode serve`` checks before its workers start
(:func:`prepare`): a usable snapshot less far behind than that is left for them to
restore; otherwise the server folds once and writes one, so that N workers do not each
fold the same tail. A server also writes one when it stops, if its library moved on that
far since. ``tracecode library snapshot`` writes one on demand (a cron job, before a
planned restart). The split-unit pool's index is not kept: it is a function of the units'
states and is placed again on restore.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import time
import zlib
from dataclasses import dataclass, fields
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epcis.gc_pause import collector_paused
from epcis.identifiers.cn_drug_code import UNIT_MARK
from epcis.timestamps import utc_now
from ledger.code_library import CodeLibrary, CodeState, product_digits
from ledger.lifecycle import HospitalState
from ledger.pool_index import box_of
from ledger.side_tables import SideTable

if TYPE_CHECKING:
    from ledger.application import Ledger

SNAPSHOT_EVERY = 10_000
"""A writer's first fold that spans at least this many notification ids of the log is
followed by a new snapshot (and a server's workers start from a snapshot less far behind
than this: :func:`prepare`)."""

FORMAT = "tracecode-library/1"
_NAME = "code library"
_ROOT = Path(__file__).resolve().parent.parent
_SOURCES = (
    "ledger/library_snapshot.py",
    "ledger/code_library.py",
    "ledger/lifecycle.py",
    "ledger/pool_index.py",
    "epcis/timestamps.py",
)


@cache
def fingerprint() -> str:
    """The hash of :data:`FORMAT` and of the sources the fold runs (see the module's text)."""
    digest = hashlib.sha256(FORMAT.encode())
    paths = [_ROOT / name for name in _SOURCES]
    paths += sorted((_ROOT / "epcis" / "identifiers").glob("*.py"))
    for path in paths:
        digest.update(path.relative_to(_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """What was written or restored: the notification id it is as of, how many codes,
    how many bytes its body took (compressed), how long it took."""

    after: int
    codes: int
    size: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "after": self.after,
            "codes": self.codes,
            "bytes": self.size,
            "seconds": round(self.seconds, 3),
        }


# -- the body: builtins only ---------------------------------------------------------------

_FIELDS = [f.name for f in fields(CodeState)]
_STATE, _HELD, _PREVIOUS = (_FIELDS.index(n) for n in ("state", "held", "previous"))
_fields = attrgetter(*_FIELDS)
_STATES = {s.value: s for s in HospitalState}


def _encode(state: CodeState) -> tuple[Any, ...]:
    """A code's state as a tuple in field order: the hospital states by value, the state
    before it encoded the same way."""
    values = list(_fields(state))
    values[_STATE] = state.state._value_  # not .value: a descriptor, a third of the time
    if state.held is not None:
        values[_HELD] = state.held._value_
    if state.previous is not None:
        values[_PREVIOUS] = _encode(state.previous)
    return tuple(values)


def _decode(row: tuple[Any, ...]) -> CodeState:
    values = list(row)
    values[_STATE] = _STATES[values[_STATE]]
    if values[_HELD] is not None:
        values[_HELD] = _STATES[values[_HELD]]
    if values[_PREVIOUS] is not None:
        values[_PREVIOUS] = _decode(values[_PREVIOUS])
    return CodeState(*values)


def encode(library: CodeLibrary) -> bytes:
    """The library's body: its codes (each with its earlier states), the containers'
    contents, the orders' and the scans' codes, pickled (builtins only) and compressed."""
    body = (
        _FIELDS,
        [_encode(s) for s in library.codes.values()],
        {k: sorted(v) for k, v in library.children.items()},
        {k: sorted(v) for k, v in library.orders.items()},
        library.by_scan,
    )
    return zlib.compress(pickle.dumps(body, protocol=5), 1)


class _Builtins(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a library snapshot holds no {module}.{name}")


def decode(data: bytes, library: CodeLibrary) -> None:
    """Fill the empty ``library`` from a body :func:`encode` made (ValueError: not one;
    the library is then left as it was)."""
    try:
        names, rows, children, orders, by_scan = _Builtins(io.BytesIO(zlib.decompress(data))).load()
        if names != _FIELDS:
            raise ValueError(f"the snapshot's fields are {names}, not {_FIELDS}")
        codes = {state.code: state for state in map(_decode, rows)}
        contents = {k: set(v) for k, v in children.items()}
        ordered = {k: set(v) for k, v in orders.items()}
        scans = {k: list(v) for k, v in by_scan.items()}
    except (pickle.UnpicklingError, zlib.error, TypeError, KeyError, ValueError, EOFError) as exc:
        raise ValueError(f"not a library snapshot: {exc}") from None
    library.codes, library.children, library.orders, library.by_scan = (
        codes,
        contents,
        ordered,
        scans,
    )
    index = library.pool_index
    for code, state in codes.items():
        if UNIT_MARK in code:
            index.place(product_digits(code)[:7], code, state, library.get(box_of(code) or code))


# -- the table -----------------------------------------------------------------------------


def _create(cursor: Any, table: str, sqlite: bool) -> None:
    blob = "BLOB" if sqlite else "BYTEA"
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (name TEXT PRIMARY KEY, fingerprint TEXT NOT "
        "NULL, after BIGINT NOT NULL, mark TEXT NOT NULL, codes BIGINT NOT NULL, "
        f"taken TEXT NOT NULL, body {blob} NOT NULL)"
    )


class LibrarySnapshots(SideTable):
    """The snapshot row of one ledger."""

    name = "library_snapshot"

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger, _create)

    def mark_at(self, after: int) -> str | None:
        """The SHA-256 of the stored bytes of the notification at ``after`` (None: none)."""
        found = self.ledger.recorder.select_notifications(after, 1)
        if not found or found[0].id != after:
            return None
        return hashlib.sha256(found[0].state).hexdigest()

    def save(self) -> Snapshot | None:
        """Write the library as it is now (None: it has folded nothing yet). The caller
        holds the ledger's write lock, so no group changes it meanwhile."""
        library = self.ledger.library
        started = time.perf_counter()
        mark = self.mark_at(library.after) if library.after else None
        if mark is None:
            return None
        with collector_paused():  # millions of new objects, none in a cycle (epcis.gc_pause)
            body = encode(library)
        values = (_NAME, fingerprint(), library.after, mark, len(library.codes), utc_now(), body)
        marks = ", ".join(["{m}"] * len(values))
        with self._cursor() as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO {table} (name, fingerprint, after, mark, codes, taken, body) "
                    f"VALUES ({marks}) ON CONFLICT (name) DO UPDATE SET "
                    "fingerprint = excluded.fingerprint, after = excluded.after, "
                    "mark = excluded.mark, codes = excluded.codes, taken = excluded.taken, "
                    "body = excluded.body"
                ),
                values,
            )
        library.saved = library.after
        return Snapshot(library.after, len(library.codes), len(body), time.perf_counter() - started)

    def usable(self) -> int | None:
        """The notification id the snapshot is as of, if it is one this writer may start
        from (see the module's text; its body is not read); None otherwise."""
        row = self._row("fingerprint, after, mark")
        if row is None or row["fingerprint"] != fingerprint():
            return None
        after = int(row["after"])
        return after if self.mark_at(after) == row["mark"] else None

    def restore(self) -> Snapshot | None:
        """Fill the ledger's empty library from the snapshot, if there is a usable one
        (see the module's text); None otherwise, the library left empty."""
        library = self.ledger.library
        if library.after or library.codes:
            raise RuntimeError("a library is restored only into an empty one")
        started = time.perf_counter()
        after = self.usable()
        row = None if after is None else self._row("body")
        if after is None or row is None:
            return None
        body = bytes(row["body"])
        try:
            decode(body, library)
        except ValueError:
            return None
        library.after = library.saved = after
        return Snapshot(after, len(library.codes), len(body), time.perf_counter() - started)

    def _row(self, columns: str) -> Any:
        with self._cursor(commit=False) as cursor:
            cursor.execute(
                self._sql(f"SELECT {columns} FROM {{table}} WHERE name = {{m}}"), (_NAME,)
            )
            return cursor.fetchone()


def prepare(ledger: Ledger) -> str:
    """Before a server starts its workers: leave a snapshot they can each start from. When
    the snapshot is usable and less than :data:`SNAPSHOT_EVERY` notifications behind the
    log, nothing is done (each worker restores it and folds the rest); otherwise the
    library is brought to the end of the log here (:func:`warm`), which writes a new one
    when the fold was long. What was done, in a line."""
    after = None if ledger.read_only else LibrarySnapshots(ledger).usable()
    end = ledger.recorder.max_notification_id() or 0
    if after is not None and end - after < SNAPSHOT_EVERY:
        return f"snapshot as of notification {after:,}, {end - after:,} behind the log: used"
    return ledger.warm_library().described


@dataclass(frozen=True)
class Warmed:
    """What :func:`warm` did: the snapshot restored (None: none usable), the notifications
    folded after it, and the snapshot written after a long fold (None: none)."""

    restored: Snapshot | None
    folded: int
    written: Snapshot | None

    @property
    def described(self) -> str:
        """One line for a server's start."""
        start = (
            f"restored from its snapshot ({self.restored.codes:,} codes, as of notification "
            f"{self.restored.after:,}, {self.restored.seconds:.1f} s), then"
            if self.restored is not None
            else "no usable snapshot:"
        )
        wrote = "" if self.written is None else f"; snapshot written ({self.written.seconds:.1f} s)"
        return f"{start} {self.folded:,} notifications folded{wrote}"


def warm(ledger: Ledger) -> Warmed:
    """Bring the ledger's code library to the end of the log. An empty library (a writer's
    first catch-up) starts from the snapshot, when a usable one exists, and then folds
    what was logged since; when that fold was long (:data:`SNAPSHOT_EVERY`) a new snapshot
    is written, if the ledger may be written. A library already caught up once only folds
    what is new: a scan's group never waits for a snapshot to be written. The caller holds
    the ledger's write lock."""
    library = ledger.library
    if library.after or library.codes:
        return Warmed(None, library.catch_up(ledger), None)
    with collector_paused():  # millions of new objects, none in a cycle (epcis.gc_pause)
        snapshots = None if ledger.read_only else LibrarySnapshots(ledger)
        restored = None if snapshots is None else snapshots.restore()
        start = library.after
        folded = library.catch_up(ledger)
        written = None
        if snapshots is not None and library.after - start >= SNAPSHOT_EVERY:
            written = snapshots.save()
    return Warmed(restored, folded, written)
