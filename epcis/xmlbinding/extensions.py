"""User extensions: any XML element ↔ a JSON value, and namespace prefixes ↔ ``@context``.

XML → JSON (docs/epcis-internal-form.md rule 6): an element with text becomes a string; with
child elements, an object whose keys are ``prefix:localName`` (a child without a namespace
keeps its bare local name); siblings with the same name become an array in document order;
``xsi:type`` (and every other ``xsi:`` attribute but ``xsi:nil``) is dropped; other
attributes become keys of the element's object and its text then goes under ``"#text"``;
``xsi:nil="true"`` becomes ``null``; an empty element becomes ``""``.

JSON → XML is the reverse: an array becomes repeated elements, ``#text`` the element text.
As an object cannot say which of its keys were attributes, the writer makes scalar keys of an
object that has ``#text`` attributes (an element with text cannot also have children), and
every key of an object without ``#text`` a child element.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from lxml import etree

from epcis.context import STANDARD_NAMESPACES
from epcis.problems import pointer_join
from epcis.xmlbinding.layout import SBDH, XML_NS, XSI
from epcis.xmlbinding.nodes import (
    attribute_hint,
    attribute_path,
    attributes,
    element_children,
    line_of,
    split_tag,
    tag_of,
    text_of,
)

NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
XSI_NIL = f"{{{XSI}}}nil"

SourceMap = dict[str, tuple[int, str]]


class PrefixRegistry:
    """The namespace prefixes the JSON form uses, one per namespace URI.

    The first prefix seen for a URI is kept; a URI whose prefix is already taken by another
    URI gets a numbered variant (``example2``); an element in a default namespace gets
    ``ns``/``ns2``…. The SBDH namespace is always ``sbdh`` (docs rule 7).
    """

    def __init__(self) -> None:
        self.by_uri: dict[str, str] = {SBDH: "sbdh"}
        self.by_prefix: dict[str, str] = {"sbdh": SBDH}
        self.used: dict[str, str] = {}

    def prefix_for(self, uri: str, hint: str | None) -> str:
        prefix = self.by_uri.get(uri)
        if prefix is None:
            base = hint if hint and NCNAME.match(hint) and hint != "xml" else "ns"
            prefix = base
            n = 2
            while prefix in self.by_prefix:
                prefix = f"{base}{n}"
                n += 1
            self.by_uri[uri] = prefix
            self.by_prefix[prefix] = uri
        self.used[prefix] = uri
        return prefix

    def key(self, tag: str, hint: str | None) -> str:
        """The JSON key of an element or attribute name."""
        ns, local = split_tag(tag)
        if ns is None:
            return local
        if ns == XML_NS:
            return f"xml:{local}"
        return f"{self.prefix_for(ns, hint)}:{local}"

    def context_prefixes(self) -> dict[str, str]:
        """Prefix → URI for ``@context``: those actually used, in order of first use."""
        return dict(self.used)


class ExtensionReader:
    """Converts extension elements to JSON values and records where each value came from."""

    def __init__(self, registry: PrefixRegistry, source_map: SourceMap) -> None:
        self.registry = registry
        self.source_map = source_map

    def key_of(self, element: etree._Element) -> str:
        return self.registry.key(tag_of(element), element.prefix)

    def collect(
        self,
        target: dict[str, Any],
        pointer: str,
        items: list[tuple[etree._Element, str]],
    ) -> None:
        """Add extension elements to ``target``: one key each, repeated names as arrays."""
        grouped: dict[str, list[tuple[etree._Element, str]]] = {}
        for element, path in items:
            grouped.setdefault(self.key_of(element), []).append((element, path))
        for key, group in grouped.items():
            if key in target:  # the same name as an attribute-derived key: keep both
                existing = target[key]
                values = existing if isinstance(existing, list) else [existing]
                start = len(values)
                for i, (element, path) in enumerate(group):
                    values.append(self.value(element, path, pointer_join(pointer, key, start + i)))
                target[key] = values
                continue
            if len(group) == 1:
                element, path = group[0]
                target[key] = self.value(element, path, pointer_join(pointer, key))
            else:
                target[key] = [
                    self.value(element, path, pointer_join(pointer, key, i))
                    for i, (element, path) in enumerate(group)
                ]
                line = line_of(group[0][0])
                self.source_map[pointer_join(pointer, key)] = (line, group[0][1])

    def value(self, element: etree._Element, path: str, pointer: str) -> Any:
        self.source_map[pointer] = (line_of(element), path)
        own: dict[str, str] = {}
        nil = False
        for name, raw in attributes(element):
            ns, _local = split_tag(name)
            if ns == XSI:
                if name == XSI_NIL and raw.strip() in ("true", "1"):
                    nil = True
                continue
            own[name] = raw
        children = list(element_children(element, path))
        text = text_of(element)
        if nil and not children and not own:
            return None
        if not children and not own:
            return text
        obj: dict[str, Any] = {}
        for name, raw in own.items():
            key = self.registry.key(name, attribute_hint(element, name))
            obj[key] = raw
            self.source_map[pointer_join(pointer, key)] = (
                line_of(element),
                attribute_path(path, name, element),
            )
        self.collect(obj, pointer, children)
        if text:
            obj["#text"] = text
            self.source_map[pointer_join(pointer, "#text")] = (line_of(element), path)
        return obj


class NamespaceResolver:
    """JSON ``prefix:local`` keys → XML ``{uri}local`` names, for the writer."""

    def __init__(self, prefixes: dict[str, str]) -> None:
        self.prefixes = prefixes

    def tag(self, key: str) -> str | None:
        """The Clark name for ``key``, or None when it cannot be an XML name."""
        prefix, sep, local = key.partition(":")
        if not sep:
            return key if NCNAME.match(key) else None
        if prefix == "xml" and NCNAME.match(local):
            return f"{{{XML_NS}}}{local}"
        uri = self.prefixes.get(prefix)
        if uri is not None and NCNAME.match(local):
            return f"{{{uri}}}{local}"
        # A full IRI used as a key: split it into namespace and local name.
        match = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*:.*[/#:])([A-Za-z_][A-Za-z0-9_.\-]*)$", key)
        if match and uri is None:
            return f"{{{match.group(1)}}}{match.group(2)}"
        return None


def scalar_text(value: Any) -> str | None:
    """Text for a JSON scalar (bool → ``true``/``false``, numbers without precision loss)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return number_text(value, decimal=False)
    return None


