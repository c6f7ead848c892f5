"""Where the GS1 EPCIS 2.0 artefacts (XSDs, JSON Schema, JSON-LD contexts) are found.

They are not vendored into this repository: GS1 publishes them under its own disclaimer,
not an open-source licence. Point ``TRACECODE_GS1_ARTEFACTS`` at a folder laid out like
``shared/epcis`` (``schemas/xsd/2.0``, ``schemas/json-schema``…); by default the folder
``../shared/epcis`` beside the source tree is used.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from epcis.problems import DocumentError

ENV_VAR = "TRACECODE_GS1_ARTEFACTS"
_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "epcis"


@cache
def artefacts_root() -> Path:
    root = Path(os.environ.get(ENV_VAR) or _DEFAULT)
    if not (root / "schemas").is_dir():
        raise DocumentError.single(
            f"GS1 EPCIS artefacts not found at {root}: set {ENV_VAR} to the folder "
            "that holds schemas/xsd and schemas/json-schema",
            rule="configuration",
        )
    return root


def schema_path(*parts: str) -> Path:
    """A file under ``schemas/`` of the artefacts folder."""
    return artefacts_root().joinpath("schemas", *parts)
