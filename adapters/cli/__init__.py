"""The ``tracecode`` command line: a thin shell over :mod:`epcis`, the ledger and its read models.

The output formats are a contract that tests and other tools rely on:

* ``validate FILE...`` prints ``FILE:LOCATION: message`` per problem; exit 1 on any error;
* ``convert FILE --to json|xml|xml-1.2`` writes the converted document to stdout;
* ``hash FILE`` prints one ``ni:///sha-256;…?ver=CBV2.0`` line per event, in document order;
* ``id RAW`` prints the canonical identifier and what is known about it, as JSON;
* ``project`` follows the log (views, webhooks, outbox) in the foreground: what ``serve``
  runs as its projector process (``TRACECODE_PROJECTOR``);
* ``serve``, ``capture FILE...``, ``verify [--checkpoint FILE]``, ``checkpoint --out FILE``
  and ``export`` work on the ledger that ``TRACECODE_DATABASE_URL`` names;
* ``status CODE``, ``stock [--location L]`` and ``trail`` (``--product P --lot L`` or
  ``--code C``) read the projections, caught up with the log first: JSON (``trail --csv``:
  CSV); exit 1 when nothing is recorded (``status``, ``trail``), 2 for a usage error (a
  value that cannot be a code or a product, a time that is not one);
* ``library snapshot`` writes a snapshot of the code library the scans check (JSON: what
  was written), so that the next start does not fold the whole log
  (:mod:`ledger.library_snapshot`);
* ``projections failures [--json]`` lists the events the projections quarantined (one line,
  or one JSON object, each); exit 1 when there are any;
* ``patients pseudonym|reveal|erase`` (see :mod:`adapters.cli.patients`);
* ``stocktake open|close|show|list`` (see :mod:`adapters.cli.stocktake`);
* ``outbox list|show|retry|run|rebuild`` (see :mod:`adapters.cli.outbox`);
* ``standin nhsa --port P`` / ``standin beijing --port P`` run the stand-in 医保 and Beijing
  platforms (see :mod:`adapters.cli.standin`).

Every command that uses the store names it on stderr (``tracecode: store URL``; no
password). The commands that only read it (``verify``, ``checkpoint``, ``export``,
``status``, ``stock``, ``trail``, ``projections failures``) never create one: when the
setting names no store (no such file or database, or one without the ledger's tables) they
exit 2 saying so and which setting to fix. ``capture``, ``serve`` and ``projections
run|rebuild`` start a new store where the setting points.
"""

from __future__ import annotations

import click

from adapters.cli import (
    books,
    documents,
    keys,
    library,
    masterdata,
    outbox,
    patients,
    reads,
    rules,
    scan,
    standin,
    stocktake,
    store,
)

# Each command imports what it uses, inside its body: ``--help`` and ``id`` must not pay for
# the JSON Schema stack (rfc3987_syntax builds a grammar at import), the ledger, the
# projections or the HTTP server (tests/test_cli_imports.py holds this).


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """tracecode: an event-sourced traceability ledger on GS1 EPCIS 2.0."""


for command in (
    documents.validate,
    documents.convert_command,
    documents.hash_command,
    documents.id_command,
    store.serve,
    store.project,
    store.capture,
    store.verify,
    store.checkpoint_command,
    store.export_command,
    reads.projections,
    reads.status_command,
    reads.stock_command,
    reads.trail_command,
    reads.reconcile_command,
    reads.quality_command,
    books.books,
    keys.keys,
    library.library,
    patients.patients,
    masterdata.masterdata,
    rules.rules,
    scan.scan_command,
    stocktake.stocktake,
    outbox.outbox,
    standin.standin,
):
    main.add_command(command)
