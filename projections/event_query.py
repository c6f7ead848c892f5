"""Running an EPCIS query over the event index, a page at a time.

SQL narrows (:func:`_narrowing`: the indexed columns, and ``view_event_epcs`` for
``MATCH_*``); :func:`epcis.query.matches` decides on each candidate. Candidates come in
the query's order — ``eventTime`` or ``recordTime`` (``orderBy``, ``DESC`` unless
``orderDirection=ASC``), else log order — with the log position breaking ties, in chunks,
so a page costs what it returns plus what the filter skips.

Paging is keyset paging over a snapshot: the first page fixes ``upto`` (the last log
position then indexed) and every later page continues after the last event returned, up
to that position, so events captured while a client pages do not shift or duplicate what
it sees. The token carries the query's fingerprint: a token used with a different query
is refused. Ordering by an extension field sorts the matches in Python (events without
the field last) and pages by offset.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select, true

from epcis.identifiers import gs1_check_digit
from epcis.query import Condition, Query, QueryParameterError, QueryTooLargeError, matches
from epcis.query.params import MATCH_FIELDS
from epcis.query.patterns import PATTERN_PREFIX, identity, parse_pattern
from epcis.query.predicate import expand
from projections.event_index import ROLES, event_epcs, events
from projections.schema import KEY_PREFIX_BYTES, keyed, keyed_in, utc_text, visible_to

CHUNK = 500
MAX_PER_PAGE = 10_000

Found = tuple[dict[str, Any], dict[str, str]]
"""An event as EPCIS shows it, and its namespace prefixes."""


@dataclass(frozen=True)
class Page:
    events: list[Found]
    next_token: str | None


def fingerprint(query: Query) -> str:
    """What a paging token is bound to: the query as asked (conditions resolved from master
    data by their parameters, so that a change of master data between pages does not
    void the token; each page reads the master data as it then is)."""
    return hashlib.sha256(repr(query.as_asked()).encode()).hexdigest()[:16]


def search(
    conn: Connection,
    query: Query,
    *,
    per_page: int,
    token: str | None = None,
    scope: str | None = None,
) -> Page:
    """One page of the events matching ``query`` (of the institution ``scope``, or of all
    when None); raises QueryParameterError for a bad token and QueryTooLargeError when
    ``maxEventCount`` is exceeded."""
    if per_page < 1 or per_page > MAX_PER_PAGE:
        raise QueryParameterError("perPage", f"must be between 1 and {MAX_PER_PAGE}")
    state = _read_token(token, query) if token else None
    if state is None:
        upto = int(
            conn.execute(select(func.coalesce(func.max(events.c.position), 0))).scalar() or 0
        )
        if query.max_event_count is not None:
            for seen, _ in enumerate(_matching(conn, query, upto, None, scope), start=1):
                if seen > query.max_event_count:
                    raise QueryTooLargeError(query.max_event_count)
        state = {"u": upto, "n": 0}
    want = per_page
    if query.event_count_limit is not None:
        want = min(want, query.event_count_limit - int(state["n"]))
    if want <= 0:
        return Page([], None)
    if query.order_by not in (None, "eventTime", "recordTime"):
        return _by_extension(conn, query, state, want, scope)
    after = (state["k"], state["p"]) if "p" in state else None
    found: list[tuple[tuple[str, int], Found]] = []
    for key, item in _matching(conn, query, int(state["u"]), after, scope):
        found.append((key, item))
        if len(found) > want:  # one more than the page: there is a next page
            break
    more = len(found) > want
    page = found[:want]
    if query.event_count_limit is not None and int(state["n"]) + len(page) >= (
        query.event_count_limit
    ):
        more = False
    next_token = None
    if more and page:
        last = page[-1][0]
        next_token = _token(
            query, {"u": state["u"], "n": int(state["n"]) + len(page), "k": last[0], "p": last[1]}
        )
    return Page([item for _, item in page], next_token)


def _by_extension(
    conn: Connection, query: Query, state: dict[str, Any], want: int, scope: str | None
) -> Page:
    field = query.order_by or ""
    found = [item for _, item in _matching(conn, query, int(state["u"]), None, scope)]

    def key(item: Found) -> tuple[int, Any]:
        event, namespaces = item
        want_iri = expand(field, query.namespaces, namespaces)
        for name, value in event.items():
            if ":" in name and expand(name, namespaces, namespaces) == want_iri:
                return (0, _sortable(value))
        return (1, "")

    with_field = [i for i in found if key(i)[0] == 0]
    without = [i for i in found if key(i)[0] == 1]
    with_field.sort(key=lambda i: key(i)[1], reverse=query.order_direction == "DESC")
    ordered = with_field + without
    if query.event_count_limit is not None:
        ordered = ordered[: query.event_count_limit]
    offset = int(state.get("o", 0))
    page = ordered[offset : offset + want]
    more = offset + want < len(ordered)
    next_token = (
        _token(query, {"u": state["u"], "n": offset + want, "o": offset + want}) if more else None
    )
    return Page(page, next_token)


def _sortable(value: Any) -> Any:
    """Numbers as numbers, times as instants, anything else as text; mixed kinds order by
    kind first so that sorting never compares a number with a string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    text = str(value.get("#text", "")) if isinstance(value, dict) else str(value)
    try:
        return (0, float(text), "")
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            return (1, moment.timestamp(), "")
    except ValueError:
        pass
    return (2, 0.0, text)


