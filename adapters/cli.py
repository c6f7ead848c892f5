"""The ``tracecode`` command line: a thin shell over :mod:`epcis`, the ledger and its read models.

The output formats are a contract that tests and other tools rely on:

* ``validate FILE...`` prints ``FILE:LOCATION: message`` per problem; exit 1 on any error;
* ``convert FILE --to json|xml|xml-1.2`` writes the converted document to stdout;
* ``hash FILE`` prints one ``ni:///sha-256;…?ver=CBV2.0`` line per event, in document order;
* ``id RAW`` prints the canonical identifier and what is known about it, as JSON;
* ``serve``, ``capture FILE...``, ``verify [--checkpoint FILE]``, ``checkpoint --out FILE``
  and ``export`` work on the ledger that ``TRACECODE_DATABASE_URL`` names;
* ``status CODE`` and ``trail`` (``--product P --lot L`` or ``--code C``) read the
  projections, caught up with the log first: JSON (``trail --csv``: CSV); exit 1 when
  nothing is recorded, 2 for a usage error (a value that cannot be a code or a product);
* ``projections failures [--json]`` lists the events the projections quarantined (one line,
  or one JSON object, each); exit 1 when there are any.

Every command that uses the store names it on stderr (``tracecode: store URL``; no
password). The commands that only read it (``verify``, ``checkpoint``, ``export``,
``status``, ``trail``, ``projections failures``) never create one: when the setting names no
store (no such file or database, or one without the ledger's tables) they exit 2 saying so
and which setting to fix. ``capture``, ``serve`` and ``projections run|rebuild`` start a new
store where the setting points.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import click

if TYPE_CHECKING:
    from epcis.document import LoadedDocument
    from epcis.problems import Problem
    from ledger.application import Ledger

# Each command imports what it uses, inside its body: ``--help`` and ``id`` must not pay for
# the JSON Schema stack (rfc3987_syntax builds a grammar at import), the ledger, the
# projections or the HTTP server (tests/test_cli_imports.py holds this).

_EXIT_INVALID = 1


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None


def _read(path: str, *, validate: bool) -> tuple[LoadedDocument | None, list[Problem]]:
    from epcis.document import load
    from epcis.problems import DocumentError

    with _open(path) as stream:
        try:
            loaded = load(stream, validate=validate)
        except DocumentError as exc:
            return None, list(exc.problems)
    return loaded, loaded.problems


def _report(path: str, problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(f"{path}:{problem}", err=not problem.is_error)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """tracecode: an event-sourced traceability ledger on GS1 EPCIS 2.0."""


@main.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Check EPCIS documents (JSON-LD or XML 1.2/2.0) against the GS1 schemas and rules."""
    from epcis.document import check

    failed = False
    for path in files:
        with _open(path) as stream:
            problems = check(stream)
        _report(path, problems)
        failed = failed or any(p.is_error for p in problems)
    sys.exit(_EXIT_INVALID if failed else 0)


@main.command(name="convert")
@click.argument("file")
@click.option(
    "--to",
    "target",
    type=click.Choice(["json", "xml", "xml-1.2"]),
    required=True,
    help="json: EPCIS 2.0 JSON-LD; xml: EPCIS 2.0 XML; xml-1.2: EPCIS 1.2 XML.",
)
@click.option("--no-validate", is_flag=True, help="Convert even a document that is not valid.")
def convert_command(file: str, target: str, no_validate: bool) -> None:
    """Convert an EPCIS document between JSON-LD and XML; the result goes to stdout."""
    from epcis.document import convert
    from epcis.problems import DocumentError

    loaded, problems = _read(file, validate=not no_validate)
    if loaded is None or any(p.is_error for p in problems):
        _report(file, problems)
        sys.exit(_EXIT_INVALID)
    _report(file, problems)
    try:
        out = convert(loaded.document, target)  # type: ignore[arg-type]
    except DocumentError as exc:
        _report(file, list(exc.problems))
        sys.exit(_EXIT_INVALID)
    sys.stdout.buffer.write(out if out.endswith(b"\n") else out + b"\n")


