"""The secret key of patient pseudonyms, from the settings (never from the log).

``TRACECODE_PATIENT_KEY``: the key as hex (at least 32 bytes), for deployments that keep
secrets in a secret manager; otherwise ``TRACECODE_PATIENT_KEY_FILE`` (default
``var/patient-key``): a file of at least 32 bytes, made with 32 random bytes and mode 0600
on first use. Both set, or a value that cannot be a key, is :class:`PatientKeyError`
naming the setting. Losing the key loses nothing of the log, but new scans of a patient
then get another pseudonym than the old ones: keep it with the database's backups.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

KEY_ENV = "TRACECODE_PATIENT_KEY"
KEY_FILE_ENV = "TRACECODE_PATIENT_KEY_FILE"
DEFAULT_KEY_FILE = "var/patient-key"
KEY_BYTES = 32


class PatientKeyError(ValueError):
    """The patient key's setting cannot be used; the message names it."""


def patient_key(env: Mapping[str, str] = os.environ) -> bytes:
    """The key the settings name (the file made on first use)."""
    return _key(env.get(KEY_ENV, ""), env.get(KEY_FILE_ENV, ""))


def check_patient_key(env: Mapping[str, str] = os.environ) -> None:
    """Refuse a bad setting at start-up (:class:`PatientKeyError`), without making the
    key file: that waits for the first pseudonym."""
    path = Path(env.get(KEY_FILE_ENV, "") or DEFAULT_KEY_FILE)
    if env.get(KEY_ENV, "") or path.exists():
        patient_key(env)


@lru_cache(maxsize=8)
def _key(hex_value: str, file_value: str) -> bytes:
    if hex_value and file_value:
        raise PatientKeyError(f"{KEY_ENV} and {KEY_FILE_ENV} are both set: set one of them")
    if hex_value:
        return _from_hex(hex_value.strip())
    from ledger.secret_files import read_or_create

    path = Path(file_value or DEFAULT_KEY_FILE)
    where = f"{KEY_FILE_ENV}={path}" if file_value else f"{KEY_FILE_ENV} (default {path})"
    try:
        key = read_or_create(path, lambda: secrets.token_bytes(KEY_BYTES))
    except OSError as exc:
        raise PatientKeyError(f"{where}: cannot read or create it: {exc.strerror}") from None
    if len(key) < KEY_BYTES:
        raise PatientKeyError(
            f"{where}: the file holds {len(key)} bytes, a key needs at least {KEY_BYTES}"
        )
    return key


def _from_hex(value: str) -> bytes:
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise PatientKeyError(f"{KEY_ENV}: not hexadecimal digits") from None
    if len(key) < KEY_BYTES:
        raise PatientKeyError(
            f"{KEY_ENV}: {len(key)} bytes, a key needs at least {KEY_BYTES} "
            f"({2 * KEY_BYTES} hex digits)"
        )
    return key
