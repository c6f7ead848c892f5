"""``tracecode keys``: make, list and revoke the API keys of the HTTP API.

The command line has the database, so it acts with full rights and says so on stderr. The
output is a contract: ``keys create`` prints the new key alone on the last line of stdout
(shown once: the store keeps only its digest); ``keys list`` prints one line per key, or
one JSON object per line with ``--json``; ``keys revoke KEY_ID`` prints ``revoked KEY_ID``
(exit 1 when no key has that id).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from adapters.cli.common import EXIT_INVALID, open_ledger

if TYPE_CHECKING:
    from ledger.api_keys import ApiKeyInfo

# The values of ledger.access.Role, spelled out: importing the ledger here would make
# ``tracecode --help`` pay for it (tests/test_api_keys.py checks they are the same).
ROLES = ("capture", "terminal", "reader", "auditor", "regulator", "admin")


@click.group()
def keys() -> None:
    """API keys for the HTTP API."""


@keys.command(name="create")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the key may do.")
@click.option(
    "--institution",
    default="",
    help="The institution the key acts for (required, except for a regulator key).",
)
@click.option("--label", default="", help="A note saying whose key it is or what it is for.")
def keys_create(role: str, institution: str, label: str) -> None:
    """Make a key; it is printed once, on the last line (keep it then: it cannot be shown
    again)."""
    from ledger.api_keys import KeyRing, check_new_key

    try:  # before the store is opened: nothing is created for a refused key
        valid_role = check_new_key(role, institution, label)
    except ValueError as exc:
        hint = "--label" if str(exc).startswith("the label") else "--institution"
        raise click.BadParameter(str(exc), param_hint=hint) from None
    ledger = open_ledger()
    try:
        info, key = KeyRing(ledger).create(valid_role, institution, label)
    finally:
        ledger.close()
    where = f"institution {info.institution}" if info.institution else "every institution"
    click.echo(f"key {info.key_id}: role {info.role.value}, {where} (shown once: keep it now)")
    click.echo(key)


@keys.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def keys_list(as_json: bool) -> None:
    """Every key (revoked ones too), in the order they were made; never the keys
    themselves."""
    from ledger.api_keys import KeyRing

    ledger = open_ledger(read_only=True)
    try:
        found = KeyRing(ledger).list()
    finally:
        ledger.close()
    for info in found:
        if as_json:
            click.echo(json.dumps(info.as_json(), ensure_ascii=False))
        else:
            click.echo(_line(info))


def _line(info: ApiKeyInfo) -> str:
    parts = [
        info.key_id,
        info.role.value,
        info.institution or "-",
        json.dumps(info.label, ensure_ascii=False) if info.label else "-",
        f"created {info.created_at}",
    ]
    if info.revoked_at:
        parts.append(f"revoked {info.revoked_at}")
    return " ".join(parts)


@keys.command(name="revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: from now on it authenticates nothing, in every server process."""
    from ledger.api_keys import KeyRing, UnknownKey

    open_ledger(read_only=True, announce=False).close()  # a missing store is not created
    ledger = open_ledger()
    try:
        KeyRing(ledger).revoke(key_id)
    except UnknownKey as exc:
        click.echo(f"tracecode: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    finally:
        ledger.close()
    click.echo(f"revoked {key_id}")
