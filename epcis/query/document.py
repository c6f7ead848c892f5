"""The EPCISQueryDocument that answers a query: events from many captures in one document.

Each stored event keeps the prefixes its own document declared; one answer has one
``@context``. Prefixes are merged, and where two events bind one prefix to different
namespaces, the later event's fields are renamed to a fresh prefix (``ex2``) so that no
field changes namespace, and so no event its Event Hash ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from epcis.context import STANDARD_NAMESPACES, make_context
from epcis.timestamps import utc_now


def query_document(
    found: Sequence[tuple[dict[str, Any], dict[str, str]]],
    query_name: str,
    *,
    subscription_id: str | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    """An EPCISQueryDocument of query results: ``found`` is (event, its prefixes) pairs.
    Prefixes are merged into one ``@context``; when two events bind one prefix to
    different namespaces, the later event's fields are renamed to a fresh prefix so that
    no field changes meaning."""
    # Seeded with what the standard prefixes name undeclared: an event that uses one
    # without declaring it means that, so another event's other binding is renamed.
    prefixes: dict[str, str] = dict(STANDARD_NAMESPACES)
    events: list[dict[str, Any]] = []
    for event, namespaces in found:
        renames: dict[str, str] = {}
        for prefix, iri in namespaces.items():
            if prefixes.setdefault(prefix, iri) != iri:
                taken = next((p for p, i in prefixes.items() if i == iri), None)
                fresh = taken or _fresh_prefix(prefix, prefixes)
                prefixes[fresh] = iri
                renames[prefix] = fresh
        events.append(renamed_keys(event, renames) if renames else event)
    results: dict[str, Any] = {"queryName": query_name}
    if subscription_id is not None:
        results["subscriptionID"] = subscription_id
    results["resultsBody"] = {"eventList": events}
    return {
        "@context": make_context(prefixes),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": created or utc_now(),
        "epcisBody": {"queryResults": results},
    }


def _fresh_prefix(prefix: str, taken: dict[str, str]) -> str:
    n = 2
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def renamed_keys(value: Any, renames: dict[str, str]) -> Any:
    """``value`` with every ``prefix:local`` key whose prefix ``renames`` maps renamed."""
    if isinstance(value, list):
        return [renamed_keys(v, renames) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, inner in value.items():
        prefix, colon, local = key.partition(":")
        new_key = f"{renames[prefix]}:{local}" if colon and prefix in renames else key
        out[new_key] = renamed_keys(inner, renames)
    return out
