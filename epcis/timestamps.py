"""Timestamps as EPCIS writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now, as an EPCIS timestamp with milliseconds in UTC (``2026-03-01T08:00:00.000Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
