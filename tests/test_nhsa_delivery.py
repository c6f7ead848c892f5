"""How :class:`adapters.nhsa.delivery.NhsaTransport` speaks to the stand-in 医保 platform
over real sockets (the transport contract), the envelope it sends and its settings."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import pytest

from adapters.nhsa.answers import already_received
from adapters.nhsa.delivery import NhsaSettings, NhsaSettingsError, NhsaTransport, envelope
from adapters.nhsa.standin import running
from projections.outbox import PENDING, Message, Reply
from tests.nhsa_samples import message as sample
from tests.nhsa_samples import msgid
from tests.outbox_transport_contract import TransportContract

ENVELOPE_FROM_OUTBOX = (
    "mdtrtarea_admvs",
    "opter",
    "opter_name",
    "fixmedins_code",
    "fixmedins_name",
)


def outbox_message(serial: int, infno: str = "3502", **body: Any) -> Message:
    request = sample(infno, serial)
    return Message(
        seq=serial,
        platform="nhsa",
        key=f"{infno}:{serial}",
        kind=infno,
        institution=request["fixmedins_code"],
        msgid=msgid(serial),
        event="ni:///sha-256;00",
        recorded="2026-03-01T02:15:00.000000Z",
        codes=[],
        body={
            "envelope": {k: request[k] for k in ENVELOPE_FROM_OUTBOX},
            "input": request["input"],
            **body,
        },
        person=None,
        missing=[],
        state=PENDING,
    )


class TestNhsaTransport(TransportContract):
    def standin(self) -> AbstractContextManager[str]:
        return running()

    def make(self, url: str | None, timeout: float) -> NhsaTransport:
        return NhsaTransport(NhsaSettings(url=url, timeout=timeout))

    def message(self, serial: int, *, good: bool = True) -> Message:
        made = outbox_message(serial)
        if not good:
            made.body["input"]["invinfo"].pop("inv_chg_type")
        return made

    def taken_before(self, reply: Reply) -> bool:
        return reply.answer is not None and already_received(reply.answer)

    def test_the_refusal_names_the_field(self, transport: NhsaTransport) -> None:
        reply = transport.send(self.message(7, good=False))
        assert reply.error is not None and reply.error.startswith("/input/invinfo/inv_chg_type")
        assert reply.answer is not None and reply.answer["infcode"] == -1


def test_the_envelope_takes_the_settings_and_each_rows_person() -> None:
    from datetime import UTC, datetime

    people = {
        "P1": {"psn_no": "PSN-1", "certno": None, "psn_name": "张三"},
        "P2": {"psn_no": "PSN-2", "certno": "C2", "psn_name": None},
    }
    batch = outbox_message(1, "3505A", persons=["P1", "P2"])
    settings = NhsaSettings.from_env(
        {
            "TRACECODE_NHSA_URL": "http://x/",
            "TRACECODE_NHSA_INFVER": "V1.1",
            "TRACECODE_NHSA_SIGN_NO": "S9",
        }
    )
    sent = envelope(
        batch, settings, lambda who, _: people.get(who), datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    )
    assert (sent["infno"], sent["msgid"], sent["infver"], sent["sign_no"]) == (
        "3505A",
        msgid(1),
        "V1.1",
        "S9",
    )
    assert sent["recer_sys_code"] == "YBXT" and sent["inf_time"] == "2026-03-01 10:00:00"
    rows = sent["input"]["selinfoDetail"]
    assert (rows[0]["psn_no"], rows[0]["psn_name"], "certno" in rows[0]) == ("PSN-1", "张三", False)
    assert (rows[1]["psn_no"], rows[1]["certno"]) == ("PSN-2", "C2")
    assert batch.body["input"]["selinfoDetail"][0]["psn_no"] != "PSN-1"  # the stored body unchanged


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("TRACECODE_NHSA_TIMEOUT_SECONDS", "soon", "not a number"),
        ("TRACECODE_NHSA_TIMEOUT_SECONDS", "0", "more than 0"),
        ("TRACECODE_NHSA_BATCH_SIZE", "2.5", "not a whole number"),
        ("TRACECODE_NHSA_BATCH_SIZE", "-1", "more than 0"),
    ],
)
def test_bad_settings_are_named(name: str, value: str, said: str) -> None:
    with pytest.raises(NhsaSettingsError, match=f"{name}=.*{said}"):
        NhsaSettings.from_env({name: value})
