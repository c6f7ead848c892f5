"""``tracecode masterdata import FILE``: products, locations or operators from a CSV, or the
vocabularies of an EPCIS document (JSON-LD or XML, told from its first character).

Prints one line saying what the file held and for which institution, then one line per
row added or changed (``added XA01/box``, ``changed WH``); an EPCIS document with both
locations and products prints both, locations first. A file with any bad value stores
nothing: exit 1 and every error on stderr (``FILE: line N, column NAME: what is wrong``;
in an EPCIS document ``FILE: [line N, ]/json/pointer[, column NAME]: what is wrong``).
"""

from __future__ import annotations

import click

from adapters.cli.common import open_input, open_ledger, refuse_file


@click.group()
def masterdata() -> None:
    """Master data: products (three-code mapping, packaging levels) and locations."""


@masterdata.command(name="import")
@click.argument("path", metavar="FILE")
@click.option(
    "--institution",
    default=None,
    help="The institution the master data belongs to (needed for products; for locations "
    "and operators each row's institution_code must be it).",
)
def import_command(path: str, institution: str | None) -> None:
    """Import a products, locations or operators CSV (the kind is read from its header row), or an
    EPCIS document's master data (its header's vocabularies)."""
    from ledger.access import LOCAL
    from ledger.master_data_epcis import import_epcis_master_data
    from ledger.master_data_import import MasterDataRefused, import_master_data
    from ledger.master_data_rows import MasterDataInvalid

    with open_input(path) as stream:
        data = stream.read()
    epcis = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"<", b"{")
    ledger = open_ledger()
    try:
        if epcis:
            summaries = import_epcis_master_data(ledger, LOCAL, data, institution)
        else:
            summaries = [import_master_data(ledger, LOCAL, data, institution)]
    except MasterDataRefused as exc:
        raise click.BadParameter(str(exc), param_hint="--institution") from None
    except MasterDataInvalid as exc:
        refuse_file(path, exc.errors)
    finally:
        ledger.close()
    for summary in summaries:
        click.echo(
            f"{summary.kind} of {', '.join(summary.institutions)}: {len(summary.added)} added, "
            f"{len(summary.changed)} changed, {len(summary.unchanged)} unchanged"
        )
        for what, keys in (("added", summary.added), ("changed", summary.changed)):
            for key in keys:
                click.echo(f"{what} {key}")
