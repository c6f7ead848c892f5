"""One entry point for whatever a scanner or a document gives: :func:`parse_identifier`."""

from __future__ import annotations

from biip import ParseError
from biip.symbology import GS1Symbology, SymbologyIdentifier

from epcis.identifiers import cn_drug_code, element_string, epc_uri, ma_code
from epcis.identifiers.check_digit import verify_key
from epcis.identifiers.digital_link import looks_like_digital_link, parse_digital_link
from epcis.identifiers.element_string import GS
from epcis.identifiers.gs1 import Element, gs1_identifier
from epcis.identifiers.model import Identifier, IdentifierError

_GS1_MESSAGE_SYMBOLOGIES = GS1Symbology.with_gs1_messages()
_DIGITAL_LINK_SYMBOLOGIES = GS1Symbology.with_gs1_digital_link_uri()
_GTIN_SYMBOLOGIES = GS1Symbology.with_gtin()

_UNRECOGNISED = (
    "not an EPC URI, GS1 Digital Link, GS1 element string, GTIN, SSCC, 20-digit Chinese"
    " drug trace code or MA code"
)


def parse_identifier(raw: str) -> Identifier:
    """Parse an EPC URI, GS1 Digital Link, GS1 element string (raw with GS, with a
    symbology identifier, or ``(AI)``-bracketed), bare GTIN/SSCC, 20-digit Chinese drug
    trace code (optionally issuer-prefixed) or MA code. Raises :class:`IdentifierError`."""
    if not isinstance(raw, str):
        raise IdentifierError(f"expected a string, got {type(raw).__name__}")
    text = raw.strip()
    if not text:
        raise IdentifierError("empty identifier")
    for index, char in enumerate(text):
        if (char < " " or char == "\x7f") and char != GS:
            raise IdentifierError(
                f"control character U+{ord(char):04X} at position {index + 1}"
                " (only GS, U+001D, may separate element strings)"
            )
    symbology = None
    if text.startswith("]"):
        try:
            found = SymbologyIdentifier.extract(text)
        except (ParseError, IndexError, ValueError):
            raise IdentifierError(
                f"unknown symbology identifier at the start of {text!r}"
            ) from None
        symbology, text = found.value, text[len(found.value) :]
        if not text:
            raise IdentifierError(f"nothing after the symbology identifier {symbology}")
        if found.gs1_symbology in _DIGITAL_LINK_SYMBOLOGIES and text.startswith("http"):
            return _digital_link(raw, text, symbology)
        if found.gs1_symbology in _GS1_MESSAGE_SYMBOLOGIES:
            return _element_string(raw, text, symbology)
        if found.gs1_symbology in _GTIN_SYMBOLOGIES:
            return _bare_digits(raw, text, symbology)
    return _dispatch(raw, text, symbology)


def _dispatch(raw: str, text: str, symbology: str | None) -> Identifier:
    lowered = text[:9].lower()
    if GS in text:
        return _element_string(raw, text, symbology)
    if text.startswith("("):
        return _element_string(raw, text, symbology)
    if lowered.startswith("urn:epc:"):
        return _epc_uri(raw, text)
    if cn_drug_code.is_trace_code_urn(text):
        return cn_drug_code.parse_trace_code_urn(raw, text)
    if lowered.startswith("urn:"):
        raise IdentifierError(
            f"{text!r} is a URN but not an EPC URI (urn:epc:…) or a Chinese drug trace code"
            f" ({cn_drug_code.URN_PREFIX}…)"
        )
    if lowered.startswith(("http://", "https://")):
        if looks_like_digital_link(text):
            return _digital_link(raw, text, symbology)
        embedded = ma_code.ma_in_uri(text)
        if embedded is not None:
            found = ma_code.parse_ma_code(raw, embedded, scheme="idcode-uri", symbology=symbology)
            note = "MA code read from the last path segment of the URI"
            return found.replace(notes=(note, *found.notes))
        raise IdentifierError(
            f"URI {text!r} is not a GS1 Digital Link: no GS1 key (01, 00, 414 …) in its path"
        )
    if ma_code.is_ma_code(text):
        return ma_code.parse_ma_code(raw, text, symbology=symbology)
    if cn_drug_code.is_issuer_prefixed(text):
        return cn_drug_code.parse_issuer_prefixed(raw, text, symbology=symbology)
    if text.isascii() and text.isdigit():
        return _bare_digits(raw, text, symbology)
    if (text[0] == "8" and 15 <= len(text) <= 25) or (text.isdecimal() and not text.isascii()):
        return cn_drug_code.parse_cn_drug_code(raw, text, symbology=symbology)
    if text[0].isdigit():
        return _element_string(raw, text, symbology)
    raise IdentifierError(f"unrecognised identifier {text!r}: {_UNRECOGNISED}")


def _epc_uri(raw: str, text: str) -> Identifier:
    parsed = epc_uri.parse_epc_uri(text)
    if parsed.scheme in epc_uri.OTHER_SCHEMES:
        return Identifier(
            raw=raw,
            canonical=text,
            family="epc",
            scheme=parsed.scheme,
            kind=parsed.scheme,
            epc_urn=text,
            is_instance=True,
            attributes=parsed.fields,
            notes=(f"EPC scheme {parsed.scheme} has no GS1 Digital Link form",),
        )
    elements = [Element(ai, value) for ai, value in parsed.ais.items()]
    return gs1_identifier(raw, parsed.scheme, elements, company_prefix=parsed.company_prefix)


def _digital_link(raw: str, text: str, symbology: str | None) -> Identifier:
    elements, notes = parse_digital_link(text)
    return gs1_identifier(raw, "digital-link", elements, symbology=symbology, notes=notes)


def _element_string(raw: str, text: str, symbology: str | None) -> Identifier:
    if text.startswith("("):
        elements = element_string.parse_hri(text)
        notes = []
    else:
        elements = element_string.parse_raw(text)
        notes = [] if GS in text else element_string.missing_separator_notes(elements)
    return gs1_identifier(raw, "element-string", elements, symbology=symbology, notes=notes)


def _bare_digits(raw: str, text: str, symbology: str | None) -> Identifier:
    """A GTIN-8/12/13/14, an SSCC, a Chinese trace code or an element string, by length."""
    if not (text.isascii() and text.isdigit()):
        raise IdentifierError(f"expected digits after {symbology}, got {text!r}")
    length = len(text)
    if length in (8, 12, 13, 14, 18):
        ai = "00" if length == 18 else "01"
        value = text if length == 18 else text.zfill(14)
        try:
            verify_key(ai, value)
        except IdentifierError as exc:
            if text[0] == "8" and symbology is None:
                raise IdentifierError(
                    f"{length} digits: {exc}; and not a Chinese drug trace code (20 digits)"
                ) from None
            raise
        scheme = "sscc" if length == 18 else "gtin"
        return gs1_identifier(raw, scheme, [Element(ai, value)], symbology=symbology)
    if text[:2] in ("00", "01", "02") and length > 18:
        return _element_string(raw, text, symbology)
    if text[0] == "8" or length == cn_drug_code.LENGTH:
        return cn_drug_code.parse_cn_drug_code(raw, text, symbology=symbology)
    raise IdentifierError(f"{length} digits {text!r}: {_UNRECOGNISED}")
