"""CBV standard vocabulary values in each of their spellings.

EPCIS 2.0 JSON-LD writes standard values as bare words (``shipping``); XML writes them as
CBV URNs (``urn:epcglobal:cbv:bizstep:shipping``) or, in 2.0, as GS1 Web URIs
(``https://ref.gs1.org/cbv/BizStep-shipping``). A :class:`Vocabulary` converts between the
three. Values that are not standard terms (a company's own URI) pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from epcis import cbv_terms

CBV_WEB = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"


@dataclass(frozen=True)
class Vocabulary:
    """One CBV vocabulary: its terms and the prefixes of its URN and Web URI forms."""

    name: str
    terms: frozenset[str]
    web_prefix: str
    urn_prefix: str | None

    def is_term(self, word: str) -> bool:
        return word in self.terms

    def to_bare(self, value: str) -> str:
        """The JSON-LD spelling: a bare word for a standard term, else the value unchanged."""
        for prefix in (self.urn_prefix, self.web_prefix, self.curie_prefix):
            if prefix and value.startswith(prefix):
                word = value[len(prefix) :]
                if word in self.terms:
                    return word
        return value

    def to_web_uri(self, value: str) -> str:
        """The GS1 Web URI of a standard term in any spelling, else the value unchanged."""
        bare = self.to_bare(value)
        return self.web_prefix + bare if bare in self.terms else value

    def to_urn(self, value: str) -> str:
        """The CBV URN (XML 1.2 style) of a standard term; Web-only vocabularies keep the URI."""
        bare = self.to_bare(value)
        if bare not in self.terms:
            return value
        if self.urn_prefix is None:
            return self.web_prefix + bare
        return self.urn_prefix + bare

    @property
    def curie_prefix(self) -> str:
        if self.web_prefix.startswith(CBV_WEB):
            return "cbv:" + self.web_prefix[len(CBV_WEB) :]
        return "gs1:" + self.web_prefix[len(GS1_VOC) :]


BIZ_STEP = Vocabulary(
    "bizStep", cbv_terms.BIZ_STEPS, CBV_WEB + "BizStep-", "urn:epcglobal:cbv:bizstep:"
)
DISPOSITION = Vocabulary(
    "disposition", cbv_terms.DISPOSITIONS, CBV_WEB + "Disp-", "urn:epcglobal:cbv:disp:"
)
BIZ_TRANSACTION_TYPE = Vocabulary(
    "bizTransactionType",
    cbv_terms.BIZ_TRANSACTION_TYPES,
    CBV_WEB + "BTT-",
    "urn:epcglobal:cbv:btt:",
)
SOURCE_DESTINATION_TYPE = Vocabulary(
    "sourceDestType", cbv_terms.SOURCE_DESTINATION_TYPES, CBV_WEB + "SDT-", "urn:epcglobal:cbv:sdt:"
)
ERROR_REASON = Vocabulary(
    "errorReason", cbv_terms.ERROR_REASONS, CBV_WEB + "ER-", "urn:epcglobal:cbv:er:"
)
COMPONENT = Vocabulary("component", cbv_terms.COMPONENTS, CBV_WEB + "Comp-", None)
MEASUREMENT_TYPE = Vocabulary("measurementType", cbv_terms.MEASUREMENT_TYPES, GS1_VOC, None)
SENSOR_ALERT_TYPE = Vocabulary("sensorAlertType", cbv_terms.SENSOR_ALERT_TYPES, GS1_VOC, None)

ALL: tuple[Vocabulary, ...] = (
    BIZ_STEP,
    DISPOSITION,
    BIZ_TRANSACTION_TYPE,
    SOURCE_DESTINATION_TYPE,
    ERROR_REASON,
    COMPONENT,
    MEASUREMENT_TYPE,
    SENSOR_ALERT_TYPE,
)

# Which JSON-LD field (by its key, and for ``type`` by its parent) takes which vocabulary.
FIELD_VOCABULARY: dict[str, Vocabulary] = {
    "bizStep": BIZ_STEP,
    "disposition": DISPOSITION,
    "set": DISPOSITION,
    "unset": DISPOSITION,
    "reason": ERROR_REASON,
    "component": COMPONENT,
    "exception": SENSOR_ALERT_TYPE,
}
TYPE_VOCABULARY_BY_PARENT: dict[str, Vocabulary] = {
    "bizTransactionList": BIZ_TRANSACTION_TYPE,
    "sourceList": SOURCE_DESTINATION_TYPE,
    "destinationList": SOURCE_DESTINATION_TYPE,
    "sensorReport": MEASUREMENT_TYPE,
}

CBV_URN_PREFIXES: dict[str, str] = {
    v.urn_prefix: v.web_prefix for v in ALL if v.urn_prefix is not None
}


def urn_to_web_uri(value: str) -> str:
    """Rewrite any ``urn:epcglobal:cbv:…`` standard value to its Web URI (hash rule 14)."""
    if not value.startswith("urn:epcglobal:cbv:"):
        return value
    for urn, web in CBV_URN_PREFIXES.items():
        if value.startswith(urn):
            return web + value[len(urn) :]
    return value
