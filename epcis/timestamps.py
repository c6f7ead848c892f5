"""Timestamps as EPCIS writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


def utc_now() -> str:
    """Now, as an EPCIS timestamp with milliseconds in UTC (``2026-03-01T08:00:00.000Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_text(timestamp: str | datetime) -> str:
    """A timestamp as fixed-width UTC text with microseconds (text order = time order); a
    time without an offset is taken as UTC."""
    if isinstance(timestamp, str):
        return _utc_text_of(timestamp)
    return _utc_text(timestamp)


@lru_cache(maxsize=1 << 14)
def _utc_text_of(timestamp: str) -> str:
    """:func:`utc_text` of a string, remembered: a projection asks for each event's
    eventTime twice (facts, event index) and for the record time of a document once per
    event."""
    return _utc_text(datetime.fromisoformat(timestamp))


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
