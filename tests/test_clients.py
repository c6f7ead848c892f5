"""Documents built by EPCIS clients nobody on this project wrote, captured as they come.

EPCPyYes (SerialLab's EPCIS 1.2 library) renders XML from Jinja templates and fills
``recordTime`` itself, without a time-zone offset, by default.
"""

from __future__ import annotations

from datetime import UTC, datetime

from EPCPyYes.core.v1_2 import template_events

from tests.test_http_capture import XML, Api

EVENT_TIME = datetime(2026, 3, 1, 8, 0, tzinfo=UTC).isoformat()


def epcpyyes_document(serial: int) -> bytes:
    """An ObjectEvent as EPCPyYes builds it: every default kept but the eventTime, which a
    careful client gives with its offset (EPCPyYes's own default has none, which EPCIS
    refuses: a time without an offset names no instant)."""
    event = template_events.ObjectEvent(
        event_time=EVENT_TIME,
        epc_list=[f"urn:epc:id:sgtin:0614141.107346.{serial}"],
        biz_step="urn:epcglobal:cbv:bizstep:commissioning",
        read_point="urn:epc:id:sgln:0614141.00001.0",
    )
    rendered: str = template_events.EPCISEventListDocument([event]).render()
    assert "<recordTime>" in rendered and "+" not in rendered.split("<recordTime>")[1][:40]
    return rendered.encode()


def test_an_epcpyyes_document_with_its_default_record_time_is_captured(api: Api) -> None:
    response = api.post(epcpyyes_document(1), XML)
    assert response.status_code == 202, response.text
    job = api.job(response)
    assert job["outcomes"][0]["status"] == "stored"
    assert job["outcomes"][0]["notes"] == ["recordTime ignored: set by the repository"]
    # Rendered again, EPCPyYes stamps another recordTime: the same event all the same.
    again = api.post(epcpyyes_document(1), XML)
    assert again.status_code == 202
    assert api.job(again)["outcomes"][0]["status"] == "already-stored"
