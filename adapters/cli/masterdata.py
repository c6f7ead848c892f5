"""``tracecode masterdata import FILE``: products or locations from a CSV file.

Prints one line saying what the file held and for which institution, then one line per
row added or changed (``added XA01/box``, ``changed WH``). A file with any bad value stores
nothing: exit 1 and every error on stderr (``FILE: line N, column NAME: what is wrong``).
"""

from __future__ import annotations

import sys

import click

from adapters.cli.common import EXIT_INVALID, open_input, open_ledger


@click.group()
def masterdata() -> None:
    """Master data: products (three-code mapping, packaging levels) and locations."""


@masterdata.command(name="import")
@click.argument("path", metavar="FILE")
@click.option(
    "--institution",
    default=None,
    help="The institution the master data belongs to (needed for products; for locations "
    "each row's institution_code must be it).",
)
def import_command(path: str, institution: str | None) -> None:
    """Import a products or locations CSV (the kind is read from its header row)."""
    from ledger.access import LOCAL
    from ledger.master_data_import import MasterDataRefused, import_master_data
    from ledger.master_data_rows import MasterDataInvalid

    with open_input(path) as stream:
        data = stream.read()
    ledger = open_ledger()
    try:
        summary = import_master_data(ledger, LOCAL, data, institution)
    except MasterDataRefused as exc:
        raise click.BadParameter(str(exc), param_hint="--institution") from None
    except MasterDataInvalid as exc:
        for error in exc.errors:
            click.echo(f"{path}: {error}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        ledger.close()
    click.echo(
        f"{summary.kind} of {', '.join(summary.institutions)}: {len(summary.added)} added, "
        f"{len(summary.changed)} changed, {len(summary.unchanged)} unchanged"
    )
    for what, keys in (("added", summary.added), ("changed", summary.changed)):
        for key in keys:
            click.echo(f"{what} {key}")