def _matching(
    conn: Connection,
    query: Query,
    upto: int,
    after: tuple[str, int] | None,
    scope: str | None = None,
) -> Iterator[tuple[tuple[str, int], Found]]:
    """Every matching event up to log position ``upto``, in the query's order, after the
    cursor ``after`` (key, position)."""
    column = {"eventTime": events.c.event_time, "recordTime": events.c.record_time}.get(
        query.order_by or "", events.c.position
    )
    descending = query.order_by in ("eventTime", "recordTime") and query.order_direction == "DESC"
    narrowing = and_(events.c.position <= upto, *_narrowing(query, scope))
    while True:
        condition = narrowing
        if after is not None:
            key, position = after
            if column is events.c.position:
                condition = and_(condition, events.c.position > position)
            elif descending:
                condition = and_(
                    condition,
                    or_(column < key, and_(column == key, events.c.position < position)),
                )
            else:
                condition = and_(
                    condition,
                    or_(column > key, and_(column == key, events.c.position > position)),
                )
        order = (
            (column.desc(), events.c.position.desc())
            if descending
            else (column.asc(), events.c.position.asc())
        )
        rows = conn.execute(
            select(column.label("key"), events.c.position, events.c.body)
            .where(condition)
            .order_by(*order)
            .limit(CHUNK)
        ).all()
        for row in rows:
            after = (str(row.key), int(row.position))
            body = json.loads(row.body)
            if matches(query, body["event"], body["namespaces"]):
                yield after, (body["event"], body["namespaces"])
        if len(rows) < CHUNK:
            return


def events_after(
    conn: Connection, query: Query, after: int, *, limit: int = CHUNK, scope: str | None = None
) -> tuple[list[tuple[int, Found]], int]:
    """Matching events after log position ``after``, in log order (for subscriptions): up
    to ``limit`` candidates are read; returns the matches with their positions and the
    position read up to (resume from there, whether or not anything matched)."""
    rows = conn.execute(
        select(events.c.position, events.c.body)
        .where(events.c.position > after, *_narrowing(query, scope))
        .order_by(events.c.position)
        .limit(limit)
    ).all()
    found: list[tuple[int, Found]] = []
    for row in rows:
        body = json.loads(row.body)
        if matches(query, body["event"], body["namespaces"]):
            found.append((int(row.position), (body["event"], body["namespaces"])))
    return found, int(rows[-1].position) if rows else after


# -- narrowing in SQL (a superset of the answer) ------------------------------------------

_COLUMNS = {
    "action": events.c.action,
    "bizStep": events.c.biz_step,
    "disposition": events.c.disposition,
    "eventID": events.c.event_id,
    "readPoint.id": events.c.read_point,
    "bizLocation.id": events.c.biz_location,
}


_KEYED = {"bizStep", "eventID", "readPoint.id", "bizLocation.id"}


