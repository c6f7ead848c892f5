"""Which store the ledger uses: one setting, ``TRACECODE_DATABASE_URL``.

``sqlite:///path/to/file.db`` (the default is ``./var/tracecode.db``) or
``postgresql://user[:password]@host[:port]/dbname``. The URL is turned into the settings
of the ``eventsourcing`` library's SQLite or PostgreSQL persistence module.

A command that only reads opens the store with ``create=False`` and :func:`check_store`
first: a store that is not there is :class:`StoreMissing`, never a new, empty one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

ENV_VAR = "TRACECODE_DATABASE_URL"
DEFAULT_URL = "sqlite:///var/tracecode.db"


class SettingsError(ValueError):
    """The database URL cannot be used."""


class StoreMissing(SettingsError):
    """The URL names no ledger store: no such file or database, or one without the
    ledger's tables. A command that only reads refuses it rather than create one."""


class StoreUnreachable(SettingsError):
    """The store could not be reached to find out whether it is there (PostgreSQL server
    down, authentication refused)."""


@dataclass(frozen=True)
class StoreSettings:
    url: str
    kind: str  # "sqlite" or "postgresql"
    env: dict[str, str]

    @property
    def redacted_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@")
        return self.url

    @property
    def described(self) -> str:
        """The store as the command line names it: the redacted URL and, for a SQLite file
        given relative to the current directory, the file it resolves to."""
        path = self.env.get("SQLITE_DBNAME")
        if path and path != ":memory:" and not Path(path).is_absolute():
            return f"{self.redacted_url} (file {Path(path).resolve()})"
        return self.redacted_url

    @property
    def setting(self) -> str:
        """Where the URL came from, for a message that tells how to change it."""
        if os.environ.get(ENV_VAR) == self.url:
            return f"{ENV_VAR}={self.redacted_url}"
        if not os.environ.get(ENV_VAR) and self.url == DEFAULT_URL:
            return f"{ENV_VAR} not set, default {DEFAULT_URL}"
        return self.redacted_url


def database_url() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_URL


def store_settings(url: str | None = None, *, create: bool = True) -> StoreSettings:
    """The eventsourcing environment for a database URL (default: the configured one).

    ``create``: make the directory of a SQLite file (a writer starts a new store there);
    without it nothing is made on disk."""
    url = url or database_url()
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise SettingsError(f"{url!r}: a SQLite URL needs a file path (sqlite:///var/x.db)")
        if create and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
        return StoreSettings(url, "sqlite", env)
    if parts.scheme in ("postgresql", "postgres"):
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise SettingsError(f"{url!r}: a PostgreSQL URL needs a database name")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(dbname),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": "8",
            "POSTGRES_MAX_OVERFLOW": "8",
            "APPLICATION_RECORDER_TOPIC": "ledger.postgres:LedgerRecorder",
        }
        return StoreSettings(url, "postgresql", env)
    raise SettingsError(
        f"{url!r}: unsupported database URL; use sqlite:///FILE or postgresql://USER@HOST/DB"
    )


_FIX = f"set {ENV_VAR} to your ledger's store"


def check_store(settings: StoreSettings, *, events_table: str) -> None:
    """Raise :class:`StoreMissing` unless ``settings`` name an existing store that has the
    ledger's ``events_table``; create and write nothing (SQLite: opened read-only)."""
    if settings.kind == "sqlite":
        _check_sqlite(settings, events_table)
    else:
        _check_postgres(settings, events_table)


def _check_sqlite(settings: StoreSettings, events_table: str) -> None:
    import sqlite3
    from urllib.parse import quote

    path = settings.env["SQLITE_DBNAME"]
    where = f"{path} ({settings.setting})"
    if path == ":memory:" or not Path(path).is_file():
        shown = path if path == ":memory:" else str(Path(path).resolve())
        raise StoreMissing(f"no store at {shown} ({settings.setting}): {_FIX}")
    try:
        conn = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (events_table,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreMissing(f"not a tracecode store: {where}: {exc}: {_FIX}") from None
    if found is None:
        raise StoreMissing(f"not a tracecode store: {where} has no {events_table} table: {_FIX}")


def _check_postgres(settings: StoreSettings, events_table: str) -> None:
    import psycopg

    env = settings.env
    where = f"{settings.redacted_url} ({settings.setting})"
    try:
        conn = psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=10,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc):
            raise StoreMissing(
                f"no store at {where}: database {env['POSTGRES_DBNAME']!r} does not exist: {_FIX}"
            ) from None
        raise StoreUnreachable(f"cannot reach the store {where}: {exc}") from None
    with conn:
        row = conn.execute("SELECT to_regclass(%s)", (f"public.{events_table}",)).fetchone()
    if row is None or row[0] is None:
        raise StoreMissing(f"not a tracecode store: {where} has no {events_table} table: {_FIX}")
