"""The commands over the ledger's store: serve it, capture into it, verify, checkpoint and
export it."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

import click

from adapters.cli.common import EXIT_INVALID, open_ledger


@click.command()
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

    Requests need `Authorization: Bearer KEY` (`tracecode keys create`); on a store with no
    key yet, the first admin key is created and printed once. TRACECODE_AUTH=off turns
    authentication off (development only). Timeouts and limits of the transport: the
    TRACECODE_* settings of :mod:`adapters.http.transport`."""
    from adapters.bootstrap import SettingsError
    from adapters.bootstrap import serve as run_server
    from ledger.settings import SettingsError as StoreSettingsError

    try:
        run_server(host, port, workers, say=lambda line: click.echo(line, err=True))
    except (SettingsError, StoreSettingsError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--parent", type=int, hidden=True, help="Stop when this process is gone.")
def project(parent: int | None) -> None:
    """Follow the log in the foreground: keep the views caught up, deliver webhooks and, with
    TRACECODE_OUTBOX_DELIVERY=serve, the outbox (Ctrl-C or SIGTERM stops).

    What `tracecode serve` runs as its projector process (TRACECODE_PROJECTOR=process, the
    default); with TRACECODE_PROJECTOR=none the server runs none and this command is how the
    log is followed. One projector follows a store at a time: another waits as a stand-by
    and takes over when the first stops or dies."""
    import logging

    from adapters.bootstrap import SettingsError
    from adapters.bootstrap import project as run_projector
    from ledger.settings import SettingsError as StoreSettingsError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        run_projector(say=lambda line: click.echo(line, err=True), parent=parent)
    except (SettingsError, StoreSettingsError) as exc:
        raise click.ClickException(str(exc)) from None


class _Progress:
    """A binary stream that moves a progress bar as it is read."""

    def __init__(self, stream: IO[bytes], bar: Any) -> None:
        self._stream = stream
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._bar.update(len(chunk))
        return chunk


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--error-behaviour",
    type=click.Choice(["rollback", "proceed"]),
    default="rollback",
    show_default=True,
    help="rollback: a file with any bad event stores nothing; proceed: store the valid events.",
)
@click.option(
    "--institution",
    default="",
    help="The institution the events are recorded for (what its principals may see).",
)
def capture(files: tuple[str, ...], error_behaviour: str, institution: str) -> None:
    """Capture EPCIS documents straight into the configured store, through the same capture
    flow (and limits) as POST /capture, acting locally with full rights."""
    import asyncio
    from dataclasses import replace

    from epcis.limits import capture_limits
    from ledger import capture_flow
    from ledger.access import LOCAL
    from ledger.capture import ErrorBehaviour
    from ledger.capture_flow import CaptureRules, EventIdConflict, InvalidDocument, TooLarge
    from ledger.outcomes import Status

    try:
        limits = capture_limits()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    who = replace(LOCAL, institution=institution.strip())
    ledger = open_ledger()
    click.echo(f"tracecode: capturing for institution {who.institution!r}", err=True)
    failed = False
    try:
        for path in files:
            size = Path(path).stat().st_size
            rules = CaptureRules(path, limits, cast(ErrorBehaviour, error_behaviour))
            with (
                Path(path).open("rb") as stream,
                click.progressbar(
                    length=size, label=f"reading {path}", file=sys.stderr, show_pos=True
                ) as bar,
            ):
                source = cast(IO[bytes], _Progress(stream, bar))
                run = capture_flow.capture(source, rules, who, capture_flow.InLine(ledger.capture))
                try:
                    captured = asyncio.run(run)
                except TooLarge as refused:  # the same limits as POST /capture
                    for problem in refused.problems:
                        click.echo(f"{path}:{problem}")
                    click.echo(f"{path}: refused whole, nothing stored")
                    failed = True
                    continue
                except InvalidDocument as invalid:
                    request = invalid.request
                    for problem in request.problems:
                        click.echo(f"{path}:{problem}", err=not problem.is_error)
                    rejected = len(request.rejected_indexes)
                    click.echo(
                        f"{path}: 0 stored, 0 already there, {rejected} rejected, "
                        f"{len(request.events)} not stored (nothing stored)"
                    )
                    failed = True
                    continue
                except EventIdConflict as conflict:
                    captured = capture_flow.Captured(conflict.request, conflict.result)
            request, result = captured.request, captured.result
            for problem in request.problems:
                click.echo(f"{path}:{problem}", err=not problem.is_error)
            for outcome in result.conflicts:
                click.echo(f"{path}:/epcisBody/eventList/{outcome.index}: {outcome.message}")
            click.echo(
                f"{path}: {result.count(Status.STORED)} stored, "
                f"{result.count(Status.ALREADY_STORED)} already there, "
                f"{result.rejected} rejected, "
                f"{result.count(Status.NOT_STORED)} not stored (capture {result.capture_id})"
            )
            failed = failed or not result.success
    finally:
        ledger.close()
    sys.exit(EXIT_INVALID if failed else 0)


@click.command()
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Also prove the log still extends this signed checkpoint.",
)
def verify(checkpoint_file: str | None) -> None:
    """Walk the tamper-evidence chain (events, and the commits covering jobs, named queries,
    subscriptions and API keys) and re-derive eventID claims and declarations; exit 0 when
    intact, else name the first thing wrong."""
    from ledger.access import LOCAL
    from ledger.audit import verify_log
    from ledger.checkpoint import CheckpointError, read_checkpoint

    checkpoint = None
    if checkpoint_file:
        try:
            checkpoint = read_checkpoint(Path(checkpoint_file).read_text())
        except CheckpointError as exc:
            raise click.ClickException(f"{checkpoint_file}: {exc}") from None
    ledger = open_ledger(read_only=True)
    try:
        verified = verify_log(ledger, LOCAL, checkpoint)
    finally:
        ledger.close()
    report = verified.report
    problems = list(verified.findings)
    if verified.checkpoint_problem:
        problems.append(f"checkpoint {checkpoint_file}: {verified.checkpoint_problem}")
    if problems:
        click.echo(f"NOT INTACT: first bad record: {problems[0]}")
        for line in problems[1:]:
            click.echo(f"also: {line}")
        sys.exit(EXIT_INVALID)
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


@click.command(name="checkpoint")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
def checkpoint_command(out: str) -> None:
    """Write a signed checkpoint of the chain head (key: TRACECODE_SIGNING_KEY)."""
    from ledger.access import LOCAL
    from ledger.audit import sign_checkpoint
    from ledger.checkpoint import CheckpointError

    ledger = open_ledger(read_only=True)
    try:
        checkpoint = sign_checkpoint(ledger, LOCAL)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        ledger.close()
    Path(out).write_text(checkpoint.to_json())
    click.echo(f"checkpoint at position {checkpoint.position} written to {out}")


@click.command(name="export")
@click.option("--until", help="Only events recorded at or before this time (ISO 8601).")
@click.option("--format", "fmt", type=click.Choice(["json", "xml"]), default="json")
def export_command(until: str | None, fmt: str) -> None:
    """Write the whole log (or its prefix) as one EPCIS document to stdout, streamed."""
    from ledger.access import LOCAL
    from ledger.audit import export_log
    from ledger.export import Format

    if until:
        try:
            datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{until!r} is not an ISO 8601 time", param_hint="--until"
            ) from None
    ledger = open_ledger(read_only=True)
    try:
        for chunk in export_log(ledger, LOCAL, until=until, fmt=cast(Format, fmt)):
            sys.stdout.buffer.write(chunk)
    finally:
        ledger.close()