def _narrowing(query: Query, scope: str | None = None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if scope is not None:
        out.append(visible_to(events, scope))
    for c in query.conditions:
        if c.kind == "eventType":
            out.append(events.c.event_type.in_(c.values))
        elif c.kind == "value" and c.field in _COLUMNS:
            values = [identity(v) for v in c.values] if c.field.endswith(".id") else list(c.values)
            column = _COLUMNS[c.field]
            out.append(keyed_in(column, values) if c.field in _KEYED else column.in_(values))
        elif c.kind == "time" and c.field in ("eventTime", "recordTime"):
            column = events.c.event_time if c.field == "eventTime" else events.c.record_time
            bound = utc_text(c.values[0])
            # LT as <=: the stored text keeps microseconds; the predicate decides the edge
            out.append(column >= bound if c.op == "GE" else column <= bound)
        elif _needs_declaration(c):
            out.append(events.c.error_declared == true())
        elif c.kind == "match":
            found = _epc_narrowing(c.field, c.values)
            if found is not None:
                out.append(found)
    return out


def _needs_declaration(c: Condition) -> bool:
    if c.kind == "exists_error":
        return bool(c.values[0])
    return c.kind in ("value", "time") and c.field.startswith("errorDeclaration.")


def _epc_narrowing(parameter: str, values: tuple[Any, ...]) -> ColumnElement[bool] | None:
    roles = [ROLES[field] for field in MATCH_FIELDS[parameter]]
    exact: list[str] = []
    prefixes: list[str] = []
    for value in values:
        if value.startswith(PATTERN_PREFIX) and "*" in value:
            prefix = _gtin_prefix(value)
            if prefix is None or len(prefix.encode()) > KEY_PREFIX_BYTES:
                return None  # a pattern SQL cannot narrow: the predicate reads every event
            prefixes.append(prefix)
        else:
            exact.append(identity(value))
    alternatives: list[ColumnElement[bool]] = []
    if exact:
        alternatives.append(keyed_in(event_epcs.c.value, exact))
    # a key begins with the value's first KEY_PREFIX_BYTES bytes: LIKE on it is exact
    alternatives.extend(keyed(event_epcs.c.value).like(p + "%", escape="\\") for p in prefixes)
    return exists().where(
        event_epcs.c.position == events.c.position,
        event_epcs.c.role.in_(roles),
        or_(*alternatives),
    )


def _gtin_prefix(pattern: str) -> str | None:
    """``urn:epc:idpat:sgtin:CP.IR.*`` → the Digital Link prefix of its GTIN's identities."""
    parsed = parse_pattern(pattern)
    if parsed.scheme != "sgtin" or len(parsed.fields) != 3 or "*" in parsed.fields[:2]:
        return None
    company, item = parsed.fields[0], parsed.fields[1]
    if not (company + item).isdigit() or len(company) + len(item) != 13:
        return None
    body = item[0] + company + item[1:]
    return f"https://id.gs1.org/01/{body}{gs1_check_digit(body)}"


# -- tokens ------------------------------------------------------------------------------


def _token(query: Query, state: Mapping[str, Any]) -> str:
    payload = json.dumps({"f": fingerprint(query), **state}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


_MAX_BIGINT = 2**63 - 1


def _well_formed(state: Any) -> bool:
    """A token's state as this server writes them: a client can send anything base64."""

    def position(value: Any) -> bool:
        return type(value) is int and 0 <= value <= _MAX_BIGINT

    if not isinstance(state, dict) or not position(state.get("u")):
        return False
    if not position(state.get("n", 0)) or not position(state.get("o", 0)):
        return False
    if ("k" in state) != ("p" in state):
        return False
    return "p" not in state or (
        position(state["p"]) and isinstance(state["k"], str) and len(state["k"]) <= 4096
    )


def _read_token(token: str, query: Query) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        state: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not _well_formed(state):
            raise ValueError
    except ValueError:
        raise QueryParameterError("nextPageToken", "is not a token this server gave") from None
    if state.get("f") != fingerprint(query):
        raise QueryParameterError(
            "nextPageToken", "belongs to a different query: repeat the query's parameters"
        )
    return state
