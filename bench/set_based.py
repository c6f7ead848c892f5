"""The catch-up as set operations in PostgreSQL, measured beside the Python projection.

Issue 14 asks to measure the two ways of applying the log to the read models before
choosing: row by row in Python (:class:`projections.code_facts.CodeFacts`, what runs) or
as ``INSERT … SELECT`` over the batch's events and links. This module measures the second
over the same log: from the log's rows alone, with the JSON parsed by PostgreSQL, it
builds in five statements

1. ``events``: each stored event's fields;
2. ``facts``: one row per event and code it names (``epcList``, ``childEPCs``,
   ``parentID``), with the state the event puts the code in;
3. ``spans``: each packing of a code into a container, to the unpacking that ends it;
4. ``effective``: each code's own facts and those its containers passed on while it was
   inside (one level of containers: the bench stream packs boxes in cases);
5. ``state``: per code its state, hospital state, location, destination (each by the
   rules of :meth:`projections.code_status.Folding.add`), last event (Event Hash ID,
   eventTime, position), history (the positions of its effective facts in eventTime
   order) and parent now, from one sort of its effective facts;

each timed, then compares ``state`` with everyone's rows of ``view_code_state`` that the
Python projection wrote for that log (identifiers made canonical on the Python side,
outside the timing). It is a measurement, not a second projection: it leaves out what
the bench stream does not exercise (error declarations, nested containers, clears, the
institutions' rows, holder, order, holds, stock counts, the event index) and
the identifiers' canonical form (a real set-based projection would take both from the
capture, which already parses every identifier). What it leaves out adds to its time.

The states each fact puts a code in come from :func:`ledger.lifecycle.derive_state`
itself, for each distinct (type, action, bizStep, disposition, role) of the log, as a
small table, and so does the hospital state each leads to from each state before
(:func:`ledger.lifecycle.next_hospital_state`): the rules stay in Python; only the
volume goes to SQL. The hospital state is a fold (it depends on the state before), done
as an aggregate over those transitions (:data:`HOSPITAL_FOLD`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from epcis.identifiers.facts import canonical
from ledger.lifecycle import HospitalState, derive_state, next_hospital_state, word

PREFIX = "sb_"
"""The tables this measurement makes (unlogged, dropped first and after)."""

EVENTS = """
CREATE UNLOGGED TABLE sb_events AS
WITH parsed AS MATERIALIZED (  -- each record parsed once, not once per field read of it
  SELECT r->>'position' AS position, r->>'hash_id' AS hash_id, r->'event' AS e
  FROM (SELECT convert_from(state, 'UTF8')::jsonb AS r
        FROM tracecode_events WHERE topic = 'ledger.domain:EventRecord.Captured'
        OFFSET 0) AS s
)
SELECT position::bigint AS position,
       hash_id,
       e->>'type' AS type,
       e->>'action' AS action,
       to_char((e->>'eventTime')::timestamptz AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS event_time,
       e->>'bizStep' AS biz_step,  -- as stored: moves() reads their words
       e->>'disposition' AS disposition,
       e->'bizLocation'->>'id' AS biz_location,
       e->'destinationList'->0->>'destination' AS destination,
       e->>'parentID' AS parent,
       e->'epcList' AS epcs,
       e->'childEPCs' AS children
FROM parsed
"""

FACTS = """
CREATE UNLOGGED TABLE sb_facts AS
WITH named AS (
  SELECT ev.position, c.code, 'epc' AS role
  FROM sb_events ev, jsonb_array_elements_text(ev.epcs) AS c(code) WHERE ev.epcs IS NOT NULL
  UNION ALL
  SELECT ev.position, c.code, 'child'
  FROM sb_events ev, jsonb_array_elements_text(ev.children) AS c(code)
  WHERE ev.children IS NOT NULL
  UNION ALL
  SELECT ev.position, ev.parent, 'parent' FROM sb_events ev WHERE ev.parent IS NOT NULL
)
SELECT n.code, n.role, ev.position, ev.event_time, ev.hash_id, ev.type, ev.action,
       ev.biz_location, ev.destination, ev.parent, m.state, m.after
FROM named n
JOIN sb_events ev USING (position)
LEFT JOIN json_to_recordset(%(moves)s::json)
       AS m(type text, action text, biz_step text, disposition text, role text, state text,
            after int[])
  -- equalities (NULL as chr(1)), so that the join can hash
  ON m.type = ev.type AND m.role = n.role
 AND coalesce(m.action, chr(1)) = coalesce(ev.action, chr(1))
 AND coalesce(m.biz_step, chr(1)) = coalesce(ev.biz_step, chr(1))
 AND coalesce(m.disposition, chr(1)) = coalesce(ev.disposition, chr(1))
"""

SPANS = """
CREATE UNLOGGED TABLE sb_spans AS
SELECT parent, child, t0, p0, t1, p1 FROM (
  SELECT parent, code AS child, action, event_time AS t0, position AS p0,
         lead(event_time) OVER w AS t1, lead(position) OVER w AS p1
  FROM sb_facts WHERE role = 'child' AND type = 'AggregationEvent'
  WINDOW w AS (PARTITION BY parent, code ORDER BY event_time, position)
) AS links WHERE action IN ('ADD', 'OBSERVE')
"""

EFFECTIVE = """
CREATE UNLOGGED TABLE sb_effective AS
SELECT code, position, event_time, hash_id, biz_location, destination, state, after
FROM sb_facts
UNION ALL
SELECT s.child, f.position, f.event_time, f.hash_id, f.biz_location, f.destination, f.state,
       f.after
FROM sb_spans s
JOIN sb_facts f ON f.code = s.parent
 AND (f.event_time, f.position) > (s.t0, s.p0)
 AND (s.t1 IS NULL OR (f.event_time, f.position) < (s.t1, s.p1))
"""

STATE = """
CREATE UNLOGGED TABLE sb_state AS
WITH folded AS (  -- one sort: each code's facts in eventTime order, running values
  SELECT code, position, event_time, hash_id,
         lead(position) OVER w AS following,
         array_agg(state) FILTER (WHERE state IS NOT NULL) OVER w AS states,
         -- as projections.code_status.Folding.add: a location where given, none on the way
         array_agg(biz_location)
           FILTER (WHERE biz_location IS NOT NULL OR state = 'in_transit') OVER w AS locations,
         array_agg(destination)
           FILTER (WHERE destination IS NOT NULL OR state IS NOT NULL) OVER w AS destinations,
         string_agg(position::text, ' ') OVER w AS history,
         sb_hospital(after) OVER w AS hospital
  FROM sb_effective
  WINDOW w AS (PARTITION BY code ORDER BY event_time, position)
), inside AS (
  SELECT DISTINCT ON (child) child, parent FROM sb_spans WHERE t1 IS NULL
  ORDER BY child, t0 DESC, p0 DESC
)
SELECT f.code,
       f.states[array_upper(f.states, 1)] AS state,
       (%(hospital_states)s::text[])[f.hospital] AS hospital_state,
       f.locations[array_upper(f.locations, 1)] AS location,
       f.destinations[array_upper(f.destinations, 1)] AS destination,
       f.hash_id AS last_event,
       f.event_time AS last_event_time,
       f.position AS last_position,
       f.history,
       i.parent
FROM folded f LEFT JOIN inside i ON i.child = f.code
WHERE f.following IS NULL  -- the last fact of each code
"""

SESSION = ("SET jit = off", "SET work_mem = '256MB'")
"""A batch job's settings: no JIT (compiling took 0.5 s of one 1.9 s statement at 100,000
events, planned with row estimates 10,000x off before each step ended with an ANALYZE),
and sorts in memory where they fit. Whole runs at 100,000 events were within the noise
with and without them (10.3-10.6 s against 9.7-11.5 s)."""

HOSPITAL_STATES = list(HospitalState)
"""The hospital states, numbered from 1 in this order (SQL arrays begin at 1)."""

HOSPITAL_FOLD = (
    # one step of the fold: the state after a fact is its transition's entry for the
    # state before (a fact's transition: the next state from each state, in Python's words)
    "CREATE FUNCTION sb_hospital_step(int, int[]) RETURNS int"
    " LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($2[$1], $1)'",
    "CREATE AGGREGATE sb_hospital(int[]) (SFUNC = sb_hospital_step, STYPE = int,"
    f" INITCOND = '{HOSPITAL_STATES.index(HospitalState.NOT_RECEIVED) + 1}')",
)
"""The hospital state as an aggregate: a fact's transition is a function of the state
before (:func:`ledger.lifecycle.next_hospital_state`), given as an array over every state,
so the fold is a running aggregate in eventTime order like the others."""

STEPS = (
    ("events", EVENTS, ()),
    ("facts", FACTS, ("events",)),
    ("spans", SPANS, ()),
    ("effective", EFFECTIVE, ("facts",)),
    ("state", STATE, ("effective", "spans")),
)
"""Each step: its name, its statement, and the tables no later step reads (dropped after
it, so that a 10,000,000-event log needs about half the disk it would)."""
COMPARED = (
    "state",
    "hospital_state",
    "location",
    "destination",
    "last_event",
    "last_position",
    "history",
    "parent",
)


@dataclass
class SetBased:
    """What the set-based catch-up did over one log, step by step."""

    events: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    codes: int = 0
    compared: int = 0
    differing: dict[str, int] = field(default_factory=dict)
    example: str = ""

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    @property
    def events_per_s(self) -> float:
        return self.events / self.total_s if self.total_s else 0.0

    def line(self) -> str:
        steps = ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())
        same = (
            "every compared column equal"
            if not any(self.differing.values())
            else "differing: "
            + ", ".join(f"{k} {v:,}" for k, v in self.differing.items() if v)
            + (f" (e.g. {self.example})" if self.example else "")
        )
        against = (
            f"{self.compared:,} of {self.codes:,} codes, {same}"
            if self.compared
            else "not compared (views not projected to the end)"
        )
        return (
            f"set-based catch-up in PostgreSQL: {self.events:,} events in {self.total_s:.1f} s "
            f"= {self.events_per_s:,.0f} events/s ({steps}); against view_code_state: {against}"
        )


def moves(conn: psycopg.Connection[Any]) -> str:
    """The state each distinct kind of fact in the log (its CBV values as stored, read
    as words by :func:`ledger.lifecycle.word` as the projection does) puts a code in
    (:func:`ledger.lifecycle.derive_state`) and the hospital state it leads to from each
    (:func:`ledger.lifecycle.next_hospital_state`; None: no change), as JSON rows for
    :data:`FACTS`."""
    kinds = conn.execute(
        "SELECT DISTINCT type, action, biz_step, disposition FROM sb_events"
    ).fetchall()
    return json.dumps(
        [
            {
                "type": t,
                "action": a,
                "biz_step": b,
                "disposition": d,
                "role": role,
                "state": (state := derive_state(t, a, word(b), word(d), role)),
                "after": None if state is None else _transition(state, word(b), a),
            }
            for t, a, b, d in kinds
            for role in ("epc", "child", "parent")
        ]
    )


def _transition(state: str, biz_step: str | None, action: str | None) -> list[int]:
    """The hospital state after a fact of ``state`` from each state before, numbered."""
    return [
        HOSPITAL_STATES.index(next_hospital_state(before, state, biz_step, action)) + 1
        for before in HOSPITAL_STATES
    ]


@contextmanager
def _timed(result: SetBased, name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    result.seconds[name] = time.perf_counter() - started


def drop(conn: psycopg.Connection[Any]) -> None:
    for name in ("state", "effective", "spans", "facts", "events"):
        conn.execute(f"DROP TABLE IF EXISTS {PREFIX}{name}")
    conn.execute("DROP AGGREGATE IF EXISTS sb_hospital(int[])")
    conn.execute("DROP FUNCTION IF EXISTS sb_hospital_step(int, int[])")


def measure(url: str, compare: bool = True) -> SetBased:
    """Run the five steps over the log at ``url`` (a bench stream, its views projected by
    Python if ``compare``), each timed, then compare (untimed) and drop the tables."""
    result = SetBased()
    with psycopg.connect(url, autocommit=True) as conn:
        drop(conn)
        for setting in SESSION:
            conn.execute(setting)
        try:
            for statement in HOSPITAL_FOLD:
                conn.execute(statement)
            for name, sql, done in STEPS:
                with _timed(result, name):
                    conn.execute(sql, _parameters(conn, name))
                    conn.execute(f"ANALYZE {PREFIX}{name}")  # the next step's plan
                counted = conn.execute(f"SELECT count(*) FROM {PREFIX}{name}").fetchone()
                result.rows[name] = counted[0] if counted else 0
                for table in done:
                    conn.execute(f"DROP TABLE {PREFIX}{table}")
            result.events = result.rows["events"]
            result.codes = result.rows["state"]
            if compare:
                _compare(conn, result)
        finally:
            drop(conn)
    return result


def _parameters(conn: psycopg.Connection[Any], step: str) -> dict[str, Any] | None:
    if step == "facts":
        return {"moves": moves(conn)}
    if step == "state":
        return {"hospital_states": [h.value for h in HOSPITAL_STATES]}
    return None


def _canonical(value: str | None) -> str | None:
    return None if value is None else canonical(value)


def _compare(conn: psycopg.Connection[Any], result: SetBased) -> None:
    kept = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT code, " + ", ".join(f'"{c}"' for c in COMPARED) + " FROM view_code_state "
            "WHERE scope = ''"
        )
    }
    result.differing = dict.fromkeys(COMPARED, 0)
    cols = ", ".join(COMPARED)
    for row in conn.execute(f"SELECT code, {cols} FROM sb_state"):
        code = canonical(row[0])
        mine = dict(zip(COMPARED, row[1:], strict=True))
        for key in ("location", "destination", "parent"):
            mine[key] = _canonical(mine[key])
        theirs = kept.get(code)
        if theirs is None:
            continue
        result.compared += 1
        for name, value in zip(COMPARED, theirs, strict=True):
            if mine[name] != value:
                result.differing[name] += 1
                if not result.example:
                    result.example = f"{code} {name}: {mine[name]!r} here, {value!r} kept"
