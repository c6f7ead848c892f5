"""Shared test fixtures: where the GS1 artefacts live (``../shared/epcis`` beside the repo)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import Ledger
from ledger.settings import store_settings
from projections.runner import ReadModelRunner

if TYPE_CHECKING:
    from tests.test_http_capture import Api

# The servers the tests start derive and deliver no outbox messages in the background
# unless a test asks (tests/test_outbox_*.py drive the outbox themselves, or set "serve").
os.environ.setdefault("TRACECODE_OUTBOX_DELIVERY", "separate")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TRACECODE_SHARED", REPO.parent / "shared")).resolve()
EPCIS_ARTEFACTS = SHARED / "epcis"
EXAMPLES = EPCIS_ARTEFACTS / "examples"
HASH_VECTORS = EPCIS_ARTEFACTS / "hash-vectors"
SCHEMAS = EPCIS_ARTEFACTS / "schemas"


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(autouse=True)
def collector_left_running() -> Iterator[None]:
    """A test that leaves the cyclic garbage collector disabled, with no pause in flight
    (a server's runner thread may be applying a batch as the test ends), fails here, and it
    runs again: left off, later tests run without it (two pause counters once did this)."""
    import gc

    from epcis.gc_pause import pauses_in_flight

    was = gc.isenabled()
    yield
    if was and not gc.isenabled() and pauses_in_flight() == 0:
        gc.enable()
        pytest.fail("the test left the garbage collector disabled")


def _settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("TRACECODE_")}


@pytest.fixture(autouse=True)
def settings_left_as_found() -> Iterator[None]:
    """A test (or the code it runs) that changes a ``TRACECODE_*`` setting for good fails
    here, and the setting is put back: left changed, it silently reconfigures every later
    test in the worker (``serve`` once left ``TRACECODE_PROJECTOR=process`` behind, and
    later servers delivered no webhooks). ``monkeypatch.setenv`` is undone before this
    check."""
    before = _settings()
    yield
    after = _settings()
    if after != before:
        for name in set(after) - set(before):
            del os.environ[name]
        os.environ.update(before)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        pytest.fail(f"the test left settings changed: {', '.join(changed)}")


# -- stores ------------------------------------------------------------------------------
# Tests that need a store run on both: SQLite (a file in tmp_path) and PostgreSQL (a fresh
# database on 127.0.0.1:5432, dropped afterwards). PostgreSQL is never mocked; when it is
# not reachable the PostgreSQL variants fail, they do not skip.

PG_ADMIN_URL = os.environ.get("TRACECODE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STORES = ("sqlite", "postgresql")


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


def make_postgres_database() -> str:
    """A new, empty PostgreSQL database; its URL."""
    from urllib.parse import urlsplit

    name = f"tracecode_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_ADMIN_URL)
    return parts._replace(path="/" + name).geturl()


def drop_postgres_database(url: str) -> None:
    from urllib.parse import urlsplit

    name = urlsplit(url).path.lstrip("/")
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped when the block ends."""
    url = make_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@contextmanager
def empty_store(kind: str, sqlite_file: Path) -> Iterator[str]:
    """The URL of an empty store of ``kind`` (one of ``STORES``): the SQLite file
    ``sqlite_file``, or a fresh PostgreSQL database dropped when the block ends."""
    if kind == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store of each kind."""
    with empty_store(request.param, tmp_path / "ledger.db") as url:
        yield url


@contextmanager
def open_ledger(url: str) -> Iterator[Ledger]:
    """The ledger of the store at ``url``, closed when the block ends."""
    app = Ledger(store_settings(url))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with open_ledger(store_url) as app:
        yield app


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    """The HTTP API over an empty store of each kind."""
    from tests.test_http_capture import open_api

    with open_api(store_url) as opened:
        yield opened


@pytest.fixture
def runner(ledger: Ledger) -> Iterator[ReadModelRunner]:
    """The projections of ``ledger``, in small batches (so batch edges get exercised)."""
    projection = ReadModelRunner(ledger, batch_size=3)
    try:
        yield projection
    finally:
        projection.close()