def number_text(value: int | float | Decimal, *, decimal: bool) -> str:
    """A number as XML text: integers exactly, floats by their shortest exact ``repr``.

    ``decimal=True`` avoids exponent notation (``xsd:decimal`` has none).
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no XML number form")
        exact = Decimal(repr(value))
    else:
        if not value.is_finite():
            raise ValueError(f"{value} has no XML number form")
        exact = value
    if decimal:
        text = format(exact, "f")
        return text
    return repr(value) if isinstance(value, float) else str(value)


class ExtensionWriter:
    """Writes JSON extension values as XML elements; reports what XML cannot hold."""

    def __init__(self, resolver: NamespaceResolver, report: Callable[[str, str], None]) -> None:
        self.resolver = resolver
        self.report = report

    def write(self, parent: etree._Element, key: str, value: Any, pointer: str) -> None:
        tag = self.resolver.tag(key)
        if tag is None:
            self.report(
                pointer,
                f"{key!r} cannot be an XML element name: declare its prefix in @context "
                "or use a namespace-qualified name",
            )
            return
        if isinstance(value, list):
            if not value:
                self.report(pointer, "an empty array has no XML form (it would be lost)")
            for i, item in enumerate(value):
                if isinstance(item, list):
                    self.report(pointer_join(pointer, i), "nested arrays have no XML form")
                    continue
                self._one(parent, tag, item, pointer_join(pointer, i))
        else:
            self._one(parent, tag, value, pointer)

    def _one(self, parent: etree._Element, tag: str, value: Any, pointer: str) -> None:
        element = etree.SubElement(parent, tag)
        if value is None:
            element.set(XSI_NIL, "true")
            return
        if isinstance(value, dict):
            has_text = "#text" in value
            for key, item in value.items():
                if key == "#text":
                    text = scalar_text(item)
                    if text is None:
                        self.report(pointer_join(pointer, key), "#text must be a string")
                    element.text = text
                elif has_text and scalar_text(item) is not None:
                    name = self.resolver.tag(key)
                    if name is None:
                        self.report(pointer_join(pointer, key), f"{key!r} is no XML name")
                        continue
                    element.set(name, scalar_text(item) or "")
                else:
                    self.write(element, key, item, pointer_join(pointer, key))
            return
        try:
            element.text = scalar_text(value)
        except ValueError as exc:
            self.report(pointer, str(exc))


def used_prefixes(value: Any, found: set[str]) -> set[str]:
    """Every ``prefix`` of a ``prefix:local`` key anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and ":" in key and not key.startswith("@"):
                found.add(key.partition(":")[0])
            used_prefixes(item, found)
    elif isinstance(value, list):
        for item in value:
            used_prefixes(item, found)
    return found


def builtin_or(prefixes: dict[str, str]) -> dict[str, str]:
    """The document's prefixes over what the standard prefixes name undeclared."""
    return {**STANDARD_NAMESPACES, **prefixes}
