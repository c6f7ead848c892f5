"""A HIS stock export: the hospital information system's own book figures, as CSV.

One row per location × product × lot: ``location,product,lot,quantity`` (any order), and
optionally ``unit`` (``code``, the default: packs, one trace code each; ``unit``: smallest
units), ``asOf`` (when the figure holds, an ISO 8601 date-time with its offset; default:
the import time) and ``level`` (the packaging level, when a 医保 code names several).
UTF-8, with or without a byte-order mark. This module reads the values; what they name is
checked against master data by :mod:`ledger.his_books`. Every error is reported
(``line N, column NAME: what is wrong``); a file with any is refused whole.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger import master_data_rows as rows
from ledger.master_data_csv import MAX_ROWS, decoded
from ledger.master_data_rows import BadValue, MasterDataInvalid, RowError

REQUIRED = ("location", "product", "lot", "quantity")
OPTIONAL = ("unit", "asOf", "level")
UNITS = ("code", "unit")
_NUMBER = re.compile(r"[+-]?[0-9]+", re.ASCII)


class BooksInvalid(MasterDataInvalid):
    """A HIS books file refused as a whole: every error (nothing was stored)."""


@dataclass(frozen=True)
class Figure:
    """One row as read: ``as_of`` is None when the file leaves it to the import time."""

    line: int
    location: str
    product: str
    lot: str | None
    quantity: int
    unit: str
    as_of: datetime | None
    level: str


def quantity(value: str) -> int:
    """A stock figure: a whole number, 0 or more."""
    text = value.strip()
    if not _NUMBER.fullmatch(text) or len(text.lstrip("+-")) > 9:
        raise BadValue(f"{text[:40]!r} is not a whole number (at most 9 digits)")
    if int(text) < 0:
        raise BadValue(f"{text} is negative: a stock figure is 0 or more")
    return int(text)


def as_of(value: str) -> datetime | None:
    """When the figure holds: a date-time with its offset (``2026-03-31T18:00:00+08:00``);
    empty: the import time."""
    text = value.strip()
    if not text:
        return None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        found = None
    if found is None or "T" not in text.upper() or found.tzinfo is None:
        raise BadValue(
            f"{text[:40]!r} is not an ISO 8601 date-time with its offset "
            "(2026-03-31T18:00:00+08:00, or …Z)"
        )
    return found


VALUES: dict[str, Callable[[str], Any]] = {
    "location": rows.code,
    "product": lambda v: rows.text(v, required=True),
    "lot": lambda v: rows.text(v, required=False) or None,
    "quantity": quantity,
    "unit": lambda v: rows.word(v or "code", UNITS),
    "asOf": as_of,
    "level": lambda v: rows.word(v, rows.LEVELS) if v.strip() else "",
}


def _header_errors(header: list[str]) -> list[RowError]:
    errors = []
    for position, name in enumerate(header):
        if name in header[:position]:
            errors.append(RowError(1, name, "is named twice"))
        elif name not in VALUES:
            errors.append(RowError(1, name, f"is not a column: {', '.join(VALUES)}"))
    errors += [RowError(1, name, "is missing") for name in REQUIRED if name not in header]
    return errors


def parse_books(data: bytes) -> tuple[list[Figure], list[RowError]]:
    """The rows of a HIS books CSV whose values are good, and what is wrong with the others
    (to be reported with what master data finds); :class:`BooksInvalid` when no row can be
    read (not UTF-8 or CSV, a bad header, no rows)."""
    try:
        text = decoded(data)
    except MasterDataInvalid as exc:
        raise BooksInvalid(exc.errors) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise BooksInvalid([RowError(1, "", "the file is empty: " + ",".join(REQUIRED))])
        errors = _header_errors(header)
        if errors:
            raise BooksInvalid(errors)
        found: list[Figure] = []
        read = 0
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # a blank line, as spreadsheets leave at the end
            read += 1
            if read > MAX_ROWS:
                raise BooksInvalid([RowError(line, "", f"more than {MAX_ROWS} rows")])
            figure = _figure(line, header, values, errors)
            if figure is not None:
                found.append(figure)
    except csv.Error as exc:
        raise BooksInvalid([RowError(reader.line_num, "", f"not CSV: {exc}")]) from None
    if not read:
        raise BooksInvalid([RowError(1, "", "the file has a header and no rows")])
    return found, errors


def _figure(
    line: int, header: list[str], values: list[str], errors: list[RowError]
) -> Figure | None:
    if len(values) != len(header):
        message = f"{len(values)} values where the header has {len(header)}"
        errors.append(RowError(line, "", message))
        return None
    read: dict[str, Any] = {"unit": "code", "asOf": None, "level": ""}
    bad = False
    for name, value in zip(header, values, strict=True):
        try:
            read[name] = VALUES[name](value)
        except BadValue as exc:
            errors.append(RowError(line, name, str(exc)))
            bad = True
    if bad:
        return None
    return Figure(
        line,
        read["location"],
        read["product"],
        read["lot"],
        read["quantity"],
        read["unit"],
        read["asOf"],
        read["level"],
    )
