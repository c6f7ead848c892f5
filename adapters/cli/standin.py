"""``tracecode standin nhsa|beijing``: the stand-in platforms, for demonstrations and for
trying the delivery against by hand (no authentication; they listen on 127.0.0.1 unless told)."""

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


@standin.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
def beijing(host: str, port: int) -> None:
    """The Beijing import-drug and rare-disease platform (seed 004): POST / a message of a
    table's rows as JSON or XML; GET /messages, POST /faults, GET /tables."""
    from adapters.bootstrap import serve_standin

    serve_standin("beijing", host, port, say=lambda line: click.echo(line, err=True))
