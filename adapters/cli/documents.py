"""The commands over EPCIS documents and identifiers: no store involved."""

from __future__ import annotations

import json
import sys

import click

from adapters.cli.common import EXIT_INVALID, open_input, read_document, report


@click.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Check EPCIS documents (JSON-LD or XML 1.2/2.0) against the GS1 schemas and rules."""
    from epcis.document import check

    failed = False
    for path in files:
        with open_input(path) as stream:
            problems = check(stream)
        report(path, problems)
        failed = failed or any(p.is_error for p in problems)
    sys.exit(EXIT_INVALID if failed else 0)


@click.command(name="convert")
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
    from epcis.document import convert
    from epcis.problems import DocumentError

    loaded, problems = read_document(file, validate=not no_validate)
    if loaded is None or any(p.is_error for p in problems):
        report(file, problems)
        sys.exit(EXIT_INVALID)
    report(file, problems)
    try:
        out = convert(loaded.document, target)  # type: ignore[arg-type]
    except DocumentError as exc:
        report(file, list(exc.problems))
        sys.exit(EXIT_INVALID)
    sys.stdout.buffer.write(out if out.endswith(b"\n") else out + b"\n")


@click.command(name="hash")
@click.argument("file")
@click.option("--prehash", is_flag=True, help="Also print each event's pre-hash string.")
def hash_command(file: str, prehash: bool) -> None:
    """Print the CBV 2.0 Event Hash ID of every event, in document order."""
    loaded, problems = read_document(file, validate=False)
    if loaded is None:
        report(file, problems)
        sys.exit(EXIT_INVALID)
    from epcis.event_hash import EventHasher, event_hash_id

    hasher = EventHasher.for_document(loaded.document)
    for event in loaded.events:
        text = hasher.prehash(event)
        click.echo(event_hash_id(text))
        if prehash:
            click.echo(text)


@click.command(name="id")
@click.argument("raw")
def id_command(raw: str) -> None:
    """Parse a scanned or written identifier; print its canonical form and parts as JSON."""
    from epcis.identifiers import IdentifierError, parse_identifier

    try:
        identifier = parse_identifier(raw)
    except IdentifierError as exc:
        click.echo(f"{raw!r}: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(json.dumps(identifier.to_dict(), ensure_ascii=False, indent=2))