@main.command(name="hash")
@click.argument("file")
@click.option("--prehash", is_flag=True, help="Also print each event's pre-hash string.")
def hash_command(file: str, prehash: bool) -> None:
    """Print the CBV 2.0 Event Hash ID of every event, in document order."""
    loaded, problems = _read(file, validate=False)
    if loaded is None:
        _report(file, problems)
        sys.exit(_EXIT_INVALID)
    from epcis.event_hash import EventHasher, event_hash_id

    hasher = EventHasher.for_document(loaded.document)
    for event in loaded.events:
        text = hasher.prehash(event)
        click.echo(event_hash_id(text))
        if prehash:
            click.echo(text)


@main.command(name="id")
@click.argument("raw")
def id_command(raw: str) -> None:
    """Parse a scanned or written identifier; print its canonical form and parts as JSON."""
    from epcis.identifiers import IdentifierError, parse_identifier

    try:
        identifier = parse_identifier(raw)
    except IdentifierError as exc:
        click.echo(f"{raw!r}: {exc}", err=True)
        sys.exit(_EXIT_INVALID)
    click.echo(json.dumps(identifier.to_dict(), ensure_ascii=False, indent=2))


# -- the ledger ------------------------------------------------------------------------


_EXIT_NO_STORE = 2


def _ledger(*, read_only: bool = False, announce: bool = True) -> Ledger:
    """The ledger ``TRACECODE_DATABASE_URL`` names. ``read_only``: it must be there (exit
    2 naming the setting otherwise) and nothing is created. ``announce``: say on stderr which
    store is used (stdout stays the command's answer)."""
    from ledger.application import Ledger
    from ledger.settings import SettingsError, StoreMissing

    try:
        ledger = Ledger(read_only=read_only)
    except StoreMissing as exc:
        click.echo(f"tracecode: {exc}", err=True)
        sys.exit(_EXIT_NO_STORE)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if announce:
        click.echo(f"tracecode: store {ledger.settings.described}", err=True)
    return ledger


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="TRACECODE_HOST")
@click.option("--port", default=8000, show_default=True, type=int, envvar="TRACECODE_PORT")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    envvar="TRACECODE_WORKERS",
    help="Server processes; they share the store and its one chain (TRACECODE_WORKERS).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the ledger's HTTP server (EPCIS 2.0 capture API; OpenAPI docs at /docs).

    Timeouts and limits of the transport: the TRACECODE_* settings of
    :mod:`adapters.http.transport` (header and body timeouts, connections per worker,
    URL and header sizes, keep-alive, backlog)."""
    import uvicorn

    from adapters.http.transport import ServerSettings

    try:
        settings = ServerSettings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    # names the store on stderr, and creates the tables once, before workers would race to
    _ledger().close()
    click.echo(f"tracecode: serving http://{host}:{port} (OpenAPI at /docs)", err=True)
    uvicorn.run(
        "adapters.http.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        http=settings.protocol_class(),
        timeout_keep_alive=settings.keep_alive,
        backlog=settings.backlog,
    )


class _Progress:
    """A binary stream that moves a progress bar as it is read."""

    def __init__(self, stream: IO[bytes], bar: Any) -> None:
        self._stream = stream
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._bar.update(len(chunk))
        return chunk


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--error-behaviour",
    type=click.Choice(["rollback", "proceed"]),
    default="rollback",
    show_default=True,
    help="rollback: a file with any bad event stores nothing; proceed: store the valid events.",
)
def capture(files: tuple[str, ...], error_behaviour: str) -> None:
    """Capture EPCIS documents straight into the configured store."""
    from epcis.limits import OverLimit, capture_limits
    from ledger.capture import ErrorBehaviour, prepare

    try:
        limits = capture_limits()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    ledger = _ledger()
    failed = False
    try:
        for path in files:
            size = Path(path).stat().st_size
            with (
                Path(path).open("rb") as stream,
                click.progressbar(
                    length=size, label=f"reading {path}", file=sys.stderr, show_pos=True
                ) as bar,
            ):
                try:
                    request = prepare(
                        cast(IO[bytes], _Progress(stream, bar)),
                        origin=path,
                        error_behaviour=cast(ErrorBehaviour, error_behaviour),
                        limits=limits,
                    )
                except OverLimit as refused:  # the same limits as POST /capture
                    for problem in refused.problems:
                        click.echo(f"{path}:{problem}")
                    click.echo(f"{path}: refused whole, nothing stored")
                    failed = True
                    continue
            result = ledger.capture(request)
            for problem in request.problems:
                click.echo(f"{path}:{problem}", err=not problem.is_error)
            for outcome in result.conflicts:
                click.echo(f"{path}:/epcisBody/eventList/{outcome['index']}: {outcome['message']}")
            click.echo(
                f"{path}: {result.count('stored')} stored, "
                f"{result.count('already-stored')} already there, "
                f"{result.count('invalid') + result.count('conflict')} rejected, "
                f"{result.count('not-stored')} not stored (capture {result.capture_id})"
            )
            failed = failed or not result.success
    finally:
        ledger.close()
    sys.exit(_EXIT_INVALID if failed else 0)


@main.command()
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Also prove the log still extends this signed checkpoint.",
)
def verify(checkpoint_file: str | None) -> None:
    """Walk the tamper-evidence chain (events, and the commits covering jobs, named queries
    and subscriptions) and re-derive eventID claims and declarations; exit 0 when intact,
    else name the first thing wrong."""
    from ledger.checkpoint import CheckpointError, check_against, keep, read_checkpoint
    from ledger.verify import verify_chain

    checkpoint = None
    if checkpoint_file:
        try:
            checkpoint = read_checkpoint(Path(checkpoint_file).read_text())
        except CheckpointError as exc:
            raise click.ClickException(f"{checkpoint_file}: {exc}") from None
    ledger = _ledger(read_only=True)
    try:
        report = verify_chain(ledger, **keep(checkpoint))
    finally:
        ledger.close()
    problems = [str(f) for f in report.findings]
    if checkpoint is not None:
        why = check_against(report, checkpoint)
        if why:
            problems.append(f"checkpoint {checkpoint_file}: {why}")
    if problems:
        click.echo(f"NOT INTACT: first bad record: {problems[0]}")
        for line in problems[1:]:
            click.echo(f"also: {line}")
        sys.exit(_EXIT_INVALID)
    extends = ""
    if checkpoint is not None:
        extends = f"; extends checkpoint at position {checkpoint.position}"
        extends += f" and commit {checkpoint.commit}" if checkpoint.commit else ""
    click.echo(
        f"intact: {report.checked} events, head at position {report.last_position}, "
        f"link {report.last_link}; {report.entries} job, named query and subscription "
        f"entries and {report.claims} eventID claims in {report.commits} commits, commit "
        f"link {report.last_commit_link}{extends}"
    )


@main.command(name="checkpoint")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
def checkpoint_command(out: str) -> None:
    """Write a signed checkpoint of the chain head (key: TRACECODE_SIGNING_KEY)."""
    from ledger.checkpoint import CheckpointError, make_checkpoint

    ledger = _ledger(read_only=True)
    try:
        checkpoint = make_checkpoint(ledger)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        ledger.close()
    Path(out).write_text(checkpoint.to_json())
    click.echo(f"checkpoint at position {checkpoint.position} written to {out}")


@main.command(name="export")
@click.option("--until", help="Only events recorded at or before this time (ISO 8601).")
@click.option("--format", "fmt", type=click.Choice(["json", "xml"]), default="json")
def export_command(until: str | None, fmt: str) -> None:
    """Write the whole log (or its prefix) as one EPCIS document to stdout, streamed."""
    from ledger.export import Format, export

    if until:
        try:
            datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{until!r} is not an ISO 8601 time", param_hint="--until"
            ) from None
    ledger = _ledger(read_only=True)
    try:
        for chunk in export(ledger, until=until, fmt=cast(Format, fmt)):
            sys.stdout.buffer.write(chunk)
    finally:
        ledger.close()


# -- projections -----------------------------------------------------------------------


@main.group()
def projections() -> None:
    """Read models built from the event log (code status, package hierarchy)."""


@projections.command(name="run")
@click.option("--once", is_flag=True, help="Catch up with the log, then stop.")
def projections_run(once: bool) -> None:
    """Follow the log and keep the projections up to date (Ctrl-C stops)."""
    from projections.runner import ReadModelRunner

    ledger = _ledger()
    runner = ReadModelRunner(ledger)
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
    from projections.runner import ReadModelRunner

    ledger = _ledger()
    runner = ReadModelRunner(ledger)
    try:
        applied = runner.rebuild()
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
    from projections import failures
    from projections.runner import ReadModelRunner

    ledger = _ledger(read_only=True)
    runner = ReadModelRunner(ledger)
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


@main.command(name="status")
@click.argument("code")
@click.option("--as-of", help="What the ledger knew at this record time (ISO 8601).")
def status_command(code: str, as_of: str | None) -> None:
    """The status of a code (any identifier form), from the projections, as JSON. Exit 1
    when nothing is recorded about it, 2 when it cannot be a code."""
    from epcis.identifiers.facts import code_problem
    from projections.code_status import status
    from projections.freshness import catch_up
    from projections.runner import ReadModelRunner

    ledger = _ledger(read_only=True)
    runner = ReadModelRunner(ledger)
    try:
        catch_up(runner)  # a server's runner may be applying the same batch: one retries
        with runner.connect() as conn:
            found = status(conn, code, as_of=as_of)
    finally:
        runner.close()
        ledger.close()
    if found is None:
        problem = code_problem(code)  # asked only now: what was captured is always found
        if problem is not None:
            raise click.BadParameter(f"cannot be a code: {problem}", param_hint="CODE")
        click.echo(f"{code}: no event has touched this code", err=True)
        sys.exit(_EXIT_INVALID)
    click.echo(json.dumps(dataclasses.asdict(found), ensure_ascii=False, indent=2))


@main.command(name="trail")
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
    from epcis.identifiers import IdentifierError
    from epcis.identifiers.facts import code_problem, product_key
    from projections.freshness import catch_up
    from projections.recall_trail import trail, trail_csv
    from projections.runner import ReadModelRunner
    from projections.schema import utc_text

    if code is not None and (product is not None or lot is not None):
        raise click.UsageError("give either --code or --product and --lot, not both")
    if code is None and (product is None or lot is None):
        missing = [f"--{n}" for n, v in (("product", product), ("lot", lot)) if v is None]
        raise click.UsageError(f"give --product and --lot, or --code (missing {' '.join(missing)})")
    if as_of is not None:
        try:
            as_of = utc_text(as_of.strip())
        except ValueError:
            raise click.BadParameter(
                f"{as_of!r} is not an ISO 8601 time", param_hint="--as-of"
            ) from None
    if product is not None:
        try:
            product = product_key(product)
        except IdentifierError as exc:
            raise click.BadParameter(f"not a product: {exc}", param_hint="--product") from None
    ledger = _ledger(read_only=True)
    runner = ReadModelRunner(ledger)
    try:
        catch_up(runner)
        with runner.connect() as conn:
            lines = trail(conn, product=product, lot=lot, code=code, as_of=as_of)
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
        sys.exit(_EXIT_INVALID)
    if as_csv:
        click.echo(trail_csv(lines), nl=False)
        return
    body = [dataclasses.asdict(line) for line in lines]
    click.echo(json.dumps(body, ensure_ascii=False, indent=2))
