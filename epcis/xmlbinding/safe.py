"""Parse untrusted XML safely: no DTDs, no entities, no network, bounded size and depth.

:func:`parse_xml` feeds the input to an lxml pull parser in chunks, so that

* a stream larger than ``max_bytes`` is refused after at most ``max_bytes`` plus one chunk
  has been pulled from it (it is never read whole);
* nesting deeper than ``max_depth`` is refused while parsing ("nesting deeper than N at
  line L"), long before a 100,000-level document is built;
* an ``<!ENTITY`` declaration (XXE, billion laughs) or a DOCTYPE that names an external DTD
  is refused outright; a bare ``<!DOCTYPE name>`` (as in some GS1 examples) is accepted.

Every failure is a :class:`~epcis.problems.DocumentError` whose problem carries the line,
the element path reached and the rule ``xml-syntax``, ``xml-security`` or ``size-limit``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

from lxml import etree

from epcis.problems import DocumentError, Problem
from epcis.xmlbinding.nodes import line_of

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_DEPTH = 256
CHUNK_SIZE = 64 * 1024

# libxml2 messages that mean "the document tried something dangerous", not a typo.
_SECURITY_MESSAGES = re.compile(r"entit|amplification|excessive depth|huge", re.IGNORECASE)
_DEPTH_MESSAGE = re.compile(r"excessive depth", re.IGNORECASE)
_ENTITY_DECL = b"<!ENTITY"

XmlSource = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


def parse_xml(
    data: XmlSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._Element:
    """Parse ``data`` (bytes, a binary stream or an iterable of byte chunks); return the root.

    ``max_depth`` above libxml2's own limit (256 without ``huge_tree``) has no effect: libxml2
    refuses deeper documents first, and that is reported the same way.
    """
    return _SafeParse(max_bytes=max_bytes, max_depth=max_depth).run(_chunks(data))


def _chunks(data: XmlSource) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start : start + CHUNK_SIZE])
        return
    if isinstance(data, str):
        raise TypeError("parse_xml needs bytes, not str: the XML declaration names the encoding")
    read = getattr(data, "read", None)
    if callable(read):
        while True:
            chunk = read(CHUNK_SIZE)
            if not chunk:
                return
            if not isinstance(chunk, bytes | bytearray):
                raise TypeError("parse_xml needs a binary stream (read() returned text)")
            yield bytes(chunk)
    for chunk in data:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError("parse_xml needs an iterable of bytes chunks")
        whole = bytes(chunk)
        # A producer may hand over huge chunks; feed them in pieces so checks stay prompt.
        for start in range(0, len(whole), CHUNK_SIZE):
            yield whole[start : start + CHUNK_SIZE]


class _SafeParse:
    """One parse: byte and line counters, the open-element stack, the prolog scan."""

    def __init__(self, *, max_bytes: int, max_depth: int) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.consumed = 0
        self.lines = 1  # the line the next unread byte is on
        self.stack: list[etree._Element] = []
        self.root_seen = False
        self.tail = b""  # end of the previous chunk, to find "<!ENTITY" across a boundary
        self.parser = etree.XMLPullParser(
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            attribute_defaults=False,
            remove_comments=True,
            remove_pis=True,
        )

    def run(self, chunks: Iterator[bytes]) -> etree._Element:
        try:
            for chunk in chunks:
                if self.consumed + len(chunk) > self.max_bytes:
                    self._fail(
                        f"document larger than the limit of {self.max_bytes} bytes "
                        f"(refused after reading {self.consumed + len(chunk)} bytes)",
                        rule="size-limit",
                        line=self.lines + chunk.count(b"\n"),
                    )
                if not self.root_seen:
                    self._scan_prolog(chunk)
                self.consumed += len(chunk)
                self.parser.feed(chunk)
                self.lines += chunk.count(b"\n")
                self._drain()
            root = self.parser.close()
            self._drain()
        except etree.XMLSyntaxError as exc:
            self._follow_events()
            raise self._syntax_error(exc) from None
        return root

    def _events(self) -> Iterator[tuple[str, etree._Element]]:
        return cast(Iterator[tuple[str, etree._Element]], self.parser.read_events())

    def _drain(self) -> None:
        for event, element in self._events():
            if event == "end":
                self.stack.pop()
                continue
            if not self.root_seen:
                self.root_seen = True
                self._check_doctype(element)
            self.stack.append(element)
            if len(self.stack) > self.max_depth:
                line = line_of(element)
                self._fail(
                    f"nesting deeper than {self.max_depth} at line {line}",
                    rule="xml-security",
                    line=line,
                )

    def _follow_events(self) -> None:
        """After a syntax error: catch the element stack up, for the error's path."""
        for event, element in self._events():
            if event == "start":
                self.stack.append(element)
            elif self.stack:
                self.stack.pop()

    def _scan_prolog(self, chunk: bytes) -> None:
        window = self.tail + chunk
        at = window.find(_ENTITY_DECL)
        if at >= 0:
            before = window[:at]
            line = self.lines - self.tail.count(b"\n") + before.count(b"\n")
            self._fail(
                f"entity declarations are not accepted (<!ENTITY at line {line}): "
                "XML entities can read local files (XXE) or expand without bound",
                rule="xml-security",
                line=line,
            )
        self.tail = window[-len(_ENTITY_DECL) :]

    def _check_doctype(self, root: etree._Element) -> None:
        info: Any = root.getroottree().docinfo
        line = line_of(root)
        external = info.system_url or info.public_id
        if external:
            self._fail(
                f"external DTDs are not accepted (the DOCTYPE names {external!r})",
                rule="xml-security",
                line=line,
            )
        dtd = info.internalDTD
        if dtd is not None and any(True for _ in dtd.iterentities()):
            self._fail(
                "entity declarations are not accepted: XML entities can read local files "
                "(XXE) or expand without bound",
                rule="xml-security",
                line=line,
            )

    def _path(self) -> str | None:
        if not self.stack:
            return None
        path = self.stack[-1].getroottree().getpath(self.stack[-1])
        steps = path.split("/")
        if len(steps) > 12:  # a 10,000-deep path helps no one: keep its two ends
            path = "/".join([*steps[:6], "…", *steps[-5:]])
        return path

    def _fail(self, message: str, *, rule: str, line: int | None) -> None:
        raise DocumentError([Problem(message, line=line, path=self._path(), rule=rule)])

    def _syntax_error(self, exc: etree.XMLSyntaxError) -> DocumentError:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        line = max(int(line or 0), 1)
        message = str(exc.msg or exc).strip()
        # libxml2 repeats the position at the end of its message; say it once.
        message = re.sub(r",? line \d+, column \d+$", "", message)
        rule = "xml-syntax"
        where = f"line {line}, column {column}"
        if _DEPTH_MESSAGE.search(message):
            message = f"nesting deeper than {min(self.max_depth, 256)} at line {line}"
            where = f"column {column}"
            rule = "xml-security"
        elif _SECURITY_MESSAGES.search(message):
            message = f"entity use refused: {message}"
            rule = "xml-security"
        elif not self.consumed:
            message = "empty document: no XML element found"
        return DocumentError(
            [
                Problem(
                    f"{message} ({where})",
                    line=line,
                    path=self._path(),
                    rule=rule,
                )
            ]
        )
