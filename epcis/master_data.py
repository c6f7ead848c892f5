"""EPCIS master data: vocabularies of elements, each with attributes and children
(EPCIS 2.0 §6.5 and §7.2.9; the header's ``epcisMasterData``, an ``EPCISMasterDataDocument``).

A document's vocabularies are read from its internal form (the XML reader already puts an
XML document's ``EPCISHeader/extension/EPCISMasterData`` and an ``EPCISMasterDataDocument``'s
body under ``epcisHeader.epcisMasterData``), each element with the JSON pointer it is at,
so that whoever checks them can say where a problem is (and, for XML, at which line).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

VTYPE = "urn:epcglobal:epcis:vtype:"
BUSINESS_LOCATION = VTYPE + "BusinessLocation"
READ_POINT = VTYPE + "ReadPoint"
EPC_CLASS = VTYPE + "EPCClass"

VOCABULARY_LIST = "/epcisHeader/epcisMasterData/vocabularyList"


@dataclass(frozen=True)
class VocabularyElement:
    """One vocabulary element: its id (a URI), its attributes by name (each with every value
    it was given, in order) and the ids of its direct children."""

    id: str
    attributes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class FoundElement:
    """A vocabulary element as a document carries it: its vocabulary type, the element, and
    where it is (a JSON pointer; ``attributes`` maps each attribute name to the pointers of
    its values)."""

    vtype: str
    element: VocabularyElement
    pointer: str
    attribute_pointers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def vocabulary_elements(document: Mapping[str, Any]) -> Iterator[FoundElement]:
    """Every vocabulary element of a document in the internal form, in document order
    (an invalid shape is skipped: the JSON Schema reports it)."""
    header = document.get("epcisHeader")
    master = header.get("epcisMasterData") if isinstance(header, Mapping) else None
    vocabularies = master.get("vocabularyList") if isinstance(master, Mapping) else None
    if not isinstance(vocabularies, list):
        return
    for v, vocabulary in enumerate(vocabularies):
        if not isinstance(vocabulary, Mapping):
            continue
        vtype = str(vocabulary.get("type", ""))
        elements = vocabulary.get("vocabularyElementList")
        for e, item in enumerate(elements if isinstance(elements, list) else []):
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            pointer = f"{VOCABULARY_LIST}/{v}/vocabularyElementList/{e}"
            values: dict[str, list[Any]] = {}
            pointers: dict[str, list[str]] = {}
            attributes = item.get("attributes")
            for a, attribute in enumerate(attributes if isinstance(attributes, list) else []):
                if not isinstance(attribute, Mapping) or not isinstance(attribute.get("id"), str):
                    continue
                name = attribute["id"]
                values.setdefault(name, []).append(attribute.get("attribute"))
                pointers.setdefault(name, []).append(f"{pointer}/attributes/{a}")
            children = item.get("children")
            kids = tuple(
                c for c in (children if isinstance(children, list) else []) if isinstance(c, str)
            )
            yield FoundElement(
                vtype,
                VocabularyElement(item["id"], {k: tuple(v) for k, v in values.items()}, kids),
                pointer,
                {k: tuple(p) for k, p in pointers.items()},
            )


def has_master_data(document: Mapping[str, Any]) -> bool:
    """Whether a document's header carries a vocabulary list (even an empty one)."""
    header = document.get("epcisHeader")
    master = header.get("epcisMasterData") if isinstance(header, Mapping) else None
    return isinstance(master, Mapping) and isinstance(master.get("vocabularyList"), list)
