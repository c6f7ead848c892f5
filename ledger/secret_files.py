"""A secret kept in a file of its own, made on first use (the checkpoint signing key, the
patient pseudonym key): readable by its owner only, never overwritten."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's bytes; when there is no file yet, ``make()``'s, written with mode 0600.
    Two processes starting at once both end with the bytes of the one that wrote first."""
    if path.exists():
        return path.read_bytes()
    secret = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
    return secret
