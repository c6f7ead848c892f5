"""The GS1 headers of the EPCIS 2.0 REST bindings: versions, discovery (``OPTIONS``), limits.

This server speaks EPCIS 2.0.0 and CBV 2.0.0 and nothing else. A request that asks for
another version (``GS1-EPCIS-Version``, ``GS1-CBV-Version``) or a range that excludes ours
(``GS1-EPCIS-Min``/``-Max``, ``GS1-CBV-Min``/``-Max``) is answered 406.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import metadata

from epcis.problems import excerpt

EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
VERSION_HEADERS: dict[str, str] = {
    "GS1-EPCIS-Version": EPCIS_VERSION,
    "GS1-CBV-Version": CBV_VERSION,
}
_VERSION = re.compile(r"^\d{1,9}(\.\d{1,9}){0,9}$")  # the bindings' `version`, bounded


@cache
def vendor_version() -> str:
    try:
        return f"tracecode-{metadata.version('tracecode')}"
    except metadata.PackageNotFoundError:
        return "tracecode"


def _parts(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def unsupported_version(headers: Mapping[str, str]) -> str | None:
    """Why the versions a request asks for cannot be served, or None when they can."""
    for standard, ours in (("EPCIS", EPCIS_VERSION), ("CBV", CBV_VERSION)):
        exact = headers.get(f"gs1-{standard.lower()}-version")
        low = headers.get(f"gs1-{standard.lower()}-min")
        high = headers.get(f"gs1-{standard.lower()}-max")
        for name, value in (("Version", exact), ("Min", low), ("Max", high)):
            if value is not None and not _VERSION.match(value.strip()):
                return (
                    f"GS1-{standard}-{name}: {excerpt(value)} is not a version number "
                    f"such as {ours}"
                )
        if exact is not None and _parts(exact.strip()) != _parts(ours):
            return (
                f"GS1-{standard}-Version {exact.strip()} is not supported; "
                f"this server speaks {standard} {ours} only"
            )
        if low is not None and _parts(low.strip()) > _parts(ours):
            return f"GS1-{standard}-Min {low.strip()} is above {ours}, the one version served"
        if high is not None and _parts(high.strip()) < _parts(ours):
            return f"GS1-{standard}-Max {high.strip()} is below {ours}, the one version served"
    return None


def limit_headers(max_events: int, max_bytes: int) -> dict[str, str]:
    return {
        "GS1-EPCIS-Capture-Limit": str(max_events),
        "GS1-EPCIS-Capture-File-Size-Limit": str(max_bytes),
    }


def discovery_headers(allow: str, max_events: int, max_bytes: int) -> dict[str, str]:
    """What ``OPTIONS`` announces (the bindings' 204 discovery responses)."""
    return {
        "Allow": allow,
        **VERSION_HEADERS,
        "GS1-EPCIS-Min": EPCIS_VERSION,
        "GS1-EPCIS-Max": EPCIS_VERSION,
        "GS1-CBV-Min": CBV_VERSION,
        "GS1-CBV-Max": CBV_VERSION,
        # Identifiers are kept exactly as captured: neither translated to Digital Link nor to URNs.
        "GS1-EPC-Format": "Never_Translates",
        # No EPCIS or CBV extensions are implemented (user extension fields are kept as is).
        "GS1-Extensions": "",
        "GS1-Vendor-Version": vendor_version(),
        **limit_headers(max_events, max_bytes),
    }
