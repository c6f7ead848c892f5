"""Walk the log and check the tamper-evidence chain (``tracecode verify``).

The walk reads the whole log in order (the store's own notification order).

*Records.* For each stored event record: that it decodes, that its position is the next
one, that it links to the record before it, that its link covers its content, and that
its event still has the Event Hash ID it was stored under. At the end the chain head must
be the last record. An altered, removed, inserted or reordered row breaks one of these;
the report names the first bad record and what is wrong with it.

*Commits.* Every transaction ends with a commit of the chain head (:mod:`ledger.domain`):
commits must be numbered one after the other, link to the commit before, match their own
link, and state the record chain's end as the walk has it at that point. Each chained
entry they name (capture job, named query, subscription, API key: aggregate, version,
digest) must be in the log with that content, and nothing of those kinds may be in the log
that no commit names: a removed, altered or inserted job, query, subscription, key or
stocktake is named by its capture ID, name, subscription ID, key id or stocktake id (the
commit still names what was removed).

*Derived.* Claims and the declarations index are not chained; they are what the chain
implies, so they are re-derived and compared. Each record under a client's eventID implies
the claim eventID -> its Event Hash ID, and the commits list the other claims (a stored
event re-sent under a new eventID). A missing, altered or extra claim, a claim naming an
event no record has, and two records under one eventID (a claim removed, then the eventID
taken by another event) are named by eventID. The declarations index of an event must list
exactly its declaration records, in log order.

A history rewritten together with every link after it passes this walk: that is what signed
checkpoints are for (:mod:`ledger.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from epcis.context import BUILTIN_PREFIXES
from epcis.event_hash import EventHasher
from ledger.api_keys import ApiKey
from ledger.application import COMMIT_TOPIC, RECORD_TOPIC, SHARE_TOPIC, Ledger
from ledger.domain import (
    GENESIS_LINK,
    CaptureJob,
    Declarations,
    EventIdClaim,
    EventRecord,
    EventShare,
    chain_link,
    commit_content,
    entry_digest,
    record_content,
)
from ledger.findings import Finding, VerifyReport
from ledger.his_books import HisBooks
from ledger.master_data import MasterEntry
from ledger.must_scan_book import RuleBook
from ledger.named_queries import NamedQuery
from ledger.patient_register import PatientAccess
from ledger.scan_record import ScanRecord
from ledger.settlements import OrderSettlement
from ledger.stocktake import Stocktake
from ledger.subscriptions import Subscription

_FIELDS = (
    "key",
    "hash_id",
    "event_id",
    "position",
    "record_time",
    "capture_id",
    "event",
    "namespaces",
)
_COMMIT_FIELDS = ("number", "position", "link", "record_time", "entries", "claims")
CLAIM_TOPIC = "ledger.domain:EventIdClaim.Claimed"
DECLARATIONS_TOPICS = (
    "ledger.domain:Declarations.Started",
    "ledger.domain:Declarations.Declared",
)
# The aggregate topic of each chained kind -> (kind, attribute naming one).
CHAINED: dict[str, tuple[str, str]] = {
    f"{cls.__module__}:{cls.__qualname__}": (cls.chain_kind, cls.chain_key)
    for cls in (
        CaptureJob,
        EventShare,
        NamedQuery,
        Subscription,
        ApiKey,
        PatientAccess,
        MasterEntry,
        ScanRecord,
        RuleBook,
        HisBooks,
        Stocktake,
        OrderSettlement,
    )
}


@dataclass
class _Entry:
    kind: str
    key: str
    digest: str
    where: int  # commit number, or log row


class _Walk:
    """One pass over the log, in order, collecting what the end checks compare."""

    def __init__(self, report: VerifyReport, keep_links: set[int], keep_commits: set[int]):
        self.report = report
        self.keep_links = keep_links
        self.keep_commits = keep_commits
        self.expected_position = 1
        self.previous_link = GENESIS_LINK
        self.seen: set[int] = set()
        # record links that commits state, for records the walk has not reached yet
        self.stated: dict[int, tuple[str, int, int]] = {}  # position -> link, commit, row
        # chained entries: (aggregate id, version) -> what a commit says / what the log has
        self.named: dict[tuple[str, int], _Entry] = {}
        self.logged: dict[tuple[str, int], _Entry] = {}
        # claims: what records (and commits) imply, and what the claim rows say
        self.hashes: set[str] = set()
        self.implied: dict[str, tuple[str, str]] = {}  # eventID -> (hash, where)
        self.claimed: dict[str, tuple[str, int]] = {}  # eventID -> (hash, log row)
        # declarations index: hash -> keys, as the records have them / as the index has it
        self.declared: dict[str, list[str]] = {}
        self.indexed: dict[UUID, dict[str, Any]] = {}
        # event shares: what each says of the record it names, checked at the end
        self.shares: list[tuple[int, dict[str, Any]]] = []

    def find(self, message: str, **where: Any) -> None:
        self.report.findings.append(Finding(message, **where))

    # -- records ------------------------------------------------------------------------

    def record(self, notification_id: int, state: dict[str, Any] | None) -> None:
        report = self.report
        report.checked += 1
        if state is None or not all(k in state for k in (*_FIELDS, "link", "previous_link")):
            self.find(
                "the stored record cannot be read: it was altered",
                notification_id=notification_id,
            )
            return
        position = state["position"]
        found = _check_record(state)
        if position in self.seen:
            found.insert(0, "this position is stored twice: a record was inserted")
        elif position > self.expected_position:
            found.insert(
                0,
                f"positions {self.expected_position}..{position - 1} are missing here: "
                "records were removed or moved",
            )
        elif position < self.expected_position:
            found.insert(
                0, f"comes after position {self.expected_position - 1}: records were reordered"
            )
        elif state["previous_link"] != self.previous_link:
            found.append("does not link to the record before it: the chain is broken here")
        for message in found:
            report.findings.append(Finding(message, position, notification_id, state["event_id"]))
        self.seen.add(position)
        self.expected_position = max(self.expected_position, position + 1)
        self.previous_link = state["link"]
        if position in self.keep_links:
            report.links[position] = state["link"]
        report.last_position, report.last_link = position, state["link"]
        if position in self.stated:
            self.compare_stated(position, state["link"], *self.stated.pop(position))
        hash_id, event_id, key = state["hash_id"], state["event_id"], state["key"]
        self.hashes.add(hash_id)
        if key != hash_id:
            self.declared.setdefault(hash_id, []).append(key)
        if event_id != hash_id:
            self.imply(event_id, hash_id, f"position {position}")

    def imply(self, event_id: str, hash_id: str, where: str) -> None:
        first = self.implied.setdefault(event_id, (hash_id, where))
        if first[0] != hash_id:
            self.find(
                f"is used by two different events, {first[0]} ({first[1]}) and {hash_id} "
                f"({where}): its claim was removed or altered before the second was stored",
                event_id=event_id,
            )

    # -- commits and what they name -------------------------------------------------------

    def commit(self, notification_id: int, state: dict[str, Any] | None) -> None:
        report = self.report
        expected = report.commits + 1
        if state is None or not all(
            k in state for k in (*_COMMIT_FIELDS, "previous_commit", "commit_link")
        ):
            self.find(
                "a commit of the chain cannot be read: it was altered",
                notification_id=notification_id,
                subject=f"commit {expected}",
            )
            report.commits = expected
            return
        number = state["number"]
        subject = f"commit {number}"
        found = []
        if number != expected:
            found.append(
                f"comes where commit {expected} should: commits were removed, inserted or reordered"
            )
        elif state["previous_commit"] != report.last_commit_link:
            found.append("does not link to the commit before it: the chain is broken here")
        content = commit_content(**{k: state[k] for k in _COMMIT_FIELDS})
        if chain_link(state["previous_commit"], content) != state["commit_link"]:
            found.append("its content does not match its link: the commit was altered")
        for message in found:
            self.find(message, notification_id=notification_id, subject=subject)
        report.commits = max(report.commits, number)
        report.last_commit_link = state["commit_link"]
        if number in self.keep_commits:
            report.commit_links[number] = state["commit_link"]
        # A commit is logged first in its transaction: the records it ends at come after
        # it (none: it ends where the log is). Their link is compared when the walk gets
        # there; if it never does, the record checks say why.
        if state["position"] == report.last_position:
            self.compare_stated(
                state["position"], report.last_link, state["link"], number, notification_id
            )
        elif state["position"] > report.last_position:
            self.stated[state["position"]] = (state["link"], number, notification_id)
        else:
            self.find(
                f"says the records end at position {state['position']}, but the log has "
                f"position {report.last_position} before it: the log was reordered",
                notification_id=notification_id,
                subject=subject,
            )
        entries, claims = state["entries"], state["claims"]
        if not isinstance(entries, list) or not isinstance(claims, dict):
            return  # mangled: its link said so
        for entry in entries:
            if isinstance(entry, list) and len(entry) == 5:
                kind, key, aggregate_id, version, digest = entry
                self.named[(aggregate_id, version)] = _Entry(kind, key, digest, number)
        for event_id, hash_id in claims.items():
            self.imply(event_id, hash_id, f"claimed in commit {number}")

    def compare_stated(
        self, position: int, link: str, stated: str, number: int, notification_id: int
    ) -> None:
        if link != stated:
            self.find(
                f"says the record at position {position} has the link {stated}, but it has "
                f"{link}: the records were rewritten after this commit",
                notification_id=notification_id,
                subject=f"commit {number}",
            )

    def entry(self, notification_id: int, topic: str, state: dict[str, Any] | None) -> None:
        kind, key_name = CHAINED[topic.rpartition(".")[0]]
        self.report.entries += 1
        if state is None:
            self.find(
                f"a {kind} row cannot be read: it was altered", notification_id=notification_id
            )
            return
        aggregate_id = str(state["originator_id"])
        key = str(state.get(key_name, f"(aggregate {aggregate_id})"))
        self.logged[(aggregate_id, state["originator_version"])] = _Entry(
            kind, key, entry_digest(topic, state), notification_id
        )
        if topic == SHARE_TOPIC:
            self.shares.append((notification_id, state))

    # -- derived ------------------------------------------------------------------------

    def claim(self, notification_id: int, state: dict[str, Any] | None) -> None:
        self.report.claims += 1
        if state is None or "event_id" not in state or "hash_id" not in state:
            self.find(
                "an eventID claim cannot be read: it was altered", notification_id=notification_id
            )
            return
        event_id = state["event_id"]
        if state["originator_id"] != EventIdClaim.create_id(event_id):
            self.find(
                "its claim is stored under another eventID's identity: it was altered",
                notification_id=notification_id,
                event_id=event_id,
            )
        if event_id in self.claimed:
            self.find(
                "is claimed twice: a claim was inserted",
                notification_id=notification_id,
                event_id=event_id,
            )
        self.claimed[event_id] = (state["hash_id"], notification_id)

    def declaration(self, notification_id: int, state: dict[str, Any] | None) -> None:
        if state is None:
            self.find(
                "a declarations index row cannot be read: it was altered",
                notification_id=notification_id,
            )
            return
        index = self.indexed.setdefault(state["originator_id"], {"hash_id": None, "keys": []})
        if "hash_id" in state:
            index["hash_id"] = state["hash_id"]
        if "key" in state:
            index["keys"].append(state["key"])

    # -- at the end -----------------------------------------------------------------------

    def finish(self, ledger: Ledger) -> None:
        report = self.report
        try:
            head_position, head_link = ledger.current_head()
            head_commit, head_commit_link = ledger.current_commit()
        except Exception as exc:  # its events altered or removed: it does not even load
            self.find(f"the chain head cannot be loaded ({exc!r}): its rows were altered")
            head_position, head_link = report.last_position, report.last_link
            head_commit, head_commit_link = report.commits, report.last_commit_link
        if (head_position, head_link) != (report.last_position, report.last_link):
            self.find(
                f"the chain head says position {head_position} but the log ends at "
                f"position {report.last_position}: records at the end were removed or added",
                position=head_position,
            )
        if (head_commit, head_commit_link) != (report.commits, report.last_commit_link):
            self.find(
                f"the chain head says commit {head_commit} but the log's last commit is "
                f"{report.commits}: commits at the end were removed or added",
                subject="chain head",
            )
        self.check_entries()
        self.check_claims()
        self.check_declarations()
        self.check_shares(ledger)

    def check_entries(self) -> None:
        for ident, named in self.named.items():
            logged = self.logged.get(ident)
            subject = f"{named.kind} {named.key!r}"
            if logged is None:
                self.find(
                    f"its entry (version {ident[1]}, named by commit {named.where}) was removed",
                    subject=subject,
                )
            elif logged.digest != named.digest:
                self.find(
                    f"its entry (version {ident[1]}) was altered: it does not match commit "
                    f"{named.where}",
                    notification_id=logged.where,
                    subject=subject,
                )
        for ident, logged in self.logged.items():
            if ident not in self.named:
                self.find(
                    f"its entry (version {ident[1]}) is in no commit: it was inserted behind "
                    "the ledger's back",
                    notification_id=logged.where,
                    subject=f"{logged.kind} {logged.key!r}",
                )

    def check_claims(self) -> None:
        for event_id, (hash_id, where) in self.implied.items():
            claimed = self.claimed.get(event_id)
            if claimed is None:
                self.find(
                    f"its claim was removed (the chain gives it to {hash_id}, {where})",
                    event_id=event_id,
                )
            elif claimed[0] != hash_id:
                self.find(
                    f"its claim was altered: it names {claimed[0]}, but the chain gives it to "
                    f"{hash_id} ({where})",
                    notification_id=claimed[1],
                    event_id=event_id,
                )
        for event_id, (hash_id, notification_id) in self.claimed.items():
            if event_id not in self.implied and event_id != hash_id:
                self.find(
                    f"its claim (naming {hash_id}) is not in the chain: it was inserted",
                    notification_id=notification_id,
                    event_id=event_id,
                )
            if hash_id not in self.hashes:
                self.find(
                    f"its claim names {hash_id}, an event no record has",
                    notification_id=notification_id,
                    event_id=event_id,
                )

    def check_declarations(self) -> None:
        by_hash: dict[str, list[str]] = {}
        for aggregate_id, index in self.indexed.items():
            hash_id = index["hash_id"]
            self.report.declarations += 1
            if hash_id is None or aggregate_id != Declarations.create_id(hash_id):
                self.find(
                    "a declarations index was altered: its start is missing or names another event",
                    subject=f"declarations index {aggregate_id}",
                )
                continue
            by_hash[hash_id] = index["keys"]
        for hash_id in sorted({*self.declared, *by_hash}):
            chained, indexed = self.declared.get(hash_id, []), by_hash.get(hash_id)
            subject = f"declarations of {hash_id}"
            if indexed is None:
                self.find(
                    f"its index was removed (the chain has {len(chained)} declaration(s))",
                    subject=subject,
                )
            elif indexed != chained:
                self.find(
                    f"its index was altered: it lists {len(indexed)} declaration(s) "
                    f"{indexed}, the chain has {len(chained)} {chained}",
                    subject=subject,
                )

    def check_shares(self, ledger: Ledger) -> None:
        """A share must name a stored record as it is: its key, Event Hash ID and position,
        and another institution than the one that captured it. Its content is covered by
        its commit; this checks it could have been made (a share is rare: each is looked
        up by its record's id)."""
        for notification_id, share in self.shares:
            subject = f"event share {share.get('share')!r}"
            try:
                record: EventRecord = ledger.repository.get(EventRecord.create_id(share["key"]))
            except (AggregateNotFoundError, KeyError):
                self.find(
                    "names an event no record has", notification_id=notification_id, subject=subject
                )
                continue
            said = (share.get("hash_id"), share.get("position"))
            if said != (record.hash_id, record.position):
                self.find(
                    f"names {said[0]} at position {said[1]}, but the record is {record.hash_id} "
                    f"at position {record.position}",
                    notification_id=notification_id,
                    subject=subject,
                )
            if share.get("institution") in ("", record.institution):
                self.find(
                    f"gives the event to {share.get('institution')!r}, which captured it: "
                    "the ledger makes no such share",
                    notification_id=notification_id,
                    subject=subject,
                )


def verify_chain(
    ledger: Ledger, *, keep_links: Iterable[int] = (), keep_commits: Iterable[int] = ()
) -> VerifyReport:
    """Check the whole log; ``keep_links`` lists positions whose links to remember,
    ``keep_commits`` commit numbers whose commit links to remember."""
    report = VerifyReport()
    walk = _Walk(report, set(keep_links), set(keep_commits))
    for notification_id, topic, state in ledger.raw_log():
        if topic == RECORD_TOPIC:
            walk.record(notification_id, state)
        elif topic == COMMIT_TOPIC:
            walk.commit(notification_id, state)
        elif topic.rpartition(".")[0] in CHAINED:
            walk.entry(notification_id, topic, state)
        elif topic == CLAIM_TOPIC:
            walk.claim(notification_id, state)
        elif topic in DECLARATIONS_TOPICS:
            walk.declaration(notification_id, state)
    walk.finish(ledger)
    return report


def _hashes_as_stored(event: dict[str, Any], namespaces: dict[str, str], hash_id: str) -> bool:
    """Whether the event still has its Event Hash ID. A record stored before an undeclared
    ``cbvmda`` was read with its XML spelling (``urn:epcglobal:cbv:mda``) was hashed with
    the EPCIS context's (``urn:epcglobal:cbv:mda:``): it matches under that one."""
    if EventHasher(namespaces).hash_id(event) == hash_id:
        return True
    if "cbvmda" in namespaces:
        return False
    legacy = {"cbvmda": BUILTIN_PREFIXES["cbvmda"], **namespaces}
    return EventHasher(legacy).hash_id(event) == hash_id


def _check_record(state: dict[str, Any]) -> list[str]:
    found: list[str] = []
    content = record_content(
        **{k: state[k] for k in _FIELDS}, institution=state.get("institution", "")
    )
    if chain_link(state["previous_link"], content) != state["link"]:
        found.append("its content does not match its link: the record was altered")
    try:
        if not _hashes_as_stored(state["event"], state["namespaces"], state["hash_id"]):
            found.append("its event no longer has the Event Hash ID it was stored under")
    except Exception as exc:  # a mangled event may not even hash
        found.append(f"its event cannot be hashed ({exc})")
    originator = state.get("originator_id")
    if originator is not None and originator != EventRecord.create_id(state["key"]):
        found.append("it is stored under another event's identity")
    return found
