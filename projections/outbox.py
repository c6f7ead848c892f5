"""The outbox: the messages the platforms are owed (医保, Beijing), derived from the log and
delivered from it, each exactly once by its id.

**Deriving.** :class:`Outbox` is a read model (:class:`projections.read_model.ReadModel`)
run by its own :class:`~projections.runner.ReadModelRunner` (tracking row ``outbox``): for
each event of a batch, each platform's :class:`Owes` says which messages the event owes
(:class:`Owed`, keyed by the business fact), and the outbox stores each with its id (the
platform's message id, given here in log order) and its state **in the transaction that
moves the tracking position**. A message already stored under its key is left as it is,
so deriving again from the start (``tracecode outbox rebuild``, a new views schema) gives
the same messages with the same ids and resends nothing acknowledged. The tables are not
the views' (:data:`metadata`): a rebuild of the views does not drop them.

An event declared in error (EPCIS ``errorDeclaration``; a cancelled scan) supersedes its
messages not yet sent, and for those the platform may have (sent, acknowledged, or
waiting after a send whose answer never came) owes the platform's reversal
(:meth:`Owes.reversals`: a 3507 for 医保); such a message still goes out first, with its id.

**States.** ``incomplete`` (a required field is not known yet: ``missing`` names them; the
message is built again from its event now and then, :meth:`OutboxDelivery.refresh`, and
goes out once they are known), ``pending`` (due, or waiting for its retry after a network
failure), ``sent`` (handed to the platform, no answer yet), ``acknowledged``, ``failed``
(the platform refused it: its error is kept; tried again after a pause), ``superseded``,
``batched`` (a row of an A-variant message, acknowledged with it).

**Delivering.** :class:`OutboxDelivery` (an :class:`projections.outbound.Outbound`, one
thread per platform so that one platform down holds back only its own messages) takes the
open messages in log order, a page at a time to the end, in chunks: a chunk is marked
``sent`` (committed) before its first message is sent and its answers are written after
its last, so after a crash each is sent again **with the same id** and the platform's
"already received" counts as its acknowledgement. Per code, messages go in log order: a
message whose codes an earlier open message names waits for it (a return never overtakes
its sale). A failure pauses the message (doubling, with jitter); an unreachable platform
ends the round.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from epcis.timestamps import utc_text
from ledger.application import Ledger, StoredEvent
from ledger.locations import parse_location_uri
from ledger.master_data import moment
from ledger.quality import Upload
from projections.runner import ReadModelRunner

log = logging.getLogger("tracecode.outbox")

INCOMPLETE = "incomplete"
PENDING = "pending"
SENT = "sent"
ACKNOWLEDGED = "acknowledged"
FAILED = "failed"
SUPERSEDED = "superseded"
BATCHED = "batched"
"""Sent as a row of a batch message (an A variant), whose state it takes when it is
acknowledged."""
STATES = (INCOMPLETE, PENDING, SENT, ACKNOWLEDGED, FAILED, SUPERSEDED, BATCHED)
OPEN = (INCOMPLETE, PENDING, SENT, FAILED)
"""States of a message still owed."""
RUNNER = "outbox"
"""The outbox runner's tracking row."""

PER_EVENT = 1000
"""A message's ``seq`` is its event's log row × this + its place among the event's
messages, so log order is ``seq`` order and a rebuild gives the same numbers."""
BATCH_PLACE = 500
"""A batch message's ``seq`` is its first member's plus this (places from here on are
batches'; an event owes at most this many messages)."""

