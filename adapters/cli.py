"""The ``tracecode`` command line: a thin shell over :mod:`epcis` (and later the ledger).

The output formats are a contract that tests and other tools rely on:

* ``validate FILE...`` prints ``FILE:LOCATION: message`` per problem; exit 1 on any error;
* ``convert FILE --to json|xml|xml-1.2`` writes the converted document to stdout;
* ``hash FILE`` prints one ``ni:///sha-256;…?ver=CBV2.0`` line per event, in document order;
* ``id RAW`` prints the canonical identifier and what is known about it, as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

import click

from epcis.document import LoadedDocument, check, convert, load
from epcis.identifiers import IdentifierError, parse_identifier
from epcis.problems import DocumentError, Problem

_EXIT_INVALID = 1


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None


def _read(path: str, *, validate: bool) -> tuple[LoadedDocument | None, list[Problem]]:
    with _open(path) as stream:
        try:
            loaded = load(stream, validate=validate)
        except DocumentError as exc:
            return None, list(exc.problems)
    return loaded, loaded.problems


def _report(path: str, problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(f"{path}:{problem}", err=not problem.is_error)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """tracecode: an event-sourced traceability ledger on GS1 EPCIS 2.0."""


@main.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Check EPCIS documents (JSON-LD or XML 1.2/2.0) against the GS1 schemas and rules."""
    failed = False
    for path in files:
        with _open(path) as stream:
            problems = check(stream)
        _report(path, problems)
        failed = failed or any(p.is_error for p in problems)
    sys.exit(_EXIT_INVALID if failed else 0)


@main.command(name="convert")
@click.argument("file")
@click.option(
    "--to",
    "target",
    type=click.Choice(["json", "xml", "xml-1.2"]),
    required=True,
    help="json: EPCIS 2.0 JSON-LD; xml: EPCIS 2.0 XML; xml-1.2: EPCIS 1.2 XML.",
)
@click.option("--no-validate", is_flag=True, help="Convert even a document that is not valid.")
def convert_command(file: str, target: str, no_validate: bool) -> None:
    """Convert an EPCIS document between JSON-LD and XML; the result goes to stdout."""
    loaded, problems = _read(file, validate=not no_validate)
    if loaded is None or any(p.is_error for p in problems):
        _report(file, problems)
        sys.exit(_EXIT_INVALID)
    _report(file, problems)
    try:
        out = convert(loaded.document, target)  # type: ignore[arg-type]
    except DocumentError as exc:
        _report(file, list(exc.problems))
        sys.exit(_EXIT_INVALID)
    sys.stdout.buffer.write(out if out.endswith(b"\n") else out + b"\n")


@main.command(name="hash")
@click.argument("file")
@click.option("--prehash", is_flag=True, help="Also print each event's pre-hash string.")
def hash_command(file: str, prehash: bool) -> None:
    """Print the CBV 2.0 Event Hash ID of every event, in document order."""
    loaded, problems = _read(file, validate=False)
    if loaded is None:
        _report(file, problems)
        sys.exit(_EXIT_INVALID)
    from epcis.event_hash import EventHasher, event_hash_id

    hasher = EventHasher.for_document(loaded.document)
    for event in loaded.events:
        text = hasher.prehash(event)
        click.echo(event_hash_id(text))
        if prehash:
            click.echo(text)


@main.command(name="id")
@click.argument("raw")
def id_command(raw: str) -> None:
    """Parse a scanned or written identifier; print its canonical form and parts as JSON."""
    try:
        identifier = parse_identifier(raw)
    except IdentifierError as exc:
        click.echo(f"{raw!r}: {exc}", err=True)
        sys.exit(_EXIT_INVALID)
    click.echo(json.dumps(identifier.to_dict(), ensure_ascii=False, indent=2))
