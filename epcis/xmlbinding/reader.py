"""EPCIS XML (1.2 or 2.0) → the internal form (the EPCIS 2.0 JSON-LD binding as a dict).

The reader is lenient: element order inside events does not matter, the 1.2 ``<extension>``
and ``<baseExtension>`` wrappers are unwrapped wherever they appear, and a 1.2-namespace
document that uses 2.0 fields is read as it is. Strictness is the XSD's job
(:func:`epcis.xmlbinding.xsd.validate_xml_schema`). What the reader cannot carry over, or
finds suspicious, it reports in :attr:`XmlReadResult.problems` instead of raising; only a
document that is not EPCIS at all (or not well-formed, or unsafe) raises
:class:`~epcis.problems.DocumentError`.

Choices the contract leaves open:

* an empty list element (``<epcList/>``) becomes an empty array (``"epcList": []``): the
  element was there, and the JSON Schema treats a present empty ``epcList`` differently from
  a missing one;
* a ``<quantity xsi:nil="true"/>`` is left out of its quantity element;
* an ``EPCISMasterDataDocument`` becomes an ``EPCISDocument`` with the vocabularies under
  ``epcisHeader.epcisMasterData`` and an empty event list (``root_name`` says what it was);
* unknown elements without a namespace where EPCIS defines the content (an event, a
  ``readPoint``, the header…) are reported (rule ``xml-unknown-element``) and left out: JSON
  has no place for them; inside a user extension they are kept under their bare name;
* ``version`` follows the root namespace (``…:xsd:1`` → ``"1.2"``), not ``schemaVersion``:
  the namespace decides which XSD applies; the JSON form always says ``"2.0"``;
* root attributes ``id``, ``sender``, ``receiver``, ``instanceIdentifier`` (where the
  writer keeps those JSON-only document fields) become document keys again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree

from epcis import cbv
from epcis.context import make_context
from epcis.limits import MAX_NUMBER_CHARS
from epcis.problems import DocumentError, Problem, pointer_join
from epcis.xmlbinding import layout
from epcis.xmlbinding.extensions import ExtensionReader, PrefixRegistry, SourceMap
from epcis.xmlbinding.nodes import (
    attribute_hint,
    attribute_path,
    attributes,
    element_children,
    line_of,
    local_name,
    root_path,
    split_tag,
    tag_of,
    text_of,
)
from epcis.xmlbinding.safe import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, XmlSource, parse_xml

_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")

Children = list[tuple[etree._Element, str]]

# What the reader reports. Errors: a value the XML binding forbids or that could not be
# converted (bare CBV word, not-a-number, a duplicate or an event that had to be left out).
# Warnings: content the XSD may well allow but the JSON form has no place for (a ##local
# element in a 1.2 <extension>, an unqualified attribute), or structure the reader repaired.
_SEVERITY = {
    "xml-unknown-element": "warning",
    "xml-unknown-attribute": "warning",
    "xml-structure": "warning",
}


@dataclass
class XmlReadResult:
    """What :func:`read_xml` found."""

    document: dict[str, Any]
    source_map: SourceMap
    version: layout.Version
    root_name: layout.RootName
    problems: list[Problem] = field(default_factory=list)

    def locate(self, pointer: str) -> tuple[int, str] | None:
        """(line, element path) of ``pointer``, or of its nearest ancestor that has one."""
        current = pointer
        while True:
            found = self.source_map.get(current)
            if found is not None:
                return found
            if not current:
                return None
            current = current.rpartition("/")[0]

    def locate_problem(self, problem: Problem) -> Problem:
        """``problem`` (found on the JSON form, by pointer) with its XML line and path."""
        if problem.pointer is None or problem.line is not None:
            return problem
        where = self.locate(problem.pointer)
        if where is None:
            return problem
        line, path = where
        return replace(problem, line=line, path=path)


def read_xml(
    data: XmlSource | etree._Element | etree._ElementTree,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> XmlReadResult:
    """Read an EPCIS XML document (bytes, binary stream, chunks, or a parsed tree)."""
    if isinstance(data, etree._ElementTree):
        root = data.getroot()
    elif isinstance(data, etree._Element):
        root = data
    else:
        root = parse_xml(data, max_bytes=max_bytes, max_depth=max_depth)
    return _Reader(root).read()


def _not_epcis(root: etree._Element) -> DocumentError:
    ns, local = split_tag(tag_of(root))
    line = line_of(root) or None
    path = root_path(root)
    if local == "EPCISCaptureJob":
        detail = (
            "it is an EPCIS 2.0 capture job (the status resource of the REST capture "
            "interface), not an EPCIS document"
        )
    elif ns is None and any(local == name for _, name in layout.ROOTS):
        detail = f"<{local}> has no namespace; EPCIS 2.0 uses {layout.EPCIS_2}"
    else:
        detail = f"the root element is {{{ns}}}{local}" if ns else f"the root element is <{local}>"
    expected = "EPCISDocument, EPCISQueryDocument or EPCISMasterDataDocument (EPCIS 1.2 or 2.0)"
    return DocumentError(
        [
            Problem(
                f"not an EPCIS document: {detail}; expected {expected}",
                line=line,
                path=path,
                rule="epcis-root",
            )
        ]
    )


class _Reader:
    def __init__(self, root: etree._Element) -> None:
        ns, local = split_tag(tag_of(root))
        kind = layout.ROOTS.get((ns or "", local))
        if kind is None:
            raise _not_epcis(root)
        self.root = root
        self.root_ns = ns
        self.version, self.root_name = kind
        self.problems: list[Problem] = []
        self.source_map: SourceMap = {}
        self.registry = PrefixRegistry()
        self.ext = ExtensionReader(self.registry, self.source_map)
        self.masterdata_vocabularies: tuple[etree._Element, str] | None = None

    # -- bookkeeping --------------------------------------------------------------------

    def mark(self, pointer: str, element: etree._Element, path: str) -> None:
        self.source_map[pointer] = (line_of(element), path)

    def problem(self, message: str, element: etree._Element, path: str, rule: str) -> None:
        self.problems.append(
            Problem(
                message,
                line=line_of(element) or None,
                path=path,
                rule=rule,
                severity=_SEVERITY.get(rule, "error"),
            )
        )

    def unknown(self, element: etree._Element, path: str, where: str) -> None:
        _, local = split_tag(tag_of(element))
        self.problem(
            f"unknown element <{local}> in {where}: it has no namespace, so it is no user "
            "extension, and the JSON form has no place for it (left out)",
            element,
            path,
            "xml-unknown-element",
        )

    def duplicate(self, element: etree._Element, path: str, key: str) -> None:
        self.problem(
            f"<{key}> appears more than once; only the first is kept",
            element,
            path,
            "xml-duplicate-element",
        )

    def text(self, element: etree._Element, path: str, pointer: str) -> str:
        self.mark(pointer, element, path)
        if any(isinstance(c.tag, str) for c in element):
            self.problem(
                f"<{local_name(element)}> should hold text, not elements "
                "(its child elements are left out)",
                element,
                path,
                "xml-structure",
            )
        return text_of(element)

    def cbv_value(
        self,
        vocabulary: cbv.Vocabulary,
        raw: str,
        element: etree._Element,
        path: str,
    ) -> str:
        value = raw.strip()
        bare = vocabulary.to_bare(value)
        if bare == value and vocabulary.is_term(value):
            spelled = (
                vocabulary.to_urn(value)
                if vocabulary.urn_prefix
                else vocabulary.curie_prefix + value
            )
            self.problem(
                f"CBV standard value {value!r} is written as a bare word; the XML binding "
                f"needs its URI ({spelled})",
                element,
                path,
                "cbv-bare-word",
            )
        return bare

    def number(self, raw: str, element: etree._Element, path: str) -> int | float | str:
        text = raw.strip()
        if len(text) > MAX_NUMBER_CHARS:
            self.problem(
                f"a number of {len(text)} characters; at most {MAX_NUMBER_CHARS} are accepted "
                "(kept as text)",
                element,
                path,
                "xml-number",
            )
            return text
        if _INTEGER.match(text):
            return int(text)
        if _DECIMAL.match(text) and math.isfinite(float(text)):
            return float(text)
        self.problem(f"{text!r} is not a number (kept as text)", element, path, "xml-number")
        return text

    def split(
        self,
        element: etree._Element,
        path: str,
        handle: Callable[[etree._Element, str, str], bool],
        *,
        unwrap: tuple[str, ...] = ("extension",),
    ) -> Children:
        """Walk the children, unwrapping ``extension`` wrappers; return the namespaced ones.

        ``handle(child, local name, path)`` returns False for a name it does not know.
        """
        extensions: Children = []
        for child, child_path in element_children(element, path):
            ns, local = split_tag(tag_of(child))
            if ns is not None:
                extensions.append((child, child_path))
            elif local in unwrap:
                extensions.extend(self.split(child, child_path, handle, unwrap=unwrap))
            elif not handle(child, local, child_path):
                self.unknown(child, child_path, f"<{local_name(element)}>")
        return extensions

    def read_children(
        self,
        out: dict[str, Any],
        element: etree._Element,
        path: str,
        pointer: str,
        handle: Callable[[etree._Element, str, str], bool],
        *,
        unwrap: tuple[str, ...] = ("extension",),
    ) -> None:
        """:meth:`split` ``element``'s children; the namespaced ones become extensions of
        ``out`` (at ``pointer``)."""
        self.ext.collect(out, pointer, self.split(element, path, handle, unwrap=unwrap))

    def attributed(
        self, element: etree._Element, path: str, pointer: str, attribute: str
    ) -> dict[str, Any]:
        """The object at ``pointer``, begun with the XML attribute ``attribute`` of ``element``
        (a vocabulary's ``type``, an element's ``id``) and its foreign attributes."""
        self.mark(pointer, element, path)
        out: dict[str, Any] = {}
        value = element.get(attribute)
        if value is not None:
            out[attribute] = value.strip()
            self.source_map[pointer_join(pointer, attribute)] = (
                line_of(element),
                f"{path}/@{attribute}",
            )
        self.foreign_attributes(element, path, out, pointer, known=frozenset({attribute}))
        return out

    def foreign_attributes(
        self,
        element: etree._Element,
        path: str,
        target: dict[str, Any],
        pointer: str,
        known: frozenset[str] = frozenset(),
    ) -> None:
        """Namespaced attributes → ``prefix:name`` keys; unknown plain ones are reported."""
        for name, raw in attributes(element):
            ns, local = split_tag(name)
            if ns == layout.XSI or (ns is None and local in known):
                continue
            if ns is None:
                self.problem(
                    f"unknown attribute {local!r} on <{local_name(element)}> "
                    "(kept as key without a namespace)",
                    element,
                    attribute_path(path, name, element),
                    "xml-unknown-attribute",
                )
                key = local
            else:
                key = self.registry.key(name, attribute_hint(element, name))
            target[key] = raw
            self.source_map[pointer_join(pointer, key)] = (
                line_of(element),
                attribute_path(path, name, element),
            )

    # -- document -----------------------------------------------------------------------

    def read(self) -> XmlReadResult:
        root = self.root
        path = root_path(root)
        doc: dict[str, Any] = {"@context": []}
        self.mark("", root, path)
        doc["type"] = (
            "EPCISQueryDocument" if self.root_name == "EPCISQueryDocument" else "EPCISDocument"
        )
        doc["schemaVersion"] = "2.0"
        for key in ("@context", "type", "schemaVersion"):
            self.mark(pointer_join("", key), root, path)
        if root.get("creationDate") is not None:
            doc["creationDate"] = (root.get("creationDate") or "").strip()
            self.source_map["/creationDate"] = (line_of(root), f"{path}/@creationDate")
        for key in layout.ROOT_ATTRIBUTE_KEYS:
            if root.get(key) is not None:
                doc[key] = root.get(key)
                self.source_map[pointer_join("", key)] = (line_of(root), f"{path}/@{key}")
        self.foreign_attributes(
            root,
            path,
            doc,
            "",
            known=frozenset({"schemaVersion", "creationDate", *layout.ROOT_ATTRIBUTE_KEYS}),
        )

        header: dict[str, Any] | None = None
        body: dict[str, Any] | None = None
        loose_results: Children = []

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            nonlocal header, body
            if local == "EPCISHeader":
                header = self.header(child, child_path, header)
            elif local == "EPCISBody":
                if body is not None:
                    self.duplicate(child, child_path, local)
                else:
                    body = self.body(child, child_path)
            elif self.root_name == "EPCISQueryDocument" and local in (
                "queryName",
                "subscriptionID",
                "resultsBody",
            ):
                loose_results.append((child, child_path))
            else:
                return False
            return True

        extensions = self.split(root, path, handle)
        if loose_results and body is None:
            body = self.loose_query_results(root, path, loose_results)
        if self.masterdata_vocabularies is not None:
            vocab_element, vocab_path = self.masterdata_vocabularies
            header = header or {}
            self.mark("/epcisHeader/epcisMasterData", vocab_element, vocab_path)
            master = header.setdefault("epcisMasterData", {})
            master["vocabularyList"] = [
                *master.get("vocabularyList", []),
                *self.vocabulary_list(
                    vocab_element,
                    vocab_path,
                    "/epcisHeader/epcisMasterData/vocabularyList",
                    start=len(master.get("vocabularyList", [])),
                ),
            ]
        if header:
            doc["epcisHeader"] = header
            self.mark("/epcisHeader", root, path)
        if body is None:
            self.problem("the document has no <EPCISBody>", root, path, "xml-structure")
            body = self.empty_body()
            self.mark("/epcisBody", root, path)
        doc["epcisBody"] = body
        self.ext.collect(doc, "", extensions)
        doc["@context"] = make_context(self.registry.context_prefixes())
        for i, entry in enumerate(doc["@context"]):
            self.mark(pointer_join("/@context", i), root, path)
            for prefix in entry if isinstance(entry, dict) else ():
                self.mark(pointer_join("/@context", i, prefix), root, path)
        return XmlReadResult(doc, self.source_map, self.version, self.root_name, self.problems)

    def empty_body(self) -> dict[str, Any]:
        if self.root_name == "EPCISQueryDocument":
            return {"queryResults": {"resultsBody": {"eventList": []}}}
        return {"eventList": []}

    def body(self, element: etree._Element, path: str) -> dict[str, Any]:
        pointer = "/epcisBody"
        self.mark(pointer, element, path)
        body: dict[str, Any] = {}
        if self.root_name == "EPCISQueryDocument":
            return self.query_body(element, path)

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local == "EventList" and self.root_name == "EPCISDocument":
                if "eventList" in body:
                    self.duplicate(child, child_path, local)
                else:
                    body["eventList"] = self.event_list(child, child_path, "/epcisBody/eventList")
            elif local == "VocabularyList" and self.root_name == "EPCISMasterDataDocument":
                self.masterdata_vocabularies = (child, child_path)
            else:
                return False
            return True

        extensions = self.split(element, path, handle)
        if "eventList" not in body:
            body["eventList"] = []
            self.mark("/epcisBody/eventList", element, path)
        self.ext.collect(body, pointer, extensions)
        return body

    def query_body(self, element: etree._Element, path: str) -> dict[str, Any]:
        pointer = "/epcisBody"
        results: dict[str, Any] | None = None
        for child, child_path in element_children(element, path):
            ns, local = split_tag(tag_of(child))
            if ns in (None, self.root_ns) and local == "QueryResults" and results is None:
                results = self.query_results(child, child_path, pointer + "/queryResults")
            else:
                raise DocumentError(
                    [
                        Problem(
                            f"this query document carries <{local}>, not <QueryResults>: only "
                            "query results have a JSON document form",
                            line=line_of(child) or None,
                            path=child_path,
                            rule="epcis-root",
                        )
                    ]
                )
        if results is None:
            self.problem("<EPCISBody> holds no <QueryResults>", element, path, "xml-structure")
            return self.empty_body()
        return {"queryResults": results}

    def loose_query_results(
        self, root: etree._Element, path: str, children: Children
    ) -> dict[str, Any]:
        self.problem(
            "queryName/resultsBody directly under the root: read as if wrapped in "
            "<EPCISBody><QueryResults>",
            root,
            path,
            "xml-structure",
        )
        self.mark("/epcisBody", root, path)
        return {
            "queryResults": self._query_results_from(
                children, root, path, "/epcisBody/queryResults"
            )
        }

    def query_results(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        children = list(element_children(element, path))
        return self._query_results_from(children, element, path, pointer)

    def _query_results_from(
        self, children: Children, owner: etree._Element, path: str, pointer: str
    ) -> dict[str, Any]:
        self.mark(pointer, owner, path)
        results: dict[str, Any] = {}
        extensions: Children = []
        for child, child_path in children:
            ns, local = split_tag(tag_of(child))
            if ns is not None:
                extensions.append((child, child_path))
            elif local in ("queryName", "subscriptionID"):
                results[local] = self.text(child, child_path, pointer_join(pointer, local))
            elif local == "resultsBody":
                results["resultsBody"] = self.results_body(
                    child, child_path, pointer_join(pointer, "resultsBody")
                )
            elif local == "extension":
                extensions.extend(self.split(child, child_path, lambda *_: False))
            else:
                self.unknown(child, child_path, "<QueryResults>")
        if "resultsBody" not in results:
            results["resultsBody"] = {"eventList": []}
            self.mark(pointer_join(pointer, "resultsBody"), owner, path)
        self.ext.collect(results, pointer, extensions)
        return results

    def results_body(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        self.mark(pointer, element, path)
        out: dict[str, Any] = {}

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local == "EventList":
                out["eventList"] = self.event_list(
                    child, child_path, pointer_join(pointer, "eventList")
                )
            elif local == "VocabularyList":
                out["vocabularyList"] = self.vocabulary_list(
                    child, child_path, pointer_join(pointer, "vocabularyList")
                )
            else:
                return False
            return True

        self.read_children(out, element, path, pointer, handle)
        return out

    # -- header and master data ---------------------------------------------------------

    def header(
        self, element: etree._Element, path: str, existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        pointer = "/epcisHeader"
        header: dict[str, Any] = existing or {}
        self.mark(pointer, element, path)

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local != "EPCISMasterData":
                return False
            md_pointer = pointer_join(pointer, "epcisMasterData")
            self.mark(md_pointer, child, child_path)
            master: dict[str, Any] = header.setdefault("epcisMasterData", {})

            def md_handle(md_child: etree._Element, md_local: str, md_path: str) -> bool:
                if md_local != "VocabularyList":
                    return False
                vocabularies = master.setdefault("vocabularyList", [])
                vocabularies.extend(
                    self.vocabulary_list(
                        md_child,
                        md_path,
                        pointer_join(md_pointer, "vocabularyList"),
                        start=len(vocabularies),
                    )
                )
                return True

            self.read_children(master, child, child_path, md_pointer, md_handle)
            return True

        self.read_children(header, element, path, pointer, handle)
        return header

    def vocabulary_list(
        self, element: etree._Element, path: str, pointer: str, *, start: int = 0
    ) -> list[dict[str, Any]]:
        self.mark(pointer, element, path)
        vocabularies: list[dict[str, Any]] = []
        for child, child_path in element_children(element, path):
            ns, local = split_tag(tag_of(child))
            if ns is None and local == "Vocabulary":
                item_pointer = pointer_join(pointer, start + len(vocabularies))
                vocabularies.append(self.vocabulary(child, child_path, item_pointer))
            elif ns is None and local == "extension":
                for grandchild, grand_path in element_children(child, child_path):
                    self.unknown(grandchild, grand_path, "<VocabularyList>")
            else:
                self.unknown(child, child_path, "<VocabularyList>")
        return vocabularies

    def vocabulary(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        vocabulary = self.attributed(element, path, pointer, "type")

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local != "VocabularyElementList":
                return False
            list_pointer = pointer_join(pointer, "vocabularyElementList")
            self.mark(list_pointer, child, child_path)
            elements = vocabulary.setdefault("vocabularyElementList", [])
            for item, item_path in element_children(child, child_path):
                ns, item_local = split_tag(tag_of(item))
                if ns is None and item_local == "VocabularyElement":
                    elements.append(
                        self.vocabulary_element(
                            item, item_path, pointer_join(list_pointer, len(elements))
                        )
                    )
                else:
                    self.unknown(item, item_path, "<VocabularyElementList>")
            return True

        self.read_children(vocabulary, element, path, pointer, handle)
        return vocabulary

    def vocabulary_element(
        self, element: etree._Element, path: str, pointer: str
    ) -> dict[str, Any]:
        out = self.attributed(element, path, pointer, "id")

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local == "attribute":
                if "attributes" not in out:
                    self.mark(pointer_join(pointer, "attributes"), child, child_path)
                attributes = out.setdefault("attributes", [])
                attributes.append(
                    self.master_attribute(
                        child, child_path, pointer_join(pointer, "attributes", len(attributes))
                    )
                )
            elif local == "children":
                children_pointer = pointer_join(pointer, "children")
                self.mark(children_pointer, child, child_path)
                ids = out.setdefault("children", [])
                for item, item_path in element_children(child, child_path):
                    if split_tag(tag_of(item)) == (None, "id"):
                        ids.append(
                            self.text(item, item_path, pointer_join(children_pointer, len(ids)))
                        )
                    else:
                        self.unknown(item, item_path, "<children>")
            else:
                return False
            return True

        self.read_children(out, element, path, pointer, handle)
        return out

    def master_attribute(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        out = self.attributed(element, path, pointer, "id")
        children = list(element_children(element, path))
        value_pointer = pointer_join(pointer, "attribute")
        if children:
            value: dict[str, Any] = {}
            self.mark(value_pointer, element, path)
            self.ext.collect(value, value_pointer, children)
            if text_of(element):
                value["#text"] = text_of(element)
            out["attribute"] = value
        elif text_of(element):
            self.mark(value_pointer, element, path)
            out["attribute"] = text_of(element)
        return out

    # -- events -------------------------------------------------------------------------

    def event_list(self, element: etree._Element, path: str, pointer: str) -> list[Any]:
        self.mark(pointer, element, path)
        events: list[Any] = []
        self._events_into(events, element, path, pointer)
        return events

    def _events_into(
        self, events: list[Any], element: etree._Element, path: str, pointer: str
    ) -> None:
        for child, child_path in element_children(element, path):
            ns, local = split_tag(tag_of(child))
            if ns is None and local in layout.EVENT_TYPES:
                events.append(self.event(child, child_path, pointer_join(pointer, len(events))))
            elif ns is None and local == "extension":
                self._events_into(events, child, child_path, pointer)
            elif ns is None and local == "QuantityEvent":
                self.problem(
                    "QuantityEvent (deprecated in EPCIS 1.1, removed in 2.0) has no JSON form; "
                    "left out",
                    child,
                    child_path,
                    "xml-unsupported-event",
                )
            elif ns is not None:
                self.problem(
                    f"user-defined event type {{{ns}}}{local} is not supported; left out",
                    child,
                    child_path,
                    "xml-unsupported-event",
                )
            else:
                self.unknown(child, child_path, "<EventList>")

    def event(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        _, event_type = split_tag(tag_of(element))
        self.mark(pointer, element, path)
        event: dict[str, Any] = {"type": event_type}
        self.mark(pointer_join(pointer, "type"), element, path)
        self.foreign_attributes(element, path, event, pointer)

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local not in layout.ALL_EVENT_FIELDS:
                return False
            field_pointer = pointer_join(pointer, local)
            if local in event:
                if local == "certificationInfo":  # JSON allows several; XML (2.0) one
                    previous = event[local]
                    values = previous if isinstance(previous, list) else [previous]
                    values.append(
                        self.text(child, child_path, pointer_join(field_pointer, len(values)))
                    )
                    event[local] = values
                    return True
                self.duplicate(child, child_path, local)
                return True
            event[local] = self.event_field(local, child, child_path, field_pointer)
            return True

        self.read_children(
            event, element, path, pointer, handle, unwrap=("extension", "baseExtension")
        )
        return event

    def event_field(self, name: str, element: etree._Element, path: str, pointer: str) -> Any:
        if name in layout.TEXT_FIELDS:
            return self.text(element, path, pointer)
        if name in layout.CBV_FIELDS:
            raw = self.text(element, path, pointer)
            return self.cbv_value(layout.CBV_FIELDS[name], raw, element, path)
        if name in layout.EPC_LISTS:
            return self.id_list(element, path, pointer, "epc")
        if name in layout.QUANTITY_LISTS:
            return self.quantity_list(element, path, pointer)
        if name in layout.LOCATIONS:
            return self.location(element, path, pointer)
        if name == "bizTransactionList":
            return self.typed_list(
                element, path, pointer, "bizTransaction", cbv.BIZ_TRANSACTION_TYPE
            )
        if name in layout.SOURCE_DEST_LISTS:
            return self.typed_list(
                element,
                path,
                pointer,
                layout.SOURCE_DEST_LISTS[name],
                cbv.SOURCE_DESTINATION_TYPE,
            )
        if name == "sensorElementList":
            return self.sensor_element_list(element, path, pointer)
        if name == "persistentDisposition":
            return self.persistent_disposition(element, path, pointer)
        if name == "ilmd":
            return self.ilmd(element, path, pointer)
        if name == "errorDeclaration":
            return self.error_declaration(element, path, pointer)
        raise AssertionError(name)  # pragma: no cover - ALL_EVENT_FIELDS is covered above

    def id_list(
        self, element: etree._Element, path: str, pointer: str, item_name: str
    ) -> list[str]:
        self.mark(pointer, element, path)
        out: list[str] = []
        for child, child_path in element_children(element, path):
            if split_tag(tag_of(child)) == (None, item_name):
                out.append(self.text(child, child_path, pointer_join(pointer, len(out))))
            else:
                self.unknown(child, child_path, f"<{local_name(element)}>")
        return out

    def quantity_list(
        self, element: etree._Element, path: str, pointer: str
    ) -> list[dict[str, Any]]:
        self.mark(pointer, element, path)
        out: list[dict[str, Any]] = []
        for child, child_path in element_children(element, path):
            if split_tag(tag_of(child)) != (None, "quantityElement"):
                self.unknown(child, child_path, f"<{local_name(element)}>")
                continue
            item_pointer = pointer_join(pointer, len(out))
            self.mark(item_pointer, child, child_path)
            item: dict[str, Any] = {}
            for part, part_path in element_children(child, child_path):
                ns, local = split_tag(tag_of(part))
                part_pointer = pointer_join(item_pointer, local)
                if ns is not None or local not in ("epcClass", "quantity", "uom"):
                    self.unknown(part, part_path, "<quantityElement>")
                elif local in item:
                    self.duplicate(part, part_path, local)
                elif local == "quantity":
                    if part.get(f"{{{layout.XSI}}}nil") in ("true", "1"):
                        continue
                    raw = self.text(part, part_path, part_pointer)
                    item["quantity"] = self.number(raw, part, part_path)
                else:
                    item[local] = self.text(part, part_path, part_pointer)
            out.append(item)
        return out

    def location(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        self.mark(pointer, element, path)
        out: dict[str, Any] = {}

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local != "id":
                return False
            if "id" in out:
                self.duplicate(child, child_path, local)
            else:
                out["id"] = self.text(child, child_path, pointer_join(pointer, "id"))
            return True

        self.read_children(out, element, path, pointer, handle)
        return out

    def typed_list(
        self,
        element: etree._Element,
        path: str,
        pointer: str,
        item_name: str,
        vocabulary: cbv.Vocabulary,
    ) -> list[dict[str, Any]]:
        self.mark(pointer, element, path)
        out: list[dict[str, Any]] = []
        for child, child_path in element_children(element, path):
            if split_tag(tag_of(child)) != (None, item_name):
                self.unknown(child, child_path, f"<{local_name(element)}>")
                continue
            item_pointer = pointer_join(pointer, len(out))
            self.mark(item_pointer, child, child_path)
            item: dict[str, Any] = {}
            raw_type = child.get("type")
            if raw_type is not None:
                item["type"] = self.cbv_value(vocabulary, raw_type, child, f"{child_path}/@type")
                self.source_map[pointer_join(item_pointer, "type")] = (
                    line_of(child),
                    f"{child_path}/@type",
                )
            item[item_name] = self.text(child, child_path, pointer_join(item_pointer, item_name))
            self.foreign_attributes(
                child, child_path, item, item_pointer, known=frozenset({"type"})
            )
            out.append(item)
        return out

    def persistent_disposition(
        self, element: etree._Element, path: str, pointer: str
    ) -> dict[str, list[str]]:
        self.mark(pointer, element, path)
        out: dict[str, list[str]] = {}
        for child, child_path in element_children(element, path):
            ns, local = split_tag(tag_of(child))
            if ns is not None or local not in ("set", "unset"):
                self.unknown(child, child_path, "<persistentDisposition>")
                continue
            values = out.setdefault(local, [])
            list_pointer = pointer_join(pointer, local)
            if not values:
                self.mark(list_pointer, child, child_path)
            raw = self.text(child, child_path, pointer_join(list_pointer, len(values)))
            values.append(self.cbv_value(cbv.DISPOSITION, raw, child, child_path))
        return out

    def ilmd(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        self.mark(pointer, element, path)
        out: dict[str, Any] = {}
        self.read_children(out, element, path, pointer, lambda *_: False)
        return out

    def error_declaration(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        self.mark(pointer, element, path)
        out: dict[str, Any] = {}

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            field_pointer = pointer_join(pointer, local)
            if local not in ("declarationTime", "reason", "correctiveEventIDs"):
                return False
            if local in out:
                self.duplicate(child, child_path, local)
            elif local == "declarationTime":
                out[local] = self.text(child, child_path, field_pointer)
            elif local == "reason":
                raw = self.text(child, child_path, field_pointer)
                out[local] = self.cbv_value(cbv.ERROR_REASON, raw, child, child_path)
            else:
                out[local] = self.id_list(child, child_path, field_pointer, "correctiveEventID")
            return True

        self.read_children(out, element, path, pointer, handle)
        return out

    # -- sensors ------------------------------------------------------------------------

    def sensor_element_list(
        self, element: etree._Element, path: str, pointer: str
    ) -> list[dict[str, Any]]:
        self.mark(pointer, element, path)
        out: list[dict[str, Any]] = []

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local != "sensorElement":
                return False
            out.append(self.sensor_element(child, child_path, pointer_join(pointer, len(out))))
            return True

        for child, child_path in self.split(element, path, handle):
            self.unknown(child, child_path, "<sensorElementList>")
        return out

    def sensor_element(self, element: etree._Element, path: str, pointer: str) -> dict[str, Any]:
        self.mark(pointer, element, path)
        out: dict[str, Any] = {}
        reports: list[dict[str, Any]] = []

        def handle(child: etree._Element, local: str, child_path: str) -> bool:
            if local == "sensorMetadata":
                if "sensorMetadata" in out:
                    self.duplicate(child, child_path, local)
                else:
                    out["sensorMetadata"] = self.sensor_attributes(
                        child, child_path, pointer_join(pointer, "sensorMetadata"), report=False
                    )
            elif local == "sensorReport":
                if not reports:
                    out["sensorReport"] = reports
                    self.mark(pointer_join(pointer, "sensorReport"), child, child_path)
                reports.append(
                    self.sensor_attributes(
                        child,
                        child_path,
                        pointer_join(pointer, "sensorReport", len(reports)),
                        report=True,
                    )
                )
            else:
                return False
            return True

        self.read_children(out, element, path, pointer, handle)
        return out

    def sensor_attributes(
        self, element: etree._Element, path: str, pointer: str, *, report: bool
    ) -> dict[str, Any]:
        self.mark(pointer, element, path)
        out: dict[str, Any] = {}
        strings = layout.SENSOR_REPORT_STRINGS if report else layout.SENSOR_METADATA_STRINGS
        for name, raw in attributes(element):
            ns, local = split_tag(name)
            if ns == layout.XSI:
                continue
            attr_path = attribute_path(path, name, element)
            if ns is not None:
                key = self.registry.key(name, attribute_hint(element, name))
                out[key] = raw
            elif report and local in layout.SENSOR_NUMBERS:
                key = local
                out[key] = self.number(raw, element, attr_path)
            elif report and local in layout.SENSOR_BOOLEANS:
                key = local
                out[key] = self.boolean(raw, element, attr_path)
            elif report and local in layout.SENSOR_REPORT_CBV:
                key = local
                out[key] = self.cbv_value(layout.SENSOR_REPORT_CBV[local], raw, element, attr_path)
            else:
                key = local
                out[key] = raw.strip()
                if local not in strings:
                    self.problem(
                        f"unknown attribute {local!r} on <{local_name(element)}> "
                        "(kept as key without a namespace)",
                        element,
                        attr_path,
                        "xml-unknown-attribute",
                    )
            self.source_map[pointer_join(pointer, key)] = (line_of(element), attr_path)
        if text_of(element) or any(isinstance(c.tag, str) for c in element):
            self.problem(
                f"<{local_name(element)}> content is not carried over: EPCIS "
                "defines only its attributes",
                element,
                path,
                "xml-structure",
            )
        return out

    def boolean(self, raw: str, element: etree._Element, path: str) -> bool | str:
        text = raw.strip()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        self.problem(f"{text!r} is not a boolean (kept as text)", element, path, "xml-boolean")
        return text