metadata = MetaData()
messages = Table(
    "outbox_messages",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("platform", String(20), nullable=False),
    Column("key", String(300), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("institution", String(100), nullable=False),
    Column("msgid", String(60), nullable=False),
    Column("event", String(300), nullable=False),
    Column("recorded", String(40), nullable=False),
    Column("happened", String(40)),  # the event's time (UTC)
    Column("place", String(200)),  # the location id the event happened at
    Column("codes", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("person", String(200)),
    Column("missing", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", String(40)),
    Column("error", Text),
    Column("answer", Text),
    Column("sent_at", String(40)),
    Column("acknowledged_at", String(40)),
    Column("superseded_by", String(300)),
    Column("lasting", Boolean, nullable=False, default=False),
    Column("batch", String(60)),  # the msgid of the batch message that carries it
    Index("outbox_by_key", "platform", "key", unique=True),
    Index("outbox_by_msgid", "platform", "msgid", unique=True),
    Index("outbox_by_state", "platform", "state", "seq"),
    Index("outbox_by_event", "event"),
)
leases = Table(
    "outbox_leases",
    metadata,
    Column("platform", String(20), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("until", String(40), nullable=False),
)
"""Who delivers a platform's messages: one process at a time (the server's workers and a
``tracecode outbox run`` each try; the holder renews its lease every round, and a holder
that died loses it when it runs out)."""


@dataclass(frozen=True)
class Owed:
    """One message an event owes a platform, before it has an id."""

    key: str
    """The business fact, unique per platform (``3505:<event>:<line>``…): deriving again
    finds the message already stored under it."""
    kind: str
    """The platform's name for the message (``3505``, ``receiving``…)."""
    institution: str
    """Whose message it is (the 医保 fixmedins_code)."""
    body: dict[str, Any]
    """What is sent (for 医保 the ``input``; the envelope is added when sending)."""
    codes: tuple[str, ...] = ()
    """The trace codes it names: per code, messages go in log order."""
    missing: tuple[str, ...] = ()
    """Required fields not known yet (JSON pointers into ``body`` or field names)."""
    person: str | None = None
    """The patient's pseudonym whose personal fields are joined in when sending (they are
    never stored here: :mod:`ledger.settlement_persons`)."""
    lasting: bool = False
    """Owed whatever becomes of the event that first owed it (master data an event made
    known: Beijing's drug and entity rows): a cancel of that event does not supersede it."""


@dataclass
class Message:
    """A stored outbox message."""

    seq: int
    platform: str
    key: str
    kind: str
    institution: str
    msgid: str
    event: str
    recorded: str
    codes: list[str]
    body: dict[str, Any]
    person: str | None
    missing: list[str]
    state: str
    attempts: int = 0
    next_attempt: str | None = None
    error: str | None = None
    answer: dict[str, Any] | None = None
    sent_at: str | None = None
    acknowledged_at: str | None = None
    superseded_by: str | None = None
    batch: str | None = None

    @classmethod
    def of(cls, row: Any) -> Message:
        m = row._mapping
        return cls(
            seq=int(m["seq"]),
            platform=m["platform"],
            key=m["key"],
            kind=m["kind"],
            institution=m["institution"],
            msgid=m["msgid"],
            event=m["event"],
            recorded=m["recorded"],
            codes=json.loads(m["codes"]),
            body=json.loads(m["body"]),
            person=m["person"],
            missing=json.loads(m["missing"]),
            state=m["state"],
            attempts=int(m["attempts"]),
            next_attempt=m["next_attempt"],
            error=m["error"],
            answer=json.loads(m["answer"]) if m["answer"] else None,
            sent_at=m["sent_at"],
            acknowledged_at=m["acknowledged_at"],
            superseded_by=m["superseded_by"],
            batch=m["batch"],
        )

    def as_json(self, *, body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "platform": self.platform,
            "kind": self.kind,
            "msgid": self.msgid,
            "key": self.key,
            "institution": self.institution,
            "event": self.event,
            "recorded": self.recorded,
            "state": self.state,
            "missing": self.missing,
            "codes": self.codes,
            "attempts": self.attempts,
            "nextAttempt": self.next_attempt,
            "error": self.error,
            "answer": self.answer,
            "sentAt": self.sent_at,
            "acknowledgedAt": self.acknowledged_at,
            "supersededBy": self.superseded_by,
            "batch": self.batch,
        }
        if body:
            out["body"] = self.body
        return out


class Owes(Protocol):
    """One platform's rules: which messages an event owes, and how they are named."""

    platform: str
    id_digits: int
    """How many digits of sequence end a message id."""
    tables: tuple[Table, ...]
    """The platform's own state kept while deriving (:meth:`follow`), created with the
    outbox's tables."""

    def prepare(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        """Before :meth:`owed` is asked of ``batch``'s events: read once what changes
        rarely (master data) and what the batch's events need of the state
        :meth:`follow` keeps, so that a batch does not read them event by event."""
        ...

    def finish(self, conn: Connection) -> None:
        """After the batch: write what :meth:`follow` kept (same transaction)."""
        ...

    def owed(self, conn: Connection, stored: StoredEvent) -> list[Owed]:
        """The messages ``stored`` owes (none for an event declared in error). Reads only:
        also called again for an incomplete message, long after."""
        ...

    def follow(self, conn: Connection, stored: StoredEvent) -> None:
        """Keep what later events' messages need of ``stored`` (its codes' lots…), in the
        deriving transaction, after :meth:`owed`."""
        ...

    def id_stem(self, owed: Owed, recorded: datetime) -> str:
        """A message id without its sequence (for 医保 the institution and the second)."""
        ...

    def reversals(self, message: Message, declaration: StoredEvent) -> list[Owed]:
        """What undoes ``message`` (which the platform may have) once its event is
        declared in error (keys ending ``:reversal…``); none when the platform has
        nothing for that."""
        ...

    def batch_kind(self, kind: str) -> str | None:
        """The batch variant messages of ``kind`` may travel in (``3505`` → ``3505A``);
        None: always one by one."""
        ...

    def combine(self, members: Sequence[Message]) -> Owed:
        """One batch message carrying ``members`` (same institution and kind, log
        order) as its rows."""
        ...


def create_tables(runner: ReadModelRunner, owes: Sequence[Owes] = ()) -> None:
    tables = [messages, leases, *(t for o in owes for t in o.tables)]
    with runner.transaction() as conn:
        for table in tables:
            table.create(conn, checkfirst=True)


class Outbox:
    """The read model deriving every platform's messages (see the module)."""

    name = "outbox"
    tables: tuple[Table, ...] = ()
    """None of the views': a rebuild must not drop the messages (see the module)."""

    def __init__(self, owes: Sequence[Owes]) -> None:
        self.owes = list(owes)

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        """Derive ``batch``'s messages: owed event by event (each platform keeping what
        later events need, :meth:`Owes.follow`), stored a few statements a batch (those
        whose key is stored already are left as they are), a declaration handled once
        what came before it is stored."""
        ids = _Ids(conn)
        for owes in self.owes:
            owes.prepare(conn, batch)
        staged: list[_Staged] = []
        for stored in batch:
            if "errorDeclaration" in stored.event:
                self._store(conn, ids, staged)
                staged = []
                self._declared(conn, ids, stored)
                continue
            place = 0
            for owes in self.owes:
                for owed in owes.owed(conn, stored):
                    staged.append(_Staged(owes, owed, stored, place))
                    place += 1
                owes.follow(conn, stored)
        self._store(conn, ids, staged)
        for owes in self.owes:
            owes.finish(conn)

    def _store(self, conn: Connection, ids: _Ids, staged: Sequence[_Staged]) -> None:
        """Insert the staged messages not stored yet, giving each its id in log order (a
        message's ``seq`` is its event's place, however many were stored before)."""
        if not staged:
            return
        keys: dict[str, list[str]] = {}
        for item in staged:
            keys.setdefault(item.owes.platform, []).append(item.owed.key)
        stored_keys: set[tuple[str, str]] = set()
        for platform, named in keys.items():
            for start in range(0, len(named), 500):
                chunk = named[start : start + 500]
                found = conn.execute(
                    select(messages.c.key).where(
                        messages.c.platform == platform, messages.c.key.in_(chunk)
                    )
                ).scalars()
                stored_keys |= {(platform, key) for key in found}
        rows = []
        for item in staged:
            owes, owed, stored = item.owes, item.owed, item.stored
            if item.place >= BATCH_PLACE:
                raise ValueError(f"event {stored.event_id} owes more than {BATCH_PLACE} messages")
            if (owes.platform, owed.key) in stored_keys:
                continue
            stored_keys.add((owes.platform, owed.key))  # owed twice in a batch: the first
            rows.append(
                {
                    "seq": stored.notification_id * PER_EVENT + item.place,
                    "platform": owes.platform,
                    "key": owed.key,
                    "kind": owed.kind,
                    "institution": owed.institution,
                    "msgid": ids.next(owes, owed, moment(stored.record_time)),
                    "event": stored.event_id,
                    "recorded": stored.record_time,
                    "happened": _happened(stored),
                    "place": _place(stored),
                    "codes": json.dumps(list(owed.codes)),
                    "body": _dumps(owed.body),
                    "person": owed.person,
                    "missing": json.dumps(list(owed.missing)),
                    "lasting": owed.lasting,
                    "state": INCOMPLETE if owed.missing else PENDING,
                    "attempts": 0,
                }
            )
        if rows:
            conn.execute(messages.insert(), rows)

    def _declared(self, conn: Connection, ids: _Ids, stored: StoredEvent) -> None:
        """``stored`` declares an earlier event in error: supersede its messages not sent,
        and owe the reversal of those the platform may have."""
        rows = conn.execute(
            select(messages)
            .where(
                messages.c.event == stored.event_id,
                messages.c.superseded_by.is_(None),
                messages.c.lasting.is_(False),
            )
            .order_by(messages.c.seq)
        ).all()
        place = 0
        reversals: list[_Staged] = []
        for row in rows:
            message = Message.of(row)
            if ":reversal" in message.key or message.key.startswith("batch:"):
                continue  # a reversal stays owed; a batch goes with its rows
            owes = next((o for o in self.owes if o.platform == message.platform), None)
            if owes is None:
                continue
            if not _maybe_taken(message) and message.batch is None:
                conn.execute(
                    update(messages)
                    .where(messages.c.seq == message.seq)
                    .values(state=SUPERSEDED, superseded_by=stored.hash_id)
                )
                continue
            for reversal in owes.reversals(message, stored):
                reversals.append(_Staged(owes, reversal, stored, place))
                place += 1
            conn.execute(
                update(messages)
                .where(messages.c.seq == message.seq)
                .values(superseded_by=stored.hash_id)
            )
        self._store(conn, ids, reversals)


@dataclass(frozen=True)
class _Staged:
    """A message owed, not stored yet: by whom, what, for which event, at which place."""

    owes: Owes
    owed: Owed
    stored: StoredEvent
    place: int


class _Ids:
    """Message ids in log order: the platform's stem, then the next free sequence number
    of that stem (a stem whose numbers are used up moves on a second)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.last: dict[tuple[str, str], int] = {}

    def next(self, owes: Owes, owed: Owed, recorded: datetime) -> str:
        top = 10**owes.id_digits
        for later in range(0, 3600):
            stem = owes.id_stem(owed, recorded + timedelta(seconds=later))
            used = self._last(owes.platform, stem, owes.id_digits)
            if used + 1 < top:
                self.last[(owes.platform, stem)] = used + 1
                return f"{stem}{used + 1:0{owes.id_digits}d}"
        raise ValueError(f"no free message id for {owed.key}")

    def _last(self, platform: str, stem: str, digits: int) -> int:
        if (platform, stem) in self.last:
            return self.last[(platform, stem)]
        pattern = stem.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        highest = self.conn.execute(
            select(func.max(messages.c.msgid)).where(
                messages.c.platform == platform,
                messages.c.msgid.like(pattern + "%", escape="\\"),
                func.length(messages.c.msgid) == len(stem) + digits,
            )
        ).scalar()
        if highest is None:
            return -1
        return int(str(highest)[len(stem) :])


# -- delivering ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What a platform answered: taken (or taken before), or refused with its error."""

    taken: bool
    answer: dict[str, Any] | None = None
    error: str | None = None


class Unreachable(Exception):
    """The platform could not be reached or did not answer (the message may have arrived:
    it is sent again with the same id)."""


class Transport(Protocol):
    """How one platform is spoken to."""

    def configured(self) -> bool:
        """Whether there is somewhere to send to (the messages wait until there is)."""
        ...

    def send(self, message: Message) -> Reply:
        """Send one message (raises :class:`Unreachable`)."""
        ...

    def close(self) -> None: ...


class OutboxDelivery:
    """Delivers one platform's open messages (see the module); an
    :class:`~projections.outbound.Outbound`."""

    def __init__(
        self,
        runner: ReadModelRunner,
        owes: Owes,
        transport: Transport,
        *,
        window: int = 1000,
        base_backoff: float = 1.0,
        max_backoff: float = 300.0,
        refresh_every: float = 5.0,
        lease_seconds: float = 30.0,
        batch_size: int = 0,
        batch_delay: float = 5.0,
        chunk: int = 50,
        event_of: Callable[[str], StoredEvent | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = f"outbox-{owes.platform}"
        self.runner = runner
        self.owes = owes
        self.transport = transport
        self.window = window
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.refresh_every = refresh_every
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self.batch_delay = batch_delay
        self.chunk = chunk
        """Messages marked ``sent`` together, and their outcomes written together."""
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.event_of = event_of
        self.clock = clock
        self._refreshed: datetime | None = None
        self._refreshed_after = -1
        self._closed = threading.Event()
        create_tables(runner, [owes])

    def close(self) -> None:
        self._closed.set()
        try:
            self.release()
        except Exception:  # closing after the store went away: the lease runs out
            log.warning("%s: lease not released", self.name)
        self.transport.close()

    def deliver(self) -> int:
        """One round: refresh the incomplete messages when due, then send what may go;
        how many the platform took."""
        now = self.clock()
        if not self.transport.configured() or not self._lease(now):
            return 0
        if self._refreshed is None or now - self._refreshed >= timedelta(
            seconds=self.refresh_every
        ):
            self.refresh()
            self._refreshed = now
        waiting = self._batch(now) if self.batch_size > 1 else set()
        taken = 0
        blocked: set[str] = set()
        chunk: list[Message] = []
        for message in self._open():
            codes = set(message.codes)
            held = message.state == INCOMPLETE or message.seq in waiting
            if codes & blocked or held or not _due(message, now):
                blocked |= codes
                continue
            chunk.append(message)
            if len(chunk) == self.chunk:
                done, reachable, failed = self._send_chunk(chunk, now)
                taken += done
                blocked |= failed
                chunk = []
                if not reachable or self._closed.is_set():
                    return taken  # the rest waits for the next round
        if chunk:
            taken += self._send_chunk(chunk, now)[0]
        return taken

    def _send_chunk(self, chunk: Sequence[Message], now: datetime) -> tuple[int, bool, set[str]]:
        """Send messages in log order: all marked ``sent`` in one commit before the first
        goes (after a crash each is sent again with its id), the outcomes written in one
        commit after the last. A refusal holds back the chunk's later messages of its
        codes; an unreachable platform stops the chunk. Those not sent are put back as
        they were. How many were taken, whether the platform could be reached, and the
        codes whose messages did not go."""
        blocked: set[str] = set()
        sent_at = utc_text(now)
        with self.runner.transaction() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.seq.in_([m.seq for m in chunk]))
                .values(state=SENT, attempts=messages.c.attempts + 1, sent_at=sent_at)
            )
        outcomes: list[tuple[Message, Reply | Unreachable | None]] = []
        reachable = True
        for message in chunk:
            codes = set(message.codes)
            if not reachable or self._closed.is_set() or codes & blocked:
                blocked |= codes
                outcomes.append((message, None))  # not sent: put back
                continue
            try:
                reply: Reply | Unreachable = self.transport.send(message)
            except Unreachable as exc:
                reply, reachable = exc, False
                log.warning("%s: %s not delivered: %s", self.name, message.msgid, exc)
            if not (isinstance(reply, Reply) and reply.taken):
                blocked |= codes
                if isinstance(reply, Reply):
                    log.warning("%s: %s refused: %s", self.name, message.msgid, reply.error)
            outcomes.append((message, reply))
        taken = 0
        with self.runner.transaction() as conn:
            for message, outcome in outcomes:
                taken += self._record(conn, message, outcome, now)
        return taken, reachable, blocked

    def _record(
        self,
        conn: Connection,
        message: Message,
        outcome: Reply | Unreachable | None,
        now: datetime,
    ) -> bool:
        """Write what became of one message of a chunk; whether it was taken."""
        this = update(messages).where(messages.c.seq == message.seq)
        if outcome is None:  # never sent
            put_back = {"state": message.state, "attempts": message.attempts}
            conn.execute(this.values(**put_back, sent_at=message.sent_at))
            return False
        if isinstance(outcome, Reply) and outcome.taken:
            done = utc_text(self.clock())
            answer = _dumps(outcome.answer) if outcome.answer is not None else None
            conn.execute(
                this.values(
                    state=ACKNOWLEDGED,
                    acknowledged_at=done,
                    answer=answer,
                    error=None,
                    next_attempt=None,
                )
            )
            conn.execute(  # a batch's rows are taken with it
                update(messages)
                .where(
                    messages.c.platform == self.owes.platform,
                    messages.c.batch == message.msgid,
                    messages.c.state == BATCHED,
                )
                .values(state=ACKNOWLEDGED, acknowledged_at=done)
            )
            return True
        pause = min(self.max_backoff, self.base_backoff * 2.0**message.attempts)
        pause *= random.uniform(0.5, 1.0)
        kept: dict[str, Any] | None = None
        if isinstance(outcome, Unreachable):
            state, error = PENDING, str(outcome)
        else:
            state, error, kept = FAILED, outcome.error or "refused", outcome.answer
        conn.execute(
            this.values(
                state=state,
                error=error[:2000],
                answer=_dumps(kept) if kept is not None else None,
                next_attempt=utc_text(now + timedelta(seconds=pause)),
            )
        )
        return False

    def _batch(self, now: datetime) -> set[int]:
        """Put pending messages that may travel together into batch messages (the A
        variants), stored before anything is sent so that a batch keeps its id: up to
        :attr:`batch_size` of one institution and kind, in log order, once that many wait
        or the oldest has waited :attr:`batch_delay` seconds. A message joins only when no
        earlier open message outside its batch names one of its codes (per code, log order
        holds); one left alone after the delay goes by itself. The messages still waiting
        for others (their ``seq``)."""
        groups: dict[tuple[str, str], list[Message]] = {}
        outside: dict[tuple[str, str], set[str]] = {}
        full: list[list[Message]] = []
        earlier: set[str] = set()
        for message in self._open():
            codes = set(message.codes)
            group = (message.institution, message.kind)
            joins = (
                message.state == PENDING
                and message.attempts == 0
                and message.batch is None
                and self.owes.batch_kind(message.kind) is not None
                and not codes & outside.get(group, earlier)
            )
            if joins:
                if group not in groups:
                    groups[group], outside[group] = [], set(earlier)
                groups[group].append(message)
                if len(groups[group]) == self.batch_size:
                    full.append(groups.pop(group))
                    outside.pop(group)
            for other, seen in outside.items():
                if other != group or not joins:
                    seen |= codes
            earlier |= codes
        waiting: set[int] = set()
        for members in full:
            self._seal(members)
        for members in groups.values():
            waited = (now - moment(members[0].recorded)).total_seconds()
            if waited < self.batch_delay:
                waiting |= {m.seq for m in members}  # wait for more
            elif len(members) > 1:
                self._seal(members)
        return waiting

    def _seal(self, members: Sequence[Message]) -> None:
        owed = self.owes.combine(members)
        first = members[0]
        with self.runner.transaction() as conn:
            msgid = _Ids(conn).next(self.owes, owed, self.clock())
            conn.execute(
                messages.insert().values(
                    seq=first.seq + BATCH_PLACE,
                    platform=self.owes.platform,
                    key=owed.key,
                    kind=owed.kind,
                    institution=owed.institution,
                    msgid=msgid,
                    event=first.event,
                    recorded=first.recorded,
                    codes=json.dumps(list(owed.codes)),
                    body=_dumps(owed.body),
                    person=None,
                    missing="[]",
                    lasting=False,
                    state=PENDING,
                    attempts=0,
                )
            )
            conn.execute(
                update(messages)
                .where(messages.c.seq.in_([m.seq for m in members]), messages.c.state == PENDING)
                .values(state=BATCHED, batch=msgid)
            )

    def _lease(self, now: datetime) -> bool:
        """Take or renew this platform's delivery lease; whether this process holds it."""
        until = utc_text(now + timedelta(seconds=self.lease_seconds))
        platform = self.owes.platform
        try:
            return self._take_lease(platform, until, now)
        except IntegrityError:  # another process made the row first: it holds the lease
            return False

    def _take_lease(self, platform: str, until: str, now: datetime) -> bool:
        with self.runner.transaction() as conn:
            row = conn.execute(
                select(leases).where(leases.c.platform == platform).with_for_update()
            ).first()
            if row is None:
                mine = {"platform": platform, "holder": self.holder, "until": until}
                conn.execute(leases.insert().values(**mine))
                return True
            if row.holder != self.holder and moment(row.until) > now:
                return False
            conn.execute(
                update(leases)
                .where(leases.c.platform == platform)
                .values(holder=self.holder, until=until)
            )
        return True

    def release(self) -> None:
        """Give the lease up (on a clean stop), so another process takes over at once."""
        with self.runner.transaction() as conn:
            conn.execute(
                leases.delete().where(
                    leases.c.platform == self.owes.platform, leases.c.holder == self.holder
                )
            )

    def _open(self) -> Iterator[Message]:
        """Every open message of the platform in log order, a page of :attr:`window` at a
        time (messages that wait for long, incomplete ones, never hide the later ones)."""
        after = -1
        while True:
            with self.runner.connect() as conn:
                rows = conn.execute(
                    select(messages)
                    .where(
                        messages.c.platform == self.owes.platform,
                        messages.c.state.in_(OPEN),
                        messages.c.seq > after,
                    )
                    .order_by(messages.c.seq)
                    .limit(self.window)
                ).all()
            yield from (Message.of(row) for row in rows)
            if len(rows) < self.window:
                return
            after = int(rows[-1].seq)

    def refresh(self) -> int:
        """Build the incomplete messages again from their events (a settlement or master
        data may have arrived since); how many became complete."""
        if self.event_of is None:
            return 0
        with self.runner.connect() as conn:
            waiting = (messages.c.platform == self.owes.platform, messages.c.state == INCOMPLETE)
            rows = conn.execute(
                select(messages)
                .where(*waiting, messages.c.seq > self._refreshed_after)
                .order_by(messages.c.seq)
                .limit(self.window)
            ).all()
        # a window a round, going round: the newest wait their turn, none is left out
        self._refreshed_after = int(rows[-1].seq) if len(rows) == self.window else -1
        completed = 0
        for row in rows:
            message = Message.of(row)
            stored = self.event_of(message.event)
            if stored is None:
                continue
            with self.runner.connect() as conn:
                self.owes.prepare(conn, [stored])
                owed = self.owes.owed(conn, stored)
            again = next((o for o in owed if o.key == message.key), None)
            if again is None:
                continue
            values: dict[str, Any] = {
                "body": _dumps(again.body),
                "missing": json.dumps(list(again.missing)),
                "codes": json.dumps(list(again.codes)),
                "person": again.person,
            }
            if not again.missing:
                values["state"] = PENDING
                completed += 1
            with self.runner.transaction() as conn:
                conn.execute(
                    update(messages)
                    .where(messages.c.seq == message.seq, messages.c.state == INCOMPLETE)
                    .values(**values)
                )
        return completed


# -- operators' queries -----------------------------------------------------------------


def listed(
    runner: ReadModelRunner,
    *,
    platform: str | None = None,
    state: str | None = None,
    institutions: Iterable[str] | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[Message]:
    """Messages in log order, optionally of one platform / state / institutions."""
    query = select(messages).where(messages.c.seq > after)
    if platform:
        query = query.where(messages.c.platform == platform)
    if state:
        query = query.where(messages.c.state == state)
    if institutions is not None:
        query = query.where(messages.c.institution.in_(list(institutions)))
    with runner.connect() as conn:
        rows = conn.execute(query.order_by(messages.c.seq).limit(limit)).all()
    return [Message.of(row) for row in rows]


def find(runner: ReadModelRunner, msgid: str) -> Message | None:
    """A message by its id (any platform)."""
    with runner.connect() as conn:
        row = conn.execute(select(messages).where(messages.c.msgid == msgid)).first()
    return Message.of(row) if row is not None else None


def retry(
    runner: ReadModelRunner,
    msgids: Sequence[str] = (),
    platform: str | None = None,
    institution: str | None = None,
) -> int:
    """Make failed or waiting messages due now (the given ones, else every failed one of
    ``platform`` or of all; of ``institution`` when given); how many."""
    query = update(messages).where(messages.c.state.in_((FAILED, PENDING, SENT)))
    if institution is not None:
        query = query.where(messages.c.institution == institution)
    if msgids:
        query = query.where(messages.c.msgid.in_(list(msgids)))
    else:
        query = query.where(messages.c.state == FAILED)
        if platform:
            query = query.where(messages.c.platform == platform)
    with runner.transaction() as conn:
        moved = conn.execute(query.values(next_attempt=None))
    return int(moved.rowcount or 0)


def counts(
    runner: ReadModelRunner, institutions: Iterable[str] | None = None
) -> dict[str, dict[str, int]]:
    """Messages per platform and state (of ``institutions`` when given)."""
    query = select(messages.c.platform, messages.c.state, func.count())
    if institutions is not None:
        query = query.where(messages.c.institution.in_(list(institutions)))
    with runner.connect() as conn:
        rows = conn.execute(query.group_by(messages.c.platform, messages.c.state)).all()
    out: dict[str, dict[str, int]] = {}
    for platform, state, count in rows:
        out.setdefault(platform, {})[state] = int(count)
    return out


def uploads(
    runner: ReadModelRunner, scope: str | None = None, platform: str = "nhsa"
) -> list[Upload]:
    """The messages owed to ``platform`` (superseded ones aside, reversals too: they are
    corrections, not scans' uploads) for the data-quality figures
    (:func:`ledger.quality.quality`)."""
    query = select(
        messages.c.institution,
        messages.c.place,
        messages.c.happened,
        messages.c.recorded,
        messages.c.acknowledged_at,
    ).where(
        messages.c.platform == platform,
        messages.c.state != SUPERSEDED,
        messages.c.key.not_like("%:reversal%"),
        messages.c.key.not_like("batch:%"),
    )
    if scope is not None:
        query = query.where(messages.c.institution == scope)
    with runner.connect() as conn:
        if not inspect(conn).has_table(messages.name):
            return []  # no outbox yet: nothing owed
        rows = conn.execute(query).all()
    return [
        Upload(
            institution,
            place or "",
            moment(happened or recorded),
            moment(acknowledged) if acknowledged else None,
        )
        for institution, place, happened, recorded, acknowledged in rows
    ]


def _happened(stored: StoredEvent) -> str | None:
    value = stored.event.get("eventTime")
    if not isinstance(value, str):
        return None
    try:
        return utc_text(value)
    except ValueError:
        return None


def _place(stored: StoredEvent) -> str | None:
    event = stored.event
    for key in ("bizLocation", "readPoint"):
        value = event.get(key)
        uri = value.get("id") if isinstance(value, Mapping) else None
        found = parse_location_uri(uri) if isinstance(uri, str) else None
        if found is not None:
            return found[1][:200]
    return None


def _maybe_taken(message: Message) -> bool:
    """Whether the platform may have ``message``: sent or acknowledged, or waiting after a
    send whose answer never came (the platform may have committed it; a refusal, by
    contrast, says it did not)."""
    return message.state in (SENT, ACKNOWLEDGED) or (
        message.state == PENDING and message.attempts > 0
    )


def _due(message: Message, now: datetime) -> bool:
    return message.next_attempt is None or moment(message.next_attempt) <= now


def _dumps(value: Mapping[str, Any] | Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def outbox_runner(
    ledger: Ledger, owes: Sequence[Owes], *, batch_size: int = 1000
) -> ReadModelRunner:
    """The runner deriving the platforms' messages (tracking row :data:`RUNNER`), with the
    outbox's tables created."""
    runner = ReadModelRunner(
        ledger, name=RUNNER, projections=[Outbox(owes)], batch_size=batch_size, shares=False
    )
    create_tables(runner, owes)
    return runner
