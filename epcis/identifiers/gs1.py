"""From GS1 AI values, whatever carrier they came in, to one :class:`Identifier`.

EPC URIs, Digital Links and element strings all reduce to AI values; this module decides
which AI is the key, which qualifier makes it finest-grained, and builds the canonical
Digital Link, so that every carrier of one item gives the same ``canonical``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from biip import ParseError
from biip.gs1_prefixes import GS1CompanyPrefix

from epcis.identifiers.canonical import CANONICAL_DOMAIN
from epcis.identifiers.check_digit import verify_keys
from epcis.identifiers.epc_uri import format_epc_uri
from epcis.identifiers.model import Identifier, IdentifierError

PRIMARY_KEYS = (
    "00",
    "01",
    "8006",
    "8003",
    "8004",
    "8018",
    "8017",
    "253",
    "255",
    "401",
    "402",
    "8010",
    "414",
    "417",
)
"""GS1 primary keys, in the order one is chosen when a symbol carries several."""


@dataclass(frozen=True)
class Element:
    """One AI value; ``date`` is set for date AIs (11, 17 …)."""

    ai: str
    value: str
    date: dt.date | None = None


def encode_value(value: str) -> str:
    """Percent-encode an AI value for a Digital Link path.

    Everything but ``A-Za-z0-9-._'`` ``;`` ``=`` is encoded, which is what the Event Hash
    reference produces from an EPC URI, so both canonical forms agree.
    """
    return quote(value, safe="';=")


@dataclass(frozen=True)
class _Identity:
    kind: str
    path: str
    serial: str | None
    is_instance: bool
    used: frozenset[str]


def _identity(key_ai: str, ais: dict[str, str]) -> _Identity:
    """Kind, canonical Digital Link path and serial: the finest level the AIs give."""
    key = ais[key_ai]
    path = f"{key_ai}/{encode_value(key)}"
    if key_ai in ("01", "8006"):
        choices = (("21", "sgtin"), ("235", "upui"), ("10", "lgtin"))
        for qualifier, kind in choices:
            if qualifier in ais and not (key_ai == "8006" and qualifier == "235"):
                value = ais[qualifier]
                kind = kind if key_ai == "01" else "itip"
                serial = None if qualifier == "10" else value
                return _Identity(
                    kind,
                    f"{path}/{qualifier}/{encode_value(value)}",
                    serial,
                    serial is not None,
                    frozenset({key_ai, qualifier}),
                )
        return _Identity(
            "gtin" if key_ai == "01" else "itip", path, None, False, frozenset({key_ai})
        )
    if key_ai == "414" and "254" in ais:
        path += f"/254/{encode_value(ais['254'])}"
        return _Identity("sgln", path, None, True, frozenset({"414", "254"}))
    if key_ai == "8010" and "8011" in ais:
        path += f"/8011/{ais['8011']}"
        return _Identity("cpi", path, ais["8011"], True, frozenset({"8010", "8011"}))
    serial_from = {"8003": 14, "253": 13, "255": 13}
    if key_ai in serial_from:
        serial = key[serial_from[key_ai] :] or None
        kind = {"8003": "grai", "253": "gdti", "255": "sgcn"}[key_ai]
        return _Identity(kind, path, serial, serial is not None, frozenset({key_ai}))
    kind = {
        "00": "sscc",
        "414": "sgln",
        "417": "pgln",
        "8004": "giai",
        "8017": "gsrnp",
        "8018": "gsrn",
        "401": "ginc",
        "402": "gsin",
        "8010": "cpi",
    }[key_ai]
    return _Identity(kind, path, None, key_ai != "8010", frozenset({key_ai}))


def _prefix_digits(key_ai: str, key: str) -> str:
    """The digits of a key from which a company prefix table lookup can start."""
    if key_ai in ("01", "8006", "00", "8003"):
        return key[1:13] if key_ai != "00" else key[1:17]
    digits = ""
    for char in key[:12]:
        if not ("0" <= char <= "9"):
            break
        digits += char
    return digits


def lookup_company_prefix(key_ai: str, key: str) -> str | None:
    """The GS1 Company Prefix of a key from biip's bundled prefix table, if it knows."""
    if key_ai in ("01", "8006") and key.startswith("000000"):
        return None  # a GTIN-8: its GS1-8 prefix is not a GS1 Company Prefix
    digits = _prefix_digits(key_ai, key)
    if not digits:
        return None
    try:
        found = GS1CompanyPrefix.extract(digits)
    except ParseError:
        return None
    if found is None or not 6 <= len(found.value) <= 12 or len(found.value) > len(digits):
        return None
    return found.value


