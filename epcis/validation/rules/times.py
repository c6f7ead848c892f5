"""Rules on times: the event's time-zone offset, and every timestamp carrying one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from epcis.problems import pointer_join
from epcis.validation.rules.walk import Found, list_items, sensor_reports


@dataclass(frozen=True)
class _Grammar:
    """A grammar of strings, with what to tell someone who wrote something else."""

    pattern: re.Pattern[str]
    kind: str
    """What a value must be when it is no string at all."""
    form: str
    """What a string that does not match is not."""

    def match(self, value: Any) -> re.Match[str] | str:
        """The match of ``value``, or why there is none."""
        if not isinstance(value, str):
            return f"must be {self.kind}, got {value!r}"
        return self.pattern.match(value) or f"{value!r} is not {self.form}"


_OFFSET = _Grammar(
    re.compile(r"^([+-])(\d{2}):(\d{2})$"),
    kind="a string like '+01:00'",
    form="of the form [+-]HH:MM (e.g. '+01:00', '-06:00')",
)
_DATE_TIME = _Grammar(
    re.compile(
        r"^-?(?P<year>\d{4,})-(?P<month>\d{2})-(?P<day>\d{2})"
        r"T(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(\.\d+)?"
        r"(?P<zone>Z|[+-]\d{2}:\d{2})?$"
    ),
    kind="a date-time string with a time-zone offset",
    form="a date-time like '2005-04-03T20:33:31.116-06:00'",
)


def event_time_zone_offset(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    where = pointer_join(at, "eventTimeZoneOffset")
    if "eventTimeZoneOffset" not in event:
        yield where, "eventTimeZoneOffset is required (the local offset from UTC, e.g. '+01:00')"
        return
    problem = offset_problem(event["eventTimeZoneOffset"])
    if problem:
        yield where, f"eventTimeZoneOffset {problem}"


def offset_problem(value: Any) -> str | None:
    """Why ``value`` is not a time-zone offset ``[+-]HH:MM`` within ±14:00, or None."""
    match = _OFFSET.match(value)
    if isinstance(match, str):
        return match
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours > 14:
        return f"{value!r} has hours {hours:02d}; hours must be 00..14"
    if minutes > 59:
        return f"{value!r} has minutes {minutes:02d}; minutes must be 00..59"
    if hours == 14 and minutes != 0:
        return f"{value!r} is beyond ±14:00, the largest time-zone offset"
    return None


def timestamp_problem(value: Any) -> str | None:
    """Why ``value`` is not an xsd:dateTimeStamp (a date-time WITH an offset), or None."""
    match = _DATE_TIME.match(value)
    if isinstance(match, str):
        return match
    zone = match.group("zone")
    if zone is None:
        return f"{value!r} has no time-zone offset; add 'Z' or ±HH:MM"
    if zone != "Z":
        problem = offset_problem(zone)
        if problem:
            return f"{value!r}: offset {problem}"
    parts = {k: int(match.group(k)) for k in ("year", "month", "day", "hour", "minute", "second")}
    if parts["hour"] == 24 and parts["minute"] == parts["second"] == 0:
        parts["hour"] = 0  # 24:00:00 is the end of the day in XML Schema
    try:
        # Leap years repeat every 400 years; map the year into datetime's range.
        year = 2000 + parts["year"] % 400
        datetime(
            year, parts["month"], parts["day"], parts["hour"], parts["minute"], parts["second"]
        )
    except ValueError as exc:
        return f"{value!r} is not a real date and time ({exc})"
    return None


def timestamps(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if "eventTime" not in event:
        yield pointer_join(at, "eventTime"), "eventTime is required"
    places: list[tuple[str, Mapping[str, Any], str]] = [
        (at, event, "eventTime"),
        (at, event, "recordTime"),
    ]
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping):
        places.append((pointer_join(at, "errorDeclaration"), declaration, "declarationTime"))
    for element_at, element in list_items(event, at, "sensorElementList"):
        metadata = element.get("sensorMetadata") if isinstance(element, Mapping) else None
        if isinstance(metadata, Mapping):
            meta_at = pointer_join(element_at, "sensorMetadata")
            places.extend((meta_at, metadata, key) for key in ("time", "startTime", "endTime"))
    places.extend((report_at, report, "time") for report_at, report in sensor_reports(event, at))
    for parent_at, parent, key in places:
        if key in parent:
            problem = timestamp_problem(parent[key])
            if problem:
                yield pointer_join(parent_at, key), f"{key} {problem}"
