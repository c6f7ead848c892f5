"""Validate EPCIS XML against the GS1 XSDs (``schemas/xsd/2.0`` or ``schemas/xsd/1.2``).

The schema is chosen by version and by the root element's namespace: the query XSD for an
``EPCISQueryDocument``, the master-data XSD for an ``EPCISMasterDataDocument``, the core XSD
otherwise (which also declares ``EPCISCaptureJob``). Each schema is loaded once. The XSDs
import each other by relative path; a resolver serves those files from the schema folder
and refuses anything else, so loading never touches the network.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from lxml import etree

from epcis.artefacts import schema_path
from epcis.problems import DocumentError, Problem
from epcis.xmlbinding import layout
from epcis.xmlbinding.nodes import split_tag
from epcis.xmlbinding.safe import parse_xml

_FILES: dict[str, dict[str, str]] = {
    "2.0": {
        layout.QUERY_2: "EPCglobal-epcis-query-2_0.xsd",
        layout.MASTERDATA_2: "EPCglobal-epcis-masterdata-2_0.xsd",
        "": "EPCglobal-epcis-2_0.xsd",
    },
    "1.2": {
        layout.QUERY_1: "EPCglobal-epcis-query-1_2.xsd",
        layout.MASTERDATA_1: "EPCglobal-epcis-masterdata-1_2.xsd",
        "": "EPCglobal-epcis-1_2.xsd",
    },
}
_cache: dict[Path, etree.XMLSchema] = {}
_lock = threading.Lock()
_validate_lock = threading.Lock()


class _LocalOnly(etree.Resolver):
    """Serve schema imports from one folder; refuse every other URL."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder.resolve()
        self.refused: list[str] = []

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        url = system_url.removeprefix("file://")
        candidate = Path(url)
        if not candidate.is_absolute():
            candidate = self.folder / candidate
        candidate = candidate.resolve()
        if candidate.parent == self.folder and candidate.is_file():
            resolve_filename: Any = getattr(self, "resolve_filename")  # noqa: B009 - untyped
            return resolve_filename(str(candidate), context)
        self.refused.append(system_url)
        return self.resolve_string("", context, base_url=None)


def schema_file(version: str, root_namespace: str) -> Path:
    files = _FILES.get(version)
    if files is None:
        raise ValueError(f"no EPCIS XSD for version {version!r} (use '2.0' or '1.2')")
    return schema_path("xsd", version, files.get(root_namespace, files[""]))


def load_schema(path: Path) -> etree.XMLSchema:
    """The compiled schema at ``path`` (compiled once per process)."""
    with _lock:
        cached = _cache.get(path)
        if cached is not None:
            return cached
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        resolver = _LocalOnly(path.parent)
        parser.resolvers.add(resolver)
        document = etree.parse(str(path), parser)
        failure: str | None = None
        schema: etree.XMLSchema | None = None
        try:
            schema = etree.XMLSchema(document)
        except etree.XMLSchemaParseError as exc:
            failure = str(exc)
        if resolver.refused:
            raise DocumentError.single(
                f"XSD {path.name} refers outside its folder (not loaded): "
                + ", ".join(resolver.refused),
                rule="configuration",
            )
        if schema is None:
            raise DocumentError.single(
                f"cannot load XSD {path.name}: {failure}", rule="configuration"
            )
        _cache[path] = schema
        return schema


CHUNK_EVENTS = 200
"""Events validated at a time in a large document. libxml2 names each error's element by
its path, counting the element's same-named siblings: with 10,000 invalid events in one
``EventList`` that is quadratic (13 s measured, under a lock every XML capture shares);
in chunks of 200 it stays linear, and validation stops once enough errors are known."""
MAX_ERRORS = 100
"""XSD errors reported at most: any one of them refuses the document."""
_EVENT_LIST = "//*[local-name()='EventList']"
_STEP = re.compile(r"^(?P<name>[^/\[]+)(?:\[(?P<index>\d+)\])?(?P<rest>/.*)?$")


