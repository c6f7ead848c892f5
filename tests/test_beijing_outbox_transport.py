"""How :class:`adapters.beijing.delivery.BeijingTransport` reads the stand-in's answers over
real sockets: taken, taken before, refused with its problems, or unreachable (down,
failing, too slow, cut off, not there), and its settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.beijing import standin
from adapters.beijing.delivery import BeijingSettingsError, BeijingTransport
from projections.outbox import PENDING, Message, Unreachable

ROW = {
    "eventTime": "2026-03-02T09:15:30.250+08:00",
    "eventTimeZoneOffset": "+08:00",
    "epcList": ["AHM.82000010000000000001"],
    "bizLocation": {"id": "urn:tracecode:loc:H1:OP-1"},
    "prescription": "MZ20260302-00815",
}


def message(msgid: str, **changes: Any) -> Message:
    row = {k: v for k, v in {**ROW, **changes}.items() if v is not None}
    return Message(
        seq=1,
        platform="beijing",
        key=f"use:{msgid}",
        kind="use",
        institution="H1",
        msgid=msgid,
        event="ni:///sha-256;00",
        recorded="2026-03-02T01:15:31.000000Z",
        codes=["82000010000000000001"],
        body={"table": "use", "rows": [row]},
        person=None,
        missing=[],
        state=PENDING,
    )


@pytest.fixture(scope="module")
def stand() -> Iterator[str]:
    with standin.running() as url:
        yield url


@pytest.fixture
def url(stand: str) -> Iterator[str]:
    with httpx.Client() as http:
        http.delete(stand + "/messages").raise_for_status()
        http.post(stand + "/faults", json={}).raise_for_status()
    yield stand


def faults(url: str, **given: Any) -> None:
    httpx.post(url + "/faults", json=given).raise_for_status()


@pytest.fixture
def transport(url: str) -> Iterator[BeijingTransport]:
    made = BeijingTransport(url=url, timeout=1.0)
    yield made
    made.close()


def test_taken_then_taken_before(transport: BeijingTransport, url: str) -> None:
    first = transport.send(message("H1-20260302091531-0000"))
    assert first.taken and first.answer is not None and first.answer["result"] == "accepted"
    again = transport.send(message("H1-20260302091531-0000"))
    assert again.taken and again.answer is not None
    assert again.answer["result"] == "already-received"
    assert [m["answer"]["result"] for m in httpx.get(url + "/messages").json()] == [
        "accepted",
        "already-received",
    ]


def test_refused_with_the_problems_named(transport: BeijingTransport) -> None:
    reply = transport.send(message("H1-20260302091531-0001", prescription=None))
    assert not reply.taken
    assert reply.error == "/rows/0/prescription: prescription (患者的病历号/门诊号) is required"
    assert reply.answer is not None and reply.answer["result"] == "refused"


def test_xml_is_refused_by_element_path(url: str) -> None:
    transport = BeijingTransport(url=url, form="xml")
    try:
        reply = transport.send(message("H1-20260302091531-0002", prescription=None))
    finally:
        transport.close()
    required = "prescription (患者的病历号/门诊号) is required"
    assert reply.error == f"/message/row[1]/prescription: {required}"


@pytest.mark.parametrize(
    "fault",
    [{"down_for": 60}, {"error_rate": 1}, {"timeout_after_commit": 1, "hang": 5}],
    ids=["down", "failing", "too-slow"],
)
def test_a_platform_not_answering_is_unreachable(
    transport: BeijingTransport, url: str, fault: dict[str, Any]
) -> None:
    faults(url, **fault)
    with pytest.raises(Unreachable):
        transport.send(message("H1-20260302091531-0003"))
    faults(url)
    reply = transport.send(message("H1-20260302091531-0003"))
    taken_before = "timeout_after_commit" in fault
    assert reply.taken and reply.answer is not None
    assert reply.answer["result"] == ("already-received" if taken_before else "accepted")


def test_a_cut_connection_and_no_server_are_unreachable(
    transport: BeijingTransport, url: str
) -> None:
    faults(url, drop_responses=1)
    with pytest.raises(Unreachable):
        transport.send(message("H1-20260302091531-0004"))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{free.getsockname()[1]}"
    gone = BeijingTransport(url=nobody)
    try:
        with pytest.raises(Unreachable, match=nobody):
            gone.send(message("H1-20260302091531-0005"))
    finally:
        gone.close()


def test_a_directory_that_cannot_be_written_is_unreachable(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(Unreachable, match="file"):
        BeijingTransport(directory=blocked / "inside").send(message("H1-20260302091531-0006"))


def test_settings() -> None:
    assert not BeijingTransport.from_env({}).configured()
    posting = BeijingTransport.from_env({"TRACECODE_BEIJING_URL": "http://127.0.0.1:9/"})
    assert posting.configured() and posting.form == "json"
    posting.close()
    writing = BeijingTransport.from_env(
        {"TRACECODE_BEIJING_DIR": "/tmp/out", "TRACECODE_BEIJING_FORMAT": "XML"}
    )
    assert writing.configured() and writing.form == "xml"
    bad = [
        ({"TRACECODE_BEIJING_URL": "http://x/", "TRACECODE_BEIJING_DIR": "/tmp"}, "both set"),
        ({"TRACECODE_BEIJING_FORMAT": "csv"}, "TRACECODE_BEIJING_FORMAT must be one of"),
        ({"TRACECODE_BEIJING_TIMEOUT": "soon"}, "TRACECODE_BEIJING_TIMEOUT must be a number"),
        ({"TRACECODE_BEIJING_TIMEOUT": "0"}, "TRACECODE_BEIJING_TIMEOUT must be more than 0"),
    ]
    for environ, says in bad:
        with pytest.raises(BeijingSettingsError, match=says):
            BeijingTransport.from_env(environ)
