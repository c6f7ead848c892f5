"""From a scanned code to the product, its packaging level and its units.

A 20-digit drug trace code (bare, or in the ``AHM.`` notation) is recognised by its
7-digit prefix (the 药品标识码 of one packaging level); a GS1 code (element string,
Digital Link, EPC URN, bare GTIN) by its GTIN. MA codes carry neither and are not
recognised here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from epcis.identifiers import IdentifierError, parse_identifier
from ledger.application import Ledger
from ledger.master_data import MasterData, master_data


@dataclass(frozen=True)
class ProductMatch:
    """The product row a code belongs to: its level and how many smallest units it is."""

    product: dict[str, Any]
    level: str
    units: int

    def as_json(self) -> dict[str, Any]:
        return {"product": self.product, "level": self.level, "units": self.units}


class Catalogue:
    """An institution's products at one time, indexed by trace prefix and by GTIN."""

    def __init__(self, data: MasterData, institution: str) -> None:
        self.by_prefix: dict[str, dict[str, Any]] = {}
        self.by_gtin: dict[str, dict[str, Any]] = {}
        for (owner, _), row in data.products.items():
            if owner != institution:
                continue
            self.by_prefix[row["trace_prefix"]] = row
            if row["gtin"]:
                self.by_gtin[row["gtin"]] = row

    def product_for_code(self, raw: str) -> ProductMatch | None:
        """The product of a scanned code in any carrier form; None when the code is not an
        identifier or no product of this institution has its prefix or GTIN."""
        try:
            identifier = parse_identifier(raw)
        except IdentifierError:
            return None
        key = identifier.product_key or ""
        if identifier.family == "cn-drug-trace-code":
            row = self.by_prefix.get(key)
        elif identifier.family == "gs1":
            row = self.by_gtin.get(key)
        else:
            row = None
        if row is None:
            return None
        return ProductMatch(product=row, level=row["level"], units=row["units"])


def product_for_code(
    ledger: Ledger, institution: str, raw: str, as_of: str | None = None
) -> ProductMatch | None:
    """The product of a scanned code among ``institution``'s master data as recorded up to
    ``as_of`` (default: now). Many codes at once: build one :class:`Catalogue`."""
    return Catalogue(master_data(ledger, [institution], as_of), institution).product_for_code(raw)
