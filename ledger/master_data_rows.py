"""The rows of master data, and what each value may be.

Products: one row per packaging level of a product (seed 002's three-code mapping): the
医保 drug code, the GTIN where there is one, the 7-digit trace-code prefix of the level
(药品标识码), the level, how many smallest units it holds, what it is, and the flags the
hospital rules need. Locations: the institution's places and the parties it deals with,
each with its parent.

A row is a plain ``dict`` of JSON values (what the store keeps in its events); the checks
here say what is wrong with one value, in words a pharmacist understands.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from epcis.identifiers.check_digit import mod10

LEVELS = ("unit", "box", "middle", "case")
"""Packaging levels, smallest first."""
KINDS = ("institution", "warehouse", "pharmacy", "ward", "department", "supplier", "external")
PRODUCT_COLUMNS = (
    "yb_code",
    "gtin",
    "trace_prefix",
    "level",
    "units",
    "name",
    "spec",
    "form",
    "manufacturer",
    "approval_no",
    "must_scan",
    "split",
)
OPTIONAL_PRODUCT_COLUMNS = ("preparation", "his_code", "his_name", "rx_flag", "price")
LOCATION_COLUMNS = ("id", "name", "kind", "parent", "institution_code")
OPTIONAL_LOCATION_COLUMNS = ("admdvs",)
OPERATOR_COLUMNS = ("id", "name", "institution_code")
OPTIONAL_OPERATOR_COLUMNS = ("cert",)
NHSA_COLUMNS = ("his_code", "his_name", "rx_flag", "price", "admdvs", "cert")
"""The optional columns the 医保 messages read (issue 13): a row keeps them only when they
hold a value, so a file without them and one with them empty store the same row, and rows
stored before they existed compare equal to a re-import."""
MAX_TEXT = 200

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_DICTIONARY_CODE = re.compile(r"[A-Za-z0-9]{1,3}", re.ASCII)
_PRICE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,6})?", re.ASCII)
_ADMDVS = re.compile(r"[0-9]{6}", re.ASCII)


class BadValue(ValueError):
    """What is wrong with one value (the column is named by whoever asked)."""


@dataclass(frozen=True)
class RowError:
    """One thing wrong with a file: its line (1 is the header; 0: a JSON document's, which
    has none worth naming), column, and what; in an EPCIS document also the JSON pointer of
    the vocabulary element (or its part) at fault."""

    line: int
    column: str
    message: str
    pointer: str = ""

    def __str__(self) -> str:
        if self.pointer:
            where = (f"line {self.line}, " if self.line else "") + self.pointer
        else:
            where = f"line {self.line}"
        where += f", column {self.column}" if self.column else ""
        return f"{where}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        if not self.pointer:
            return {"line": self.line, "column": self.column, "message": self.message}
        out: dict[str, Any] = {"pointer": self.pointer}
        if self.line:
            out["line"] = self.line
        if self.column:
            out["column"] = self.column
        out["message"] = self.message
        return out


class MasterDataInvalid(ValueError):
    """Master data refused as a whole: every error found (nothing was stored)."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "; ".join(str(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(shown + more)


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def text(value: str, *, required: bool) -> str:
    """A name or description: at most 200 characters, no control characters."""
    value = value.strip()
    if required and not value:
        raise BadValue("is empty")
    if len(value) > MAX_TEXT:
        raise BadValue(f"is longer than {MAX_TEXT} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value):
        raise BadValue(f"{_quoted(value)} has control characters")
    return value


def code(value: str, *, required: bool = True) -> str:
    """An identifier (医保编码, a location id): letters, digits, ``.``, ``_``, ``-``."""
    value = value.strip()
    if not value and not required:
        return ""
    if not value:
        raise BadValue("is empty")
    if not _CODE.fullmatch(value):
        raise BadValue(
            f"{_quoted(value)} is not a code: up to 100 ASCII letters, digits, '.', '_', '-'"
        )
    return value


def word(value: str, allowed: tuple[str, ...]) -> str:
    value = value.strip()
    if value not in allowed:
        raise BadValue(f"{_quoted(value)} is not one of {', '.join(allowed)}")
    return value


def flag(value: str) -> bool:
    value = value.strip()
    if value not in ("1", "0"):
        raise BadValue(f"{_quoted(value)} is not 1 or 0")
    return value == "1"


def units(value: str) -> int:
    value = value.strip()
    if not _DIGITS.fullmatch(value) or int(value) == 0 or len(value) > 9:
        raise BadValue(f"{_quoted(value)} is not a whole number of smallest units, at least 1")
    return int(value)


def trace_prefix(value: str) -> str:
    """The 7-digit 药品标识码 that starts every 20-digit code of one packaging level."""
    value = value.strip()
    if not _DIGITS.fullmatch(value) or len(value) != 7:
        raise BadValue(f"{_quoted(value)} is not 7 digits")
    if value[0] != "8":
        raise BadValue(f"{_quoted(value)} does not start with 8 (NMPAB/T 1002 drug trace codes)")
    return value


def gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 with its GS1 check digit, as 14 digits; empty when none."""
    value = value.strip()
    if not value:
        return ""
    if not _DIGITS.fullmatch(value) or len(value) not in (8, 12, 13, 14):
        raise BadValue(f"{_quoted(value)} is not a GTIN: 8, 12, 13 or 14 digits")
    if mod10(value[:-1]) != int(value[-1]):
        raise BadValue(
            f"{_quoted(value)} has a wrong GS1 check digit: {mod10(value[:-1])} expected"
        )
    return value.zfill(14)


def catalogue_text(value: str, limit: int, *, required: bool = False) -> str:
    """A value a 医保 message carries (the hospital's catalogue id or name, an operator's
    name): at most ``limit`` characters (the NHSA field's length), no control characters;
    empty when none (unless ``required``)."""
    value = text(value, required=required)
    if len(value) > limit:
        raise BadValue(f"is longer than {limit} characters (the 医保 field's length)")
    return value


def rx_flag(value: str) -> str:
    """处方药标志 (``rx_flag``, NHSA ``C3``): a dictionary code of 1 to 3 letters or digits
    as the province's dictionary gives it; empty when none. NHSA-FIELDS.md names no values,
    so none are invented here."""
    value = value.strip()
    if value and not _DICTIONARY_CODE.fullmatch(value):
        raise BadValue(f"{_quoted(value)} is not a 处方药标志 code: 1 to 3 letters or digits (C3)")
    return value


def price(value: str) -> str:
    """A unit price (NHSA ``N16,6``): a decimal at least 0 with at most 6 decimal places
    (and 10 digits before the point), kept as written; empty when none."""
    value = value.strip()
    if value and not _PRICE.fullmatch(value):
        raise BadValue(
            f"{_quoted(value)} is not a price: a decimal >= 0 with at most 6 decimal places"
        )
    return value


def admdvs(value: str) -> str:
    """A 医保区划 (administrative division, ``mdtrtarea_admvs``): 6 digits; empty when none."""
    value = value.strip()
    if value and not _ADMDVS.fullmatch(value):
        raise BadValue(f"{_quoted(value)} is not a 医保区划: 6 digits")
    return value


def without_empty(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without the 医保 columns (:data:`NHSA_COLUMNS`) that hold no value."""
    return {k: v for k, v in row.items() if k not in NHSA_COLUMNS or v != ""}


def product_key(row: dict[str, Any]) -> str:
    """What names one product row: its 医保 code and level (``XA01…/box``)."""
    return f"{row['yb_code']}/{row['level']}"


def level_rank(level: str) -> int:
    return LEVELS.index(level)
