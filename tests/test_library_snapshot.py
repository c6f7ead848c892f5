"""Snapshots of the code library (:mod:`ledger.library_snapshot`), on both stores: a writer
restores the last one and folds only what was logged since; a snapshot that does not match
the log or the fold, or that is not one, is not used; nothing in one can make the writer
run code. The stateful scan and pool tests also restore their whole ledgers
(:func:`assert_restores`)."""

from __future__ import annotations

import gc
import json
import pickle
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.bootstrap import Settings, start_system
from adapters.cli import main
from epcis.identifiers.facts import canonical
from ledger import library_snapshot
from ledger.application import Ledger
from ledger.code_library import CodeLibrary
from ledger.library_snapshot import LibrarySnapshots
from ledger.reading import RECORD_TOPIC
from ledger.settings import store_settings
from tests.conftest import open_ledger
from tests.test_projections import capture, dispense, pack, receive, ship, unpack


def parts(library: CodeLibrary) -> tuple[Any, ...]:
    """What a library holds, to compare two."""
    return (
        library.codes,
        library.children,
        library.orders,
        library.by_scan,
        library.pool_index,
    )


def folded(ledger: Ledger) -> CodeLibrary:
    """The library folded from the whole log, with no snapshot."""
    library = CodeLibrary()
    library.catch_up(ledger)
    return library


def assert_restores(writer: Ledger) -> None:
    """A snapshot of ``writer``'s library, restored by another ledger on the same store,
    is the writer's library and the one the whole log folds to."""
    written = writer.snapshot_library()
    assert written is not None
    other = Ledger(writer.settings)
    try:
        warmed = other.warm_library()
        assert warmed.restored is not None and warmed.restored.after == written.after
        assert warmed.folded == 0
        assert parts(other.library) == parts(writer.library) == parts(folded(writer))
    finally:
        other.close()


@pytest.fixture
def every_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any fold is long enough to be followed by a snapshot."""
    monkeypatch.setattr(library_snapshot, "SNAPSHOT_EVERY", 1)


def rows(ledger: Ledger) -> list[dict[str, Any]]:
    table = LibrarySnapshots(ledger)
    with table._cursor(commit=False) as cursor:
        cursor.execute(table._sql("SELECT name, after, codes FROM {table}"))
        return [dict(r) for r in cursor.fetchall()]


def spoil(ledger: Ledger, column: str, value: Any) -> None:
    table = LibrarySnapshots(ledger)
    with table._cursor() as cursor:
        cursor.execute(table._sql(f"UPDATE {{table}} SET {column} = {{m}}"), (value,))


def history(ledger: Ledger) -> None:
    """A case packed, shipped, received, unpacked; a box dispensed to a patient."""
    capture(ledger, pack(), ship())
    capture(ledger, receive(), unpack())


def test_a_restart_restores_the_snapshot_and_folds_only_what_came_after(
    store_url: str, every_fold: None
) -> None:
    with open_ledger(store_url) as first:
        history(first)
        warmed = first.warm_library()
        assert warmed.restored is None and warmed.folded > 0
        assert warmed.written is not None and warmed.written.after == first.library.after
        capture(first, dispense())
        tail = len(list(first.notifications([RECORD_TOPIC], warmed.written.after)))
        later = first.warm_library()  # as a scan's group catches up: never a snapshot
        assert later.folded == tail and later.restored is None and later.written is None
    with open_ledger(store_url) as second:
        again = second.warm_library()
        assert again.restored is not None and again.restored.after == warmed.written.after
        assert again.folded == tail  # not the whole log
        assert parts(second.library) == parts(folded(second))
        assert again.written is not None  # a fold of SNAPSHOT_EVERY (here 1) or more
        assert rows(second) == [
            {
                "name": "code library",
                "after": second.library.after,
                "codes": len(folded(second).codes),
            }
        ]


def test_without_a_long_fold_no_snapshot_is_written(store_url: str) -> None:
    with open_ledger(store_url) as ledger:
        history(ledger)
        warmed = ledger.warm_library()
        assert warmed.folded < library_snapshot.SNAPSHOT_EVERY
        assert warmed.written is None
        assert rows(ledger) == []


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("fingerprint", "0" * 64),  # another release folds differently
        ("mark", "0" * 64),  # another log, or this one restored from an older backup
        ("after", 10**9),  # past the end of the log
        ("body", b"not a snapshot"),
        ("body", zlib.compress(b"not a pickle")),
        ("body", zlib.compress(pickle.dumps(("a", "tuple", "of", "the", "wrong", "shape")))),
    ],
)
def test_a_snapshot_that_does_not_match_is_not_used(
    store_url: str, every_fold: None, column: str, value: Any
) -> None:
    with open_ledger(store_url) as ledger:
        history(ledger)
        assert ledger.warm_library().written is not None
        spoil(ledger, column, value)
    with open_ledger(store_url) as again:
        warmed = again.warm_library()
        assert warmed.restored is None
        assert warmed.folded == len(list(again.notifications([RECORD_TOPIC])))  # the whole log
        assert parts(again.library) == parts(folded(again))


class _Opens:
    """Unpickled, it would create a file (a snapshot row written by someone else)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_a_snapshot_cannot_make_the_writer_run_code(
    store_url: str, every_fold: None, tmp_path: Path
) -> None:
    target = tmp_path / "ran"
    with open_ledger(store_url) as ledger:
        history(ledger)
        assert ledger.warm_library().written is not None
        spoil(ledger, "body", zlib.compress(pickle.dumps(_Opens(target))))
    with open_ledger(store_url) as again:
        assert again.warm_library().restored is None
        assert not target.exists()
        assert parts(again.library) == parts(folded(again))


