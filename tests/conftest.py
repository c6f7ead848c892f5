"""Shared test fixtures: where the GS1 artefacts live (``../shared/epcis`` beside the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TRACECODE_SHARED", REPO.parent / "shared")).resolve()
EPCIS_ARTEFACTS = SHARED / "epcis"
EXAMPLES = EPCIS_ARTEFACTS / "examples"
HASH_VECTORS = EPCIS_ARTEFACTS / "hash-vectors"
SCHEMAS = EPCIS_ARTEFACTS / "schemas"


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
