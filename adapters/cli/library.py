"""``tracecode library snapshot``: write a snapshot of the code library the scans check
(:mod:`ledger.library_snapshot`), so that the next server or command line starts from it
rather than folding the log from the beginning."""

from __future__ import annotations

import json

import click

from adapters.cli.common import open_ledger


@click.group()
def library() -> None:
    """The code library the scans are checked against (the write side's, in memory)."""


@library.command(name="snapshot")
def snapshot_command() -> None:
    """Bring the code library to the end of the log (from the last snapshot, if usable) and
    write a snapshot of it; print what was written as JSON (after: the notification id it
    is as of; codes; bytes; seconds). Worth running before a planned restart, or from cron
    on a busy store: a server writes one only when it starts or stops."""
    ledger = open_ledger()
    try:
        written = ledger.snapshot_library()
    finally:
        ledger.close()
    if written is None:
        raise click.ClickException("the log holds no event yet: nothing to snapshot")
    click.echo(json.dumps(written.as_json()))
