"""Timestamps as EPCIS writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now, as an EPCIS timestamp with milliseconds in UTC (``2026-03-01T08:00:00.000Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_text(timestamp: str | datetime) -> str:
    """A timestamp as fixed-width UTC text with microseconds (text order = time order); a
    time without an offset is taken as UTC."""
    moment = timestamp if isinstance(timestamp, datetime) else datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
