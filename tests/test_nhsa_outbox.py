"""The 医保 messages the outbox owes and sends (issue 13), each built from scans posted
through ``POST /scans`` and checked field by field as the stand-in platform received it,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.nhsa.owed import batch_number
from ledger.access import Role
from ledger.application import Ledger
from projections.outbox import retry
from tests.http_support import RoleKeys
from tests.master_data_support import PRODUCT_HEADER
from tests.nhsa_outbox_support import (
    HOSPITAL,
    INSURED,
    PATIENT,
    STAFF,
    World,
    box,
    world,
)


@pytest.fixture
def w(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.patient_support import KEY_HEX

    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)
    with world(ledger) as opened:
        yield opened


CATALOGUE = {
    "med_list_codg": "XB02",
    "fixmedins_hilist_id": "H-XB02",
    "fixmedins_hilist_name": "头孢克肟片(院内)",
    "fixmedins_bchno": batch_number(HOSPITAL, "XB02", "L2503011"),
}
"""The product's catalogue fields, and its batch's number, in every row of it."""
BATCH = {"manu_lotnum": "L2503011", "manu_date": "2025-03-01", "expy_end": "2027-02-28"}
PERSON = {
    "psn_no": INSURED["psn_no"],
    "psn_cert_type": "01",
    "certno": INSURED["certno"],
    "psn_name": INSURED["psn_name"],
}


def bodies(w: World, infno: str) -> list[dict[str, Any]]:
    return [m["body"] for m in w.received() if m["infno"] == infno]


def test_a_purchase_is_a_3502_108_and_internal_moves_owe_nothing(w: World) -> None:
    w.at_pharmacy(box(1), box(2))
    assert w.deliver() == 1
    (sent,) = w.received()
    body = sent["body"]
    assert sent["answer"]["infcode"] == 0, sent["answer"]
    assert body["infno"] == "3502"
    assert body["msgid"].startswith(HOSPITAL) and len(body["msgid"]) == 30
    assert body["fixmedins_code"] == HOSPITAL and body["fixmedins_name"] == "第一医院"
    assert body["mdtrtarea_admvs"] == "620102"
    assert (body["opter"], body["opter_name"]) == ("OP-07", "王药师")
    assert body["input"] == {
        "invinfo": {
            **CATALOGUE,
            "rx_flag": "1",
            "pric": 12.5,
            "inv_chg_type": "108",
            "cnt": 2,
            "inv_chg_time": body["input"]["invinfo"]["inv_chg_time"],
            "inv_chg_opter_name": "王药师",
            "trdn_flag": "0",
            "drug_trac_info": [{"drug_trac_codg": box(1)}, {"drug_trac_codg": box(2)}],
        }
    }
    assert w.messages()[0]["state"] == "acknowledged"


def kinds(w: World, kind: str) -> list[dict[str, Any]]:
    return [m for m in w.messages() if m["kind"] == kind]


def sale(w: World, order: str, *codes: str, **more: Any) -> dict[str, Any]:
    scan = {
        "operation": "bind",
        "location": "OP",
        "codes": list(codes),
        "patient": PATIENT,
        "order": order,
        "operatorId": "OP-07",
        **STAFF,
    }
    return w.scan(**{**scan, **more})


def test_a_settled_bind_is_a_3505_field_by_field(w: World) -> None:
    w.at_pharmacy(box(3), box(4))
    sale(w, "RX1", box(3), box(4), prescription="RXNO-1", settlement=INSURED)
    w.deliver()
    (body,) = bodies(w, "3505")
    assert body["insuplc_admdvs"] == "620100"
    assert body["mdtrtarea_admvs"] == "620102"
    row = body["input"]["selinfo"]
    assert row == {
        **CATALOGUE,
        "prsc_dr_name": "李医生",
        "phar_name": "王药师",
        "phar_prac_cert_no": "ZY-20260001",
        "hi_feesetl_type": "1",
        "setl_id": "SETL-0001",
        "mdtrt_sn": "MDTRT-0001",
        **PERSON,
        **BATCH,
        "rx_flag": "1",
        "trdn_flag": "0",
        "finl_trns_pric": 12.5,
        "rxno": "RXNO-1",
        "rtal_docno": "RCPT-0001",
        "sel_retn_cnt": 2,
        "sel_retn_time": row["sel_retn_time"],
        "sel_retn_opter_name": "王药师",
        "mdtrt_setl_type": "1",
        "drug_trac_info": [{"drug_trac_codg": box(3)}, {"drug_trac_codg": box(4)}],
    }
    assert len(row["sel_retn_time"]) == 19
    stored = w.messages(state="acknowledged")
    assert [m["kind"] for m in stored] == ["3502", "3505"]
    assert all(m["answer"]["infcode"] == 0 for m in stored)
    # the outbox keeps no personal field: they are joined in when sending
    assert INSURED["psn_no"] not in str(w.messages())


def test_a_sale_waits_for_its_settlement_then_goes(w: World) -> None:
    w.at_pharmacy(box(5))
    sale(w, "RX2", box(5))
    w.deliver()
    (waiting,) = kinds(w, "3505")
    assert waiting["state"] == "incomplete"
    assert waiting["missing"] == [
        "/input/selinfo/hi_feesetl_type",
        "/input/selinfo/mdtrt_sn",
        "/input/selinfo/psn_cert_type",
        "/input/selinfo/mdtrt_setl_type",
    ]
    assert bodies(w, "3505") == []
    w.scan(operation="settle", order="RX2", settlement=INSURED)
    w.delivery.refresh()
    w.deliver()
    (body,) = bodies(w, "3505")
    assert body["msgid"] == waiting["msgid"]
    assert body["input"]["selinfo"]["setl_id"] == "SETL-0001"


def test_a_split_sale_counts_units_and_names_each_box_once(w: World) -> None:
    early, late = box(6), box(7)  # XB02: boxes of 10, split allowed
    w.at_pharmacy(early, late)
    w.scan(operation="prescan", location="OP", codes=[early, late])
    w.scan(
        operation="bind",
        location="OP",
        product="XB02",
        quantity=13,
        patient=PATIENT,
        order="RX3",
        settlement={
            "mdtrt_setl_type": "2",
            "mdtrt_sn": "VISIT-3",
            "psn_cert_type": "01",
            "hi_feesetl_type": "2",
        },
        **STAFF,
    )
    w.deliver()
    (body,) = bodies(w, "3505")
    row = body["input"]["selinfo"]
    assert (row["trdn_flag"], row["sel_retn_cnt"], row["mdtrt_setl_type"]) == ("1", 13, "2")
    assert sorted(c["drug_trac_codg"] for c in row["drug_trac_info"]) == [early, late]
    assert "setl_id" not in row and "psn_no" not in row


def test_a_return_is_a_3506_and_never_overtakes_its_sale(w: World) -> None:
    w.at_pharmacy(box(8))
    sale(w, "RX4", box(8), settlement=INSURED)
    w.scan(operation="unbind", location="OP", codes=[box(8)], reason="patient returned")
    w.runner.run_until_caught_up()
    (sold,) = kinds(w, "3505")
    right = sold["msgid"]
    from projections.outbox import messages as table

    with w.runner.transaction() as conn:  # a msgid the platform refuses: the sale fails
        conn.execute(table.update().where(table.c.msgid == right).values(msgid="X" + right[1:]))
    w.deliver()
    assert [m["infno"] for m in w.received()] == ["3502", "3505"]
    assert [m["state"] for m in kinds(w, "3506")] == ["pending"]  # held behind its sale
    with w.runner.transaction() as conn:
        conn.execute(table.update().where(table.c.msgid == "X" + right[1:]).values(msgid=right))
    retry(w.runner, [right])
    w.deliver()
    assert [m["infno"] for m in w.received()] == ["3502", "3505", "3505", "3506"]
    (body,) = bodies(w, "3506")
    row = body["input"]["selinfo"]
    assert row == {
        **CATALOGUE,
        "setl_id": "SETL-0001",
        **PERSON,
        **BATCH,
        "rx_flag": "1",
        "trdn_flag": "0",
        "finl_trns_pric": 12.5,
        "sel_retn_cnt": 1,
        "sel_retn_time": row["sel_retn_time"],
        "sel_retn_opter_name": row["sel_retn_opter_name"],
        "mdtrt_sn": "MDTRT-0001",
        "drug_trac_info": [{"drug_trac_codg": box(8)}],
    }
    assert body["insuplc_admdvs"] == "620100"


def test_a_cancel_supersedes_what_was_not_sent_and_reverses_what_was(w: World) -> None:
    w.scan(
        operation="receive",
        location="WH",
        codes=[box(9)],
        lot="L1",
        manufactured="2025-03-01",
        scanId="r1",
    )
    w.scan(operation="cancel", scanId="r1")  # before any delivery: nothing goes
    w.deliver()
    assert w.received() == []
    assert [m["state"] for m in w.messages()] == ["superseded"]
    w.scan(
        operation="receive",
        location="WH",
        codes=[box(10)],
        lot="L2",
        manufactured="2025-03-01",
        scanId="r2",
    )
    w.deliver()
    w.scan(operation="cancel", scanId="r2")
    w.deliver()
    assert [m["infno"] for m in w.received()] == ["3502", "3507"]
    (body,) = bodies(w, "3507")
    assert body["input"] == {
        "data": {"fixmedins_bchno": batch_number(HOSPITAL, "XB02", "L2"), "inv_data_type": "2"}
    }


def test_only_the_first_stocktake_is_a_3501(w: World) -> None:
    w.at_pharmacy(box(11), box(12))
    for _ in range(2):
        count = w.open_stocktake("OP")
        w.scan(operation="stocktake", location="OP", codes=[box(11), box(12)], stocktake=count)
        w.close_stocktake(count)
    w.deliver()
    (body,) = bodies(w, "3501")
    row = body["input"]["invinfo"]
    assert row == {
        "med_list_codg": "XB02",
        "fixmedins_hilist_id": "H-XB02",
        "fixmedins_hilist_name": "头孢克肟片(院内)",
        "rx_flag": "1",
        "invdate": row["invdate"],
        "inv_cnt": 20,  # two boxes of 10: smallest units
        "manu_lotnum": "L2503011",
        "fixmedins_bchno": batch_number(HOSPITAL, "XB02", "L2503011"),
        "manu_date": "2025-03-01",
        "expy_end": "2027-02-28",
        "drug_trac_info": [{"drug_trac_codg": box(11)}, {"drug_trac_codg": box(12)}],
    }
    assert len(row["invdate"]) == 10 and body["fixmedins_code"] == HOSPITAL


def test_returns_to_the_supplier_and_destruction_are_3502s(w: World) -> None:
    w.at_pharmacy(box(13))
    w.scan(operation="receive", location="WH", codes=[box(14)], lot="L3", manufactured="2025-03-01")
    w.scan(operation="return_to_supplier", location="WH", codes=[box(14)])
    w.scan(operation="destroy", location="OP", codes=[box(13)])
    w.deliver()
    types = [b["input"]["invinfo"]["inv_chg_type"] for b in bodies(w, "3502")]
    assert types == ["108", "108", "109", "105"]


def test_deriving_again_gives_the_same_ids_and_sends_nothing_again(w: World) -> None:
    w.at_pharmacy(box(15))
    sale(w, "RX5", box(15), settlement=INSURED)
    w.deliver()
    before = [(m["key"], m["msgid"], m["state"]) for m in w.messages()]
    w.runner.rebuild()
    w.deliver()
    assert [(m["key"], m["msgid"], m["state"]) for m in w.messages()] == before
    assert len(w.received()) == 2
    # even from nothing (the outbox's tables emptied), the same messages get the same ids,
    # and what the platform took before it answers "already received": taken, not again
    from projections.outbox import messages as table

    with w.runner.transaction() as conn:
        conn.execute(table.delete())
    w.runner.rebuild()
    w.deliver()
    assert [(m["key"], m["msgid"], m["state"]) for m in w.messages()] == before
    taken = [m for m in w.received() if m["answer"]["err_msg"] is None]
    assert len(taken) == 2 and len(w.received()) == 4


def test_a_refused_message_keeps_the_platforms_error_and_is_tried_again(w: World) -> None:
    w.scan(operation="receive", location="WH", codes=[box(16)], lot="L4", manufactured="2025-03-01")
    w.runner.run_until_caught_up()
    (message,) = w.messages()
    # the platform refuses what it cannot take: here a msgid of the wrong institution
    from projections.outbox import messages as table

    with w.runner.transaction() as conn:
        conn.execute(table.update().values(msgid="X" + message["msgid"][1:]))
    w.delivery.deliver()
    (failed,) = w.messages()
    assert failed["state"] == "failed" and "/msgid" in failed["error"]
    assert failed["answer"]["infcode"] == -1


def test_operators_watch_and_retry_over_http(w: World) -> None:
    w.at_pharmacy(box(17))
    sale(w, "RX6", box(17))  # unsettled: incomplete
    w.deliver()
    listed = w.client.get("/outbox", params={"platform": "nhsa"}).json()
    assert [(m["kind"], m["state"]) for m in listed["messages"]] == [
        ("3502", "acknowledged"),
        ("3505", "incomplete"),
    ]
    assert listed["counts"] == {"nhsa": {"acknowledged": 1, "incomplete": 1}}
    assert "body" not in listed["messages"][0]
    waiting = w.client.get("/outbox", params={"state": "incomplete"}).json()["messages"]
    assert [m["kind"] for m in waiting] == ["3505"]
    one = w.client.get(f"/outbox/{waiting[0]['msgid']}").json()
    assert one["missing"] and one["body"]["input"]["selinfo"]["drug_trac_info"]
    assert w.client.get("/outbox/H110105001239999").status_code == 404
    bad = w.client.get("/outbox", params={"state": "lost"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["query"] == "state"
    auth = w.client.auth
    assert isinstance(auth, RoleKeys)
    again = w.client.post(
        "/outbox/retry", json={"platform": "nhsa"}, headers=auth.header(Role.ADMIN)
    )
    assert again.status_code == 200 and again.json() == {"retried": 0}
    refused = w.client.post(
        "/outbox/retry", json={"platform": "x"}, headers=auth.header(Role.ADMIN)
    )
    assert refused.status_code == 400


def test_upload_figures_join_the_data_quality_report(w: World) -> None:
    w.at_pharmacy(box(18))
    sale(w, "RX7", box(18))  # owed, not settled: not uploaded
    w.deliver()
    rows = w.client.get("/metrics/quality", params={"period": "day"}).json()["rows"]
    by_place = {r["department"]: r for r in rows}
    assert by_place["WH"]["uploads"] == {"owed": 1, "acknowledged": 1, "timely": 1}
    assert by_place["WH"]["rates"]["uploadSuccess"] == 1.0
    assert by_place["OP"]["uploads"] == {"owed": 1, "acknowledged": 0, "timely": 0}
    assert by_place["OP"]["rates"]["uploadSuccess"] == 0.0


def test_a_product_without_its_catalogue_fields_waits_for_them(w: World) -> None:
    plain = "8300001" + "0" * 12 + "1"
    header = PRODUCT_HEADER
    w.import_csv(header + "\nXC03,,8300001,box,6,维生素C片,0.1g*6片,片剂,某药业,国药准字H3,1,0")
    w.scan(operation="receive", location="WH", codes=[plain], lot="L9", manufactured="2025-01-01")
    w.deliver()
    (waiting,) = w.messages()
    assert waiting["state"] == "incomplete"
    assert waiting["missing"] == [
        "/input/invinfo/fixmedins_hilist_id",
        "/input/invinfo/fixmedins_hilist_name",
        "/input/invinfo/pric",
        "/input/invinfo/rx_flag",
    ]
    w.import_csv(
        header + ",his_code,his_name,rx_flag,price\n"
        "XC03,,8300001,box,6,维生素C片,0.1g*6片,片剂,某药业,国药准字H3,1,0,H-XC03,维C片,0,3.2"
    )
    w.delivery.refresh()
    w.deliver()
    (body,) = bodies(w, "3502")
    assert body["msgid"] == waiting["msgid"]
    assert body["input"]["invinfo"]["fixmedins_hilist_id"] == "H-XC03"


def test_batching_sends_the_a_variants_with_each_rows_person(
    ledger: Ledger, monkeypatch: Any
) -> None:
    from tests.patient_support import KEY_HEX

    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)
    with world(ledger, batch_size=3, batch_delay=3600) as w:
        for n in (20, 21, 22, 23):
            w.scan(
                operation="receive",
                location="WH",
                codes=[box(n)],
                lot="L7",
                manufactured="2025-03-01",
            )
        w.deliver()  # three wait together; the fourth waits for more
        (batch,) = w.received()
        assert batch["body"]["infno"] == "3502A"
        rows = batch["body"]["input"]["invinfoDetail"]
        assert [r["drug_trac_info"] for r in rows] == [
            [{"drug_trac_codg": box(n)}] for n in (20, 21, 22)
        ]
        assert batch["answer"]["infcode"] == 0
        by_state = sorted(m["state"] for m in w.messages())
        assert by_state == [
            "acknowledged",
            "acknowledged",
            "acknowledged",
            "acknowledged",
            "pending",
        ]
        other = PATIENT[:-1] + "5"
        w.at_pharmacy(box(24), box(25))
        w.delivery.batch_delay = 0
        w.deliver()  # the receipts first: a sale waits for its codes' earlier messages
        sale(w, "RX8", box(24), settlement=INSURED)
        sale(
            w,
            "RX9",
            box(25),
            patient=other,
            settlement={**INSURED, "psn_no": "PSN-2", "setl_id": "SETL-2", "psn_name": "李四"},
        )
        w.delivery.batch_delay = 0
        w.deliver()
        (sales,) = [m["body"] for m in w.received() if m["infno"] == "3505A"]
        people = [(r["psn_no"], r["setl_id"]) for r in sales["input"]["selinfoDetail"]]
        assert people == [(INSURED["psn_no"], "SETL-0001"), ("PSN-2", "SETL-2")]
        assert all(m["state"] == "acknowledged" for m in w.messages())


def test_moves_between_institutions_are_transfers_out_and_in(w: World) -> None:
    """Captured by an integration engine: its messages name the interface operator."""
    from ledger.capture import prepare

    w.delivery.owes.interface = ("IF-01", "接口账户")  # type: ignore[attr-defined]
    from tests.ledger_contract import document
    from tests.nhsa_outbox_support import OTHER

    w.at_pharmacy(box(30))
    urn = "urn:tracecode:cn-drug:" + box(30)
    here, there = f"urn:tracecode:loc:{HOSPITAL}:WH", f"urn:tracecode:loc:{OTHER}:WH"

    def moved(step: str, disposition: str, at: str, **more: Any) -> dict[str, Any]:
        return {
            "type": "ObjectEvent",
            "eventTime": "2026-11-30T08:00:00.000+08:00",
            "eventTimeZoneOffset": "+08:00",
            "epcList": [urn],
            "action": "OBSERVE",
            "bizStep": step,
            "disposition": disposition,
            "readPoint": {"id": at},
            **more,
        }

    shipped = moved(
        "shipping",
        "in_transit",
        here,
        sourceList=[{"type": "location", "source": here}],
        destinationList=[{"type": "location", "destination": there}],
    )
    received = moved("receiving", "in_progress", there, bizLocation={"id": there})
    assert w.ledger.capture(prepare(document(shipped, received))).success
    w.deliver()
    changes = [m for m in w.messages() if m["kind"] == "3502"]
    types = [(m["institution"], m["body"]["input"]["invinfo"].get("inv_chg_type")) for m in changes]
    assert types == [(HOSPITAL, "108"), (HOSPITAL, "102"), (OTHER, "101")]
    internal = [m for m in w.received() if m["infno"] == "3502"]
    assert len(internal) == 2  # the receipt and the transfer out; the move to OP owed nothing
    assert changes[2]["state"] == "incomplete"  # the other institution has no master data here
    assert "/envelope/fixmedins_name" in changes[2]["missing"]
    shipped_out = internal[1]["body"]
    assert (shipped_out["opter"], shipped_out["opter_name"]) == ("IF-01", "接口账户")


def test_messages_waiting_long_never_hide_the_later_ones(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of two: three sales waiting for their settlements do not keep a later
    receipt from going, and each of them is built again in its turn."""
    from tests.patient_support import KEY_HEX

    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)
    with world(ledger, window=2) as w:
        w.at_pharmacy(box(40), box(41), box(42))
        for n in (40, 41, 42):
            sale(w, f"RX{n}", box(n))
        w.scan(operation="receive", location="WH", codes=[box(43)], lot="L9")
        w.deliver()
        assert [m["infno"] for m in w.received()] == ["3502", "3502"]
        assert [m["state"] for m in kinds(w, "3505")] == ["incomplete"] * 3
        for n in (40, 41, 42):
            w.scan(operation="settle", order=f"RX{n}", settlement=INSURED)
        rounds = [w.delivery.refresh(), w.delivery.refresh()]  # two a round, going round
        assert sorted(rounds) == [1, 2]
        w.deliver()
        assert [m["infno"] for m in w.received()][2:] == ["3505"] * 3
