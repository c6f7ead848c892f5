"""``tracecode outbox``: the messages owed to the 医保 and Beijing platforms
(:mod:`projections.outbox`), for operators.

* ``outbox list [--platform nhsa|beijing] [--state S] [--institution H] [--limit N]`` —
  one line per message, log order: ``msgid platform kind state attempts missing|error``;
  ``--json``: one JSON object per line;
* ``outbox show MSGID`` — the message as JSON, with its body and the platform's answer;
  exit 1 when there is none;
* ``outbox retry [MSGID...] [--platform P]`` — make those messages (else every failed
  one) due now; prints how many;
* ``outbox run [--once]`` — derive and deliver until stopped (SIGTERM, Ctrl-C), for a
  server whose ``TRACECODE_OUTBOX_DELIVERY`` is ``separate``; ``--once``: derive what is
  new, one delivery round, and print how many were sent;
* ``outbox rebuild`` — derive every message again from the start of the log: those
  stored keep their ids and states (nothing acknowledged is sent again), what was
  missing is added.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any

import click

from adapters.cli.common import EXIT_INVALID, open_ledger

PLATFORM = click.option(
    "--platform", type=click.Choice(["nhsa", "beijing"]), default=None, help="One platform."
)


@click.group()
def outbox() -> None:
    """The messages owed to the 医保 and Beijing platforms: list, show, retry, run."""


def _outboxes(ledger: Any) -> Any:
    from adapters.bootstrap import SettingsError, outboxes

    try:
        return outboxes(ledger)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@outbox.command("list")
@PLATFORM
@click.option("--state", default=None, help="One state (pending, failed, incomplete…).")
@click.option("--institution", default=None, help="One institution's messages.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(
    platform: str | None, state: str | None, institution: str | None, limit: int, as_json: bool
) -> None:
    """The messages, in log order."""
    from projections.outbox import STATES, listed

    if state is not None and state not in STATES:
        raise click.BadParameter(f"{state!r}: not one of {', '.join(STATES)}", param_hint="--state")
    ledger = open_ledger()
    running = _outboxes(ledger)
    try:
        running.runner.run_until_caught_up()
        found = listed(
            running.runner,
            platform=platform,
            state=state,
            institutions=[institution] if institution else None,
            limit=limit,
        )
    finally:
        running.close()
        ledger.close()
    for message in found:
        if as_json:
            click.echo(json.dumps(message.as_json(body=False), ensure_ascii=False))
            continue
        said = ",".join(message.missing) if message.missing else (message.error or "")
        click.echo(
            f"{message.msgid} {message.platform} {message.kind} {message.state} "
            f"{message.attempts} {said}".rstrip()
        )


@outbox.command("show")
@click.argument("msgid")
def show_command(msgid: str) -> None:
    """One message as JSON."""
    from projections.outbox import find

    ledger = open_ledger()
    running = _outboxes(ledger)
    try:
        running.runner.run_until_caught_up()
        message = find(running.runner, msgid)
    finally:
        running.close()
        ledger.close()
    if message is None:
        click.echo(f"tracecode: no outbox message {msgid!r}", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(json.dumps(message.as_json(), ensure_ascii=False, indent=2))


@outbox.command("retry")
@click.argument("msgids", nargs=-1)
@PLATFORM
def retry_command(msgids: tuple[str, ...], platform: str | None) -> None:
    """Make messages due now (the given ones, else every failed one)."""
    from projections.outbox import retry

    ledger = open_ledger()
    running = _outboxes(ledger)
    try:
        made = retry(running.runner, list(msgids), platform)
    finally:
        running.close()
        ledger.close()
    click.echo(f"retried: {made}")


@outbox.command("rebuild")
def rebuild_command() -> None:
    """Derive every message again from the log (stored ones are kept as they are)."""
    from projections.shadow import RebuildRunningError

    ledger = open_ledger()
    running = _outboxes(ledger)
    try:
        count = running.runner.rebuild()
    except RebuildRunningError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        running.close()
        ledger.close()
    click.echo(f"events derived again: {count}")


@outbox.command("run")
@click.option("--once", is_flag=True, help="One round, then exit.")
def run_command(once: bool) -> None:
    """Derive and deliver the platforms' messages until stopped."""
    from adapters.bootstrap import OutboxSettings, SettingsError, start_outbox

    ledger = open_ledger()
    try:
        if once:
            running = _outboxes(ledger)
            try:
                click.echo(f"sent: {running.run_once()}")
            finally:
                running.close()
            return
        try:
            stops = start_outbox(ledger, OutboxSettings.from_env())
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from None
        stop = threading.Event()
        for sign in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sign, lambda *_: stop.set())
        click.echo("tracecode: outbox running (Ctrl-C stops)", err=True)
        while not stop.wait(1.0):
            pass
        for halt in reversed(stops):
            halt()
    finally:
        ledger.close()
