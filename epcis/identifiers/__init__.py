"""Identifiers on drug packs and in EPCIS documents: one parser, one canonical form.

* :func:`parse_identifier` — EPC URIs, GS1 Digital Links, GS1 element strings, bare
  GTIN/SSCC, 20-digit Chinese drug trace codes (also issuer-prefixed) and MA codes.
* :func:`canonical_digital_link` — the constrained canonical Digital Link of the EPCIS
  Event Hash ID (reference-compatible).
* :func:`digital_link_to_epc_urn` and :func:`gs1_check_digit`.
"""

from epcis.identifiers.canonical import canonical_digital_link
from epcis.identifiers.check_digit import gs1_check_digit
from epcis.identifiers.digital_link import digital_link_to_epc_urn
from epcis.identifiers.model import Identifier, IdentifierError
from epcis.identifiers.parse import parse_identifier

__all__ = [
    "Identifier",
    "IdentifierError",
    "canonical_digital_link",
    "digital_link_to_epc_urn",
    "gs1_check_digit",
    "parse_identifier",
]
