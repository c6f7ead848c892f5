"""How :class:`adapters.beijing.delivery.BeijingTransport` reads the stand-in's answers over
real sockets: taken, taken before, refused with its problems, or unreachable (down,
failing, too slow, cut off, not there), and its settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.beijing import standin
from adapters.beijing.delivery import BeijingSettingsError, BeijingTransport
from projections.outbox import PENDING, Message, Reply, Transport, Unreachable
from tests.outbox_transport_contract import TransportContract

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


class TestBeijingTransport(TransportContract):
    def standin(self) -> AbstractContextManager[str]:
        return standin.running()

    def make(self, url: str | None, timeout: float) -> BeijingTransport:
        return BeijingTransport(url=url, timeout=timeout)

    def message(self, serial: int, *, good: bool = True) -> Message:
        made = message(f"H1-20260302091531-{serial:04d}")
        if not good:
            made.body["rows"][0].pop("prescription")
        return made

    def taken_before(self, reply: Reply) -> bool:
        return reply.answer is not None and reply.answer.get("result") == "already-received"

    def test_refused_with_the_problems_named(self, transport: Transport) -> None:
        reply = transport.send(self.message(6, good=False))
        assert reply.error == "/rows/0/prescription: prescription (患者的病历号/门诊号) is required"
        assert reply.answer is not None and reply.answer["result"] == "refused"


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


def test_xml_is_refused_by_element_path(url: str) -> None:
    transport = BeijingTransport(url=url, form="xml")
    try:
        reply = transport.send(message("H1-20260302091531-0002", prescription=None))
    finally:
        transport.close()
    required = "prescription (患者的病历号/门诊号) is required"
    assert reply.error == f"/message/row[1]/prescription: {required}"


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
