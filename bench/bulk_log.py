"""A generated stream written straight into a fresh PostgreSQL ledger's log, with ``COPY``.

The projections bench needs ledgers of 1 and 10 million events; capturing them through
:meth:`ledger.application.Ledger.append` (hashing every event with the EPCIS core, one
``INSERT`` per stored event) runs at about 3,000 events/s here, so 10 million take an hour.
:func:`bulk_load` writes the rows such a capture writes, in the same order, with
``COPY … FROM STDIN (FORMAT BINARY)``, one document of ``doc_events`` events at a time as
one capture (as the bench's capture loads them):

* the chain head's ``Committed`` event (``ledger.domain.commit_on``, the real aggregate:
  number, chain end, the job it names with its digest, the commit link);
* one ``EventRecord.Captured`` per event: the record content and link of
  :func:`ledger.domain.record_content` / :func:`ledger.domain.chain_link`, its state encoded
  by the ledger's own transcoder, in the attribute order of the aggregate's event;
* the document's ``CaptureJob.Finished`` (the real aggregate, its outcomes ``stored`` with
  positions);
* the chain head's snapshots every 100 versions (the ledger's ``snapshotting_intervals``),
  taken by the ledger at the end from the rows written.

Notification ids follow one another from the log's end, as a capture's inserts take them.
The stream's events carry no client eventID and no error declaration, and every event is
new, so a capture would write no eventID claims, declarations or shares; :func:`bulk_load`
refuses events that would need them, and refuses a ledger that is not empty.

The Event Hash IDs come from :class:`StreamHasher`: the EPCIS core's hasher with the pieces
of a pre-hash string that the stream repeats (CBV values, locations, a GTIN's Digital Link
prefix) computed once, so an event costs a few string joins. Every ``check_every``-th event
(and the first of each document) is hashed again by the EPCIS core and its record built by
the real aggregate and mapper; any difference stops the load.

What differs from a captured ledger of the same stream: the ``recordTime`` of the records
and the created/finished times of the jobs (taken per document, as a capture would, but at
another moment; pass ``record_times`` to choose them), the capture ids (``capture_ids``),
and the eventsourcing timestamps of the stored events (a capture takes the clock per
aggregate; here the record time). ``tracecode verify`` (the auditor's check of the record
chain, the commits and every record's Event Hash ID) passes on a bulk-loaded ledger; it is
still not a captured one: nothing was validated, and no client sent it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from uuid import UUID

from epcis.context import namespaces
from epcis.event_hash import (
    _COMMENTS,
    _EPC_LISTS,
    _NOT_HASHED,
    _ORDERED_FIELDS,
    EventHasher,
    event_hash_id,
)
from epcis.timestamps import utc_now
from ledger.application import Ledger
from ledger.capture import new_capture_id
from ledger.domain import (
    CaptureJob,
    ChainHead,
    EventRecord,
    chain_link,
    commit_on,
    record_content,
    record_key,
)
from ledger.outcomes import CaptureResult, Outcome, Status
from ledger.reading import RECORD_TOPIC

MARK = "bulk-loaded: not a captured ledger"
"""What the bench prints beside figures measured on a bulk-loaded ledger."""

_RECORD_ORIGINATOR_TOPIC = "ledger.domain:EventRecord"
_WHOLE_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_SGTIN = "urn:epc:id:sgtin:"
_CACHE_LIMIT = 200_000

Row = tuple[UUID | str, int, str, bytes, int]
"""A row of the stored events table: originator id, version, topic, state, notification id."""


class BulkLoadError(RuntimeError):
    """The stream or the store cannot be bulk-loaded, or a checked event differed."""


class StreamHasher(EventHasher):
    """The EPCIS core's Event Hash IDs, with what a stream repeats computed once: the
    pre-hash piece of every ordered field but the time and the EPCs (CBV values,
    locations), the extension fields that are not plain text, and the Digital Link of
    an SGTIN class (its serial appended). Anything else takes the core's way."""

    def __init__(self, prefixes: Mapping[str, str]) -> None:
        super().__init__(prefixes)
        self._pieces: dict[tuple[str, str], tuple[str, list[str]]] = {}
        self._epcs: dict[str, str] = {}
        self._classes: dict[str, str | None] = {}
        self._names: dict[str, str] = {}

    def fast_hash_id(self, event: Mapping[str, Any]) -> str:
        return event_hash_id(self.fast_prehash(event))

    def fast_prehash(self, event: Mapping[str, Any]) -> str:
        parts = ["eventType=" + str(event.get("type", ""))]
        rest: list[str] = []
        for field in _ORDERED_FIELDS:
            if field not in event:
                continue
            value = event[field]
            if field == "eventTime":
                if isinstance(value, str) and _WHOLE_SECONDS.fullmatch(value):
                    parts.append(f"eventTime={value[:-1]}.000Z")
                    continue
            elif field in _EPC_LISTS and isinstance(value, list):
                epcs = self._epcs
                try:
                    items = ["epc=" + (epcs.get(v) or self._epc(v)) for v in value]
                except (TypeError, AttributeError):  # not a list of strings: the core's way
                    pass
                else:
                    items.sort()
                    parts.append(field + "".join(items) if items else "")
                    continue
            elif field == "parentID" and isinstance(value, str):
                parts.append("parentID=" + self._epc(value))
                continue
            ordered, leftover = self._piece(field, value)
            parts.append(ordered)
            if leftover:
                rest.append(field + "".join(sorted(leftover)))
        for key, value in event.items():
            if key in _NOT_HASHED or key in _ORDERED_FIELDS or key in _COMMENTS:
                continue
            name = self._names.get(key)
            if name is None:
                name = self._names[key] = self.expand_name(key)
            if name in self._ignore:
                continue
            if isinstance(value, str):
                rest.extend(self._generic(key, name, value))
            else:
                rest.extend(self._piece("\0" + key, value)[1])
        rest.sort()
        return "".join(parts) + "".join(rest)

    def _piece(self, field: str, value: Any) -> tuple[str, list[str]]:
        """The core's string for an ordered field (or, ``field`` starting with NUL, the
        strings of an extension field), once per distinct value."""
        memo = (field, repr(value))
        found = self._pieces.get(memo)
        if found is None:
            if field.startswith("\0"):
                key = field[1:]
                found = ("", list(self._generic(key, self.expand_name(key), value)))
            else:
                ordered, leftover = self._ordered_field(field, value)
                found = (ordered, list(leftover))
            if len(self._pieces) > _CACHE_LIMIT:
                self._pieces.clear()
            self._pieces[memo] = found
        return found

    def _epc(self, urn: str) -> str:
        found = self._epcs.get(urn)
        if found is not None:
            return found
        head, _, serial = urn.rpartition(".")
        prefix = None
        if urn.startswith(_SGTIN) and serial.isdigit() and serial.isascii():
            prefix = self._class_prefix(head)
        found = prefix + serial if prefix is not None else self.value(urn)
        if len(self._epcs) > _CACHE_LIMIT:
            self._epcs.clear()
        self._epcs[urn] = found
        return found

    def _class_prefix(self, head: str) -> str | None:
        """``https://id.gs1.org/01/<GTIN>/21/`` for ``urn:epc:id:sgtin:<company>.<item>``."""
        if head not in self._classes:
            probe = self.value(head + ".1")
            self._classes[head] = probe[:-1] if probe.endswith("/21/1") else None
        return self._classes[head]


