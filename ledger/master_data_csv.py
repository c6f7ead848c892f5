"""Master data as the pharmacy keeps it: a products, locations or operators CSV.

The kind of file is recognised from its header row (the columns in any order). UTF-8,
with or without a byte-order mark. Every bad value is reported as ``line N, column NAME:
what is wrong``; a file with any is refused whole (:class:`MasterDataInvalid`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger import master_data_rows as rows
from ledger.master_data_rows import BadValue, MasterDataInvalid, RowError

MAX_ROWS = 100_000

PRODUCT_VALUES: dict[str, Callable[[str], Any]] = {
    "yb_code": rows.code,
    "gtin": rows.gtin,
    "trace_prefix": rows.trace_prefix,
    "level": lambda v: rows.word(v, rows.LEVELS),
    "units": rows.units,
    "name": lambda v: rows.text(v, required=True),
    "spec": lambda v: rows.text(v, required=False),
    "form": lambda v: rows.text(v, required=False),
    "manufacturer": lambda v: rows.text(v, required=False),
    "approval_no": lambda v: rows.text(v, required=False),
    "must_scan": rows.flag,
    "split": rows.flag,
    "preparation": rows.flag,
    "his_code": lambda v: rows.catalogue_text(v, 30),
    "his_name": lambda v: rows.catalogue_text(v, 200),
    "rx_flag": rows.rx_flag,
    "price": rows.price,
}
LOCATION_VALUES: dict[str, Callable[[str], Any]] = {
    "id": rows.code,
    "name": lambda v: rows.text(v, required=True),
    "kind": lambda v: rows.word(v, rows.KINDS),
    "parent": lambda v: rows.code(v, required=False),
    "institution_code": rows.code,
    "admdvs": rows.admdvs,
}
OPERATOR_VALUES: dict[str, Callable[[str], Any]] = {
    "id": rows.code,
    "name": lambda v: rows.catalogue_text(v, 50, required=True),
    "institution_code": rows.code,
    "cert": lambda v: rows.catalogue_text(v, 50),
}


@dataclass(frozen=True)
class ParsedFile:
    """A file's kind (``products``, ``locations`` or ``operators``) and its rows, each
    with its line."""

    kind: str
    rows: list[tuple[int, dict[str, Any]]]


def decoded(data: bytes) -> str:
    """A CSV file's text: UTF-8, a byte-order mark dropped; :class:`MasterDataInvalid` naming
    the line of the first byte that is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MasterDataInvalid(
            [RowError(line, "", f"not UTF-8 (byte {exc.start + 1} of the file)")]
        ) from None


def _kind(header: list[str]) -> tuple[str, dict[str, Callable[[str], Any]]]:
    names = set(header)
    if set(rows.PRODUCT_COLUMNS) <= names:
        return "products", PRODUCT_VALUES
    if set(rows.LOCATION_COLUMNS) <= names:
        return "locations", LOCATION_VALUES
    if set(rows.OPERATOR_COLUMNS) <= names:
        return "operators", OPERATOR_VALUES
    raise MasterDataInvalid(
        [
            RowError(
                1,
                "",
                "the header names neither a products file ("
                + ",".join(rows.PRODUCT_COLUMNS)
                + "), a locations file ("
                + ",".join(rows.LOCATION_COLUMNS)
                + ") nor an operators file ("
                + ",".join(rows.OPERATOR_COLUMNS)
                + ")",
            )
        ]
    )


def _header_errors(header: list[str], known: dict[str, Callable[[str], Any]]) -> list[RowError]:
    errors = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(RowError(1, name, "is named twice"))
        elif name not in known:
            errors.append(RowError(1, name, f"is not a column: {', '.join(known)}"))
        seen.add(name)
    return errors


def parse(data: bytes) -> ParsedFile:
    """The rows of a master-data CSV file, each value checked; :class:`MasterDataInvalid`
    with every error found."""
    reader = csv.reader(io.StringIO(decoded(data), newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        kind, known = _kind(header)
        errors = _header_errors(header, known)
        found: list[tuple[int, dict[str, Any]]] = []
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # a blank line, as spreadsheets leave at the end
            if len(found) >= MAX_ROWS:
                raise MasterDataInvalid([RowError(line, "", f"more than {MAX_ROWS} rows")])
            if len(values) != len(header):
                errors.append(
                    RowError(line, "", f"{len(values)} values where the header has {len(header)}")
                )
                continue
            row: dict[str, Any] = {}
            for name, value in zip(header, values, strict=True):
                try:
                    row[name] = known[name](value)
                except BadValue as exc:
                    errors.append(RowError(line, name, str(exc)))
                except KeyError:
                    pass  # an unknown column: reported with the header
            if kind == "products":
                row.setdefault("preparation", False)
            found.append((line, rows.without_empty(row)))
    except csv.Error as exc:
        raise MasterDataInvalid([RowError(reader.line_num, "", f"not CSV: {exc}")]) from None
    if errors:
        raise MasterDataInvalid(errors)
    if not found:
        raise MasterDataInvalid([RowError(1, "", "the file has a header and no rows")])
    return ParsedFile(kind, found)
