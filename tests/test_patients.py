"""Patient pseudonyms and their erasable mappings (``ledger.patients``,
``ledger.patient_register``): keyed and deterministic, normalised, kept per institution
outside the log, revealed only to the institution's admin and auditor, erased without a
trace in any table; every reveal and erase logged (a chained entry); on SQLite and
PostgreSQL (the ``ledger`` fixture)."""

from __future__ import annotations

import pytest

from ledger import patient_register as patients
from ledger.access import LOCAL, Forbidden, Permission
from ledger.application import Ledger
from ledger.patient_register import ACCESS_TOPIC, UnknownPatient
from ledger.patients import MAX_LENGTH, PREFIX, BadPatientId, normalise, pseudonym
from ledger.verify import verify_chain
from tests.patient_support import (
    H1_ADMIN,
    H1_AUDITOR,
    H1_READER,
    H1_TERMINAL,
    H2_ADMIN,
    H2_TERMINAL,
    KEY,
    PATIENT,
    REGULATOR,
    files_holding,
    tables_holding,
)

# -- the pseudonym -----------------------------------------------------------------------


def test_a_pseudonym_is_deterministic_for_one_key_and_differs_under_another() -> None:
    first = pseudonym(PATIENT, KEY)
    assert first == pseudonym(PATIENT, KEY)
    assert first.startswith(PREFIX) and len(first) == len(PREFIX) + 32
    assert first != pseudonym(PATIENT, bytes(32))
    assert first != pseudonym("110101199003071234", KEY)
    assert PATIENT.lower() not in first.lower()


def test_the_key_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY.hex())
    assert pseudonym(PATIENT) == pseudonym(PATIENT, KEY)
    monkeypatch.setenv("TRACECODE_PATIENT_KEY", bytes(32).hex())
    assert pseudonym(PATIENT) == pseudonym(PATIENT, bytes(32))


@pytest.mark.parametrize(
    "written",
    [
        "11010119900307123x",
        "  11010119900307123X\t",
        "１１０１０１１９９００３０７１２３Ｘ",  # full-width, as some input methods type it
        "１１０１０１１９９００３０７１２３ｘ",
    ],
)
def test_one_patient_written_several_ways_is_one_pseudonym(written: str) -> None:
    assert normalise(written) == PATIENT
    assert pseudonym(written, KEY) == pseudonym(PATIENT, KEY)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("", "empty"),
        ("  \u3000 ", "empty"),
        ("1" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH}"),
        ("1101\x0001", "control character"),
        ("1101\u200b01", "control character"),
        (123, "a string"),
    ],
)
def test_a_value_that_cannot_be_an_identifier_is_refused(bad: object, says: str) -> None:
    with pytest.raises(BadPatientId, match=says):
        pseudonym(bad, KEY)  # type: ignore[arg-type]


# -- the mapping -------------------------------------------------------------------------


def test_remember_reveal_and_erase(ledger: Ledger) -> None:
    other = patients.remember(ledger, H1_TERMINAL, "MRN-0042", KEY)
    named = patients.remember(ledger, H1_TERMINAL, " 11010119900307123x ", KEY)
    assert named == pseudonym(PATIENT, KEY)
    assert patients.remember(ledger, H1_TERMINAL, PATIENT, KEY) == named  # idempotent
    assert patients.reveal(ledger, H1_ADMIN, named) == PATIENT
    assert patients.reveal(ledger, H1_AUDITOR, named) == PATIENT
    assert patients.erase(ledger, H1_ADMIN, named) == (named, 1)
    with pytest.raises(UnknownPatient):
        patients.reveal(ledger, H1_ADMIN, named)
    assert patients.erase(ledger, H1_ADMIN, named) == (named, 0)
    assert tables_holding(ledger, PATIENT) == []
    if ledger.settings.kind == "sqlite":  # not even in the freed bytes of the files
        assert files_holding(ledger, PATIENT) == []
    assert patients.reveal(ledger, H1_ADMIN, other) == "MRN-0042"


