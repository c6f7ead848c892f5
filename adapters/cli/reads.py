"""The commands over the read models: run or rebuild them, list what they quarantined, a
code's status, stock, a recall trail."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import Any

import click

from adapters.cli.common import EXIT_INVALID, open_ledger


@click.group()
def projections() -> None:
    """Read models built from the event log (code status, package hierarchy)."""


@projections.command(name="run")
@click.option("--once", is_flag=True, help="Catch up with the log, then stop.")
def projections_run(once: bool) -> None:
    """Follow the log and keep the projections up to date (Ctrl-C stops)."""
    from adapters.bootstrap import read_models

    ledger = open_ledger()
    runner = read_models(ledger)
    try:
        applied = runner.run_until_caught_up()
        click.echo(f"caught up: {applied} events applied, at log row {runner.position()}")
        reported = _report_quarantined(runner, 0)
        while not once:
            time.sleep(0.5)
            applied = runner.run_until_caught_up()
            if applied:
                click.echo(f"{applied} events applied, at log row {runner.position()}")
            reported = _report_quarantined(runner, reported)
    except KeyboardInterrupt:
        pass
    finally:
        runner.close()
        ledger.close()


def _report_quarantined(runner: Any, reported: int) -> int:
    if runner.quarantined > reported:
        click.echo(
            f"{runner.quarantined - reported} event(s) could not be applied and were skipped: "
            "see `tracecode projections failures`",
            err=True,
        )
    return int(runner.quarantined)


@projections.command(name="rebuild")
def projections_rebuild() -> None:
    """Replay the whole log into fresh projections."""
    from adapters.bootstrap import read_models
    from projections.shadow import RebuildRunningError

    ledger = open_ledger()
    runner = read_models(ledger)
    try:
        applied = runner.rebuild()
    except RebuildRunningError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runner.close()
        ledger.close()
    click.echo(f"rebuilt: {applied} events applied")
    _report_quarantined(runner, 0)


@projections.command(name="failures")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def projections_failures(as_json: bool) -> None:
    """The events the projections could not apply and skipped (quarantined), in log order.

    Exit 0 when there are none, 1 otherwise. `tracecode projections rebuild` tries them
    again."""
    from adapters.bootstrap import read_models
    from projections import failures

    ledger = open_ledger(read_only=True)
    runner = read_models(ledger)
    try:
        with runner.connect() as conn:
            found = failures.listed(conn, runner.name)
    finally:
        runner.close()
        ledger.close()
    for failure in found:
        if as_json:
            click.echo(json.dumps(failure.as_json(), ensure_ascii=False))
        else:
            click.echo(
                f"{failure.failed_at} {failure.projection} log row {failure.notification_id} "
                f"position {failure.position} eventID {failure.event_id}: "
                f"{failure.error_type}: {failure.error}"
            )
    if not as_json:
        click.echo(f"{len(found)} event(s) quarantined", err=True)
    if found:
        sys.exit(1)


@click.command(name="status")
@click.argument("code")
@click.option("--as-of", help="What the ledger knew at this record time (ISO 8601).")
def status_command(code: str, as_of: str | None) -> None:
    """The status of a code (any identifier form), from the projections, as JSON. Exit 1
    when nothing is recorded about it, 2 when it cannot be a code."""
    from adapters.bootstrap import read_models
    from epcis.identifiers.facts import code_problem
    from ledger.access import LOCAL
    from projections import reads
    from projections.freshness import catch_up

    when = _as_of(as_of)
    ledger = open_ledger(read_only=True)
    runner = read_models(ledger)
    try:
        catch_up(runner)  # a server's runner may be applying the same batch: one retries
        found = reads.code_status(runner, LOCAL, code, when)
    finally:
        runner.close()
        ledger.close()
    if found is None:
        problem = code_problem(code)  # asked only now: what was captured is always found
        if problem is not None:
            raise click.BadParameter(f"cannot be a code: {problem}", param_hint="CODE")
        click.echo(f"{code}: no event has touched this code", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(json.dumps(found, ensure_ascii=False, indent=2))


@click.command(name="trail")
@click.option(
    "--product", help="The product (GTIN-8/12/13/14 or a product identifier); with --lot."
)
@click.option("--lot", help="The lot number; with --product.")
@click.option("--code", help="One code (any identifier form) instead of a lot.")
@click.option("--as-of", help="What the ledger knew at this record time (ISO 8601).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (one row per code) instead of JSON.")
def trail_command(
    product: str | None, lot: str | None, code: str | None, as_of: str | None, as_csv: bool
) -> None:
    """The recall trail of a lot (--product and --lot) or of one --code: every code it
    covers, every event that touched each, where each is and who holds it."""
    from adapters.bootstrap import read_models
    from epcis.identifiers import IdentifierError
    from epcis.identifiers.facts import code_problem, product_key
    from ledger.access import LOCAL
    from projections import reads
    from projections.freshness import catch_up
    from projections.recall_trail import trail_csv

    if code is not None and (product is not None or lot is not None):
        raise click.UsageError("give either --code or --product and --lot, not both")
    if code is None and (product is None or lot is None):
        missing = [f"--{n}" for n, v in (("product", product), ("lot", lot)) if v is None]
        raise click.UsageError(f"give --product and --lot, or --code (missing {' '.join(missing)})")
    as_of = _as_of(as_of)
    if product is not None:
        try:
            product = product_key(product)
        except IdentifierError as exc:
            raise click.BadParameter(f"not a product: {exc}", param_hint="--product") from None
    ledger = open_ledger(read_only=True)
    runner = read_models(ledger)
    try:
        catch_up(runner)
        lines = reads.recall_trail(runner, LOCAL, product=product, lot=lot, code=code, as_of=as_of)
    finally:
        runner.close()
        ledger.close()
    if not any(line.events for line in lines):  # a code asked for is a line even when unknown
        problem = None if code is None else code_problem(code)
        if problem is not None:
            raise click.BadParameter(f"cannot be a code: {problem}", param_hint="--code")
        why = (
            f"{code}: no event has touched this code"
            if code is not None
            else f"product {product}, lot {lot}: no event has touched a code of this lot"
        )
        click.echo(why, err=True)
        sys.exit(EXIT_INVALID)
    if as_csv:
        click.echo(trail_csv(lines), nl=False)
        return
    body = [line.row() for line in lines]
    click.echo(json.dumps(body, ensure_ascii=False, indent=2))


@click.command(name="stock")
@click.option("--location", help="Only this location (any form).")
@click.option("--as-of", help="What the ledger knew at this record time (ISO 8601).")
def stock_command(location: str | None, as_of: str | None) -> None:
    """Stock per location × product × lot, as GET /stock answers it (JSON): in stock, in
    transit, bound, on hand by state, lent out."""
    from adapters.bootstrap import read_models
    from ledger.access import LOCAL
    from projections import reads
    from projections.freshness import catch_up

    when = _as_of(as_of)
    ledger = open_ledger(read_only=True)
    runner = read_models(ledger)
    try:
        catch_up(runner)
        lines = reads.stock_lines(runner, LOCAL, location, when)
    finally:
        runner.close()
        ledger.close()
    body = [dataclasses.asdict(line) for line in lines]
    click.echo(json.dumps(body, ensure_ascii=False, indent=2))


@click.command(name="reconcile")
@click.option("--location", required=True, help="A master-data location id.")
@click.option("--from", "start", required=True, help="Start of the period (ISO 8601, inclusive).")
@click.option("--to", "end", required=True, help="End of the period (ISO 8601, exclusive).")
@click.option("--institution", help="Whose location (when several institutions have the id).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (one row per product × lot).")
def reconcile_command(
    location: str, start: str, end: str, institution: str | None, as_csv: bool
) -> None:
    """Stock reconciliation by code (账-物-码) of a location over a period: opening, ins,
    outs and theoretical closing per product × lot, against the stocktake scans there:
    the codes missing, extra and elsewhere (as GET /reconciliation)."""
    from adapters.bootstrap import read_models
    from ledger.access import LOCAL
    from projections import reads
    from projections.freshness import catch_up

    since = _time(start, "--from")
    until = _time(end, "--to")
    assert since is not None and until is not None
    ledger = open_ledger(read_only=True)
    runner = read_models(ledger)
    try:
        catch_up(runner)
        found = reads.reconciliation(
            runner, LOCAL, location=location, start=since, end=until, institution=institution
        )
    except reads.ReconciliationError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.parameter}") from None
    finally:
        runner.close()
        ledger.close()
    if as_csv:
        click.echo(found.csv(), nl=False)
        return
    click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))


@click.command(name="quality")
@click.option("--from", "start", help="Scans made from (a date or an ISO 8601 time), inclusive.")
@click.option("--to", "end", help="Scans made before (a date or an ISO 8601 time).")
@click.option("--department", help="One location id (all when left out).")
@click.option("--period", default="month", show_default=True, help="day, week or month (UTC).")
@click.option("--institution", help="One institution's figures (every one when left out).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (one row per department × period).")
def quality_command(
    start: str | None,
    end: str | None,
    department: str | None,
    period: str,
    institution: str | None,
    as_csv: bool,
) -> None:
    """Data-quality figures of the hospital scans per department and period: scan accuracy,
    back-fill, anomaly, bind and receiving scan rates (as GET /metrics/quality)."""
    from adapters.bootstrap import read_models
    from ledger.quality import QualityAsked, parse_time, quality
    from projections.outbox import uploads

    ledger = open_ledger(read_only=True)
    try:
        runner = read_models(ledger)
        try:
            owed = uploads(runner, institution or None)
        finally:
            runner.close()
        figures = quality(
            ledger,
            institution or None,
            start=parse_time("from", start),
            end=parse_time("to", end),
            period=period,
            department=department or None,
            uploads=owed,
        )
    except QualityAsked as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.name}") from None
    finally:
        ledger.close()
    if as_csv:
        click.echo(figures.as_csv(), nl=False)
        return
    click.echo(json.dumps(figures.as_json(), ensure_ascii=False, indent=2))


def _as_of(value: str | None) -> str | None:
    """``--as-of`` as the read models store times, or a usage error (exit 2)."""
    return _time(value, "--as-of")


def _time(value: str | None, option: str) -> str | None:
    """A time option as the read models store times, or a usage error (exit 2)."""
    from projections.schema import utc_text

    if value is None:
        return None
    try:
        return utc_text(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=option) from None
