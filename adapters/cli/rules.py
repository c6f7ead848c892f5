"""``tracecode rules``: must-scan rules.

* ``rules import FILE --institution H1`` — a YAML (or JSON) rules file: prints what was
  stored (``rules of H1: 5 rules, version 2`` or ``… unchanged``); a file with any error
  stores nothing: exit 1, each error on stderr (``FILE: line N, /rules/2/when/form: …``).
* ``rules show [--institution] [--as-of]`` — the rules as JSON.
* ``rules decide --product XB02 --location OP [--quantity 20] [--institution] [--as-of]``
  — the decision as JSON; exit 1 naming the option master data does not know.
"""

from __future__ import annotations

import json
import sys

import click

from adapters.cli.common import EXIT_INVALID, import_file, open_ledger

INSTITUTION = click.option("--institution", default=None, help="The institution (H1).")
AS_OF = click.option("--as-of", default=None, help="As recorded up to this ISO 8601 time.")


@click.group()
def rules() -> None:
    """Must-scan rules: which products must be scanned where, whole or split."""


@rules.command(name="import")
@click.argument("path", metavar="FILE")
@INSTITUTION
def import_command(path: str, institution: str | None) -> None:
    """Import a rules file (YAML or JSON) for an institution."""
    from ledger.must_scan_book import import_rules

    if not institution:
        raise click.BadParameter("name the institution of the rules", param_hint="--institution")
    summary = import_file(path, import_rules, institution)
    what = f"version {summary.version}" if summary.changed else "unchanged"
    click.echo(f"rules of {summary.institution}: {summary.rules} rules, {what}")


@rules.command(name="show")
@INSTITUTION
@AS_OF
def show_command(institution: str | None, as_of: str | None) -> None:
    """The rules as JSON (every institution's, or one's)."""
    from ledger.access import LOCAL
    from ledger.must_scan_book import visible_books

    ledger = open_ledger(read_only=True)
    try:
        books = visible_books(ledger, LOCAL, _time(as_of))
    finally:
        ledger.close()
    shown = [b.as_json() for b in books if institution in (None, b.institution)]
    click.echo(json.dumps({"ruleBooks": shown}, ensure_ascii=False, indent=2))


@rules.command(name="decide")
@click.option("--product", required=True, help="医保 code, trace prefix or GTIN.")
@click.option("--location", required=True, help="A location id.")
@click.option("--quantity", type=click.IntRange(min=1), default=None, help="Smallest units.")
@INSTITUTION
@AS_OF
def decide_command(
    product: str, location: str, quantity: int | None, institution: str | None, as_of: str | None
) -> None:
    """Must this product be scanned at this location, whole or split, how many codes."""
    from ledger.access import LOCAL
    from ledger.must_scan import DecideInvalid, asked_decision

    ledger = open_ledger(read_only=True)
    try:
        found = asked_decision(
            ledger, LOCAL, product, location, quantity, _time(as_of), institution
        )
    except DecideInvalid as exc:
        click.echo(f"tracecode: --{exc}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        ledger.close()
    click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))


def _time(value: str | None) -> str | None:
    from ledger.master_data import moment

    if value is None:
        return None
    try:
        moment(value)
    except ValueError:
        message = f"{value!r} is not an ISO 8601 time"
        raise click.BadParameter(message, param_hint="--as-of") from None
    return value
