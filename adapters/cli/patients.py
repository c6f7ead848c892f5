"""``tracecode patients``: pseudonyms of patients, and their mappings in the store.

* ``patients pseudonym ID`` prints the patient's pseudonym under the configured key (what
  the log holds for the patient, e.g. to follow a trail); it opens no store and keeps
  nothing;
* ``patients reveal PSEUDONYM`` prints the identifier behind it (exit 1 when no mapping
  is kept: never recorded, or erased);
* ``patients erase ID|PSEUDONYM`` prints ``erased N mapping(s) of PSEUDONYM`` (exit 1 and
  ``no mapping of PSEUDONYM`` when there was none).

Reveal and erase act locally, with full rights (every institution's mappings), and are
logged like any other. A value that cannot be an identifier or a pseudonym is exit 2; a bad
key setting exit 1, naming the setting.
"""

from __future__ import annotations

import sys

import click

from adapters.cli.common import EXIT_INVALID, open_ledger


@click.group()
def patients() -> None:
    """Patient pseudonyms and their erasable mappings."""


def _refused(exc: Exception, hint: str) -> click.BadParameter:
    return click.BadParameter(str(exc), param_hint=hint)


@patients.command(name="pseudonym")
@click.argument("patient_id", metavar="ID")
def pseudonym_command(patient_id: str) -> None:
    """Print the pseudonym the log holds for a patient."""
    from ledger.patient_key import PatientKeyError
    from ledger.patients import BadPatientId, pseudonym

    try:
        click.echo(pseudonym(patient_id))
    except BadPatientId as exc:
        raise _refused(exc, "ID") from None
    except PatientKeyError as exc:
        raise click.ClickException(str(exc)) from None


@patients.command(name="reveal")
@click.argument("value", metavar="PSEUDONYM")
def reveal_command(value: str) -> None:
    """Print the patient identifier behind a pseudonym, while its mapping is kept."""
    from ledger.access import LOCAL
    from ledger.patient_register import UnknownPatient, reveal
    from ledger.patients import BadPatientId, parse_pseudonym

    try:
        named = parse_pseudonym(value)
    except BadPatientId as exc:
        raise _refused(exc, "PSEUDONYM") from None
    open_ledger(read_only=True, announce=False).close()  # a missing store is not created
    ledger = open_ledger()
    try:
        click.echo(reveal(ledger, LOCAL, named))
    except UnknownPatient as exc:
        click.echo(f"tracecode: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        ledger.close()


@patients.command(name="erase")
@click.argument("value", metavar="ID|PSEUDONYM")
def erase_command(value: str) -> None:
    """Erase the mappings of a patient; the log keeps only the pseudonym."""
    from ledger.access import LOCAL
    from ledger.patient_key import PatientKeyError
    from ledger.patient_register import erase
    from ledger.patients import BadPatientId, is_pseudonym, pseudonym

    try:
        named = value.strip() if is_pseudonym(value) else pseudonym(value)
    except BadPatientId as exc:
        raise _refused(exc, "ID|PSEUDONYM") from None
    except PatientKeyError as exc:
        raise click.ClickException(str(exc)) from None
    open_ledger(read_only=True, announce=False).close()
    ledger = open_ledger()
    try:
        _, erased = erase(ledger, LOCAL, named)
    finally:
        ledger.close()
    if not erased:
        click.echo(f"no mapping of {named}")
        sys.exit(EXIT_INVALID)
    click.echo(f"erased {erased} mapping{'s' if erased > 1 else ''} of {named}")
