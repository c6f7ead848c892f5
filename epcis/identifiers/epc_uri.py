"""EPC pure identity URIs, EPC class URIs and EPC pattern URIs (GS1 TDS 2.x) <-> GS1 AIs.

An EPC URI carries a GS1 key split at the GS1 Company Prefix, without check digit:
``urn:epc:id:sgtin:0614141.107346.2017`` is GTIN ``10614141073464`` + serial ``2017``.
Parsing gives the AI values (check digits computed) and the exact company prefix;
formatting needs the company prefix length, which a GS1 key alone does not tell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from epcis.identifiers.check_digit import mod10
from epcis.identifiers.model import IdentifierError, shown

# Characters an EPC URI component may hold as they are; other CSET 82 characters
# (" % & / < > ?) must be percent-escaped (TDS table A-1).
_URI_PLAIN = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!'()*+,-.:;=_"
)
_CSET82 = _URI_PLAIN | frozenset('"%&/<>?')
_CSET39 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#-/")
_ESCAPED = frozenset('"%&/<>?#')

GS1_SCHEMES = (
    "sgtin",
    "sscc",
    "sgln",
    "grai",
    "giai",
    "gsrn",
    "gsrnp",
    "gdti",
    "cpi",
    "sgcn",
    "ginc",
    "gsin",
    "itip",
    "upui",
    "pgln",
)
OTHER_SCHEMES = ("gid", "bic", "imovn")
UNSUPPORTED_SCHEMES = ("usdod", "adi")


@dataclass(frozen=True)
class EpcUri:
    """A parsed EPC URI."""

    form: str
    """``id``, ``class`` or ``idpat``."""
    scheme: str
    company_prefix: str | None = None
    ais: dict[str, str] = field(default_factory=dict)
    """GS1 AI values (decoded, with check digits) for GS1 schemes."""
    fields: dict[str, str] = field(default_factory=dict)
    """Components of non-GS1 schemes (gid, bic, imovn)."""


def escape(text: str) -> str:
    """Percent-escape what an EPC URI component cannot hold as is."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in text)


