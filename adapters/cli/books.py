"""``tracecode books``: the HIS's own book figures (the third leg of ``tracecode reconcile``).

* ``books import FILE [--institution H1]`` — a HIS stock export (CSV): prints the import's
  id and, per location, its asOf and how many lines; a file with any error stores
  nothing: exit 1, each error on stderr (``FILE: line N, column NAME: …``). Without
  ``--institution``, the one institution that has every location the file names.
* ``books show [--location ID] [--institution H1]`` — the imports as JSON, oldest first.
"""

from __future__ import annotations

import json

import click

from adapters.cli.common import import_file, open_ledger


@click.group()
def books() -> None:
    """The HIS's own book figures, compared by `tracecode reconcile`."""


@books.command(name="import")
@click.argument("path", metavar="FILE")
@click.option("--institution", default=None, help="Whose figures (default: from the locations).")
def import_command(path: str, institution: str | None) -> None:
    """Import a HIS stock export (CSV: location, product, lot, quantity[, unit, asOf, level])."""
    from ledger.his_books import import_books

    summary = import_file(path, import_books, institution)
    click.echo(f"HIS books of {summary.institution}: import {summary.import_id}")
    for snapshot in summary.as_json()["snapshots"]:
        click.echo(f"  {snapshot['location']} as of {snapshot['asOf']}: {snapshot['lines']} lines")


@books.command(name="show")
@click.option("--location", default=None, help="Only the figures of this location id.")
@click.option("--institution", default=None, help="Only this institution's imports.")
def show_command(location: str | None, institution: str | None) -> None:
    """The imports, oldest first, with their figures, as JSON."""
    from ledger.access import LOCAL
    from ledger.his_books import visible_imports

    ledger = open_ledger(read_only=True)
    try:
        found = visible_imports(ledger, LOCAL, location)
    finally:
        ledger.close()
    shown = [i.as_json(location) for i in found if institution in (None, i.institution)]
    click.echo(json.dumps({"imports": shown}, ensure_ascii=False, indent=2))
