"""What :func:`ledger.verify.verify_chain` reports: each thing found wrong, where it is, and
what the walk kept for a checkpoint to compare (:mod:`ledger.checkpoint`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.domain import GENESIS_LINK


@dataclass(frozen=True)
class Finding:
    """One thing wrong: where (position, the store's notification id, eventID, or what else
    it is about) and what."""

    message: str
    position: int | None = None
    notification_id: int | None = None
    event_id: str | None = None
    subject: str | None = None

    def __str__(self) -> str:
        where = []
        if self.position is not None:
            where.append(f"position {self.position}")
        if self.notification_id is not None:
            where.append(f"log row {self.notification_id}")
        if self.event_id:
            where.append(f"eventID {self.event_id}")
        if self.subject:
            where.append(self.subject)
        return f"{', '.join(where) or 'ledger'}: {self.message}"


@dataclass
class VerifyReport:
    checked: int = 0
    last_position: int = 0
    last_link: str = GENESIS_LINK
    links: dict[int, str] = field(default_factory=dict)
    commits: int = 0
    last_commit_link: str = GENESIS_LINK
    commit_links: dict[int, str] = field(default_factory=dict)
    entries: int = 0
    claims: int = 0
    declarations: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings
