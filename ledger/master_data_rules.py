"""What must hold of a whole set of master data: the rows of a file together with those
already stored (the file's row wins where both name the same product level, location or
operator).

Products: one row per product and level, one product per trace prefix and per GTIN, a
unit-level row of 1 unit, and levels that nest (a box holds N units; a case a whole number
of boxes, more than one box). Locations: one row per id, a parent that exists (in the file
or already), and no cycle of parents; the 医保区划 (``admdvs``) on the institution's row
only. Operators: one row per id. Each error is reported on a line of the file.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ledger.master_data_rows import RowError, level_rank, product_key

Row = dict[str, Any]
Lined = list[tuple[int, Row]]
Where = Callable[[int], str]
"""How an error names another row (``line 3``; an EPCIS element's pointer)."""


def on_line(line: int) -> str:
    return f"on line {line}"


def _duplicates(
    rows: Lined, column: str, what: str, errors: list[RowError], where: Where = on_line
) -> None:
    first: dict[Any, int] = {}
    for line, row in rows:
        value = row[column] if column != "key" else product_key(row)
        if value == "":
            continue
        if value in first:
            shown = "level" if column == "key" else column
            errors.append(RowError(line, shown, f"{what} {value} is also {where(first[value])}"))
        else:
            first[value] = line


def _unique_against(
    rows: Lined, stored: dict[str, Row], column: str, errors: list[RowError]
) -> None:
    """A file row's value of ``column`` held by a stored product the file does not touch."""
    mine = {product_key(row) for _, row in rows}
    taken = {
        row[column]: key for key, row in stored.items() if key not in mine and row[column] != ""
    }
    for line, row in rows:
        holder = taken.get(row[column])
        if holder is not None:
            errors.append(
                RowError(line, column, f"{row[column]} is already that of product {holder}")
            )


def _nesting(rows: Lined, stored: dict[str, Row], errors: list[RowError]) -> None:
    lines = {product_key(row): line for line, row in rows}
    merged = {**stored, **{product_key(row): row for _, row in rows}}
    by_product: dict[str, list[Row]] = defaultdict(list)
    for row in merged.values():
        by_product[row["yb_code"]].append(row)
    for levels in by_product.values():
        levels.sort(key=lambda r: level_rank(r["level"]))
        for inner, outer in itertools.pairwise(levels):
            if outer["units"] > inner["units"] and outer["units"] % inner["units"] == 0:
                continue
            line = lines.get(product_key(outer)) or lines.get(product_key(inner))
            if line is None:
                continue  # stored rows only: nothing this file can be blamed for
            errors.append(
                RowError(
                    line,
                    "units",
                    f"a {outer['level']} of {outer['yb_code']} holds {outer['units']} units, "
                    f"not a whole number (more than one) of the {inner['level']}'s "
                    f"{inner['units']}",
                )
            )


def product_errors(rows: Lined, stored: dict[str, Row], where: Where = on_line) -> list[RowError]:
    """What is wrong with one institution's product rows next to its stored ones (by key)."""
    errors: list[RowError] = []
    for line, row in rows:
        if row["level"] == "unit" and row["units"] != 1:
            errors.append(RowError(line, "units", "a unit-level row holds 1 unit"))
    _duplicates(rows, "key", "the product level", errors, where)
    for column in ("trace_prefix", "gtin"):
        _duplicates(rows, column, column, errors, where)
        _unique_against(rows, stored, column, errors)
    if not errors:
        _nesting(rows, stored, errors)
    return sorted(errors, key=lambda e: e.line)


def _cycle(start: str, parents: dict[str, str]) -> list[str] | None:
    path = [start]
    current = parents.get(start, "")
    while current:
        if current == start:
            return [*path, start]
        if current in path or len(path) > len(parents):
            return None  # a cycle further up: reported on its own rows
        path.append(current)
        current = parents.get(current, "")
    return None


def location_errors(rows: Lined, stored: dict[str, Row], where: Where = on_line) -> list[RowError]:
    """What is wrong with one institution's location rows next to its stored ones (by id)."""
    errors: list[RowError] = []
    _duplicates(rows, "id", "the location", errors, where)
    parents = {key: row["parent"] for key, row in stored.items()}
    parents.update({row["id"]: row["parent"] for _, row in rows})
    for line, row in rows:
        if row.get("admdvs") and row["kind"] != "institution":
            errors.append(
                RowError(
                    line,
                    "admdvs",
                    "the 医保区划 is given on the institution's own row (kind institution)",
                )
            )
        parent = row["parent"]
        if parent == row["id"]:
            errors.append(RowError(line, "parent", "a location cannot be its own parent"))
        elif parent and parent not in parents:
            errors.append(
                RowError(line, "parent", f"{parent} is no location (in this file or stored)")
            )
        elif parent and (cycle := _cycle(row["id"], parents)):
            errors.append(RowError(line, "parent", "parents go round: " + " → ".join(cycle)))
    return sorted(errors, key=lambda e: e.line)


def operator_errors(rows: Lined, stored: dict[str, Row], where: Where = on_line) -> list[RowError]:
    """What is wrong with one institution's operator rows (one row per id)."""
    errors: list[RowError] = []
    _duplicates(rows, "id", "the operator", errors, where)
    return sorted(errors, key=lambda e: e.line)