def test_erase_takes_the_identifier_too(ledger: Ledger) -> None:
    named = patients.remember(ledger, H1_TERMINAL, PATIENT, KEY)
    assert tables_holding(ledger, PATIENT) == ["patient_mappings"]
    assert patients.erase(ledger, LOCAL, "11010119900307123x", KEY) == (named, 1)
    assert tables_holding(ledger, PATIENT) == []


def test_each_institution_reveals_and_erases_only_what_it_recorded(ledger: Ledger) -> None:
    named = patients.remember(ledger, H1_TERMINAL, PATIENT, KEY)
    with pytest.raises(UnknownPatient):
        patients.reveal(ledger, H2_ADMIN, named)
    assert patients.erase(ledger, H2_ADMIN, named) == (named, 0)
    assert patients.reveal(ledger, H1_ADMIN, named) == PATIENT
    assert patients.remember(ledger, H2_TERMINAL, PATIENT, KEY) == named  # one pseudonym
    assert patients.erase(ledger, H1_ADMIN, named) == (named, 1)
    assert patients.reveal(ledger, H2_ADMIN, named) == PATIENT  # H2's own record stays
    assert patients.reveal(ledger, LOCAL, named) == PATIENT
    assert patients.erase(ledger, LOCAL, named) == (named, 1)  # the command line: every one
    with pytest.raises(UnknownPatient):
        patients.reveal(ledger, LOCAL, named)


def test_roles(ledger: Ledger) -> None:
    named = patients.remember(ledger, H1_TERMINAL, PATIENT, KEY)
    for who in (REGULATOR, H1_READER, H1_TERMINAL):
        with pytest.raises(Forbidden) as refused:
            patients.reveal(ledger, who, named)
        assert refused.value.permission == Permission.REVEAL_PATIENTS
    for who in (REGULATOR, H1_READER, H1_TERMINAL, H1_AUDITOR):
        with pytest.raises(Forbidden):
            patients.erase(ledger, who, named)
    for who in (REGULATOR, H1_READER, H1_ADMIN):
        with pytest.raises(Forbidden):
            patients.remember(ledger, who, PATIENT, KEY)
    assert patients.reveal(ledger, H1_ADMIN, named) == PATIENT


@pytest.mark.parametrize("bad", ["", PATIENT, PREFIX + "0" * 32, PREFIX + "a" * 31])
def test_reveal_refuses_what_is_not_a_pseudonym_without_quoting_it(
    ledger: Ledger, bad: str
) -> None:
    with pytest.raises(BadPatientId) as refused:
        patients.reveal(ledger, H1_ADMIN, bad)
    assert PATIENT not in str(refused.value)


def test_a_bad_identifier_stores_nothing(ledger: Ledger) -> None:
    with pytest.raises(BadPatientId):
        patients.remember(ledger, H1_TERMINAL, " ", KEY)
    assert list(ledger.raw_log([ACCESS_TOPIC])) == []


def test_every_reveal_and_erase_is_logged_with_the_pseudonym_only(ledger: Ledger) -> None:
    named = patients.remember(ledger, H1_TERMINAL, PATIENT, KEY)
    patients.reveal(ledger, H1_AUDITOR, named)
    with pytest.raises(UnknownPatient):
        patients.reveal(ledger, H2_ADMIN, named)
    patients.erase(ledger, H1_ADMIN, named)
    lines = [state for _, _, state in ledger.raw_log([ACCESS_TOPIC])]
    assert [(s["action"], s["subject"], s["institution"], s["found"]) for s in lines] == [
        ("reveal", "u1", "H1", 1),
        ("reveal", "a2", "H2", 0),
        ("erase", "a1", "H1", 1),
    ]
    assert {s["pseudonym"] for s in lines} == {named}
    report = verify_chain(ledger)
    assert report.intact, report.findings
    assert tables_holding(ledger, PATIENT) == []
