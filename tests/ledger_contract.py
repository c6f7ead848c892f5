"""The contract every ledger store passes: subclassed once per store (SQLite, PostgreSQL).

Like the ``eventsourcing`` library's own recorder test cases: the abstract class holds the
tests, each store's subclass says how to make an empty store, how to run plain SQL on it and
what its tables are called (:class:`StoreTables`), to tamper with it behind the ledger's back.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from epcis.context import make_context
from epcis.document import load
from ledger.application import COMMIT_TOPIC, JOB_TOPIC, RECORD_TOPIC, Ledger
from ledger.capture import prepare
from ledger.checkpoint import (
    check_against,
    keep,
    make_checkpoint,
    read_checkpoint,
    signing_key,
)
from ledger.domain import ChainHead, canonical_json
from ledger.export import export
from ledger.findings import VerifyReport
from ledger.named_queries import NamedQueries
from ledger.outcomes import Status
from ledger.settings import store_settings
from ledger.subscriptions import SubscriptionInfo, Subscriptions
from ledger.verify import CLAIM_TOPIC, verify_chain
from ledger.writer import GroupCommitter
from tests.conftest import EXAMPLES

OBJECT_EVENTS = EXAMPLES / "json" / "Example_9.6.1-ObjectEvent.jsonld"
TRANSACTION_XML = EXAMPLES / "xml" / "2.0" / "Example-TransactionEvent-2020_07_03y.xml"


def event(serial: int, *, event_id: str | None = None, ward: str = "W1") -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"urn:epc:id:sgtin:0614141.107346.{serial}"],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00001.0"},
        "example:ward": ward,
    }
    if event_id:
        out["eventID"] = event_id
    return out


def document(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "@context": make_context({"example": "https://ns.example.com/epcis/"}),
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-03-01T08:00:00.000+08:00",
            "epcisBody": {"eventList": list(events)},
        }
    ).encode()


def alter_second_record(store: Path, **changes: Any) -> None:
    """Change the event of the second record of a SQLite store behind the ledger's back
    (what ``tracecode verify`` must then name)."""
    import sqlite3

    with sqlite3.connect(store) as conn:
        rowid, state = conn.execute(
            "SELECT rowid, state FROM stored_events WHERE topic = ? "
            "ORDER BY rowid LIMIT 1 OFFSET 1",
            (RECORD_TOPIC,),
        ).fetchone()
        record = json.loads(state)
        record["event"].update(changes)
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            (json.dumps(record).encode(), rowid),
        )


QUERY_DEFINED = "ledger.named_queries:NamedQuery.Defined"
SUBSCRIPTION_CREATED = "ledger.subscriptions:Subscription.Created"
Fields = dict[str, Any]
# A named query and a subscription: the row defining each, and a change to it.
DEFINITIONS = [
    pytest.param(
        QUERY_DEFINED,
        {"name": "q"},
        {"query": {"eventType": ["AggregationEvent"]}},
        "named query 'q'",
        id="named query",
    ),
    pytest.param(
        SUBSCRIPTION_CREATED,
        {"subscription_id": "s1"},
        {"dest": "https://attacker.example/hook"},
        "subscription 's1'",
        id="subscription",
    ),
]


@dataclass(frozen=True)
class StoreTables:
    """How a store names its tables and marks SQL parameters: the tampering statements of
    :class:`LedgerContract` are written once in these terms."""

    events: str
    snapshots: str
    row_id: str  # the column numbering the events table's rows in log order
    mark: str  # how the driver marks a parameter: "?" or "%s"


class LedgerContract(ABC):
    """Tests every store must pass."""

    tables: ClassVar[StoreTables]

    @abstractmethod
    def make_url(self, tmp_path: Path) -> Iterator[str]:
        """Yield the URL of a new, empty store; clean it up afterwards."""

    @abstractmethod
    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one SQL statement on the store behind the ledger's back (committed)."""

    @abstractmethod
    def originator(self, value: uuid.UUID) -> Any:
        """An ``originator_id`` as the store's driver takes it."""

    def rows(self, url: str, topic: str) -> list[tuple[int, bytes]]:
        """(row id in log order, state bytes) of every stored event of this topic."""
        t = self.tables
        return [
            (row, bytes(state))
            for row, state in self.sql(
                url,
                f"SELECT {t.row_id}, state FROM {t.events} WHERE topic = {t.mark} "
                f"ORDER BY {t.row_id}",
                (topic,),
            )
        ]

    def record_rows(self, url: str) -> list[tuple[int, bytes]]:
        """(row id in log order, state bytes) of every stored EventRecord."""
        return self.rows(url, RECORD_TOPIC)

    def set_state(self, url: str, row: int, state: bytes) -> None:
        t = self.tables
        self.sql(
            url, f"UPDATE {t.events} SET state = {t.mark} WHERE {t.row_id} = {t.mark}", (state, row)
        )

    def delete_row(self, url: str, row: int) -> None:
        t = self.tables
        self.sql(url, f"DELETE FROM {t.events} WHERE {t.row_id} = {t.mark}", (row,))

    def insert_copy(self, url: str, row: int) -> None:
        """Insert a new row holding the same record state under a new identity."""
        t = self.tables
        self.sql(
            url,
            f"INSERT INTO {t.events} (originator_id, originator_version, topic, state) "
            f"SELECT {t.mark}, 1, topic, state FROM {t.events} WHERE {t.row_id} = {t.mark}",
            (self.originator(uuid.uuid4()), row),
        )

    def reset_head(self, url: str) -> None:
        """Remove the chain head and its snapshots with SQL, as a forger would."""
        head = self.originator(ChainHead.create_id())
        for table in (self.tables.events, self.tables.snapshots):
            self.sql(url, f"DELETE FROM {table} WHERE originator_id = {self.tables.mark}", (head,))

    @pytest.fixture
    def url(self, tmp_path: Path) -> Iterator[str]:
        yield from self.make_url(tmp_path)

    @pytest.fixture
    def ledger(self, url: str) -> Iterator[Ledger]:
        app = Ledger(store_settings(url))
        yield app
        app.close()

    # -- capture ----------------------------------------------------------------------

    def test_events_are_stored_in_order_and_read_back(self, ledger: Ledger) -> None:
        result = ledger.capture(prepare(OBJECT_EVENTS.read_bytes(), origin="test"))
        assert result.success
        assert [o.position for o in result.outcomes] == [1, 2]
        result = ledger.capture(prepare(TRANSACTION_XML.read_bytes()))
        assert [o.position for o in result.outcomes] == [3, 4]
        stored = list(ledger.stored_events())
        assert [s.position for s in stored] == [1, 2, 3, 4]
        originals = (
            load(OBJECT_EVENTS.read_bytes()).hash_ids()
            + load(TRANSACTION_XML.read_bytes()).hash_ids()
        )
        assert [s.hash_id for s in stored] == originals
        for s in stored:
            again = ledger.get_event(s.event_id)
            assert again is not None and again.hash_id == s.hash_id
            shown = again.as_epcis()
            assert shown["recordTime"] == s.record_time
            assert shown["eventID"] == s.event_id
        assert ledger.head[0] == 4

    def test_the_hash_is_the_event_id_when_the_client_gave_none(self, ledger: Ledger) -> None:
        result = ledger.capture(prepare(document(event(1))))
        (outcome,) = result.outcomes
        assert outcome.event_id == outcome.hash_id
        assert outcome.hash_id is not None and ledger.get_event(outcome.hash_id) is not None

    def test_a_retry_stores_nothing_new(self, ledger: Ledger) -> None:
        data = document(
            event(1), event(2, event_id="urn:uuid:6a1e7d5e-1111-4a1a-8a1a-000000000002")
        )
        ledger.capture(prepare(data))
        head = ledger.head
        again = ledger.capture(prepare(data))
        assert again.success
        assert [o.status for o in again.outcomes] == ["already-stored", "already-stored"]
        assert ledger.current_head() == head
        assert len(list(ledger.stored_events())) == 2

    def test_the_same_event_under_another_event_id_is_already_stored(self, ledger: Ledger) -> None:
        ledger.capture(prepare(document(event(1))))
        other = ledger.capture(
            prepare(document(event(1, event_id="urn:uuid:6a1e7d5e-1111-4a1a-8a1a-000000000009")))
        )
        assert [o.status for o in other.outcomes] == ["already-stored"]
        assert ledger.head[0] == 1
        # the client can read it back by the eventID it used
        alias = ledger.get_event("urn:uuid:6a1e7d5e-1111-4a1a-8a1a-000000000009")
        assert alias is not None and alias.hash_id == other.outcomes[0].hash_id

    def test_an_event_id_of_another_event_conflicts_even_if_this_one_is_stored(
        self, ledger: Ledger
    ) -> None:
        taken = "urn:uuid:6a1e7d5e-1111-4a1a-8a1a-00000000000b"
        ledger.capture(prepare(document(event(1, event_id=taken))))
        ledger.capture(prepare(document(event(2))))
        clash = ledger.capture(prepare(document(event(2, event_id=taken))))
        assert [o.status for o in clash.outcomes] == ["conflict"]

    def test_a_different_event_reusing_an_event_id_is_a_conflict(self, ledger: Ledger) -> None:
        shared = "urn:uuid:6a1e7d5e-1111-4a1a-8a1a-00000000000a"
        first = ledger.capture(prepare(document(event(1, event_id=shared))))
        clash = ledger.capture(prepare(document(event(2), event(3, event_id=shared))))
        assert not clash.success
        assert [o.status for o in clash.outcomes] == ["not-stored", "conflict"]
        conflict = clash.conflicts[0]
        assert conflict.existing_hash_id == first.outcomes[0].hash_id
        assert conflict.hash_id and conflict.hash_id in (conflict.message or "")
        assert conflict.existing_hash_id and conflict.existing_hash_id in (conflict.message or "")
        assert ledger.head[0] == 1
        proceed = ledger.capture(
            prepare(document(event(2), event(3, event_id=shared)), error_behaviour="proceed")
        )
        assert [o.status for o in proceed.outcomes] == ["stored", "conflict"]
        assert ledger.head[0] == 2

    def test_rollback_stores_nothing_of_a_document_with_a_bad_event(self, ledger: Ledger) -> None:
        bad = event(2)
        bad["action"] = "MOVE"
        data = document(event(1), bad, event(3))
        result = ledger.capture(prepare(data))
        assert not result.success
        assert [o.status for o in result.outcomes] == ["not-stored", "invalid", "not-stored"]
        assert "MOVE" in result.outcomes[1].message
        assert ledger.head[0] == 0
        result = ledger.capture(prepare(data, error_behaviour="proceed"))
        assert [o.status for o in result.outcomes] == ["stored", "invalid", "stored"]
        assert ledger.head[0] == 2

    def test_an_unreadable_document_stores_nothing_and_says_why(self, ledger: Ledger) -> None:
        result = ledger.capture(prepare(b'{"type": "EPCISDocument", ', error_behaviour="proceed"))
        assert not result.success
        assert result.outcomes == []
        assert "invalid JSON" in result.errors[0]["message"]
        assert ledger.head[0] == 0
        job = ledger.job(result.capture_id)
        assert job is not None and not job.success and job.errors == result.errors

    def test_jobs_are_kept(self, ledger: Ledger) -> None:
        ids = [ledger.capture(prepare(document(event(n)))).capture_id for n in range(3)]
        assert [j.capture_id for j in ledger.jobs()] == ids
        job = ledger.job(ids[1])
        assert job is not None and job.outcomes[0].position == 2

    def test_concurrent_captures_share_transactions_and_keep_one_chain(
        self, ledger: Ledger
    ) -> None:
        committer = GroupCommitter(ledger)
        results: list[Any] = []

        def client(base: int) -> None:
            for n in range(25):
                results.append(committer.submit(prepare(document(event(base * 1000 + n)))))

        threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        committer.close()
        assert len(results) == 200 and all(r.success for r in results)
        positions = sorted(o.position or 0 for r in results for o in r.outcomes)
        assert positions == list(range(1, 201))
        assert committer.groups <= committer.requests
        assert verify_chain(ledger).intact

    def test_racing_duplicates_store_one_event(self, ledger: Ledger) -> None:
        committer = GroupCommitter(ledger)
        statuses: list[str] = []
        barrier = threading.Barrier(8)

        def client() -> None:
            barrier.wait()
            statuses.extend(
                o.status for o in committer.submit(prepare(document(event(7)))).outcomes
            )

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        committer.close()
        assert sorted(statuses) == ["already-stored"] * 7 + ["stored"]
        assert ledger.current_head()[0] == 1

    def test_two_writers_on_one_store_keep_one_chain(self, url: str, ledger: Ledger) -> None:
        other = Ledger(store_settings(url))
        try:
            for n in range(6):
                writer = ledger if n % 2 else other
                assert writer.capture(prepare(document(event(n)))).success
        finally:
            other.close()
        report = verify_chain(ledger)
        assert report.intact, report.findings
        assert report.last_position == 6

    def test_a_large_document_is_one_transaction(self, ledger: Ledger) -> None:
        """6,000 events (about 6 MB stored) in one capture. On PostgreSQL this once hung for
        ever inside psycopg's pipeline mode; the thread and its deadline catch a relapse."""
        from bench.generate import document as generated

        request = prepare(json.dumps(generated(6000)).encode())
        results: list[Any] = []
        worker = threading.Thread(target=lambda: results.append(ledger.capture(request)))
        worker.start()
        worker.join(timeout=120)
        assert results, "the capture did not finish"
        assert results[0].success and results[0].count(Status.STORED) == 6000
        assert ledger.current_head()[0] == 6000

    def test_two_busy_writers_on_one_store_keep_one_chain(self, url: str, ledger: Ledger) -> None:
        """Two ledgers (as two server workers would be) appending at the same time."""
        other = Ledger(store_settings(url))
        committers = [GroupCommitter(ledger), GroupCommitter(other)]
        results: list[Any] = []

        def client(n: int) -> None:
            committer = committers[n % 2]
            for k in range(20):
                results.append(committer.submit(prepare(document(event(n * 1000 + k)))))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            for committer in committers:
                committer.close()
            other.close()
        assert len(results) == 120 and all(r.success for r in results)
        report = verify_chain(ledger)
        assert report.intact, report.findings
        assert report.last_position == 120

    # -- tamper evidence --------------------------------------------------------------

    def _six(self, ledger: Ledger) -> None:
        for n in range(6):
            ledger.capture(prepare(document(event(n))))
        assert verify_chain(ledger).intact

    def _first_finding_is(self, ledger: Ledger, position: int, says: str) -> None:
        """Verifying finds its first fault at ``position``, saying ``says``."""
        first = verify_chain(ledger).findings[0]
        assert first.position == position
        assert says in first.message

    def test_an_altered_row_is_named(self, url: str, ledger: Ledger) -> None:
        self._six(ledger)
        row, state = self.record_rows(url)[2]
        record = json.loads(state)
        record["event"]["epcList"] = ["urn:epc:id:sgtin:0614141.107346.999"]
        self.set_state(url, row, json.dumps(record).encode())
        self._first_finding_is(ledger, 3, "altered")

    def test_a_removed_row_is_named(self, url: str, ledger: Ledger) -> None:
        self._six(ledger)
        row, _ = self.record_rows(url)[1]
        self.delete_row(url, row)
        self._first_finding_is(ledger, 3, "positions 2..2 are missing")

    def test_a_removed_last_row_is_named(self, url: str, ledger: Ledger) -> None:
        self._six(ledger)
        row, _ = self.record_rows(url)[-1]
        self.delete_row(url, row)
        (finding,) = verify_chain(ledger).findings
        assert "head says position 6 but the log ends at position 5" in finding.message

    def test_an_inserted_row_is_named(self, url: str, ledger: Ledger) -> None:
        self._six(ledger)
        row, _ = self.record_rows(url)[3]
        self.insert_copy(url, row)
        self._first_finding_is(ledger, 4, "stored twice")

    def test_reordered_rows_are_named(self, url: str, ledger: Ledger) -> None:
        self._six(ledger)
        rows = self.record_rows(url)
        (row_a, state_a), (row_b, state_b) = rows[1], rows[4]
        self.set_state(url, row_a, state_b)
        self.set_state(url, row_b, state_a)
        first = verify_chain(ledger).findings[0]
        assert first.position == 5
        assert "missing" in first.message or "reordered" in first.message
        assert any("reordered" in f.message for f in verify_chain(ledger).findings)

    def test_a_signed_checkpoint_proves_the_log_extends_it(
        self, url: str, ledger: Ledger, tmp_path: Path
    ) -> None:
        key = signing_key(tmp_path / "key.pem")
        self._six(ledger)
        checkpoint = read_checkpoint(make_checkpoint(ledger, key).to_json())
        assert (checkpoint.position, checkpoint.commit) == (6, 6)
        ledger.capture(prepare(document(event(99))))
        report = verify_chain(ledger, **keep(checkpoint))
        assert check_against(report, checkpoint) is None
        # rewrite history so that every link still chains: the checkpoint catches it
        # (the jobs too: the commits name them, so jobs no commit names would give it away)
        for row, _ in self.record_rows(url) + self.rows(url, JOB_TOPIC):
            self.delete_row(url, row)
        self.reset_head(url)
        rewritten = Ledger(store_settings(url))
        try:
            for n in range(100, 107):
                rewritten.capture(prepare(document(event(n))))
            report = verify_chain(rewritten, **keep(checkpoint))
            assert report.intact, report.findings
            why = check_against(report, checkpoint)
            assert why is not None and "rewritten" in why
        finally:
            rewritten.close()

    def test_a_signed_checkpoint_covers_named_queries(
        self, url: str, ledger: Ledger, tmp_path: Path
    ) -> None:
        """A forger who rewrites the named queries and every commit after them (the records
        untouched) passes verify, but not the checkpoint: it signs the last commit too."""
        NamedQueries(ledger).define("q", {"EQ_bizStep": ["receiving"]}, "t0")
        checkpoint = read_checkpoint(
            make_checkpoint(ledger, signing_key(tmp_path / "key.pem")).to_json()
        )
        assert (checkpoint.position, checkpoint.commit) == (0, 1)
        assert check_against(verify_chain(ledger, **keep(checkpoint)), checkpoint) is None
        for row, _ in self.rows(url, QUERY_DEFINED):
            self.delete_row(url, row)
        self.reset_head(url)
        rewritten = Ledger(store_settings(url))
        try:
            NamedQueries(rewritten).define("q", {"EQ_bizStep": ["shipping"]}, "t0")
            report = verify_chain(rewritten, **keep(checkpoint))
            assert report.intact, report.findings
            why = check_against(report, checkpoint)
            assert why is not None and "commit 1 differs" in why and "rewritten" in why
        finally:
            rewritten.close()

    def test_a_checkpoint_of_the_first_format_still_checks_the_records(
        self, ledger: Ledger, tmp_path: Path
    ) -> None:
        key = signing_key(tmp_path / "key.pem")
        self._six(ledger)
        current = make_checkpoint(ledger, key)
        old = json.loads(current.to_json())
        del old["commit"], old["commit_link"], old["signature"]
        old["format"] = "tracecode-checkpoint/1"
        old["signature"] = base64.b64encode(key.sign(canonical_json(old))).decode()
        checkpoint = read_checkpoint(json.dumps(old))
        assert (checkpoint.position, checkpoint.commit) == (6, 0)
        assert check_against(verify_chain(ledger, **keep(checkpoint)), checkpoint) is None

    def test_a_forged_checkpoint_is_refused(self, ledger: Ledger, tmp_path: Path) -> None:
        self._six(ledger)
        text = make_checkpoint(ledger, signing_key(tmp_path / "key.pem")).to_json()
        forged = json.loads(text)
        forged["position"] = 3
        with pytest.raises(ValueError, match="signature"):
            read_checkpoint(json.dumps(forged))

    # -- tamper evidence beyond the records -------------------------------------------
    # Claims, declarations, jobs, named queries and subscriptions decide answers too: each
    # is chained (a commit names it) or derived from what is, and verify names it.

    def _every_kind(self, ledger: Ledger) -> None:
        """Events under client eventIDs, a stored event re-sent under a new eventID (a claim
        no record carries), an error declaration, jobs, named queries (one deleted,
        one redefined) and subscriptions (one cancelled)."""
        ledger.capture(prepare(document(event(1, event_id=CLAIMED), event(2))))
        ledger.capture(prepare(document(event(2, event_id=ALIAS))))  # already stored
        declared = {**event(1, event_id=CLAIMED), "errorDeclaration": DECLARATION}
        ledger.capture(prepare(document(declared)))
        ledger.capture(prepare(document(event(3, event_id=CLAIMED))))  # a conflict
        queries = NamedQueries(ledger)
        queries.define("q", {"eventType": ["ObjectEvent"]}, "2026-03-01T08:00:00Z")
        queries.define("gone", {"EQ_bizStep": ["receiving"]}, "2026-03-01T08:00:01Z")
        queries.delete("gone")
        queries.define("again", {"EQ_action": ["ADD"]}, "2026-03-01T08:00:02Z")
        queries.delete("again")
        queries.define("again", {"EQ_action": ["OBSERVE"]}, "2026-03-01T08:00:03Z")
        subscriptions = Subscriptions(ledger)
        subscriptions.create(subscription("s1"))
        subscriptions.create(subscription("s2"))
        subscriptions.cancel("s2")
        ledger.capture(prepare(document(event(4))))

    def _bad(self, ledger: Ledger, *, says: str, about: str) -> VerifyReport:
        """verify is not intact, and one finding names ``about`` and says ``says``."""
        report = verify_chain(ledger)
        assert not report.intact
        assert any(says in f.message and about in str(f) for f in report.findings), [
            str(f) for f in report.findings
        ]
        return report

    def _row(self, url: str, topic: str, **match: Any) -> tuple[int, dict[str, Any]]:
        """The one row of ``topic`` whose state has these values."""
        (found,) = [
            (row, json.loads(state))
            for row, state in self.rows(url, topic)
            if all(json.loads(state).get(k) == v for k, v in match.items())
        ]
        return found

    def _rewrite(self, url: str, row: int, state: dict[str, Any]) -> None:
        self.set_state(url, row, json.dumps(state).encode())

    def _remove(self, url: str, topic: str, **match: Any) -> None:
        """Delete the one row of ``topic`` whose state has these values."""
        row, _ = self._row(url, topic, **match)
        self.delete_row(url, row)

    def _amend(self, url: str, topic: str, changes: dict[str, Any], **match: Any) -> None:
        """Rewrite the one row of ``topic`` whose state has these values with ``changes``."""
        row, state = self._row(url, topic, **match)
        self._rewrite(url, row, {**state, **changes})

    def test_a_ledger_with_every_kind_of_entry_verifies_intact(
        self, url: str, ledger: Ledger
    ) -> None:
        self._every_kind(ledger)
        report = verify_chain(ledger)
        assert report.intact, [str(f) for f in report.findings]
        assert report.last_position == 4
        assert report.commits == 5 + 6 + 3  # captures, query changes, subscription changes
        assert report.entries == 5 + 6 + 3 and report.claims == 2 and report.declarations == 1
        # another process sees the same chain, and carries on with it
        other = Ledger(store_settings(url))
        try:
            NamedQueries(other).define("more", {"eventType": ["ObjectEvent"]}, "x")
            ledger.capture(prepare(document(event(5, event_id=OTHER))))
        finally:
            other.close()
        report = verify_chain(ledger)
        assert report.intact, [str(f) for f in report.findings]
        assert report.commits == 16

    def test_a_removed_claim_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        self._remove(url, CLAIM_TOPIC, event_id=CLAIMED)
        self._bad(ledger, says="its claim was removed", about=f"eventID {CLAIMED}")

    def test_a_removed_claim_of_a_resent_event_is_named(self, url: str, ledger: Ledger) -> None:
        """No record carries this eventID: the commit of its capture does."""
        self._every_kind(ledger)
        self._remove(url, CLAIM_TOPIC, event_id=ALIAS)
        report = self._bad(ledger, says="its claim was removed", about=f"eventID {ALIAS}")
        assert "claimed in commit 2" in str(report.findings[0])

    def test_an_altered_claim_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        other = ledger.get_event(ALIAS)
        assert other is not None
        self._amend(url, CLAIM_TOPIC, {"hash_id": other.hash_id}, event_id=CLAIMED)
        self._bad(ledger, says="its claim was altered", about=f"eventID {CLAIMED}")

    def test_a_claim_naming_an_event_no_record_has_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        self._amend(
            url,
            CLAIM_TOPIC,
            {"hash_id": "ni:///sha-256;" + "ab" * 32 + "?ver=CBV2.0"},
            event_id=ALIAS,
        )
        self._bad(ledger, says="an event no record has", about=f"eventID {ALIAS}")

    def test_a_different_event_taking_a_removed_claims_event_id_is_named(
        self, url: str, ledger: Ledger
    ) -> None:
        """Capture trusts the claims (one keyed lookup on the hot path); once a claim row is
        deleted, a different event can be stored under its eventID. verify names both."""
        self._every_kind(ledger)
        self._remove(url, CLAIM_TOPIC, event_id=CLAIMED)
        taker = ledger.capture(prepare(document(event(77, event_id=CLAIMED))))
        assert [o.status for o in taker.outcomes] == ["stored"]
        report = self._bad(
            ledger, says="is used by two different events", about=f"eventID {CLAIMED}"
        )
        (finding,) = [f for f in report.findings if "two different events" in f.message]
        first = load(document(event(1, event_id=CLAIMED))).hash_ids()[0]
        assert first in finding.message and taker.outcomes[0].hash_id in finding.message

    def test_a_removed_job_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        job = list(ledger.jobs())[1]
        self._remove(url, JOB_TOPIC, capture_id=job.capture_id)
        self._bad(ledger, says="was removed", about=f"capture job {job.capture_id!r}")

    def test_an_altered_job_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        job = list(ledger.jobs())[3]
        assert not job.success  # the conflict: make it look as if it had been stored
        row, state = self._row(url, JOB_TOPIC, capture_id=job.capture_id)
        state["success"] = True
        state["outcomes"][0]["status"] = "stored"
        self._rewrite(url, row, state)
        self._bad(ledger, says="was altered", about=f"capture job {job.capture_id!r}")

    def test_an_inserted_job_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        row, _ = self.rows(url, JOB_TOPIC)[0]
        self.insert_copy(url, row)
        self._bad(ledger, says="is in no commit", about="capture job")

    @pytest.mark.parametrize(("topic", "match", "change", "about"), DEFINITIONS)
    def test_a_removed_definition_is_named(
        self, url: str, ledger: Ledger, topic: str, match: Fields, change: Fields, about: str
    ) -> None:
        self._every_kind(ledger)
        self._remove(url, topic, **match)
        self._bad(ledger, says="was removed", about=about)

    @pytest.mark.parametrize(("topic", "match", "change", "about"), DEFINITIONS)
    def test_an_altered_definition_is_named(
        self, url: str, ledger: Ledger, topic: str, match: Fields, change: Fields, about: str
    ) -> None:
        self._every_kind(ledger)
        self._amend(url, topic, change, **match)
        self._bad(ledger, says="was altered", about=about)

    def test_a_deleted_named_query_brought_back_is_named(self, url: str, ledger: Ledger) -> None:
        """Removing the row that deleted a query makes it answer again."""
        self._every_kind(ledger)
        row, _ = self.rows(url, "ledger.named_queries:NamedQuery.Deleted")[0]
        self.delete_row(url, row)
        assert NamedQueries(ledger).get("gone") is not None
        self._bad(ledger, says="(version 2, named by commit", about="named query 'gone'")

    def test_a_cancelled_subscription_brought_back_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        ((row, _),) = self.rows(url, "ledger.subscriptions:Subscription.Cancelled")
        self.delete_row(url, row)
        assert Subscriptions(ledger).get("s2") is not None
        self._bad(ledger, says="was removed", about="subscription 's2'")

    def test_an_altered_declarations_index_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        ((row, state),) = self.rows(url, "ledger.domain:Declarations.Declared")
        forged = json.loads(state)
        forged["key"] = forged["key"][:-4] + "0000"
        self._rewrite(url, row, forged)
        hash_id = load(document(event(1))).hash_ids()[0]
        self._bad(ledger, says="its index was altered", about=f"declarations of {hash_id}")

    def test_a_removed_declarations_index_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        for topic in ("ledger.domain:Declarations.Started", "ledger.domain:Declarations.Declared"):
            for row, _ in self.rows(url, topic):
                self.delete_row(url, row)
        assert ledger.declarations(load(document(event(1))).hash_ids()[0]) == []
        self._bad(ledger, says="its index was removed", about="declarations of")

    def test_a_removed_commit_is_named(self, url: str, ledger: Ledger) -> None:
        self._every_kind(ledger)
        row, _ = self.rows(url, COMMIT_TOPIC)[6]
        self.delete_row(url, row)
        self._bad(ledger, says="comes where commit 7 should", about="commit 8")

    # -- export -----------------------------------------------------------------------

    @pytest.mark.parametrize("fmt", ["json", "xml"])
    def test_export_keeps_every_hash(self, ledger: Ledger, fmt: str) -> None:
        ledger.capture(prepare(OBJECT_EVENTS.read_bytes()))
        ledger.capture(prepare(TRANSACTION_XML.read_bytes()))
        data = b"".join(export(ledger, fmt=fmt))  # type: ignore[arg-type]
        exported = load(data, validate=True)
        assert exported.errors == []
        assert exported.hash_ids() == [s.hash_id for s in ledger.stored_events()]

    def test_export_until_a_record_time(self, ledger: Ledger) -> None:
        ledger.capture(prepare(document(event(1))))
        first_time = next(ledger.stored_events()).record_time
        ledger.capture(prepare(document(event(2))))
        later = [s for s in ledger.stored_events() if s.record_time > first_time]
        data = b"".join(export(ledger, until=first_time))
        assert len(load(data).events) == 2 - len(later)

    def test_the_record_topic_names_what_is_stored(self, ledger: Ledger) -> None:
        ledger.capture(prepare(document(event(1))))
        page = ledger.recorder.select_notifications(1, 10, topics=[RECORD_TOPIC])
        assert len(page) == 1