def validate_xml_schema(
    root_or_bytes: etree._Element | etree._ElementTree | bytes, version: str
) -> list[Problem]:
    """The XSD errors of the document as Problems (line, element path, rule ``xsd``): all of
    them, or the first :data:`MAX_ERRORS` and a last problem saying validation stopped."""
    if isinstance(root_or_bytes, etree._ElementTree):
        root = root_or_bytes.getroot()
    elif isinstance(root_or_bytes, etree._Element):
        root = root_or_bytes
    else:
        root = parse_xml(root_or_bytes)
    namespace, _ = split_tag(str(root.tag))
    schema = load_schema(schema_file(version, namespace or ""))
    lists = cast(list[etree._Element], root.xpath(_EVENT_LIST))
    event_list = lists[0] if len(lists) == 1 else None
    # A schema object keeps the error log of its last run: one validation at a time.
    with _validate_lock:
        if event_list is None or len(event_list) <= CHUNK_EVENTS:
            if schema.validate(root.getroottree()):
                return []
            entries = [_entry(e) for e in cast(Iterable[Any], schema.error_log)]
        else:
            entries = _validate_in_chunks(schema, root, event_list)
    problems = [
        Problem(message, line=line or None, path=path or None, rule="xsd")
        for line, path, message in entries[:MAX_ERRORS]
    ]
    if len(entries) > MAX_ERRORS:
        problems.append(
            Problem(f"XSD validation stopped after the first {MAX_ERRORS} errors", rule="xsd")
        )
    return problems


def _entry(entry: Any) -> tuple[int, str, str]:
    return int(entry.line or 0), str(entry.path or ""), str(entry.message)


def _validate_in_chunks(
    schema: etree.XMLSchema, root: etree._Element, event_list: etree._Element
) -> list[tuple[int, str, str]]:
    """Validate the document with its events put in ``CHUNK_EVENTS`` at a time (the tree is
    restored afterwards), renumbering each error's path as in the whole document, until
    more than :data:`MAX_ERRORS` errors are known."""
    events = list(event_list)
    names = [_path_name(e) for e in events]
    total = Counter(names)
    before: Counter[str] = Counter()
    found: list[tuple[int, str, str]] = []
    seen: set[tuple[int, str, str]] = set()
    tree = root.getroottree()
    for child in events:
        event_list.remove(child)
    try:
        for start in range(0, len(events), CHUNK_EVENTS):
            chunk = events[start : start + CHUNK_EVENTS]
            for child in chunk:
                event_list.append(child)
            if not schema.validate(tree):
                list_path = tree.getpath(event_list)
                for entry in cast(Iterable[Any], schema.error_log):
                    line, path, message = _entry(entry)
                    key = (line, _renumbered(path, list_path, before, total), message)
                    if key not in seen:  # errors outside the events repeat in each chunk
                        seen.add(key)
                        found.append(key)
            for child in chunk:
                event_list.remove(child)
            before.update(names[start : start + CHUNK_EVENTS])
            if len(found) > MAX_ERRORS:
                break
    finally:
        for child in events:
            event_list.append(child)
    return found


def _path_name(element: Any) -> str:
    """An element's name as libxml2 writes it in a path (``prefix:local``, or ``*`` for a
    comment or processing instruction, which paths do not name)."""
    if not isinstance(element.tag, str):
        return "*"
    prefix = element.prefix
    local = etree.QName(element).localname
    return f"{prefix}:{local}" if prefix else local


def _renumbered(path: str, list_path: str, before: Counter[str], total: Counter[str]) -> str:
    """A path found in a chunk, as libxml2 would have written it for the whole document."""
    prefix = list_path + "/"
    if not path.startswith(prefix):
        return path
    step = _STEP.match(path[len(prefix) :])
    if step is None:
        return path
    name = step["name"]
    index = int(step["index"] or 1) + before[name]
    numbered = f"{name}[{index}]" if total[name] > 1 else name
    return prefix + numbered + (step["rest"] or "")
