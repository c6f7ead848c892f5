"""The internal form (EPCIS 2.0 JSON-LD as a dict) → EPCIS XML, 2.0 or 1.2.

Output follows the element order of the XSDs, writes CBV standard values as URNs
(``urn:epcglobal:cbv:bizstep:shipping``) and Web-only vocabularies as CURIEs (sensor ``type``
``gs1:Temperature``, ``exception`` ``gs1:ALARM_CONDITION``, ``component`` ``cbv:Comp-x``),
declares every extension namespace on the root element, and writes numbers without losing
precision (``quantity`` as ``xsd:decimal`` without exponent).

What the XML cannot hold is not dropped: it raises :class:`~epcis.problems.DocumentError`
with one problem per JSON pointer. For 1.2 that includes AssociationEvent,
``sensorElementList``, ``persistentDisposition`` and ``certificationInfo``.

Choices the contract leaves open:

* ``id``, ``sender``, ``receiver`` and ``instanceIdentifier`` at document level (JSON only)
  are written as attributes of the root element (its ``xsd:anyAttribute`` allows them); the
  reader maps them back;
* a document without ``creationDate`` (the XSD requires one) gets the current UTC time;
* JSON ``schemaVersion`` is ignored: the output says ``2.0`` or ``1.2`` as asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from lxml import etree

from epcis import cbv
from epcis.context import lift_scoped_contexts, namespaces
from epcis.problems import DocumentError, Problem, pointer_join
from epcis.xmlbinding import layout
from epcis.xmlbinding.extensions import (
    NCNAME,
    ExtensionWriter,
    NamespaceResolver,
    builtin_or,
    number_text,
    scalar_text,
    used_prefixes,
)

_STANDARD_DOC_KEYS = frozenset(
    {
        "@context",
        "type",
        "schemaVersion",
        "creationDate",
        "epcisHeader",
        "epcisBody",
        *layout.ROOT_ATTRIBUTE_KEYS,
    }
)


def write_xml(document: dict[str, Any], *, version: Literal["2.0", "1.2"] = "2.0") -> bytes:
    """Serialise ``document`` as EPCIS XML of the given version (UTF-8 bytes).

    Contexts below the document are taken into its top one first (XML declares namespaces
    once, on the root); an undeclared standard prefix is written with its XML spelling.
    """
    if version not in ("2.0", "1.2"):
        raise ValueError(f"version must be '2.0' or '1.2', not {version!r}")
    lifted, _ = lift_scoped_contexts(document)
    return _Writer(lifted, version).write()


def _curie_or_urn(vocabulary: cbv.Vocabulary, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if vocabulary.urn_prefix is None:
        bare = vocabulary.to_bare(value)
        return vocabulary.curie_prefix + bare if vocabulary.is_term(bare) else value
    return vocabulary.to_urn(value)


class _Writer:
    def __init__(self, document: dict[str, Any], version: Literal["2.0", "1.2"]) -> None:
        self.doc = document
        self.version: Literal["2.0", "1.2"] = version
        self.problems: list[Problem] = []
        self.prefixes = builtin_or(namespaces(document))
        self.resolver = NamespaceResolver(self.prefixes)
        self.ext = ExtensionWriter(self.resolver, self.report)
        self.root_ns = ""

    def report(self, pointer: str, message: str) -> None:
        self.problems.append(Problem(message, pointer=pointer, rule="xml-write"))

    # -- helpers ------------------------------------------------------------------------

    def text_element(
        self, parent: etree._Element, name: str, value: Any, pointer: str
    ) -> etree._Element | None:
        text = scalar_text(value) if not isinstance(value, bool) else None
        if text is None:
            self.report(pointer, f"{name} must be a string, not {type(value).__name__}")
            return None
        element = etree.SubElement(parent, name)
        element.text = text
        return element

    def objects(
        self, values: Any, pointer: str, name: str, item: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(pointer, object) for each item of the array ``values`` (the field ``name``);
        reports ``values`` when it is no array, and each ``item`` that is no object."""
        if not isinstance(values, list):
            self.report(pointer, f"{name} must be an array")
            return
        for i, value in enumerate(values):
            item_pointer = pointer_join(pointer, i)
            if isinstance(value, dict):
                yield item_pointer, value
            else:
                self.report(item_pointer, f"{item} must be an object")

    def extensions(
        self, parent: etree._Element, source: dict[str, Any], known: set[str], pointer: str
    ) -> None:
        """Write every key of ``source`` not in ``known`` as an extension element."""
        for key, value in source.items():
            if key in known or key.startswith("@"):
                continue
            if ":" not in key:
                self.report(
                    pointer_join(pointer, key),
                    f"{key!r} is not a field of {pointer or 'the document'} in the XML binding "
                    "and not a namespaced extension",
                )
                continue
            self.ext.write(parent, key, value, pointer_join(pointer, key))

    def nsmap(self) -> dict[str, str]:
        used = used_prefixes(self.doc, set())
        out: dict[str, str] = {}
        for prefix in sorted(used):
            uri = self.prefixes.get(prefix)
            if uri is not None and prefix != "xml" and NCNAME.match(prefix):
                out[prefix] = uri
        return out

    # -- document -----------------------------------------------------------------------

    def write(self) -> bytes:
        doc = self.doc
        if not isinstance(doc, dict):
            raise DocumentError.single("the document must be a JSON object", pointer="")
        doc_type = doc.get("type")
        if doc_type not in ("EPCISDocument", "EPCISQueryDocument"):
            raise DocumentError.single(
                f"type must be EPCISDocument or EPCISQueryDocument, not {doc_type!r}",
                pointer="/type",
                rule="xml-write",
            )
        root_name: layout.RootName = doc_type
        ns = layout.ROOT_NAMESPACE[(self.version, root_name)]
        self.root_ns = ns
        nsmap = self.nsmap()
        root_prefix = "epcisq" if root_name == "EPCISQueryDocument" else "epcis"
        while root_prefix in nsmap:
            root_prefix += "_"
        nsmap[root_prefix] = ns
        # Web-only CBV values are written as gs1:/cbv: CURIEs; declare those prefixes too.
        for prefix in ("gs1", "cbv"):
            nsmap.setdefault(prefix, self.prefixes[prefix])
        root = etree.Element(f"{{{ns}}}{root_name}", nsmap=nsmap)
        root.set("schemaVersion", self.version)
        creation = doc.get("creationDate")
        if creation is None:
            creation = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        root.set("creationDate", str(creation))
        for key in layout.ROOT_ATTRIBUTE_KEYS:
            if key in doc:
                text = scalar_text(doc[key])
                if text is None:
                    self.report(pointer_join("", key), f"{key} must be a string")
                else:
                    root.set(key, text)

        header = doc.get("epcisHeader")
        if header is not None:
            self.header(root, header)
        body = doc.get("epcisBody")
        if not isinstance(body, dict):
            self.report("/epcisBody", "epcisBody is missing or not an object")
        elif root_name == "EPCISQueryDocument":
            self.query_body(root, body)
        else:
            self.document_body(root, body)
        self.extensions(root, doc, set(_STANDARD_DOC_KEYS), "")
        if self.problems:
            raise DocumentError(self.problems)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def document_body(self, root: etree._Element, body: dict[str, Any]) -> None:
        element = etree.SubElement(root, "EPCISBody")
        events = body.get("eventList", [])
        self.event_list(element, events, "/epcisBody/eventList")
        self.extensions(element, body, {"eventList"}, "/epcisBody")

    def query_body(self, root: etree._Element, body: dict[str, Any]) -> None:
        element = etree.SubElement(root, "EPCISBody")
        results = body.get("queryResults")
        pointer = "/epcisBody/queryResults"
        if not isinstance(results, dict):
            self.report(pointer, "queryResults is missing or not an object")
            return
        self.extensions(element, body, {"queryResults"}, "/epcisBody")
        if len(element):
            self.report(
                "/epcisBody", "the XML query body has no place for extensions beside QueryResults"
            )
        # QueryResults is a global element of the query schema: it takes its namespace.
        qr = etree.SubElement(element, f"{{{self.root_ns}}}QueryResults")
        if "queryName" in results:
            self.text_element(qr, "queryName", results["queryName"], pointer + "/queryName")
        else:
            self.report(pointer_join(pointer, "queryName"), "queryName is required in XML")
        if "subscriptionID" in results:
            self.text_element(
                qr, "subscriptionID", results["subscriptionID"], pointer + "/subscriptionID"
            )
        rb_pointer = pointer_join(pointer, "resultsBody")
        results_body = results.get("resultsBody")
        if not isinstance(results_body, dict):
            self.report(rb_pointer, "resultsBody is missing or not an object")
            return
        rb = etree.SubElement(qr, "resultsBody")
        if "vocabularyList" in results_body and "eventList" not in results_body:
            self.vocabulary_list(
                rb, results_body["vocabularyList"], pointer_join(rb_pointer, "vocabularyList")
            )
        else:
            if "vocabularyList" in results_body:
                self.report(
                    pointer_join(rb_pointer, "vocabularyList"),
                    "XML resultsBody holds either an EventList or a VocabularyList, not both",
                )
            self.event_list(
                rb, results_body.get("eventList", []), pointer_join(rb_pointer, "eventList")
            )
        for key in results_body:
            if key not in ("eventList", "vocabularyList"):
                self.report(pointer_join(rb_pointer, key), "resultsBody has no extension point")
        self.extensions(qr, results, {"queryName", "subscriptionID", "resultsBody"}, pointer)

    # -- header and master data ---------------------------------------------------------

    def header(self, root: etree._Element, header: Any) -> None:
        pointer = "/epcisHeader"
        if not isinstance(header, dict):
            self.report(pointer, "epcisHeader must be an object")
            return
        if not header:
            return
        element = etree.SubElement(root, "EPCISHeader")
        sbdh_key = next(
            (
                k
                for k in header
                if self.resolver.tag(k) == f"{{{layout.SBDH}}}StandardBusinessDocumentHeader"
            ),
            None,
        )
        if sbdh_key is not None:
            self.ext.write(element, sbdh_key, header[sbdh_key], pointer_join(pointer, sbdh_key))
        elif self.version == "1.2":
            self.report(
                pointer,
                "an EPCIS 1.2 EPCISHeader needs a StandardBusinessDocumentHeader "
                "(sbdh:StandardBusinessDocumentHeader)",
            )
        master = header.get("epcisMasterData")
        if master is not None:
            md_pointer = pointer_join(pointer, "epcisMasterData")
            extension = etree.SubElement(element, "extension")
            md = etree.SubElement(extension, "EPCISMasterData")
            if not isinstance(master, dict):
                self.report(md_pointer, "epcisMasterData must be an object")
            else:
                self.vocabulary_list(
                    md, master.get("vocabularyList", []), pointer_join(md_pointer, "vocabularyList")
                )
                for key in master:
                    if key != "vocabularyList":
                        self.report(
                            pointer_join(md_pointer, key),
                            "EPCISMasterData has no place for extensions in XML",
                        )
        others = [k for k in header if k not in ("epcisMasterData", sbdh_key)]
        if self.version == "2.0":
            for key in others:
                self.report(
                    pointer_join(pointer, key),
                    "the EPCIS 2.0 XML EPCISHeader has no place for extensions",
                )
        else:
            self.extensions(element, header, {"epcisMasterData", sbdh_key or ""}, pointer)

    def vocabulary_list(self, parent: etree._Element, vocabularies: Any, pointer: str) -> None:
        element = etree.SubElement(parent, "VocabularyList")
        for item_pointer, vocabulary in self.objects(
            vocabularies, pointer, "vocabularyList", "a vocabulary"
        ):
            voc = etree.SubElement(element, "Vocabulary")
            if "type" not in vocabulary:
                self.report(pointer_join(item_pointer, "type"), "a vocabulary needs a type")
            else:
                voc.set("type", str(vocabulary["type"]))
            elements = vocabulary.get("vocabularyElementList")
            if elements is not None:
                list_pointer = pointer_join(item_pointer, "vocabularyElementList")
                vel = etree.SubElement(voc, "VocabularyElementList")
                for j, ve in enumerate(elements if isinstance(elements, list) else []):
                    self.vocabulary_element(vel, ve, pointer_join(list_pointer, j))
            self.extensions(voc, vocabulary, {"type", "vocabularyElementList"}, item_pointer)

    def vocabulary_element(self, parent: etree._Element, item: Any, pointer: str) -> None:
        if not isinstance(item, dict):
            self.report(pointer, "a vocabulary element must be an object")
            return
        element = etree.SubElement(parent, "VocabularyElement")
        if "id" not in item:
            self.report(pointer_join(pointer, "id"), "a vocabulary element needs an id")
        else:
            element.set("id", str(item["id"]))
        for k, attribute in enumerate(item.get("attributes", [])):
            attr_pointer = pointer_join(pointer, "attributes", k)
            if not isinstance(attribute, dict):
                self.report(attr_pointer, "an attribute must be an object")
                continue
            attr = etree.SubElement(element, "attribute")
            attr.set("id", str(attribute.get("id", "")))
            value = attribute.get("attribute")
            if isinstance(value, dict):
                for key, sub in value.items():
                    if key == "#text":
                        attr.text = scalar_text(sub)
                    else:
                        self.ext.write(attr, key, sub, pointer_join(attr_pointer, "attribute", key))
            elif value is not None:
                text = scalar_text(value)
                if text is None:
                    self.report(pointer_join(attr_pointer, "attribute"), "unsupported value")
                attr.text = text
            for key, extra in attribute.items():
                if key in ("id", "attribute"):
                    continue
                name = self.resolver.tag(key) if ":" in key else None
                text = scalar_text(extra)
                if name is None or text is None:
                    self.report(pointer_join(attr_pointer, key), "not expressible in XML")
                else:
                    attr.set(name, text)
        children = item.get("children")
        if children is not None:
            ch = etree.SubElement(element, "children")
            for k, child in enumerate(children if isinstance(children, list) else []):
                self.text_element(ch, "id", child, pointer_join(pointer, "children", k))
        self.extensions(element, item, {"id", "attributes", "children"}, pointer)

    # -- events -------------------------------------------------------------------------

    def event_list(self, parent: etree._Element, events: Any, pointer: str) -> None:
        element = etree.SubElement(parent, "EventList")
        if not isinstance(events, list):
            self.report(pointer, "eventList must be an array")
            return
        for i, event in enumerate(events):
            self.event(element, event, pointer_join(pointer, i))

    def event(self, event_list: etree._Element, event: Any, pointer: str) -> None:
        if not isinstance(event, dict):
            self.report(pointer, "an event must be an object")
            return
        event_type = event.get("type")
        if event_type not in layout.EVENT_TYPES:
            self.report(
                pointer_join(pointer, "type"),
                f"event type {event_type!r} has no XML element "
                f"(one of {', '.join(layout.EVENT_TYPES)})",
            )
            return
        if self.version == "2.0":
            element = etree.SubElement(event_list, event_type)
            self.event_2(element, event, event_type, pointer)
        else:
            if event_type == "AssociationEvent":
                self.report(pointer, "EPCIS 1.2 has no AssociationEvent")
                return
            parent = event_list
            if event_type == "TransformationEvent":
                parent = etree.SubElement(event_list, "extension")
            element = etree.SubElement(parent, event_type)
            self.event_1(element, event, event_type, pointer)

    def event_2(
        self, element: etree._Element, event: dict[str, Any], event_type: str, pointer: str
    ) -> None:
        fields = (*layout.COMMON_FIELDS_2, *layout.EVENT_FIELDS_2[event_type])
        self.fields(element, event, fields, pointer)
        self.check_unplaced(event, set(fields), event_type, pointer)
        self.extensions(element, event, {"type", *layout.ALL_EVENT_FIELDS}, pointer)

    def event_1(
        self, element: etree._Element, event: dict[str, Any], event_type: str, pointer: str
    ) -> None:
        main, extended = layout.EVENT_FIELDS_1[event_type]
        self.fields(element, event, layout.BASE_FIELDS_1, pointer)
        if any(name in event for name in layout.BASE_EXTENSION_FIELDS_1):
            base = etree.SubElement(element, "baseExtension")
            self.fields(base, event, layout.BASE_EXTENSION_FIELDS_1, pointer)
        required = layout.REQUIRED_LISTS_1.get(event_type)
        for name in main:
            if name in event:
                self.field(element, name, event[name], pointer_join(pointer, name))
            elif name == required:
                etree.SubElement(element, name)
        if any(name in event for name in extended):
            extension = etree.SubElement(element, "extension")
            self.fields(extension, event, extended, pointer)
        for name in layout.NOT_IN_1_2:
            if name in event:
                self.report(pointer_join(pointer, name), f"EPCIS 1.2 has no {name}")
        placed = {*layout.BASE_FIELDS_1, *layout.BASE_EXTENSION_FIELDS_1, *main, *extended}
        self.check_unplaced(event, placed | set(layout.NOT_IN_1_2), event_type, pointer)
        self.extensions(element, event, {"type", *layout.ALL_EVENT_FIELDS}, pointer)

    def check_unplaced(
        self, event: dict[str, Any], placed: set[str], event_type: str, pointer: str
    ) -> None:
        for name in event:
            if name in layout.ALL_EVENT_FIELDS and name not in placed:
                self.report(
                    pointer_join(pointer, name),
                    f"{event_type} has no {name} in the EPCIS {self.version} XML schema",
                )

    def fields(
        self, parent: etree._Element, event: dict[str, Any], names: Iterable[str], pointer: str
    ) -> None:
        """Write the fields ``names`` of ``event`` that it has, in that order."""
        for name in names:
            if name in event:
                self.field(parent, name, event[name], pointer_join(pointer, name))

    def field(self, parent: etree._Element, name: str, value: Any, pointer: str) -> None:
        if name in layout.TEXT_FIELDS:
            if name == "certificationInfo" and isinstance(value, list):
                if len(value) != 1:
                    self.report(pointer, "XML holds one certificationInfo; this event has several")
                    return
                value = value[0]
            self.text_element(parent, name, value, pointer)
        elif name in layout.CBV_FIELDS:
            self.text_element(parent, name, _curie_or_urn(layout.CBV_FIELDS[name], value), pointer)
        elif name in layout.EPC_LISTS:
            self.id_list(parent, name, "epc", value, pointer)
        elif name in layout.QUANTITY_LISTS:
            self.quantity_list(parent, name, value, pointer)
        elif name in layout.LOCATIONS:
            self.location(parent, name, value, pointer)
        elif name == "bizTransactionList":
            self.typed_list(
                parent, name, "bizTransaction", cbv.BIZ_TRANSACTION_TYPE, value, pointer
            )
        elif name in layout.SOURCE_DEST_LISTS:
            self.typed_list(
                parent,
                name,
                layout.SOURCE_DEST_LISTS[name],
                cbv.SOURCE_DESTINATION_TYPE,
                value,
                pointer,
            )
        elif name == "sensorElementList":
            self.sensor_element_list(parent, value, pointer)
        elif name == "persistentDisposition":
            self.persistent_disposition(parent, value, pointer)
        elif name == "ilmd":
            self.ilmd(parent, value, pointer)
        elif name == "errorDeclaration":
            self.error_declaration(parent, value, pointer)

    def id_list(
        self, parent: etree._Element, name: str, item: str, values: Any, pointer: str
    ) -> None:
        element = etree.SubElement(parent, name)
        if not isinstance(values, list):
            self.report(pointer, f"{name} must be an array")
            return
        for i, value in enumerate(values):
            self.text_element(element, item, value, pointer_join(pointer, i))

    def quantity_list(self, parent: etree._Element, name: str, values: Any, pointer: str) -> None:
        element = etree.SubElement(parent, name)
        for item_pointer, item in self.objects(values, pointer, name, "a quantity element"):
            qe = etree.SubElement(element, "quantityElement")
            self.text_element(
                qe, "epcClass", item.get("epcClass"), pointer_join(item_pointer, "epcClass")
            )
            if "quantity" in item:
                quantity = item["quantity"]
                q_pointer = pointer_join(item_pointer, "quantity")
                if isinstance(quantity, int | float | Decimal) and not isinstance(quantity, bool):
                    try:
                        etree.SubElement(qe, "quantity").text = number_text(quantity, decimal=True)
                    except ValueError as exc:
                        self.report(q_pointer, str(exc))
                else:
                    self.text_element(qe, "quantity", quantity, q_pointer)
            elif "uom" in item:
                self.report(pointer_join(item_pointer, "uom"), "XML has no uom without quantity")
            if "uom" in item and "quantity" in item:
                self.text_element(qe, "uom", item["uom"], pointer_join(item_pointer, "uom"))
            for key in item:
                if key not in ("epcClass", "quantity", "uom"):
                    self.report(
                        pointer_join(item_pointer, key), "quantityElement has no extensions"
                    )

    def location(self, parent: etree._Element, name: str, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            self.report(pointer, f"{name} must be an object")
            return
        element = etree.SubElement(parent, name)
        self.text_element(element, "id", value.get("id"), pointer_join(pointer, "id"))
        self.extensions(element, value, {"id"}, pointer)

    def typed_list(
        self,
        parent: etree._Element,
        name: str,
        item_name: str,
        vocabulary: cbv.Vocabulary,
        values: Any,
        pointer: str,
    ) -> None:
        element = etree.SubElement(parent, name)
        for item_pointer, item in self.objects(values, pointer, name, f"an item of {name}"):
            child = self.text_element(
                element, item_name, item.get(item_name), pointer_join(item_pointer, item_name)
            )
            if child is None:
                continue
            if "type" in item:
                child.set("type", str(_curie_or_urn(vocabulary, item["type"])))
            for key, extra in item.items():
                if key in ("type", item_name):
                    continue
                tag = self.resolver.tag(key) if ":" in key else None
                text = scalar_text(extra)
                if tag is None or text is None:
                    self.report(
                        pointer_join(item_pointer, key), f"{item_name} has no place for {key!r}"
                    )
                else:
                    child.set(tag, text)

    def persistent_disposition(self, parent: etree._Element, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            self.report(pointer, "persistentDisposition must be an object")
            return
        element = etree.SubElement(parent, "persistentDisposition")
        for key in ("unset", "set"):
            values = value.get(key, [])
            if not isinstance(values, list):
                self.report(pointer_join(pointer, key), f"{key} must be an array")
                continue
            for i, item in enumerate(values):
                self.text_element(
                    element,
                    key,
                    _curie_or_urn(cbv.DISPOSITION, item),
                    pointer_join(pointer, key, i),
                )
        for key in value:
            if key not in ("set", "unset"):
                self.report(pointer_join(pointer, key), "persistentDisposition has only set/unset")

    def ilmd(self, parent: etree._Element, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            self.report(pointer, "ilmd must be an object")
            return
        element = etree.SubElement(parent, "ilmd")
        self.extensions(element, value, set(), pointer)

    def error_declaration(self, parent: etree._Element, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            self.report(pointer, "errorDeclaration must be an object")
            return
        element = etree.SubElement(parent, "errorDeclaration")
        if "declarationTime" in value:
            self.text_element(
                element, "declarationTime", value["declarationTime"], pointer + "/declarationTime"
            )
        elif self.version == "1.2":
            self.report(pointer_join(pointer, "declarationTime"), "declarationTime is required")
        if "reason" in value:
            self.text_element(
                element,
                "reason",
                _curie_or_urn(cbv.ERROR_REASON, value["reason"]),
                pointer + "/reason",
            )
        if "correctiveEventIDs" in value:
            self.id_list(
                element,
                "correctiveEventIDs",
                "correctiveEventID",
                value["correctiveEventIDs"],
                pointer + "/correctiveEventIDs",
            )
        self.extensions(
            element, value, {"declarationTime", "reason", "correctiveEventIDs"}, pointer
        )

    # -- sensors ------------------------------------------------------------------------

    def sensor_element_list(self, parent: etree._Element, values: Any, pointer: str) -> None:
        element = etree.SubElement(parent, "sensorElementList")
        for item_pointer, item in self.objects(
            values, pointer, "sensorElementList", "a sensor element"
        ):
            se = etree.SubElement(element, "sensorElement")
            if "sensorMetadata" in item:
                self.sensor_attributes(
                    se,
                    "sensorMetadata",
                    item["sensorMetadata"],
                    pointer_join(item_pointer, "sensorMetadata"),
                    layout.SENSOR_METADATA_ORDER,
                )
            reports = item.get("sensorReport", [])
            if not isinstance(reports, list):
                self.report(
                    pointer_join(item_pointer, "sensorReport"), "sensorReport must be an array"
                )
                reports = []
            for k, report in enumerate(reports):
                self.sensor_attributes(
                    se,
                    "sensorReport",
                    report,
                    pointer_join(item_pointer, "sensorReport", k),
                    layout.SENSOR_REPORT_ORDER,
                )
            self.extensions(se, item, {"sensorMetadata", "sensorReport"}, item_pointer)

    def sensor_attributes(
        self,
        parent: etree._Element,
        name: str,
        value: Any,
        pointer: str,
        order: tuple[str, ...],
    ) -> None:
        if not isinstance(value, dict):
            self.report(pointer, f"{name} must be an object")
            return
        element = etree.SubElement(parent, name)
        keys = [k for k in order if k in value] + [k for k in value if k not in order]
        for key in keys:
            item = value[key]
            key_pointer = pointer_join(pointer, key)
            if name == "sensorReport" and key in layout.SENSOR_REPORT_CBV:
                item = _curie_or_urn(layout.SENSOR_REPORT_CBV[key], item)
            tag = self.resolver.tag(key)
            try:
                text = scalar_text(item)
            except ValueError as exc:
                self.report(key_pointer, str(exc))
                continue
            if tag is None or text is None:
                self.report(key_pointer, f"{key!r} cannot be an attribute of {name}")
                continue
            element.set(tag, text)