@dataclass
class BulkResult:
    events: int = 0
    documents: int = 0
    seconds: float = 0.0
    checked: int = 0
    """Events hashed again by the EPCIS core and built again by the real aggregate."""
    snapshot_seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _row_types() -> list[str]:
    return ["uuid", "int8", "text", "bytea", "int8"]


class _Loader:
    def __init__(
        self, ledger: Ledger, prefixes: dict[str, str], institution: str, check_every: int
    ) -> None:
        self.ledger = ledger
        self.prefixes = prefixes
        self.hasher = StreamHasher(prefixes)
        self.institution = institution
        self.check_every = check_every
        self.encode = ledger.mapper.transcoder.encode
        head: ChainHead = ledger.repository.get(ChainHead.create_id())
        if head.position != 0 or ledger.log_position() != head.version:
            raise BulkLoadError(
                f"bulk_load writes into a new ledger only; {ledger.settings.redacted_url} "
                f"holds {ledger.log_position()} notifications"
            )
        self.head = head
        self.position, self.link = head.position, head.link
        self.notification = ledger.log_position()
        self.events = 0
        self.checked = 0

    def document(
        self, events: list[dict[str, Any]], n: int, capture_id: str, now: str, source: str
    ) -> Iterator[Row]:
        """The rows of one captured document, in the order a capture inserts them."""
        moment = datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(UTC)
        records: list[tuple[UUID, int, str, bytes]] = []
        outcomes: list[Outcome] = []
        for index, event in enumerate(events):
            if event.get("eventID") or "errorDeclaration" in event:
                raise BulkLoadError(
                    f"document {n}, event {index}: bulk_load takes no eventID and no error "
                    "declaration (a capture would write claims or declarations for them)"
                )
            hash_id = self.hasher.fast_hash_id(event)
            key = record_key(hash_id, event)
            self.position += 1
            content = record_content(
                key=key,
                hash_id=hash_id,
                event_id=hash_id,
                position=self.position,
                record_time=now,
                capture_id=capture_id,
                event=event,
                namespaces=self.prefixes,
                institution=self.institution,
            )
            previous, self.link = self.link, chain_link(self.link, content)
            state = {  # in the order of the attributes of EventRecord's created event
                "timestamp": moment,
                "originator_topic": _RECORD_ORIGINATOR_TOPIC,
                "key": key,
                "hash_id": hash_id,
                "event_id": hash_id,
                "position": self.position,
                "record_time": now,
                "capture_id": capture_id,
                "event": event,
                "namespaces": self.prefixes,
                "previous_link": previous,
                "link": self.link,
                "institution": self.institution,
            }
            record_id = EventRecord.create_id(key)
            encoded = self.encode(state)
            if index == 0 or (self.events + index) % self.check_every == 0:
                self._check(event, hash_id, content, previous, record_id, encoded, moment)
            records.append((record_id, 1, RECORD_TOPIC, encoded))
            outcomes.append(Outcome(index, Status.STORED, hash_id, hash_id, position=self.position))
        self.events += len(events)
        result = CaptureResult(
            capture_id=capture_id,
            success=True,
            outcomes=outcomes,
            errors=[],
            created=now,
            finished=now,
            source=source,
            error_behaviour="rollback",
            institution=self.institution,
        )
        job = CaptureJob(**result.job_fields())
        commit_on(self.head, [job], position=self.position, link=self.link, now=now)
        mapper = self.ledger.mapper
        (commit,) = (mapper.to_stored_event(e) for e in self.head.collect_events())
        (finished,) = (mapper.to_stored_event(e) for e in job.collect_events())
        first = self.notification + 1
        self.notification += len(records) + 2
        yield (commit.originator_id, commit.originator_version, commit.topic, commit.state, first)
        for offset, (originator, version, topic, encoded) in enumerate(records, first + 1):
            yield originator, version, topic, encoded, offset
        yield (
            finished.originator_id,
            finished.originator_version,
            finished.topic,
            finished.state,
            self.notification,
        )

    def _check(
        self,
        event: dict[str, Any],
        hash_id: str,
        content: dict[str, Any],
        previous: str,
        record_id: UUID,
        encoded: bytes,
        moment: datetime,
    ) -> None:
        """The EPCIS core's hash and the real aggregate's stored record, for this event."""
        core = self.hasher.hash_id(event)
        if core != hash_id:
            raise BulkLoadError(f"Event Hash ID {hash_id} differs from the core's {core}: {event}")
        record = EventRecord(**content, previous_link=previous, link=self.link)
        (created,) = record.collect_events()
        object.__setattr__(created, "timestamp", moment)
        stored = self.ledger.mapper.to_stored_event(created)
        if (stored.originator_id, stored.topic, stored.state) != (
            record_id,
            RECORD_TOPIC,
            encoded,
        ):
            raise BulkLoadError(f"the record of {hash_id} differs from the aggregate's")
        self.checked += 1


