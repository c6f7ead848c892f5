"""The result of parsing an identifier, and the error raised when one cannot be parsed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from epcis.problems import excerpt


class IdentifierError(ValueError):
    """The input is not an identifier we know; the message says why."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Identifier:
    """One scanned or written identifier, with its canonical form and what it tells us.

    ``canonical`` is the same for one physical item whichever carrier was read (EPC URN,
    Digital Link, DataMatrix element string): for GS1 keys the canonical GS1 Digital Link
    URI on ``https://id.gs1.org`` with only the finest-grained key (serial beats lot), for
    Chinese drug trace codes their URN ``urn:tracecode:cn-drug:<20 digits>``, for MA codes
    the normalised MA string.

    A frozen dataclass, not a pydantic model: ``tracecode id`` runs once per scanned code,
    and importing pydantic would be most of its start-up (issue 9).
    """

    raw: str
    """The input exactly as given."""
    canonical: str
    family: str
    """``gs1``, ``epc`` (EPC schemes outside GS1 keys: gid, bic, imovn),
    ``cn-drug-trace-code`` or ``ma``."""
    scheme: str
    """The form that was read: an EPC scheme (``sgtin``, ``lgtin``, ``sscc`` …) for URNs,
    ``digital-link``, ``element-string``, ``gtin``/``sscc`` for bare digits,
    ``trace-code-20``, ``issuer-prefixed``, ``idcode`` or ``idcode-uri``."""
    kind: str | None = None
    """What is identified, as an EPC scheme name (``sgtin``, ``lgtin``, ``sscc``, ``sgln`` …;
    ``gtin`` for a GTIN without lot or serial), whatever the carrier. None outside GS1/EPC."""
    gs1_key: str | None = None
    """The GS1 primary key as its AI value (GTIN-14, SSCC-18, GLN-13, GRAI+serial …)."""
    gs1_key_ai: str | None = None
    """The Application Identifier of ``gs1_key`` (``01``, ``00``, ``414`` …)."""
    product_key: str | None = None
    """GTIN-14, the 7-digit Chinese 药品标识码, or the MA product identifier (UDI-DI)."""
    company_prefix: str | None = None
    """GS1 Company Prefix: exact from an EPC URN, else from biip's prefix table, else None."""
    packaging_level: int | None = None
    """GTIN-14 indicator digit (or the MA packaging digit) where the code itself says it."""
    lot: str | None = None
    expiry: str | None = None
    """ISO date (YYYY-MM-DD)."""
    manufacture_date: str | None = None
    serial: str | None = None
    epc_urn: str | None = None
    """The EPC URI (or EPC class / pattern URI) when one exists and can be built."""
    is_instance: bool
    """True for one individual thing; False for a class (GTIN, GTIN + lot, document type …)."""
    issuer: str | None = None
    """Issuing agency: ``GS1``, ``MA`` or an issuer prefix such as ``AHM``."""
    symbology: str | None = None
    """Symbology identifier the scanner sent (``]d2``, ``]C1`` …), if any."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Everything else that was read: other GS1 AIs by AI code, MA segments by letter."""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: every field in declaration order; ``notes`` a list."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out

    def replace(self, **changes: Any) -> Identifier:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


SHOWN_PREFIX = 40
"""How many characters of a bad value a message quotes: enough to find it, never a flood."""


def shown(text: str) -> str:
    """``repr`` of ``text`` cut to its first :data:`SHOWN_PREFIX` characters (+ ``…``), with
    the full length when cut: error messages quote what they refuse, not 3,000 characters."""
    return excerpt(text, SHOWN_PREFIX)
