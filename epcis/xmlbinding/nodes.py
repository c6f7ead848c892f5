"""Typed access to lxml nodes: names, lines, attributes, and libxml2-style element paths.

lxml-stubs type some of these loosely (``sourceline``, attribute names as ``str | bytes``);
everything in :mod:`epcis.xmlbinding` goes through these helpers instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from lxml import etree


def tag_of(element: etree._Element) -> str:
    return str(element.tag)


def line_of(element: etree._Element) -> int:
    """The 1-based source line (0 when unknown, e.g. for a tree built in memory)."""
    return cast(int | None, element.sourceline) or 0


def attributes(element: etree._Element) -> list[tuple[str, str]]:
    return [(str(name), str(value)) for name, value in element.attrib.items()]


def local_name(element: etree._Element) -> str:
    return split_tag(tag_of(element))[1]


def split_tag(tag: str) -> tuple[str | None, str]:
    """``{ns}local`` → ``(ns, local)``; ``local`` → ``(None, local)``."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def element_children(element: etree._Element, path: str) -> Iterator[tuple[etree._Element, str]]:
    """The child elements (no comments or PIs) with their libxml2-style paths.

    Like ``ElementTree.getpath``: ``prefix:name``, the bare name for no namespace, ``*`` for a
    default namespace; ``[n]`` only when several siblings share the name.
    """
    children = [c for c in element if isinstance(c.tag, str)]
    names = [_step_name(c) for c in children]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    seen: dict[str, int] = {}
    for child, name in zip(children, names, strict=True):
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            yield child, f"{path}/{name}[{seen[name]}]"
        else:
            yield child, f"{path}/{name}"


def _step_name(element: etree._Element) -> str:
    ns, local = split_tag(tag_of(element))
    if ns is None:
        return local
    return f"{element.prefix}:{local}" if element.prefix else "*"


def root_path(root: etree._Element) -> str:
    return "/" + _step_name(root)


def attribute_path(path: str, name: str, element: etree._Element) -> str:
    ns, local = split_tag(name)
    if ns is None:
        return f"{path}/@{local}"
    prefix = next((p for p, u in (element.nsmap or {}).items() if u == ns and p), None)
    return f"{path}/@{prefix}:{local}" if prefix else f"{path}/@{local}"


def attribute_hint(element: etree._Element, name: str) -> str | None:
    ns, _ = split_tag(name)
    if ns is None:
        return None
    return next((p for p, u in (element.nsmap or {}).items() if u == ns and p), None)


def text_of(element: etree._Element) -> str:
    return (element.text or "").strip()