def test_a_read_only_ledger_writes_none(store_url: str) -> None:
    with open_ledger(store_url) as ledger:
        history(ledger)
    reader = Ledger(store_settings(store_url), read_only=True)
    try:
        assert reader.snapshot_library() is None
    finally:
        reader.close()


def test_a_server_that_stops_writes_one(store_url: str, every_fold: None) -> None:
    with open_ledger(store_url) as ledger:
        history(ledger)
    system = start_system(Settings.from_env(store=store_settings(store_url)))
    try:
        # the library it built is left out of the collector's walks from now on
        assert gc.get_freeze_count() >= len(system.ledger.library.codes) > 0
        after = system.ledger.library.after
        capture(system.ledger, dispense())  # folded at the next catch-up
    finally:
        system.close()
        gc.unfreeze()
    with open_ledger(store_url) as again:
        (row,) = rows(again)
        assert row["after"] > after
        warmed = again.warm_library()
        assert warmed.restored is not None and warmed.folded == 0


def test_the_command_line_writes_one(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)
    empty = CliRunner().invoke(main, ["library", "snapshot"])
    assert empty.exit_code == 1, empty.output
    assert "nothing to snapshot" in empty.output
    with open_ledger(store_url) as ledger:
        history(ledger)
        codes = len(folded(ledger).codes)
    result = CliRunner().invoke(main, ["library", "snapshot"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout.strip().splitlines()[-1])
    assert written["codes"] == codes and written["bytes"] > 0
    with open_ledger(store_url) as again:
        assert rows(again)[0]["after"] == written["after"]
        assert again.warm_library().restored is not None


def test_a_server_leaves_its_workers_a_snapshot_before_they_start(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library_snapshot, "SNAPSHOT_EVERY", 1)
    with open_ledger(store_url) as ledger:
        history(ledger)  # no snapshot yet
        said = library_snapshot.prepare(ledger)
        assert said.startswith("no usable snapshot:") and "snapshot written" in said
        after = rows(ledger)[0]["after"]
    monkeypatch.setattr(library_snapshot, "SNAPSHOT_EVERY", 1000)
    with open_ledger(store_url) as ledger:
        capture(ledger, dispense())  # fewer than SNAPSHOT_EVERY behind: used as it is
        said = library_snapshot.prepare(ledger)
        assert said.startswith(f"snapshot as of notification {after:,}")
        assert ledger.library.after == 0 and not ledger.library.codes  # not restored here
        assert rows(ledger)[0]["after"] == after
        monkeypatch.setattr(library_snapshot, "SNAPSHOT_EVERY", 1)  # now far behind
        said = library_snapshot.prepare(ledger)
        assert said.startswith("restored from its snapshot") and "snapshot written" in said
        assert rows(ledger)[0]["after"] == ledger.library.after > after


def test_a_scan_is_cancelled_after_a_restart_from_the_snapshot(store_url: str) -> None:
    from tests.http_support import http_client
    from tests.scan_support import box, load_hospital, post_scan
    from tests.test_scans import at_op, ok

    item = box(90)
    with open_ledger(store_url) as ledger, http_client(ledger) as client:
        load_hospital(client)
        at_op(client, item)
        bind = {"operation": "bind", "location": "OP", "patient": "P", "scanId": "b1"}
        bound = ok(post_scan(client, codes=[item], **bind))
        assert ledger.snapshot_library() is not None
    with open_ledger(store_url) as ledger, http_client(ledger) as client:
        assert ledger.library.saved > 0  # restored when the app started
        key = canonical(item)
        assert ledger.library.codes[key].previous is not None  # what the cancel restores
        cancelled = ok(post_scan(client, operation="cancel", scanId="b1"))
        assert cancelled["eventIDs"] == bound["eventIDs"]
        assert client.get(f"/codes/{item}").json()["hospitalState"] == "in_stock"
        assert ledger.library.get(key).state.value == "in_stock"
