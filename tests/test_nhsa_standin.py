"""The stand-in 医保 platform (adapters/nhsa/standin.py), over real sockets: it takes each
infno's valid messages, refuses each kind of bad field naming it by JSON pointer, answers a
msgid it took as "already received", lists what it received, and misbehaves when told.

The sample messages are written by hand from NHSA-FIELDS.md (tests/nhsa_samples.py); the
check itself is also asked directly, to pin each mutation to exactly the pointers named.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from adapters.cli import main
from adapters.nhsa.answers import already_received
from adapters.nhsa.check import problems
from adapters.nhsa.fields import DEFAULT_FILE, load
from adapters.nhsa.standin import running
from tests.nhsa_samples import BATCH_NODES, CODES, INFNOS, INSTITUTION, message, msgid, row

ROOT = Path(__file__).resolve().parent.parent
PATIENCE = 10.0


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running() as started:
        yield started


@pytest.fixture
def standin(base: str) -> Iterator[httpx.Client]:
    """A client of the module's stand-in, reset: no messages, no msgids taken, no faults
    (one client: a new one per request costs a quarter of a second of TLS set-up on a busy
    machine)."""
    with httpx.Client(base_url=base, timeout=PATIENCE) as client:
        assert client.delete("/messages").status_code == 200
        assert client.post("/faults", json={}).status_code == 200
        yield client


def send(standin: httpx.Client, body: Any, timeout: float = PATIENCE) -> httpx.Response:
    return standin.post("/", json=body, timeout=timeout)


def answer_of(standin: httpx.Client, body: Any) -> dict[str, Any]:
    response = send(standin, body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def received(standin: httpx.Client) -> list[dict[str, Any]]:
    response = standin.get("/messages")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def faults(standin: httpx.Client, **kinds: Any) -> dict[str, Any]:
    response = standin.post("/faults", json=kinds)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- valid messages ----------------------------------------------------------------------


@pytest.mark.parametrize("infno", INFNOS)
def test_a_valid_message_of_each_infno_is_taken(standin: httpx.Client, infno: str) -> None:
    sent = message(infno)
    assert problems(sent) == []
    reply = answer_of(standin, sent)
    assert reply["infcode"] == 0 and reply["err_msg"] is None, reply
    assert len(reply["inf_refmsgid"]) == 30 and reply["inf_refmsgid"].startswith("110105")
    for key in ("refmsg_time", "respond_time"):
        assert reply[key].isdigit() and len(reply[key]) == 17
    output = reply["output"]
    if infno.removesuffix("A") in ("3505", "3507"):
        assert output["result"]["retRslt"] == 1
    else:
        assert "result" not in output
    if infno in BATCH_NODES:
        errors = {"3501A": "invinfoErrDetail", "3502A": "invinfoErrDetail"}.get(
            infno, {"3507A": "goodErrDetail"}.get(infno, "selinfoErrDetail")
        )
        assert output[errors] == []
    [listed] = received(standin)
    assert listed["infno"] == infno and listed["msgid"] == sent["msgid"]
    assert listed["body"] == sent and listed["answer"] == reply


def test_a_self_paid_sale_needs_no_settlement_id_person_or_insurance_area(
    standin: httpx.Client,
) -> None:
    sent = message("3505")
    sale = row(sent)
    sale["mdtrt_setl_type"] = "2"
    del sale["setl_id"], sale["psn_no"], sent["insuplc_admdvs"]
    assert answer_of(standin, sent)["infcode"] == 0


def test_a_split_sale_carries_many_codes_in_one_row(standin: httpx.Client) -> None:
    sent = message("3505")
    row(sent).update(
        trdn_flag="1",
        sel_retn_cnt=30,
        drug_trac_info=[{"drug_trac_codg": code} for code in CODES],
    )
    assert answer_of(standin, sent)["infcode"] == 0


# -- bad fields --------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], Any]


def _set(field: str, value: Any) -> Change:
    return lambda m: row(m).__setitem__(field, value)


def _top(field: str, value: Any) -> Change:
    return lambda m: m.__setitem__(field, value)


def _drop(field: str) -> Change:
    return lambda m: row(m).pop(field)


BAD: list[tuple[str, str, Change, set[str], str]] = [
    # (case, infno, change, pointers, words in the message)
    ("missing", "3505", _drop("rtal_docno"), {"/input/selinfo/rtal_docno"}, "required"),
    ("missing-envelope", "3501", lambda m: m.pop("opter_name"), {"/opter_name"}, "required"),
    ("empty", "3502", _set("fixmedins_bchno", ""), {"/input/invinfo/fixmedins_bchno"}, "required"),
    (
        "insured-without-settlement",
        "3505",
        _drop("setl_id"),
        {"/input/selinfo/setl_id"},
        "required when mdtrt_setl_type is 1 (医保结算)",
    ),
    (
        "person-without-area",
        "3506",
        lambda m: m.pop("insuplc_admdvs"),
        {"/insuplc_admdvs"},
        "required when the input has psn_no",
    ),
    (
        "no-settlement-type",
        "3505",
        _drop("mdtrt_setl_type"),
        {"/input/selinfo/mdtrt_setl_type"},
        "required",
    ),
    (
        "too-long",
        "3502",
        _set("fixmedins_bchno", "B" * 31),
        {"/input/invinfo/fixmedins_bchno"},
        "31 characters, at most 30",
    ),
    ("not-text", "3501", _set("med_list_codg", 123), {"/input/invinfo/med_list_codg"}, "text"),
    (
        "number-as-text",
        "3505",
        _set("sel_retn_cnt", "48"),
        {"/input/selinfo/sel_retn_cnt"},
        "must be a number",
    ),
    ("boolean-number", "3502", _set("cnt", True), {"/input/invinfo/cnt"}, "must be a number"),
    (
        "scale",
        "3505",
        _set("sel_retn_cnt", 1.23456),
        {"/input/selinfo/sel_retn_cnt"},
        "5 decimals, at most 4",
    ),
    (
        "precision",
        "3501",
        _set("inv_cnt", 10**15),
        {"/input/invinfo/inv_cnt"},
        "16 integer digits, at most 14",
    ),
    (
        "date-form",
        "3501",
        _set("manu_date", "2025/03/01"),
        {"/input/invinfo/manu_date"},
        "yyyy-MM-dd",
    ),
    (
        "date-calendar",
        "3501",
        _set("expy_end", "2027-02-30"),
        {"/input/invinfo/expy_end"},
        "not a day",
    ),
    (
        "datetime-form",
        "3505",
        _set("sel_retn_time", "2026-03-01T10:15:00"),
        {"/input/selinfo/sel_retn_time"},
        "yyyy-MM-dd HH:mm:ss",
    ),
    (
        "datetime-envelope",
        "3507",
        _top("inf_time", "2026-03-01 25:00:00"),
        {"/inf_time"},
        "not a time",
    ),
    ("unknown-field", "3505", _set("colour", "red"), {"/input/selinfo/colour"}, "not a field"),
    ("unknown-envelope", "3502", _top("token", "x"), {"/token"}, "not a field"),
    (
        "inv_chg_type",
        "3502",
        _set("inv_chg_type", "112"),
        {"/input/invinfo/inv_chg_type"},
        "not one of 101 调拨入库",
    ),
    (
        "mdtrt_setl_type",
        "3505",
        _set("mdtrt_setl_type", "3"),
        {"/input/selinfo/mdtrt_setl_type"},
        "1 医保结算, 2 自费结算",
    ),
    ("trdn_flag", "3506", _set("trdn_flag", "2"), {"/input/selinfo/trdn_flag"}, "0 否, 1 是"),
    (
        "trdn_flag-3502-C2",
        "3502",
        _set("trdn_flag", "100"),
        {"/input/invinfo/trdn_flag"},
        "at most 2",
    ),
    ("opter_type", "3501", _top("opter_type", "4"), {"/opter_type"}, "1 经办人"),
    ("inv_data_type", "3507", _set("inv_data_type", "5"), {"/input/data/inv_data_type"}, "4 销售"),
    (
        "msgid-prefix",
        "3505",
        _top("msgid", msgid(1, "H11010500999")),
        {"/msgid"},
        f"must begin with fixmedins_code '{INSTITUTION}'",
    ),
    ("msgid-length", "3505", _top("msgid", msgid(1)[:-1]), {"/msgid"}, "30 characters"),
    (
        "msgid-time",
        "3505",
        _top("msgid", f"{INSTITUTION}202613011015000001"),
        {"/msgid"},
        "not a time",
    ),
    (
        "msgid-sequence",
        "3505",
        _top("msgid", f"{INSTITUTION}2026030110150000A1"),
        {"/msgid"},
        "sequence number",
    ),
    (
        "msgid-long-institution",
        "3505",
        _top("fixmedins_code", "H110105001234"),
        {"/msgid"},
        "(12 characters)",
    ),
    ("infno", "3505", _top("infno", "3599"), {"/infno"}, "not an infno of the tables"),
    (
        "infno-vs-node",
        "3505",
        lambda m: m.__setitem__("input", {"invinfo": m["input"]["selinfo"]}),
        {"/input/invinfo", "/input/selinfo"},
        "carries selinfo",
    ),
    ("node-not-object", "3507", _top("input", {"data": []}), {"/input/data"}, "one row"),
    ("input-not-object", "3507", _top("input", "{}"), {"/input"}, "must be an object"),
    (
        "batch-not-list",
        "3505A",
        lambda m: m["input"].__setitem__("selinfoDetail", row(m)),
        {"/input/selinfoDetail"},
        "list of at least one row",
    ),
    (
        "batch-empty",
        "3502A",
        _top("input", {"invinfoDetail": []}),
        {"/input/invinfoDetail"},
        "at least one row",
    ),
    (
        "trace-code-missing",
        "3501",
        _set("drug_trac_info", [{"drug_trac_codg": CODES[0]}, {}]),
        {"/input/invinfo/drug_trac_info/1/drug_trac_codg"},
        "required: 药品追溯码 (C100)",
    ),
    (
        "trace-code-too-long",
        "3505",
        _set("drug_trac_info", [{"drug_trac_codg": "8" * 101}]),
        {"/input/selinfo/drug_trac_info/0/drug_trac_codg"},
        "at most 100",
    ),
    (
        "trace-codes-not-list",
        "3505",
        _set("drug_trac_info", CODES[0]),
        {"/input/selinfo/drug_trac_info"},
        "list of objects {drug_trac_codg}",
    ),
    ("pointer-escaped", "3506", _set("a/b~c", 1), {"/input/selinfo/a~1b~0c"}, "not a field"),
]


@pytest.mark.parametrize(
    ("infno", "change", "pointers", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD],
)
def test_each_kind_of_bad_field_is_refused_by_its_pointer(
    standin: str, infno: str, change: Change, pointers: set[str], words: str
) -> None:
    sent = message(infno)
    change(sent)
    found = problems(sent)
    assert {p.pointer for p in found} == pointers, found
    assert any(words in p.message for p in found), found
    reply = answer_of(standin, sent)
    assert reply["infcode"] == -1 and reply["output"] is None
    for where in pointers:
        assert f"{where}: " in reply["err_msg"]
    assert words in reply["err_msg"]
    # refused, so not taken: the corrected message under the same msgid is taken
    fixed = message(infno)
    fixed["msgid"] = sent.get("msgid")
    if isinstance(fixed["msgid"], str) and not problems(fixed):
        assert answer_of(standin, fixed)["infcode"] == 0


@pytest.mark.parametrize("body", [[], "3505", None, 7])
def test_a_body_that_is_no_json_object_is_refused(standin: httpx.Client, body: Any) -> None:
    reply = answer_of(standin, body)
    assert reply["infcode"] == -1 and reply["err_msg"].startswith("/: ")


def test_a_body_that_is_no_json_is_refused_and_listed(standin: httpx.Client) -> None:
    response = standin.post("/", content=b"{infno: 3505")
    assert response.json()["infcode"] == -1
    assert received(standin)[0]["body"] == "{infno: 3505"


def test_a_batch_takes_its_good_rows_and_lists_the_bad(standin: httpx.Client) -> None:
    sent = message("3501A")
    sent["input"]["invinfoDetail"][1]["inv_cnt"] = "many"
    reply = answer_of(standin, sent)
    assert reply["infcode"] == 0
    [error] = reply["output"]["invinfoErrDetail"]
    assert error["index"] == 1 and error["fixmedins_bchno"] == "B202603010002"
    assert error["err_msg"].startswith("/input/invinfoDetail/1/inv_cnt: ")
    assert answer_of(standin, sent)["err_msg"].startswith("already received")


def test_a_batch_with_no_good_row_or_a_bad_envelope_is_refused_whole(standin: httpx.Client) -> None:
    every = message("3505A", 1)
    for sale in every["input"]["selinfoDetail"]:
        sale["trdn_flag"] = "9"
    assert answer_of(standin, every)["infcode"] == -1
    envelope = message("3505A", 2)
    envelope["infver"] = "V1.0.0.1"
    reply = answer_of(standin, envelope)
    assert reply["infcode"] == -1 and reply["err_msg"].startswith("/infver: ")


# -- duplicates and the list -------------------------------------------------------------


def test_a_msgid_taken_before_is_answered_already_received(standin: httpx.Client) -> None:
    sent = message("3505")
    first = answer_of(standin, sent)
    again = answer_of(standin, sent)
    assert already_received(again) and not already_received(first)
    assert again["infcode"] == 0
    assert again["inf_refmsgid"] == first["inf_refmsgid"]
    assert again["output"] == first["output"]
    assert again["err_msg"] == (
        f"already received: msgid {sent['msgid']} was taken at {first['refmsg_time']} "
        f"as {first['inf_refmsgid']}"
    )
    changed = message("3505")
    row(changed)["sel_retn_cnt"] = 24
    other = answer_of(standin, changed)
    assert already_received(other) and other["err_msg"].endswith("differs from the one taken")
    assert [m["answer"] for m in received(standin)] == [first, again, other]


def test_messages_are_listed_oldest_first_and_can_be_cleared(standin: httpx.Client) -> None:
    sent = [message(infno, n) for n, infno in enumerate(["3502", "3505", "3505A", "3506"], 1)]
    replies = [answer_of(standin, m) for m in sent]
    listed = received(standin)
    assert [(m["infno"], m["msgid"]) for m in listed] == [(m["infno"], m["msgid"]) for m in sent]
    assert [m["body"] for m in listed] == sent
    assert [m["answer"] for m in listed] == replies
    times = [m["received"] for m in listed]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
    assert standin.delete("/messages").json() == {"cleared": 4}
    assert received(standin) == []
    assert answer_of(standin, sent[0])["err_msg"] is None  # the msgids are forgotten too


def test_unknown_routes_and_methods(standin: httpx.Client) -> None:
    assert standin.get("/nowhere").status_code == 404
    assert standin.get("/").status_code == 405
    assert standin.put("/messages").status_code == 405


# -- faults ------------------------------------------------------------------------------


def test_down_answers_503_and_receives_nothing_until_reset(standin: httpx.Client) -> None:
    assert faults(standin, down_for=600)["down_for"] > 0
    response = send(standin, message("3505"))
    assert response.status_code == 503 and response.headers["retry-after"]
    assert received(standin) == []
    assert faults(standin) == {
        "posted": {},
        "down_for": 0,
        "timeout_after_commit": 0,
        "drop_responses": 0,
    }
    assert answer_of(standin, message("3505"))["infcode"] == 0


def test_down_for_a_while_comes_back_by_itself(standin: httpx.Client) -> None:
    faults(standin, down_for=0.3)
    deadline = time.monotonic() + PATIENCE
    statuses = []
    while not statuses or statuses[-1] == 503:
        assert time.monotonic() < deadline, "still down"
        statuses.append(send(standin, message("3502")).status_code)
        time.sleep(0.05)
    assert statuses[-1] == 200 and set(statuses) <= {200, 503}
    assert len(received(standin)) == 1


def test_errors_at_the_seeded_rate(standin: httpx.Client) -> None:
    def run() -> list[int]:
        faults(standin, error_rate=0.3, seed=7)
        standin.delete("/messages")
        return [send(standin, message("3505", n)).status_code for n in range(1, 41)]

    draws = random.Random(7)
    expected = [500 if draws.random() < 0.3 else 200 for _ in range(40)]
    assert run() == expected and 0 < expected.count(500) < 40
    assert run() == expected  # the same seed, the same failures
    listed = received(standin)
    failed = [m for m, status in zip(listed, expected, strict=True) if status == 500]
    assert all(m["answer"]["infcode"] == -1 for m in failed)
    assert all("stand-in fault" in m["answer"]["err_msg"] for m in failed)
    faults(standin)
    retried = answer_of(standin, failed[0]["body"])  # a failure took nothing: no duplicate
    assert retried["infcode"] == 0 and retried["err_msg"] is None


def test_timeout_after_commit_takes_the_message_the_client_never_hears_of(
    standin: httpx.Client,
) -> None:
    faults(standin, timeout_after_commit=1, hang=PATIENCE)
    sent = message("3505")
    with pytest.raises(httpx.ReadTimeout):
        send(standin, sent, timeout=0.5)
    [listed] = received(standin)
    assert listed["msgid"] == sent["msgid"] and listed["answer"]["infcode"] == 0
    assert already_received(answer_of(standin, sent))  # the fault is used up: answered at once
    assert faults(standin)["timeout_after_commit"] == 0


def test_dropped_responses_are_taken_then_the_connection_closes(standin: httpx.Client) -> None:
    assert faults(standin, drop_responses=2)["drop_responses"] == 2
    for n in (1, 2):
        with pytest.raises(httpx.RemoteProtocolError):
            send(standin, message("3506", n))
    assert [m["answer"]["infcode"] for m in received(standin)] == [0, 0]
    assert already_received(answer_of(standin, message("3506", 1)))
    assert answer_of(standin, message("3506", 3))["err_msg"] is None


def test_slow_answers_after_the_pause(standin: httpx.Client) -> None:
    faults(standin, slow=1.0)
    with pytest.raises(httpx.ReadTimeout):
        send(standin, message("3507", 1), timeout=0.2)
    assert answer_of(standin, message("3507", 2))["infcode"] == 0


def test_bad_faults_are_refused_naming_each(standin: httpx.Client) -> None:
    response = standin.post("/faults", json={"error_rate": 2, "down_for": -1, "explode": True})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/error_rate", "/down_for", "/explode"}
    assert standin.post("/faults", content=b"[").status_code == 400


# -- tables as data ----------------------------------------------------------------------


def test_a_province_variant_is_a_table_change(tmp_path: Path) -> None:
    variant = tmp_path / "fields.yaml"
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    variant.write_text(text.replace("drug_trac_info", "drugtracinfo"), encoding="utf-8")
    sent = message("3505")
    row(sent)["drugtracinfo"] = row(sent).pop("drug_trac_info")
    assert [p.pointer for p in problems(sent)] == ["/input/selinfo/drugtracinfo"]
    with running(tables=load(variant)) as base, httpx.Client(base_url=base) as client:
        assert answer_of(client, sent)["infcode"] == 0


# -- the command -------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_command_serves_the_standin(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "standin.log"
    command = [sys.executable, "-c", "from adapters.cli import main; main()"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "standin", "nhsa", "--port", str(port)], cwd=ROOT, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/messages", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=PATIENCE) as client:
            assert answer_of(client, message("3505"))["infcode"] == 0
            assert [m["infno"] for m in received(client)] == ["3505"]
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "stand-in 医保 platform at" in log.read_text(encoding="utf-8")


def test_the_command_refuses_a_table_file_it_cannot_use(tmp_path: Path) -> None:
    bad = tmp_path / "fields.yaml"
    bad.write_text("fields: {infno: {label: x}}\nenvelope: {}\nmessages: {}\n", "utf-8")
    result = CliRunner().invoke(main, ["standin", "nhsa", "--fields", str(bad)])
    assert result.exit_code == 1
    assert str(bad) in result.output and "not a field table file" in result.output
