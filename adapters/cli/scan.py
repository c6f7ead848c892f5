"""``tracecode scan``: a hospital scan from a script, answered as ``POST /scans`` answers.

Either the scan's JSON body (``--body FILE``, ``-`` for stdin: the fields of ``POST
/scans``) or the operation and codes as arguments with options for the rest. Prints the
answer's JSON; exit 0 when stored (green or yellow), 3 when refused (red: nothing stored),
1 for a scan that cannot be read (every bad field on stderr, by its JSON pointer).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from adapters.cli.common import EXIT_INVALID, open_input, open_ledger

EXIT_RED = 3
_OPTIONS = (
    ("location", "location"),
    ("destination", "destination"),
    ("source", "source"),
    ("patient", "patient"),
    ("order", "order"),
    ("prescription", "prescription"),
    ("department", "department"),
    ("scan_id", "scanId"),
    ("lot", "lot"),
    ("expires", "expires"),
    ("manufactured", "manufactured"),
    ("event_time", "eventTime"),
    ("reason", "reason"),
    ("quality", "quality"),
    ("operator_id", "operatorId"),
    ("product", "product"),
    ("event_id", "eventID"),
    ("stocktake", "stocktake"),
    ("prescriber_name", "prescriber_name"),
    ("pharmacist_name", "pharmacist_name"),
    ("pharmacist_cert", "pharmacist_cert"),
    ("receipt", "receipt"),
    ("settlement", "settlement"),
    ("purchase_order", "purchase_order"),
    ("invoice", "invoice"),
    ("receipt_note", "receipt_note"),
    ("dispatch_note", "dispatch_note"),
)


@click.command(name="scan")
@click.argument("operation", required=False)
@click.argument("codes", nargs=-1)
@click.option("--body", "body_path", default=None, help="The scan's JSON body (- for stdin).")
@click.option("--institution", default=None, help="Whose locations (when ids are shared).")
@click.option("--location", default=None, help="Where: a master-data location id.")
@click.option("--destination", default=None)
@click.option("--source", default=None)
@click.option("--patient", default=None, help="The patient (kept only as a pseudonym).")
@click.option("--order", default=None)
@click.option("--prescription", default=None)
@click.option("--department", default=None)
@click.option("--scan-id", default=None, help="The client's id of the scan (safe retries).")
@click.option("--lot", default=None)
@click.option("--expires", default=None, help="YYYY-MM-DD")
@click.option("--manufactured", default=None, help="YYYY-MM-DD")
@click.option("--event-time", default=None, help="When it happened (back-fill).")
@click.option("--reason", default=None)
@click.option("--quality", default=None, type=click.Choice(["passed", "failed"]))
@click.option("--operator-id", default=None)
@click.option("--product", default=None)
@click.option("--event-id", default=None, help="cancel: the eventID of the scan to cancel.")
@click.option("--stocktake", default=None, help="stocktake: the id of the open count.")
@click.option("--prescriber-name", default=None, help="bind: the prescribing doctor.")
@click.option("--pharmacist-name", default=None, help="bind: the dispensing pharmacist.")
@click.option("--pharmacist-cert", default=None, help="bind: the pharmacist's 执业证书 number.")
@click.option("--receipt", default=None, help="bind: the receipt number (零售单据号).")
@click.option(
    "--settlement",
    default=None,
    help="bind / settle: the order's settlement as a JSON object of 医保 fields, e.g. "
    '\'{"mdtrt_setl_type": "1", "setl_id": "S1", "psn_no": "P1"}\'.',
)
@click.option(
    "--purchase-order", default=None, help="receive / return_to_supplier / transfer: the PO number."
)
@click.option("--invoice", default=None, help="receive / return_to_supplier / transfer: 发票号.")
@click.option("--receipt-note", default=None, help="receive: the receipt note (入库单) number.")
@click.option(
    "--dispatch-note",
    default=None,
    help="return_to_supplier / transfer: the dispatch note (出库单) number.",
)
def scan_command(
    operation: str | None,
    codes: tuple[str, ...],
    body_path: str | None,
    institution: str | None,
    **options: Any,
) -> None:
    """Scan CODES for OPERATION (receive, transfer, accept, pick, bind, administer, unbind,
    return_to_warehouse, return_to_supplier, lend, lend_return, freeze, unfreeze, recall,
    destroy, stocktake, commission, prescan, cancel; settle: an --order's --settlement, no
    codes) and print the answer."""
    from ledger.access import LOCAL
    from ledger.scan_request import ScanInvalid
    from ledger.scanning import ScanForbidden, ScanSettings, scan

    body = _body(operation, codes, body_path, options)
    ledger = open_ledger()

    async def commit(request: Any) -> Any:
        return ledger.append([request])[0]

    try:
        answer = asyncio.run(
            scan(body, LOCAL, ledger, commit, ScanSettings.from_env(), institution=institution)
        )
    except ScanInvalid as exc:
        for error in exc.errors:
            click.echo(f"{error.pointer or '/'}: {error.message}", err=True)
        sys.exit(EXIT_INVALID)
    except ScanForbidden as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        ledger.close()
    click.echo(json.dumps(answer.as_json(), ensure_ascii=False, indent=2))
    if answer.colour.value == "red":
        sys.exit(EXIT_RED)


def _body(
    operation: str | None, codes: tuple[str, ...], path: str | None, options: dict[str, Any]
) -> Any:
    if path is not None:
        if operation is not None or any(v is not None for v in options.values()):
            raise click.UsageError("--body takes the whole scan: no other arguments")
        with open_input(path) as stream:
            try:
                return json.loads(stream.read())
            except (ValueError, UnicodeDecodeError) as exc:
                raise click.BadParameter(f"not JSON: {exc}", param_hint="--body") from None
    if operation is None:
        raise click.UsageError("give the OPERATION and CODES, or --body FILE")
    body: dict[str, Any] = {"operation": operation}
    if codes:
        body["codes"] = list(codes)
    for option, name in _OPTIONS:
        if options.get(option) is not None:
            body[name] = options[option]
    if "settlement" in body:
        try:
            body["settlement"] = json.loads(body["settlement"])
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--settlement") from None
    return body