CLAIMED = "urn:uuid:6a1e7d5e-3333-4a1a-8a1a-000000000001"
ALIAS = "urn:uuid:6a1e7d5e-3333-4a1a-8a1a-000000000002"
OTHER = "urn:uuid:6a1e7d5e-3333-4a1a-8a1a-000000000003"
DECLARATION = {"declarationTime": "2026-03-02T08:00:00.000+08:00", "reason": "incorrect_data"}


def subscription(subscription_id: str) -> SubscriptionInfo:
    return SubscriptionInfo(
        subscription_id=subscription_id,
        query_name="q",
        dest="https://receiver.example/hook",
        secret="s3cret",
        stream=True,
        schedule=None,
        report_if_empty=False,
        initial_record_time=None,
        start_after=0,
        created_at="2026-03-01T08:00:00Z",
    )


class CorrectionsContract:
    """Mixed into each store's contract: error declarations are kept beside the original."""

    def test_an_error_declaration_is_kept_beside_the_original(self, ledger: Ledger) -> None:
        original = event(1, event_id="urn:uuid:6a1e7d5e-1111-4a1a-8a1a-00000000000c")
        ledger.capture(prepare(document(original)))
        declared = {
            **original,
            "errorDeclaration": {
                "declarationTime": "2026-03-02T08:00:00.000+08:00",
                "reason": "incorrect_data",
            },
        }
        result = ledger.capture(prepare(document(declared)))
        assert [o.status for o in result.outcomes] == ["stored"]
        assert result.outcomes[0].hash_id == load(document(original)).hash_ids()[0]
        again = ledger.capture(prepare(document(declared)))
        assert [o.status for o in again.outcomes] == ["already-stored"]
        stored = ledger.get_event(original["eventID"])
        assert stored is not None and "errorDeclaration" not in stored.event
        (declaration,) = ledger.declarations(stored.hash_id)
        assert declaration.event["errorDeclaration"]["reason"] == "incorrect_data"
        assert declaration.position == 2
        assert verify_chain(ledger).intact