def unescape(text: str, what: str, *, charset: frozenset[str] = _CSET82) -> str:
    """Decode an EPC URI component, rejecting what TDS does not allow."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%":
            hex_digits = text[i + 1 : i + 3]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", hex_digits):
                raise IdentifierError(
                    f"{what} {shown(text)}: bad percent-escape at position {i + 1}"
                )
            char = chr(int(hex_digits, 16))
            if char not in charset:
                raise IdentifierError(
                    f"{what} {shown(text)}: escaped character {char!r} is not allowed"
                )
            i += 3
        else:
            if char not in _URI_PLAIN or char not in charset:
                raise IdentifierError(
                    f"{what} {shown(text)}: character {char!r} at position {i + 1} is not allowed"
                    " in an EPC URI (escape it or remove it)"
                )
            i += 1
        out.append(char)
    return "".join(out)


def parse_epc_uri(text: str) -> EpcUri:
    """Parse ``urn:epc:id:…``, ``urn:epc:class:lgtin:…`` or ``urn:epc:idpat:…``."""
    match = re.fullmatch(r"urn:epc:([a-z]+):([A-Za-z0-9-]+):(.*)", text, flags=re.DOTALL)
    if not match:
        raise IdentifierError(f"not an EPC URI: {shown(text)} (expected urn:epc:id:<scheme>:…)")
    form, scheme, body = match.groups()
    if form == "tag" or form == "raw":
        raise IdentifierError(
            f"EPC {form} URIs encode RFID tag bits and are not supported: {shown(text)};"
            " use the pure identity URI (urn:epc:id:…)"
        )
    if form == "class":
        if scheme != "lgtin":
            raise IdentifierError(f"unknown EPC class scheme {shown(scheme)} (only lgtin exists)")
        return _parse_gs1("class", "lgtin", body)
    if form not in ("id", "idpat"):
        raise IdentifierError(
            f"unknown EPC URI form {shown(f'urn:epc:{form}:')} (expected id, class, idpat)"
        )
    if scheme in UNSUPPORTED_SCHEMES:
        raise IdentifierError(f"EPC scheme {shown(scheme)} is not supported")
    if scheme in OTHER_SCHEMES:
        if form == "idpat":
            raise IdentifierError(f"EPC pattern URIs of scheme {shown(scheme)} are not supported")
        return _parse_other(scheme, body)
    if scheme not in GS1_SCHEMES:
        raise IdentifierError(f"unknown EPC scheme {shown(scheme)}")
    if form == "idpat":
        return _parse_pattern(scheme, body)
    return _parse_gs1("id", scheme, body)


# --- GS1 schemes -------------------------------------------------------------------------

# scheme: (digits in CompanyPrefix + reference, what follows: None, "text" or "digits")
_LAYOUT: dict[str, tuple[int, str | None]] = {
    "sgtin": (13, "text"),
    "lgtin": (13, "text"),
    "upui": (13, "text"),
    "itip": (13, "text"),
    "sscc": (17, None),
    "sgln": (12, "text"),
    "grai": (12, "text"),
    "gdti": (12, "text"),
    "sgcn": (12, "digits"),
    "pgln": (12, None),
    "gsrn": (17, None),
    "gsrnp": (17, None),
    "gsin": (16, None),
}
_MAX_TEXT = {
    "sgtin": 20,
    "lgtin": 20,
    "upui": 28,
    "itip": 20,
    "sgln": 20,
    "grai": 16,
    "gdti": 17,
    "sgcn": 12,
}
_MAX_KEY_TEXT = 30
"""GIAI (AI 8004), GINC (AI 401) and CPI (AI 8010): company prefix + reference."""
_TEXT_NAME = {
    "sgtin": "serial",
    "lgtin": "lot",
    "upui": "third-party controlled serial (TPX)",
    "itip": "serial",
    "sgln": "GLN extension",
    "grai": "serial",
    "gdti": "serial",
    "sgcn": "serial",
}


def _company_prefix(scheme: str, cp: str) -> str:
    if not (cp.isascii() and cp.isdigit()) or not 6 <= len(cp) <= 12:
        raise IdentifierError(
            f"{scheme}: GS1 Company Prefix must be 6 to 12 digits, got {shown(cp)} ({len(cp)})"
        )
    return cp


def _key_digits(scheme: str, cp: str, ref: str, total: int) -> str:
    _company_prefix(scheme, cp)
    if ref and not (ref.isascii() and ref.isdigit()):
        raise IdentifierError(f"{scheme}: reference {shown(ref)} must be digits")
    if len(cp) + len(ref) != total:
        raise IdentifierError(
            f"{scheme}: company prefix + reference must be {total} digits,"
            f" got {len(cp)} + {len(ref)} = {len(cp) + len(ref)}"
        )
    return cp + ref


def _with_cd(digits: str) -> str:
    return digits + str(mod10(digits))


def _parse_text(scheme: str, text: str) -> str:
    what = f"{scheme} {_TEXT_NAME[scheme]}"
    if not text:
        raise IdentifierError(f"{what} is empty")
    limit = _MAX_TEXT[scheme]
    # A character takes at most 3 URI characters (%XX): a longer text is too long whatever it
    # holds, and is refused before it is decoded.
    if len(text) > 3 * limit:
        raise _too_long(what, text, limit)
    value = unescape(text, what)
    if len(value) > limit:
        raise _too_long(what, value, limit)
    return value


def _too_long(what: str, value: str, limit: int) -> IdentifierError:
    return IdentifierError(
        f"{what} {shown(value)} is longer than {limit} characters: at most {limit}"
        " characters of the GS1 AI encodable character set 82, counted after"
        " percent-decoding"
    )


def _parse_gs1(form: str, scheme: str, body: str) -> EpcUri:
    if scheme in ("giai", "ginc"):
        return _parse_cp_text(scheme, body)
    if scheme == "cpi":
        return _parse_cpi(body)
    total, tail = _LAYOUT[scheme]
    parts = body.split(".", 4 if scheme == "itip" else 2)
    expected = 2 + (tail is not None) + (2 if scheme == "itip" else 0)
    if len(parts) != expected:
        shape = {None: "CompanyPrefix.Reference", "text": "CompanyPrefix.Reference.Value"}
        raise IdentifierError(
            f"{scheme} URI needs {shape.get(tail, 'CompanyPrefix.Reference.Serial')}"
            + (" with .Piece.Total before the serial" if scheme == "itip" else "")
            + f", got {shown(body)}"
        )
    cp, ref = parts[0], parts[1]
    digits = _key_digits(scheme, cp, ref, total)
    ais: dict[str, str] = {}
    if total == 13:  # GTIN: the indicator digit (first of the reference) goes in front
        gtin = _with_cd(ref[0] + cp + ref[1:])
        if scheme == "itip":
            piece, of = parts[2], parts[3]
            if not re.fullmatch(r"[0-9]{2}", piece) or not re.fullmatch(r"[0-9]{2}", of):
                raise IdentifierError(
                    f"itip: piece and total must be 2 digits each, got {shown(body)}"
                )
            ais["8006"] = gtin + piece + of
        else:
            ais["01"] = gtin
        qualifier = {"sgtin": "21", "lgtin": "10", "upui": "235", "itip": "21"}[scheme]
        ais[qualifier] = _parse_text(scheme, parts[-1])
    elif scheme == "sscc":
        ais["00"] = _with_cd(ref[0] + cp + ref[1:])
    elif scheme == "sgln":
        ais["414"] = _with_cd(digits)
        extension = _parse_text(scheme, parts[2])
        if extension != "0":
            ais["254"] = extension
    elif scheme == "grai":
        ais["8003"] = "0" + _with_cd(digits) + _parse_text(scheme, parts[2])
    elif scheme == "gdti":
        ais["253"] = _with_cd(digits) + _parse_text(scheme, parts[2])
    elif scheme == "sgcn":
        serial = parts[2]
        if not (serial.isascii() and serial.isdigit()) or len(serial) > 12:
            raise IdentifierError(f"sgcn serial must be 1 to 12 digits, got {shown(serial)}")
        ais["255"] = _with_cd(digits) + serial
    else:
        ai = {"pgln": "417", "gsrn": "8018", "gsrnp": "8017", "gsin": "402"}[scheme]
        ais[ai] = _with_cd(digits)
    return EpcUri(form, scheme, cp, ais)


def _parse_cp_text(scheme: str, body: str) -> EpcUri:
    cp, dot, ref = body.partition(".")
    if not dot:
        raise IdentifierError(f"{scheme} URI needs CompanyPrefix.Reference, got {shown(body)}")
    _company_prefix(scheme, cp)
    if not ref:
        raise IdentifierError(f"{scheme}: reference is empty")
    name = "individual asset reference" if scheme == "giai" else "consignment reference"
    if len(cp) + len(ref) > 3 * _MAX_KEY_TEXT:
        raise _key_too_long(f"{scheme} {name}", cp, ref)
    value = cp + unescape(ref, f"{scheme} {name}")
    if len(value) > _MAX_KEY_TEXT:
        raise _key_too_long(f"{scheme} {name}", cp, value[len(cp) :])
    return EpcUri("id", scheme, cp, {"8004" if scheme == "giai" else "401": value})


def _key_too_long(what: str, cp: str, ref: str) -> IdentifierError:
    room = _MAX_KEY_TEXT - len(cp)
    return IdentifierError(
        f"{what} {shown(ref)} is longer than {room} characters: GS1 Company Prefix +"
        f" reference are at most {_MAX_KEY_TEXT} characters, so with a {len(cp)}-digit"
        f" prefix at most {room}"
    )


def _parse_cpi(body: str) -> EpcUri:
    parts = body.split(".")
    if len(parts) != 3:
        raise IdentifierError(f"cpi URI needs CompanyPrefix.ComponentRef.Serial, got {shown(body)}")
    cp, ref, serial = parts
    _company_prefix("cpi", cp)
    if not ref:
        raise IdentifierError("cpi: component/part reference is empty")
    if len(cp) + len(ref) > 3 * _MAX_KEY_TEXT:
        raise _key_too_long("cpi component/part reference", cp, ref)
    value = cp + unescape(ref, "cpi component/part reference", charset=_CSET39)
    if len(value) > _MAX_KEY_TEXT:
        raise _key_too_long("cpi component/part reference", cp, value[len(cp) :])
    if not (serial.isascii() and serial.isdigit()) or len(serial) > 12:
        raise IdentifierError(f"cpi serial must be 1 to 12 digits, got {shown(serial)}")
    return EpcUri("id", "cpi", cp, {"8010": value, "8011": serial})


def _parse_pattern(scheme: str, body: str) -> EpcUri:
    """``CompanyPrefix.Reference.*`` patterns: a whole class, named by one GS1 key."""
    head, dot, star = body.rpartition(".")
    supported = ("sgtin", "upui", "grai", "gdti", "sgcn", "itip", "cpi")
    if star != "*" or not dot or "*" in head or scheme not in supported:
        raise IdentifierError(
            f"EPC pattern {shown(body)} ({scheme}) matches many keys; only"
            " CompanyPrefix.Reference.* patterns of sgtin, upui, grai, gdti, sgcn, itip"
            " and cpi name one class"
        )
    if scheme == "cpi":
        cp, _, ref = head.partition(".")
        _company_prefix("cpi", cp)
        value = cp + unescape(ref, "cpi component/part reference", charset=_CSET39)
        return EpcUri("idpat", scheme, cp, {"8010": value})
    parts = head.split(".")
    if len(parts) != (4 if scheme == "itip" else 2):
        raise IdentifierError(
            f"{scheme} pattern needs CompanyPrefix.Reference.*, got {shown(body)}"
        )
    total = _LAYOUT[scheme][0]
    digits = _key_digits(scheme, parts[0], parts[1], total)
    cp, ref = parts[0], parts[1]
    if scheme in ("sgtin", "upui"):
        return EpcUri("idpat", scheme, cp, {"01": _with_cd(ref[0] + cp + ref[1:])})
    if scheme == "itip":
        if not all(re.fullmatch(r"[0-9]{2}", p) for p in parts[2:]):
            raise IdentifierError(f"itip: piece and total must be 2 digits each, got {shown(body)}")
        return EpcUri(
            "idpat", scheme, cp, {"8006": _with_cd(ref[0] + cp + ref[1:]) + parts[2] + parts[3]}
        )
    ai = {"grai": "8003", "gdti": "253", "sgcn": "255"}[scheme]
    return EpcUri("idpat", scheme, cp, {ai: ("0" if ai == "8003" else "") + _with_cd(digits)})


# --- other EPC schemes ---------------------------------------------------------------------


def _parse_other(scheme: str, body: str) -> EpcUri:
    if scheme == "gid":
        parts = body.split(".")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
            raise IdentifierError(
                f"gid URI needs Manager.Class.Serial in digits, got {shown(body)}"
            )
        limits = (268435455, 16777215, 68719476735)
        for name, part, limit in zip(("manager", "class", "serial"), parts, limits, strict=True):
            too_long = len(part) > len(str(limit))  # before int(): it refuses 4,300+ digits
            if too_long or int(part) > limit or (len(part) > 1 and part[0] == "0"):
                raise IdentifierError(
                    f"gid {name} number {shown(part)} is out of range (0 to {limit}) or has"
                    " leading zeros"
                )
        return EpcUri(
            "id", "gid", None, {}, dict(zip(("manager", "class", "serial"), parts, strict=True))
        )
    if scheme == "bic":
        _check_bic(body)
        return EpcUri("id", "bic", None, {}, {"container": body})
    _check_imo(body)
    return EpcUri("id", "imovn", None, {}, {"imo": body})


def _check_bic(code: str) -> None:
    """ISO 6346 container code: owner (3 letters), category (U, J, Z), 6 digits, check digit."""
    if not re.fullmatch(r"[A-Z]{3}[UJZ][0-9]{7}", code):
        raise IdentifierError(
            f"bic (ISO 6346) needs 3 letters, U/J/Z, 6 digits and a check digit, got {shown(code)}"
        )
    letter_values = [v for v in range(10, 39) if v % 11 != 0]  # 11, 22, 33 are skipped
    values = {chr(ord("A") + i): letter_values[i] for i in range(26)}
    total = sum((values[c] if c.isalpha() else int(c)) * 2**i for i, c in enumerate(code[:10]))
    expected = total % 11 % 10
    if int(code[10]) != expected:
        raise IdentifierError(
            f"bad ISO 6346 check digit at position 11 of {shown(code)}:"
            f" expected {expected}, got {code[10]}"
        )


def _check_imo(code: str) -> None:
    if not re.fullmatch(r"[0-9]{7}", code):
        raise IdentifierError(f"imovn needs a 7-digit IMO number, got {shown(code)}")
    expected = sum(int(c) * (7 - i) for i, c in enumerate(code[:6])) % 10
    if int(code[6]) != expected:
        raise IdentifierError(
            f"bad IMO number check digit at position 7 of {shown(code)}:"
            f" expected {expected}, got {code[6]}"
        )


# --- formatting ----------------------------------------------------------------------------


def format_epc_uri(ais: Mapping[str, str], company_prefix_length: int) -> str | None:
    """The EPC URI (or class / pattern URI) of a GS1 key with its qualifiers; None if the
    key has no EPC form or does not fit the company prefix length."""
    size = company_prefix_length
    if not 6 <= size <= 12:
        raise IdentifierError(f"GS1 Company Prefix length must be 6 to 12, got {size}")
    if "01" in ais:
        return _format_gtin(ais, size)
    if "8006" in ais:
        value = ais["8006"]
        head = _split_indicator(value[:14], size)
        if "21" in ais:
            return f"urn:epc:id:itip:{head}.{value[14:16]}.{value[16:18]}.{escape(ais['21'])}"
        if "10" in ais:
            return None  # no EPC class for ITIP + lot
        return f"urn:epc:idpat:itip:{head}.{value[14:16]}.{value[16:18]}.*"
    if "00" in ais:
        return f"urn:epc:id:sscc:{_split_indicator(ais['00'], size)}"
    for ai, scheme, total in (("8018", "gsrn", 17), ("8017", "gsrnp", 17), ("402", "gsin", 16)):
        if ai in ais:
            key = ais[ai]
            return f"urn:epc:id:{scheme}:{key[:size]}.{key[size:total]}"
    if "414" in ais:
        gln = ais["414"]
        return f"urn:epc:id:sgln:{gln[:size]}.{gln[size:12]}.{escape(ais.get('254', '0'))}"
    if "417" in ais:
        return f"urn:epc:id:pgln:{ais['417'][:size]}.{ais['417'][size:12]}"
    if "8003" in ais:
        value = ais["8003"]
        return _serial_or_pattern("grai", value[1 : 1 + size], value[1 + size : 13], value[14:])
    if "253" in ais:
        value = ais["253"]
        return _serial_or_pattern("gdti", value[:size], value[size:12], value[13:])
    if "255" in ais:
        value = ais["255"]
        return _serial_or_pattern("sgcn", value[:size], value[size:12], value[13:])
    for ai, scheme in (("8004", "giai"), ("401", "ginc"), ("8010", "cpi")):
        if ai in ais:
            value = ais[ai]
            cp, ref = value[:size], value[size:]
            if not (cp.isascii() and cp.isdigit()) or len(cp) != size or not ref:
                return None
            if scheme != "cpi":
                return f"urn:epc:id:{scheme}:{cp}.{escape(ref)}"
            if "8011" in ais:
                return f"urn:epc:id:cpi:{cp}.{escape(ref)}.{ais['8011']}"
            return f"urn:epc:idpat:cpi:{cp}.{escape(ref)}.*"
    return None


def _split_indicator(key: str, size: int) -> str:
    """``CP.IndicatorRef`` of a GTIN-14 or SSCC (check digit dropped)."""
    return f"{key[1 : 1 + size]}.{key[0]}{key[1 + size : -1]}"


def _format_gtin(ais: Mapping[str, str], size: int) -> str:
    head = _split_indicator(ais["01"], size)
    if "21" in ais:
        return f"urn:epc:id:sgtin:{head}.{escape(ais['21'])}"
    if "235" in ais:
        return f"urn:epc:id:upui:{head}.{escape(ais['235'])}"
    if "10" in ais:
        return f"urn:epc:class:lgtin:{head}.{escape(ais['10'])}"
    return f"urn:epc:idpat:sgtin:{head}.*"


def _serial_or_pattern(scheme: str, cp: str, ref: str, serial: str) -> str:
    if serial:
        return f"urn:epc:id:{scheme}:{cp}.{ref}.{escape(serial)}"
    return f"urn:epc:idpat:{scheme}:{cp}.{ref}.*"
