"""The auditor's use cases: export the log, verify it, sign a checkpoint of it.

The command line (``tracecode export|verify|checkpoint``, acting locally with full rights)
and the HTTP API (``/audit/…``, for the ``auditor`` role) both call these. An auditor of an
institution exports that institution's events; verifying and signing are about the whole
chain (they show positions, links and counts, and name what is wrong).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.checkpoint import Checkpoint, check_against, keep, make_checkpoint
from ledger.export import Format, export
from ledger.findings import VerifyReport
from ledger.verify import verify_chain


def export_log(
    ledger: Ledger, who: Principal, *, until: str | None = None, fmt: Format = "json"
) -> Iterator[bytes]:
    """The log (recorded up to ``until``) as one EPCIS document, in chunks: the events of
    the principal's institution (every event for the command line)."""
    require(who, Permission.AUDIT)
    return export(ledger, until=until, fmt=fmt, scope=who.scope)


@dataclass(frozen=True)
class Verified:
    """What verifying found: the walk's report, every finding in words (the first is the
    first bad record), and why the log does not extend the checkpoint given, if it does
    not."""

    report: VerifyReport
    findings: list[str]
    checkpoint: Checkpoint | None = None
    checkpoint_problem: str | None = None

    @property
    def intact(self) -> bool:
        return not self.findings and self.checkpoint_problem is None


def verify_log(ledger: Ledger, who: Principal, checkpoint: Checkpoint | None = None) -> Verified:
    """Walk the tamper-evidence chain; with a checkpoint, also prove the log extends it."""
    require(who, Permission.AUDIT)
    report = verify_chain(ledger, **keep(checkpoint))
    why = check_against(report, checkpoint) if checkpoint is not None else None
    return Verified(report, [str(f) for f in report.findings], checkpoint, why or None)


def sign_checkpoint(ledger: Ledger, who: Principal) -> Checkpoint:
    """A signed checkpoint of the chain head (refused when the chain is not intact)."""
    require(who, Permission.AUDIT)
    return make_checkpoint(ledger)
