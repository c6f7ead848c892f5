"""``tracecode standin nhsa``: the stand-in platforms, for demonstrations and tests."""

from __future__ import annotations

import click


@click.group()
def standin() -> None:
    """Stand-ins of the platforms tracecode sends messages to (no authentication)."""


@standin.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option(
    "--fields",
    type=click.Path(exists=True, dir_okay=False),
    envvar="TRACECODE_NHSA_FIELDS",
    help="A province's field tables (YAML shaped as adapters/nhsa/fields.yaml).",
)
def nhsa(host: str, port: int, fields: str | None) -> None:
    """The stand-in 医保 platform: POST messages to its root URL; GET /messages lists what
    it received; POST /faults makes it fail, time out, answer slowly or drop answers."""
    from adapters.bootstrap import SettingsError, serve_nhsa_standin

    try:
        serve_nhsa_standin(host, port, fields=fields, say=lambda line: click.echo(line, err=True))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
