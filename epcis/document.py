"""One entry point for documents in either syntax: detect, read, validate, convert, hash.

Everything here works on the JSON-LD internal form (``docs/epcis-internal-form.md``);
XML is converted on the way in and out. Problems found on the internal form of an XML
document are reported at the XML line they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any, Literal, cast

from lxml import etree

from epcis import event_hash
from epcis.code_readings import CodeReading, read_trace_codes
from epcis.context import lift_scoped_contexts
from epcis.jsonld import read_json, write_json
from epcis.limits import Limits, check_event_count, check_node_count, read_bounded
from epcis.problems import DocumentError, Problem, excerpt, raise_if_any
from epcis.validation import validate_document
from epcis.validation.rules.walk import iter_events
from epcis.xmlbinding import parse_xml, read_xml, validate_xml_schema, write_xml

Syntax = Literal["json", "xml"]
Target = Literal["json", "xml", "xml-1.2"]


@dataclass
class LoadedDocument:
    """A document in the internal form, with where it came from and what was noticed."""

    document: dict[str, Any]
    syntax: Syntax
    xml_version: str | None = None
    source_map: dict[str, tuple[int, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    readings: list[CodeReading] = field(default_factory=list)
    """Captured: the trace codes read as their canonical URN (:mod:`epcis.code_readings`)."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def is_valid(self) -> bool:
        return not self.errors

    @property
    def kind(self) -> str:
        """``EPCISDocument``, ``EPCISQueryDocument``, or an event type for a bare event."""
        return str(self.document.get("type", ""))

    @property
    def events(self) -> list[dict[str, Any]]:
        if self.kind in ("EPCISDocument", "EPCISQueryDocument"):
            return [dict(e) for e in event_hash.events_of(self.document)]
        return [self.document]

    def hash_ids(self) -> list[str]:
        """The Event Hash ID of every event, in document order."""
        hasher = event_hash.EventHasher.for_document(self.document)
        return [hasher.hash_id(e) for e in self.events]


def detect_syntax(data: bytes) -> Syntax:
    """JSON or XML, from the first significant character (not from a file name)."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return "xml"
    if head in (b"{", b"["):
        return "json"
    if not head:
        raise DocumentError.single("empty document", line=1, rule="syntax")
    raise DocumentError.single(
        f"neither JSON nor XML: the document starts with {head!r}", line=1, rule="syntax"
    )


def load(
    source: bytes | str | IO[bytes],
    *,
    validate: bool = True,
    limits: Limits | None = None,
    captured: bool = False,
) -> LoadedDocument:
    """Read a document; with ``validate`` check it against the GS1 schemas and EPCIS rules.

    Unreadable input raises :class:`DocumentError`; problems of a readable document are
    returned in ``problems`` (use :func:`load_valid` to raise on them instead).

    A JSON-LD document's contexts below its top (on events, on nested objects) are taken
    into the top one (:func:`epcis.context.lift_scoped_contexts`): the internal form has one.

    ``captured``: the document is presented to the capture interface, where EPCIS 2.0 says a
    client's ``recordTime`` "SHALL be ignored" (the repository sets it): each one is taken
    out before validation (so a malformed one refuses nothing) and noted as a warning; and
    every Chinese drug trace code where an EPC is expected, bare or ``AHM.``, is replaced by
    its canonical URN before validation and hashing (:func:`epcis.code_readings.read_trace_codes`,
    kept in ``readings``).
    """
    limits = limits or Limits.from_env()
    data = read_bounded(source, limits)
    syntax = detect_syntax(data)
    check_node_count(data, syntax, limits)
    if syntax == "json":
        result = read_json(data, limits)
        check_event_count(_event_count(result.document), limits)
        document, lifted = (
            lift_scoped_contexts(result.document)
            if result.scoped_contexts
            else (result.document, [])
        )
        loaded = LoadedDocument(document, "json", problems=[*result.problems, *lifted])
        if captured:
            loaded.problems.extend(_without_record_times(loaded.document))
            loaded.readings = read_trace_codes(loaded.document)
        if validate:
            loaded.problems.extend(validate_document(loaded.document, strict=True))
        return loaded
    root = parse_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
    check_event_count(_xml_event_count(root), limits)
    ignored = _without_xml_record_times(root) if captured else []
    xml = read_xml(root)
    xml_problems = [*ignored, *xml.problems]
    check_event_count(_event_count(xml.document), limits)
    loaded = LoadedDocument(
        xml.document,
        "xml",
        xml_version=xml.version,
        source_map=dict(xml.source_map),
        problems=xml_problems if validate else ignored,
        readings=read_trace_codes(xml.document) if captured else [],
    )
    if validate:
        loaded.problems.extend(validate_xml_schema(root, xml.version))
        rule_problems = validate_document(loaded.document, strict=False)
        loaded.problems.extend(_at_xml_source(p, loaded.source_map) for p in rule_problems)
    return loaded


RECORD_TIME_RULE = "record-time-ignored"


def _record_time_note(value: Any, pointer: str | None = None, line: int | None = None) -> Problem:
    return Problem(
        f"recordTime {excerpt(value)} was ignored: the repository sets recordTime when it "
        "captures an event (EPCIS 2.0: it SHALL be ignored on capture)",
        pointer=pointer,
        line=line,
        rule=RECORD_TIME_RULE,
        severity="warning",
    )


def _without_record_times(document: dict[str, Any]) -> list[Problem]:
    """Take every event's ``recordTime`` out of a JSON-LD document; a note for each."""
    notes = []
    for pointer, event in iter_events(document):
        if "recordTime" in event:
            value = cast(dict[str, Any], event).pop("recordTime")
            notes.append(_record_time_note(value, pointer=f"{pointer}/recordTime"))
    return notes


