"""Which store the ledger uses: one setting, ``TRACECODE_DATABASE_URL``.

``sqlite:///path/to/file.db`` (the default is ``./var/tracecode.db``) or
``postgresql://user[:password]@host[:port]/dbname``. The URL is turned into the settings
of the ``eventsourcing`` library's SQLite or PostgreSQL persistence module.
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


def database_url() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_URL


def store_settings(url: str | None = None) -> StoreSettings:
    """The eventsourcing environment for a database URL (default: the configured one)."""
    url = url or database_url()
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise SettingsError(f"{url!r}: a SQLite URL needs a file path (sqlite:///var/x.db)")
        if path != ":memory:":
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
