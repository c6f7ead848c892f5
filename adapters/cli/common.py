"""What the commands share: opening files, reporting problems, opening the ledger."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from epcis.document import LoadedDocument
    from epcis.problems import Problem
    from ledger.application import Ledger

LOCAL_NOTICE = "tracecode: acting locally with full rights (the command line has the database)"
"""Said by every command that opens the store: it acts as no principal, with every right."""

T = TypeVar("T")
EXIT_INVALID = 1
EXIT_NO_STORE = 2


def open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None


def refuse_file(path: str, errors: Iterable[object]) -> NoReturn:
    """A file that stored nothing: each of its errors on stderr (``FILE: error``), exit 1."""
    for error in errors:
        click.echo(f"{path}: {error}", err=True)
    sys.exit(EXIT_INVALID)


def read_document(path: str, *, validate: bool) -> tuple[LoadedDocument | None, list[Problem]]:
    from epcis.document import load
    from epcis.problems import DocumentError

    with open_input(path) as stream:
        try:
            loaded = load(stream, validate=validate)
        except DocumentError as exc:
            return None, list(exc.problems)
    return loaded, loaded.problems


def report(path: str, problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(f"{path}:{problem}", err=not problem.is_error)


def open_ledger(*, read_only: bool = False, announce: bool = True) -> Ledger:
    """The ledger ``TRACECODE_DATABASE_URL`` names. ``read_only``: it must be there (exit
    2 naming the setting otherwise) and nothing is created. ``announce``: say on stderr which
    store is used (stdout stays the command's answer)."""
    from adapters.bootstrap import open_ledger as open_configured
    from ledger.settings import SettingsError, StoreMissing

    try:
        ledger = open_configured(read_only=read_only)
    except StoreMissing as exc:
        click.echo(f"tracecode: {exc}", err=True)
        sys.exit(EXIT_NO_STORE)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if announce:
        click.echo(f"tracecode: store {ledger.settings.described}", err=True)
        click.echo(LOCAL_NOTICE, err=True)
    return ledger


def import_file(path: str, use_case: Callable[..., T], institution: str | None) -> T:
    """Give the file at ``path`` to an import use case (``use_case(ledger, LOCAL, data,
    institution)``), acting locally; a file it refuses (:class:`MasterDataInvalid`, nothing
    stored): every error on stderr, exit 1."""
    from ledger.access import LOCAL
    from ledger.master_data_rows import MasterDataInvalid

    with open_input(path) as stream:
        data = stream.read()
    ledger = open_ledger()
    try:
        return use_case(ledger, LOCAL, data, institution)
    except MasterDataInvalid as exc:
        refuse_file(path, exc.errors)
    finally:
        ledger.close()