def _without_xml_record_times(root: Any) -> list[Problem]:
    """Take every event's ``recordTime`` element out of an XML document (before the XSD
    sees it); a note for each, at the pointer the event will have in the JSON-LD form."""
    query = etree.QName(root).localname == "EPCISQueryDocument"
    base = "/epcisBody/queryResults/resultsBody/eventList" if query else "/epcisBody/eventList"
    notes = []
    for event_list in root.xpath("//*[local-name()='EventList']"):
        events = [e for e in event_list if isinstance(e.tag, str)]
        for index, wrapper in enumerate(events):
            event = wrapper
            if etree.QName(wrapper).localname == "extension" and len(wrapper):
                event = wrapper[0]
            for element in event.findall("recordTime"):
                pointer = f"{base}/{index}/recordTime"
                notes.append(_record_time_note(element.text, pointer, element.sourceline))
                event.remove(element)
    return notes


def _event_count(document: dict[str, Any]) -> int:
    """How many events a document holds (1 for a bare event), without looking at them."""
    if document.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        return 1
    body = document.get("epcisBody")
    if isinstance(body, dict) and isinstance(body.get("queryResults"), dict):
        results = body["queryResults"].get("resultsBody")
        body = results if isinstance(results, dict) else {}
    events = body.get("eventList") if isinstance(body, dict) else None
    return len(events) if isinstance(events, list) else 0


def _xml_event_count(root: Any) -> int:
    """The number of children of the document's ``EventList`` elements: an upper bound on
    its events, counted before the document is converted."""
    lists = root.xpath("//*[local-name()='EventList']")
    return sum(len(element) for element in lists)


CAPTURE_JOB_TAG = "{urn:epcglobal:epcis:xsd:2}EPCISCaptureJob"


def check(source: bytes | str | IO[bytes], *, limits: Limits | None = None) -> list[Problem]:
    """Every problem of a document, for ``tracecode validate``; ``[]`` when it is valid.

    Besides EPCIS documents this accepts the other XML document the EPCIS 2.0 XSD declares,
    an ``EPCISCaptureJob`` (the capture interface's job status), checked against the XSD.
    """
    limits = limits or Limits.from_env()
    try:
        data = read_bounded(source, limits)
        if detect_syntax(data) == "xml":
            root = parse_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
            if root.tag == CAPTURE_JOB_TAG:
                return validate_xml_schema(root, "2.0")
        return load(data, validate=True, limits=limits).problems
    except DocumentError as exc:
        return list(exc.problems)


def load_valid(source: bytes | str | IO[bytes], *, limits: Limits | None = None) -> LoadedDocument:
    """Read and validate; raise :class:`DocumentError` with every problem if any is an error."""
    loaded = load(source, validate=True, limits=limits)
    raise_if_any(loaded.problems)
    return loaded


def convert(document: dict[str, Any], to: Target) -> bytes:
    """Write the internal form as JSON-LD, EPCIS 2.0 XML or EPCIS 1.2 XML."""
    if to == "json":
        return write_json(document)
    return write_xml(document, version="1.2" if to == "xml-1.2" else "2.0")


def _at_xml_source(problem: Problem, source_map: dict[str, tuple[int, str]]) -> Problem:
    """Give a problem found on the JSON-LD form the XML line and path it came from."""
    pointer = problem.pointer
    while pointer is not None:
        if pointer in source_map:
            line, path = source_map[pointer]
            return Problem(
                problem.message,
                pointer=problem.pointer,
                line=line,
                path=path,
                rule=problem.rule,
                severity=problem.severity,
            )
        if not pointer:
            break
        pointer = pointer.rsplit("/", 1)[0]
    return problem
