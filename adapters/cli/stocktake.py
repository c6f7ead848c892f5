"""``tracecode stocktake``: stocktake sessions (盘点), as ``/stocktakes`` answers them.

* ``stocktake open --location OP [--institution H1] [--note …]`` — prints the session;
  its ``id`` goes on each stocktake scan (``tracecode scan stocktake … --stocktake ID``);
* ``stocktake close ID [--csv]`` — closes it: the session with its report (``--csv``: the
  report as CSV); again: the same report;
* ``stocktake show ID [--csv]``, ``stocktake list [--location] [--state] [--institution]``.

Exit 2 for a bad value (naming the option), 1 for a stocktake that is not there or a
refusal (an open count already covers the location; no report while open).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from adapters.cli.common import EXIT_INVALID, open_ledger

if TYPE_CHECKING:
    from ledger.stocktake import Session
    from projections.runner import ReadModelRunner

INSTITUTION = click.option("--institution", default=None, help="Whose location (H1).")
CSV = click.option("--csv", "as_csv", is_flag=True, help="The report as CSV.")


@click.group()
def stocktake() -> None:
    """Stocktake sessions: open a count of a location, scan into it, close it."""


@contextmanager
def _refusals() -> Iterator[None]:
    """A use case's refusals: a bad value exits 2 naming its option, the rest 1."""
    from ledger.stocktake import StocktakeConflict, StocktakeInvalid, StocktakeNotFound

    try:
        yield
    except StocktakeInvalid as exc:
        named = exc.where.get("pointer") or exc.where.get("query") or ""
        raise click.BadParameter(str(exc), param_hint=f"--{named.lstrip('/')}") from None
    except (StocktakeConflict, StocktakeNotFound) as exc:
        click.echo(f"tracecode: {exc}", err=True)
        sys.exit(EXIT_INVALID)


def _with_runner(
    use: Callable[[ReadModelRunner], Session | list[Session]], *, read_only: bool = True
) -> Any:
    """Run ``use`` over the read models caught up with the log, the ledger open."""
    from adapters.bootstrap import read_models
    from projections.freshness import catch_up

    ledger = open_ledger(read_only=read_only)
    runner = read_models(ledger)
    try:
        catch_up(runner)
        with _refusals():
            return use(runner)
    finally:
        runner.close()
        ledger.close()


def _show(session: Session, as_csv: bool) -> None:
    if not as_csv:
        click.echo(json.dumps(session.as_json(), ensure_ascii=False, indent=2))
        return
    if session.csv is None:
        click.echo(f"tracecode: stocktake {session.id} is {session.state}: no report yet", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(session.csv, nl=False)


@stocktake.command(name="open")
@click.option("--location", required=True, help="The master-data location id to count.")
@INSTITUTION
@click.option("--note", default=None, help="What the count is for.")
def open_command(location: str, institution: str | None, note: str | None) -> None:
    """Open a count of a location; prints the session (its id goes on each scan)."""
    from ledger.access import LOCAL
    from ledger.stocktake import OpenRequest, open_stocktake

    ledger = open_ledger()
    try:
        with _refusals():
            opened = open_stocktake(ledger, LOCAL, OpenRequest(location, institution, note))
    finally:
        ledger.close()
    _show(opened, False)


@stocktake.command(name="close")
@click.argument("stocktake_id", metavar="ID")
@CSV
def close_command(stocktake_id: str, as_csv: bool) -> None:
    """Close a count: prints the session with its report (the same again if closed)."""
    from ledger.access import LOCAL
    from ledger.stocktake import close_stocktake
    from projections.stocktakes import reckoner

    closed = _with_runner(
        lambda runner: close_stocktake(runner.ledger, LOCAL, stocktake_id, reckoner(runner)),
        read_only=False,
    )
    _show(closed, as_csv)


@stocktake.command(name="show")
@click.argument("stocktake_id", metavar="ID")
@CSV
def show_command(stocktake_id: str, as_csv: bool) -> None:
    """A session: its progress while open, its report once closed."""
    from ledger.access import LOCAL
    from projections.stocktakes import show_stocktake

    _show(_with_runner(lambda runner: show_stocktake(runner, LOCAL, stocktake_id)), as_csv)


@stocktake.command(name="list")
@click.option("--location", default=None, help="Of this location id.")
@click.option("--state", default=None, help="open or closed.")
@INSTITUTION
def list_command(location: str | None, state: str | None, institution: str | None) -> None:
    """The sessions, latest opened first (without their reports)."""
    from ledger.access import LOCAL
    from projections.stocktakes import stocktake_list

    found = _with_runner(
        lambda runner: stocktake_list(
            runner, LOCAL, location=location, state=state, institution=institution
        )
    )
    shown = [s.as_json(with_report=False) for s in found]
    click.echo(json.dumps({"stocktakes": shown}, ensure_ascii=False, indent=2))
