"""MA codes (IDcode, ISO/IEC 15459 issuing agency "MA").

``MA.<country>.<industry>.<registrant>.<product>`` then production-identifier segments,
each a letter and a value: S serial, L lot, M manufacture date, E expiry (失效期),
V valid-until (有效期), D sterilisation lot; dates are YYMMDD or YYYYMMDD.
Unknown segments are kept, in the attributes and in the canonical form.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote

from epcis.identifiers.digital_link import split_uri
from epcis.identifiers.model import Identifier, IdentifierError

_DATE_SEGMENTS = {"M": "manufacture date", "E": "expiry", "V": "valid-until date"}
_TEXT_SEGMENTS = {"S": "serial", "L": "lot", "D": "sterilisation lot"}
_DEVICE_INDUSTRY = "M0"


def is_ma_code(text: str) -> bool:
    return text[:3].upper() == "MA."


def ma_in_uri(text: str) -> str | None:
    """The MA code that is the last path segment of an http(s) URI (seed 004 locations)."""
    parts = split_uri(text)
    if parts.scheme not in ("http", "https"):
        return None
    last = unquote(parts.path.rstrip("/").rpartition("/")[2])
    return last if is_ma_code(last) else None


def _date(letter: str, value: str) -> str:
    formats = {6: "%y%m%d", 8: "%Y%m%d"}
    if not value.isdigit() or len(value) not in formats:
        raise IdentifierError(
            f"MA {_DATE_SEGMENTS[letter]} segment {letter}{value} needs 6 or 8 digits"
            " (YYMMDD or YYYYMMDD)"
        )
    try:
        parsed = dt.datetime.strptime(value, formats[len(value)]).date()
    except ValueError:
        raise IdentifierError(
            f"bad date in MA {_DATE_SEGMENTS[letter]} segment {letter}{value}"
        ) from None
    if len(value) == 6:
        parsed = parsed.replace(year=2000 + parsed.year % 100)
    return parsed.isoformat()


def parse_ma_code(
    raw: str, text: str, *, scheme: str = "idcode", symbology: str | None = None
) -> Identifier:
    segments = text.split(".")
    if len(segments) < 5:
        raise IdentifierError(
            "MA code needs at least MA.<country>.<industry>.<registrant>.<product>:"
            f" got {len(segments)} segments in {text!r}"
        )
    for index, segment in enumerate(segments):
        if not segment:
            raise IdentifierError(f"empty segment {index + 1} in MA code {text!r}")
    _, country, industry, registrant, product = segments[:5]
    if not re.fullmatch(r"[0-9]{3}", country):
        raise IdentifierError(f"MA country code must be 3 digits, got {country!r}")
    if not re.fullmatch(r"[A-Z0-9]{2}", industry):
        raise IdentifierError(f"MA industry code must be 2 characters (M0 …), got {industry!r}")
    for name, value in (("registrant", registrant), ("product", product)):
        if not re.fullmatch(r"[A-Za-z0-9]+", value):
            raise IdentifierError(f"MA {name} code must be letters and digits, got {value!r}")
    base = f"MA.{country}.{industry}.{registrant}.{product}"

    found: dict[str, str] = {}
    unknown: list[str] = []
    attributes = {"country": country, "industry": industry, "registrant": registrant}
    for index, segment in enumerate(segments[5:], start=6):
        letter, value = segment[0], segment[1:]
        if letter in _DATE_SEGMENTS or letter in _TEXT_SEGMENTS:
            if letter in found:
                raise IdentifierError(f"MA segment {letter} appears twice in {text!r}")
            if not value:
                raise IdentifierError(f"MA segment {letter} has no value in {text!r}")
            found[letter] = _date(letter, value) if letter in _DATE_SEGMENTS else value
            attributes[letter] = value
        else:
            unknown.append(segment)
            attributes[f"segment{index}"] = segment

    notes: list[str] = []
    if unknown:
        notes.append("unknown MA segments kept: " + ", ".join(unknown))
    expiry = found.get("E")
    if expiry is None and "V" in found:
        expiry = found["V"]
        notes.append("expiry taken from the V (有效期) segment")
    packaging_level = None
    if industry == _DEVICE_INDUSTRY and len(product) == 8 and product[0].isdigit():
        packaging_level = int(product[0])
        notes.append(
            "MA device product code = packaging digit + 6-character item code + check"
            " character; packaging level read from its first digit"
        )
    serial, lot = found.get("S"), found.get("L")
    if industry != _DEVICE_INDUSTRY and serial is None:
        notes.append(f"MA industry code {industry}: taken to name one object (not a device UDI)")
    canonical = base + "".join("." + segment for segment in unknown)
    if serial is not None:
        canonical += f".S{serial}"
    elif lot is not None:
        canonical += f".L{lot}"
    return Identifier(
        raw=raw,
        canonical=canonical,
        family="ma",
        scheme=scheme,
        product_key=base,
        packaging_level=packaging_level,
        lot=lot,
        expiry=expiry,
        manufacture_date=found.get("M"),
        serial=serial,
        is_instance=serial is not None or industry != _DEVICE_INDUSTRY,
        issuer="MA",
        symbology=symbology,
        attributes=attributes,
        notes=tuple(notes),
    )
