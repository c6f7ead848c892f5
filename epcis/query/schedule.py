"""The query schedule of EPCIS subscriptions (``second``, ``minute``, ``hour``,
``dayOfMonth``, ``month``, ``dayOfWeek``), like cron.

Each field is a comma-separated list of numbers and ranges ``[a-b]``. A field left out
matches any value when it is coarser than the finest field given, and only its lowest
value when finer: ``{"hour": "1", "minute": "5"}`` fires once a day at 01:05:00, as the
bindings' example means ("every morning at 1.05am").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

FIELDS: tuple[tuple[str, int, int], ...] = (  # finest first
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("dayOfMonth", 1, 31),
    ("month", 1, 12),
    ("dayOfWeek", 1, 7),
)
_ITEM = re.compile(r"^(?:(\d{1,2})|\[(\d{1,2})-(\d{1,2})\])$")


class ScheduleError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"schedule.{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Schedule:
    allowed: dict[str, frozenset[int]]

    def matches(self, moment: datetime) -> bool:
        values = {
            "second": moment.second,
            "minute": moment.minute,
            "hour": moment.hour,
            "dayOfMonth": moment.day,
            "month": moment.month,
            "dayOfWeek": moment.isoweekday(),
        }
        return all(values[name] in allowed for name, allowed in self.allowed.items())

    def next_after(self, moment: datetime, *, horizon_days: int = 400) -> datetime | None:
        """The first second after ``moment`` that the schedule matches (None within the
        horizon: e.g. 31 February)."""
        probe = moment.replace(microsecond=0) + timedelta(seconds=1)
        end = probe + timedelta(days=horizon_days)
        while probe < end:
            if not self._day_ok(probe):
                probe = (probe + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif probe.hour not in self.allowed.get("hour", _ALL_HOURS):
                probe = (probe + timedelta(hours=1)).replace(minute=0, second=0)
            elif probe.minute not in self.allowed.get("minute", _ALL_MINUTES):
                probe = (probe + timedelta(minutes=1)).replace(second=0)
            elif self.matches(probe):
                return probe
            else:
                probe += timedelta(seconds=1)
        return None

    def _day_ok(self, moment: datetime) -> bool:
        return (
            moment.day in self.allowed.get("dayOfMonth", _ALL_DAYS)
            and moment.month in self.allowed.get("month", _ALL_MONTHS)
            and moment.isoweekday() in self.allowed.get("dayOfWeek", _ALL_WEEKDAYS)
        )


_ALL_HOURS = frozenset(range(24))
_ALL_MINUTES = frozenset(range(60))
_ALL_DAYS = frozenset(range(1, 32))
_ALL_MONTHS = frozenset(range(1, 13))
_ALL_WEEKDAYS = frozenset(range(1, 8))


def parse_schedule(raw: object) -> Schedule:
    if not isinstance(raw, dict) or not raw:
        raise ScheduleError("", "an object with at least one of " + _names())
    unknown = [k for k in raw if k not in {f[0] for f in FIELDS}]
    if unknown:
        raise ScheduleError(str(unknown[0]), "is not a schedule field (" + _names() + ")")
    allowed: dict[str, frozenset[int]] = {}
    finest = min(i for i, (name, _, _) in enumerate(FIELDS) if name in raw)
    for i, (name, low, high) in enumerate(FIELDS):
        if name in raw:
            allowed[name] = _values(name, raw[name], low, high)
        elif i < finest:
            allowed[name] = frozenset({low})
    return Schedule(allowed)


def _values(name: str, raw: object, low: int, high: int) -> frozenset[int]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise ScheduleError(name, "a list of numbers and ranges such as '1,5,[10-12]'")
    out: set[int] = set()
    for item in raw.split(","):
        found = _ITEM.match(item.strip())
        if found is None:
            raise ScheduleError(name, f"{item.strip()!r} is neither a number nor a range [a-b]")
        a, b = (
            (int(found[1]), int(found[1]))
            if found[1] is not None
            else (int(found[2]), int(found[3]))
        )
        if not (low <= a <= b <= high):
            raise ScheduleError(name, f"{item.strip()!r} is outside {low}..{high}")
        out.update(range(a, b + 1))
    return frozenset(out)


def _names() -> str:
    return ", ".join(f[0] for f in FIELDS)
