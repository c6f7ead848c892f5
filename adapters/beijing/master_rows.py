"""The master-data rows (table 13 drug, table 14 entity) of what an event names, from the
institution's master data (:func:`ledger.master_data.current_master_data`).

**Drug (13)**, one per packaging level (its 药品标识码): the trace prefix (a GS1 code's
GTIN) issued by :data:`~adapters.beijing.reading.ISSUER` (``GS1``); ``regulatedProductName``
the product's ``name``, ``manufacturerOfTradeItemPartyName`` its ``manufacturer``,
``dosageFormType`` its ``form``, ``netContentDescription`` (包装规格) the level's ``spec``
and ``strengthDescription`` (制剂规格) the ``spec`` of the product's smallest level
recorded (for a product recorded at one level only, the same text).

**Entity (14)**, one per place or party of the institution's master data a row names:
``name`` the location's ``name``. Master data keeps no address, postal code or country, so
those required fields stay missing and the row ``incomplete`` (it is kept, naming them,
until master data has them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.beijing.reading import ISSUER
from epcis.identifiers import IdentifierError, parse_identifier
from epcis.identifiers.cn_drug_code import LENGTH, PREFIX_LENGTH, URN_PREFIX, is_trace_code_urn
from ledger.master_data import MasterData
from ledger.master_data_rows import level_rank

Row = dict[str, Any]


@dataclass(frozen=True)
class Drug:
    """A packaging level as the platform identifies it."""

    identification: str
    issuer: str


def drug_of(epc: str) -> Drug | None:
    """The packaging level ``epc`` is a code of: a trace code's 7-digit prefix, a GS1
    instance's GTIN; None for anything else."""
    if is_trace_code_urn(epc):
        digits = epc[len(URN_PREFIX) :][:LENGTH]
        return Drug(digits[:PREFIX_LENGTH], ISSUER)
    try:
        found = parse_identifier(epc)
    except IdentifierError:
        return None
    if found.family == "gs1" and found.is_instance and found.product_key:
        return Drug(found.product_key, "GS1")
    return None


@dataclass
class Catalogue:
    """Master data by what the platform's rows look rows up by."""

    data: MasterData
    products: dict[tuple[str, str], Row] = field(default_factory=dict)
    levels: dict[tuple[str, str], list[Row]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (institution, _), row in self.data.products.items():
            for key in (row.get("trace_prefix"), row.get("gtin")):
                if key:
                    self.products[(institution, str(key))] = row
            self.levels.setdefault((institution, row["yb_code"]), []).append(row)
        for rows in self.levels.values():
            rows.sort(key=lambda row: level_rank(row["level"]))

    def product(self, institution: str, drug: Drug) -> Row | None:
        return self.products.get((institution, drug.identification))

    def drug(self, institution: str, drug: Drug) -> Row:
        row: Row = {
            "additionalTradeItemIdentification": drug.identification,
            "additionalTradeItemIdentificationTypeCode": drug.issuer,
        }
        product = self.product(institution, drug)
        if product is None:
            return row
        smallest = self.levels[(institution, product["yb_code"])][0]
        values = {
            "regulatedProductName": product.get("name"),
            "manufacturerOfTradeItemPartyName": product.get("manufacturer"),
            "dosageFormType": product.get("form"),
            "strengthDescription": smallest.get("spec"),
            "netContentDescription": product.get("spec"),
        }
        row.update({name: value for name, value in values.items() if value})
        return row

    def approval(self, institution: str, drugs: list[Drug]) -> str | None:
        """The one approval number of the products of ``drugs``; None when they name
        none or several."""
        found = {
            str(product["approval_no"])
            for drug in drugs
            if (product := self.product(institution, drug)) and product.get("approval_no")
        }
        return found.pop() if len(found) == 1 else None

    def kind(self, institution: str, location: str) -> str | None:
        row = self.data.locations.get((institution, location))
        return None if row is None else str(row["kind"])

    def entity(self, institution: str, location: str) -> Row:
        row = self.data.locations.get((institution, location))
        return {"name": row["name"]} if row and row.get("name") else {}
