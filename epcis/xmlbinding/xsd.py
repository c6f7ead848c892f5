"""Validate EPCIS XML against the GS1 XSDs (``schemas/xsd/2.0`` or ``schemas/xsd/1.2``).

The schema is chosen by version and by the root element's namespace: the query XSD for an
``EPCISQueryDocument``, the master-data XSD for an ``EPCISMasterDataDocument``, the core XSD
otherwise (which also declares ``EPCISCaptureJob``). Each schema is loaded once. The XSDs
import each other by relative path; a resolver serves those files from the schema folder
and refuses anything else, so loading never touches the network.
"""

from __future__ import annotations

import threading
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


def validate_xml_schema(
    root_or_bytes: etree._Element | etree._ElementTree | bytes, version: str
) -> list[Problem]:
    """Every XSD error of the document as a Problem (line, element path, rule ``xsd``)."""
    if isinstance(root_or_bytes, etree._ElementTree):
        root = root_or_bytes.getroot()
    elif isinstance(root_or_bytes, etree._Element):
        root = root_or_bytes
    else:
        root = parse_xml(root_or_bytes)
    namespace, _ = split_tag(str(root.tag))
    schema = load_schema(schema_file(version, namespace or ""))
    # A schema object keeps the error log of its last run: one validation at a time.
    with _validate_lock:
        if schema.validate(root.getroottree()):
            return []
        entries = list(cast(Iterable[Any], schema.error_log))
    return [
        Problem(entry.message, line=entry.line or None, path=entry.path or None, rule="xsd")
        for entry in entries
    ]