def bulk_load(
    url: str,
    events: Iterable[dict[str, Any]],
    *,
    prefixes: dict[str, str],
    doc_events: int = 1000,
    institution: str = "",
    capture_ids: Callable[[int], str] | None = None,
    record_times: Callable[[int], str] | None = None,
    check_every: int = 997,
    commit_every: int = 50,
    progress: Callable[[int], None] | None = None,
) -> BulkResult:
    """Write ``events`` into the new, empty PostgreSQL ledger at ``url`` as the captures of
    documents of ``doc_events`` events (declaring ``prefixes``, as
    :func:`epcis.context.namespaces` reads them from the documents) for ``institution``.

    Document ``n`` gets the capture id ``capture_ids(n)`` (default: a new one) and the
    record time ``record_times(n)`` (default: the clock, as a capture takes it), source
    ``bench-<n>.jsonld``. A transaction per ``commit_every`` documents; ``progress`` is
    called with the events written after each. Returns what was written and how fast."""
    import psycopg

    from ledger.settings import store_settings

    settings = store_settings(url)
    if settings.kind != "postgresql":
        raise BulkLoadError(f"bulk_load writes into PostgreSQL only, not {settings.redacted_url}")
    ledger = Ledger(settings)
    result = BulkResult()
    started = time.perf_counter()
    try:
        loader = _Loader(ledger, prefixes, institution, check_every)
        table = f"{Ledger.name}_events"
        copy_sql = (
            f"COPY {table} (originator_id, originator_version, topic, state, notification_id) "
            "FROM STDIN (FORMAT BINARY)"
        )
        stream = iter(events)
        with psycopg.connect(url) as conn:
            n = 0
            while True:
                written = 0
                with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                    copy.set_types(_row_types())
                    for _ in range(commit_every):
                        batch = list(islice(stream, doc_events))
                        if not batch:
                            break
                        capture_id = capture_ids(n) if capture_ids else new_capture_id()
                        now = record_times(n) if record_times else utc_now()
                        for row in loader.document(batch, n, capture_id, now, f"bench-{n}.jsonld"):
                            copy.write_row(row)
                        n += 1
                        written += len(batch)
                conn.commit()
                if not written:
                    break
                result.events += written
                if progress is not None:
                    progress(result.events)
            conn.execute(
                f"SELECT setval('{table}_notification_id_seq', %s)", (loader.notification,)
            )
            conn.execute(f"ANALYZE {table}")
            conn.commit()
        result.documents = n
        result.checked = loader.checked
        result.seconds = time.perf_counter() - started
        snapshots = time.perf_counter()
        interval = Ledger.snapshotting_intervals[ChainHead]
        for version in range(interval, loader.head.version + 1, interval):
            ledger.take_snapshot(ChainHead.create_id(), version=version)
        result.snapshot_seconds = time.perf_counter() - snapshots
    finally:
        ledger.close()
    return result


def document_prefixes(envelope: Mapping[str, Any]) -> dict[str, str]:
    """The prefixes a capture records with every event of a document shaped like
    ``envelope`` (its ``@context``)."""
    return namespaces(dict(envelope))
