"""The URI of a master-data location, for EPCIS events' ``readPoint`` / ``bizLocation``,
``source`` and ``destination``.

Locations are named in master data by an institution's own id (``WH1``, ``OP-PHARM``);
EPCIS wants a URI. A scan writes ``urn:tracecode:loc:<institution code>:<id>``: the
institution's 医保 code keeps two hospitals' ``WH1`` apart, and the id is URN-safe by the
master-data rules (letters, digits, ``.``, ``_``, ``-``).
"""

from __future__ import annotations

import re

LOCATION_PREFIX = "urn:tracecode:loc:"
_URI = re.compile(r"urn:tracecode:loc:([A-Za-z0-9][A-Za-z0-9._-]*):([A-Za-z0-9][A-Za-z0-9._-]*)")


def location_uri(institution: str, location_id: str) -> str:
    """The URI of ``location_id`` of ``institution``."""
    return f"{LOCATION_PREFIX}{institution}:{location_id}"


def parse_location_uri(uri: str) -> tuple[str, str] | None:
    """``(institution, location id)`` of a location URI; None for any other value."""
    found = _URI.fullmatch(uri)
    return (found.group(1), found.group(2)) if found else None
