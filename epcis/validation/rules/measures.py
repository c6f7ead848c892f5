"""Rules on amounts: quantity elements and the values of sensor reports."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from epcis.problems import pointer_join
from epcis.validation.rules.walk import QUANTITY_LISTS, Found, is_number, list_items, sensor_reports

SENSOR_NUMBERS: tuple[str, ...] = ("value", "minValue", "maxValue", "meanValue", "percValue")


def quantities(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for key in QUANTITY_LISTS:
        for element_at, element in list_items(event, at, key):
            if isinstance(element, Mapping):
                yield from _quantity_element(element, element_at)


def _quantity_element(element: Mapping[str, Any], at: str) -> Iterator[Found]:
    quantity = element.get("quantity")
    if "uom" in element and quantity is None:
        yield pointer_join(at, "uom"), "uom is given without a quantity; add 'quantity'"
    if not isinstance(quantity, int | float) or isinstance(quantity, bool):
        return
    where = pointer_join(at, "quantity")
    if not math.isfinite(quantity):
        yield where, f"quantity {quantity!r} is not a finite number"
    elif quantity < 0:
        yield where, f"quantity {quantity!r} is negative; a quantity is ≥ 0"
    elif not float(quantity).is_integer() and "uom" not in element:
        yield (
            where,
            f"quantity {quantity!r} is not a whole number, so it needs a 'uom' "
            "(without a unit of measure a quantity counts objects)",
        )


def sensor_values(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for report_at, report in sensor_reports(event, at):
        numbers = {k: v for k, v in report.items() if is_number(v)}
        low, mean, high = (numbers.get(k) for k in ("minValue", "meanValue", "maxValue"))
        if low is not None and high is not None and low > high:
            yield pointer_join(report_at, "minValue"), f"minValue {low} > maxValue {high}"
        if mean is not None and low is not None and mean < low:
            yield pointer_join(report_at, "meanValue"), f"meanValue {mean} < minValue {low}"
        if mean is not None and high is not None and mean > high:
            yield pointer_join(report_at, "meanValue"), f"meanValue {mean} > maxValue {high}"
        rank = numbers.get("percRank")
        if rank is not None and not 0 <= rank <= 100:
            yield pointer_join(report_at, "percRank"), f"percRank {rank} is not within 0..100"
        sdev = numbers.get("sDev")
        if sdev is not None and sdev < 0:
            yield pointer_join(report_at, "sDev"), f"sDev {sdev} is negative"


def sensor_pairs(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for report_at, report in sensor_reports(event, at):
        for key, partner in (("percRank", "percValue"), ("percValue", "percRank")):
            if key in report and partner not in report:
                yield pointer_join(report_at, key), f"{key} is only used together with {partner}"
        if "sDev" in report and "meanValue" not in report:
            yield pointer_join(report_at, "sDev"), "sDev is only used together with meanValue"


def sensor_uom(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for report_at, report in sensor_reports(event, at):
        if "uom" in report and not any(k in report for k in SENSOR_NUMBERS):
            yield (
                pointer_join(report_at, "uom"),
                f"uom is given but the report has no numeric value ({', '.join(SENSOR_NUMBERS)});"
                " remove uom or add the value",
            )