def _indicator_note(digit: int) -> str:
    if digit == 0:
        meaning = "no indicator (a base unit, or a GTIN-8/12/13)"
    elif digit == 9:
        meaning = "a variable measure trade item"
    else:
        meaning = "a packaging level the brand owner assigned (1-8 have no fixed meaning)"
    return f"GTIN indicator digit {digit}: {meaning}"


def gs1_identifier(
    raw: str,
    scheme: str,
    elements: Iterable[Element],
    *,
    company_prefix: str | None = None,
    symbology: str | None = None,
    notes: Iterable[str] = (),
) -> Identifier:
    """Build the Identifier of a GS1 key; ``company_prefix`` is exact when known (EPC URIs)."""
    ais: dict[str, str] = {}
    dates: dict[str, dt.date] = {}
    for element in elements:
        if element.ai in ais and ais[element.ai] != element.value:
            raise IdentifierError(
                f"AI ({element.ai}) appears twice with different values:"
                f" {ais[element.ai]!r} and {element.value!r}"
            )
        ais[element.ai] = element.value
        if element.date is not None:
            dates[element.ai] = element.date
    keys = [ai for ai in PRIMARY_KEYS if ai in ais]
    if not keys:
        found = ", ".join(f"({ai})" for ai in ais) or "none"
        raise IdentifierError(
            f"no GS1 key (01 GTIN, 00 SSCC, 414 GLN, 8003 GRAI …) among the AIs: {found}"
        )
    verify_keys(ais)
    key_ai = keys[0]
    key = ais[key_ai]
    out_notes = list(notes)
    if len(keys) > 1:
        others = ", ".join(f"({ai})" for ai in keys[1:])
        out_notes.append(f"several GS1 keys; identified by ({key_ai}), kept {others} as attributes")
    identity = _identity(key_ai, ais)

    product_key = packaging_level = None
    if key_ai in ("01", "8006"):
        product_key = key[:14]
        packaging_level = int(key[0])
        out_notes.append(_indicator_note(packaging_level))
        if key_ai == "01" and identity.kind == "sgtin" and "10" in ais:
            out_notes.append(
                "canonical form is GTIN + serial; lot and dates are in their own fields"
            )

    epc_urn = None
    if company_prefix is None:
        company_prefix = lookup_company_prefix(key_ai, key)
        if company_prefix is not None:
            out_notes.append(
                "GS1 Company Prefix length taken from biip's prefix table; the EPC URI"
                " depends on it"
            )
    if company_prefix is None:
        out_notes.append("EPC URI unknown: the GS1 Company Prefix length is not known")
    else:
        epc_urn = format_epc_uri(ais, len(company_prefix))

    expiry = dates.get("17")
    if expiry is not None and ais["17"][4:6] == "00":
        out_notes.append("AI (17) day 00 read as the last day of the month")
    used = identity.used | {"10", "11", "17", "21"}
    attributes = {ai: value for ai, value in ais.items() if ai not in used}
    return Identifier(
        raw=raw,
        canonical=f"{CANONICAL_DOMAIN}/{identity.path}",
        family="gs1",
        scheme=scheme,
        kind=identity.kind,
        gs1_key=key,
        gs1_key_ai=key_ai,
        product_key=product_key,
        company_prefix=company_prefix,
        packaging_level=packaging_level,
        lot=ais.get("10"),
        expiry=expiry.isoformat() if expiry else None,
        manufacture_date=dates["11"].isoformat() if "11" in dates else None,
        serial=identity.serial,
        epc_urn=epc_urn,
        is_instance=identity.is_instance,
        issuer="GS1",
        symbology=symbology,
        attributes=attributes,
        notes=tuple(out_notes),
    )
