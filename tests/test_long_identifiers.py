"""Identifiers of any length are projected and found by exact lookup, on both stores.

PostgreSQL refuses a btree entry over ~2.7 kB: before the view indexes were bounded
(:func:`projections.schema.index_key`), one 3,000-character serial stopped every read.
The events are appended straight through the ledger (no validation), as the ledger may
already hold such events whatever the validator accepts today.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from ledger.capture import CaptureRequest, PreparedEvent, new_capture_id
from projections import failures, hierarchy
from projections.code_status import status
from projections.event_index import event_epcs, events
from projections.recall_trail import trail
from projections.runner import ReadModelRunner, make_engine
from projections.schema import (
    SCHEMA_ROW,
    SCHEMA_VERSION,
    SHORT_BYTES,
    code_facts,
    index_key,
    keyed_eq,
    keyed_in,
    stored_key,
    tracking,
)
from tests.http_support import INSTITUTION
from tests.ledger_contract import document
from tests.supply_chain import ev, packing, shipping
from tests.test_http_capture import open_api

_RANDOM = random.Random(7)


def noise(n: int) -> str:
    """``n`` random alphanumerics: incompressible, as PostgreSQL's btree sees them."""
    return "".join(_RANDOM.choices(string.ascii_letters + string.digits, k=n))


SERIAL_3K = noise(3000)
SERIAL_10K = noise(10_000)
CODE_3K = f"urn:epc:id:sgtin:0614141.107346.{SERIAL_3K}"
CODE_10K = f"urn:epc:id:sgtin:0614141.107346.{SERIAL_10K}"
TWIN_3K = f"urn:epc:id:sgtin:0614141.107346.{SERIAL_3K[:-1]}#"  # differs in the last char
SHORT = "urn:epc:id:sgtin:0614141.107346.42"  # a product (GTIN) and the long lot
PARENT = "urn:epc:id:sscc:0614141." + noise(4000)
PLACE = "https://example.com/places/" + noise(3000)
LOT = noise(3000)
STEP = "https://example.com/bizsteps/" + noise(3000)
TX = "https://example.com/po/" + noise(3000)
EVENT_ID = "https://example.com/events/" + noise(5000)


def append_unvalidated(ledger: Ledger, *events: dict[str, Any]) -> None:
    """Store ``events`` as a capture would, without validating them."""
    from epcis.context import namespaces
    from epcis.event_hash import EventHasher

    doc = json.loads(document(*events))
    hasher = EventHasher.for_document(doc)
    request = CaptureRequest(
        new_capture_id(), "test", "rollback", event_count=len(events), institution=INSTITUTION
    )
    for index, event in enumerate(doc["epcisBody"]["eventList"]):
        client = event.get("eventID")
        request.events.append(
            PreparedEvent(index, event, hasher.hash_id(event), client, namespaces(doc))
        )
    ledger.append([request])


def long_events() -> list[dict[str, Any]]:
    return [
        ev(
            "ObjectEvent",
            8,
            eventID=EVENT_ID,
            epcList=[CODE_3K, CODE_10K, TWIN_3K, SHORT],
            action="ADD",
            bizStep=STEP,
            disposition="active",
            readPoint={"id": PLACE},
            bizLocation={"id": PLACE},
            bizTransactionList=[{"type": "po", "bizTransaction": TX}],
            ilmd={"cbvmda:lotNumber": LOT},
            **{"example:note": noise(3000)},
        ),
        packing(9, PARENT, [CODE_3K, CODE_10K], PLACE),
        shipping(10, [PARENT], PLACE, PLACE),
    ]


def test_index_keys_are_bounded_and_exact() -> None:
    assert index_key("short") == "short" and stored_key("short") is None
    for value in (CODE_3K, CODE_10K, "é" * 5000, "😀" * 3000):
        key = index_key(value)
        assert len(key.encode()) <= 232 and len(key.encode()) > SHORT_BYTES
        assert value.startswith(key.split("#sha256=")[0])
        assert stored_key(value) == key
    assert index_key(CODE_3K) != index_key(TWIN_3K)
    edge = "a" * SHORT_BYTES
    assert index_key(edge) == edge and index_key(edge + "a") != edge + "a"


def test_long_identifiers_are_projected_and_found(store_url: str) -> None:
    with open_api(store_url) as api:
        append_unvalidated(api.ledger, *long_events())
        client = api.client
        for code in (CODE_3K, CODE_10K, TWIN_3K):
            response = client.get("/codes/" + quote(code, safe=""))
            assert response.status_code == 200, response.text[:500]
            body = response.json()
            assert body["code"] == canonical(code)
            if code != TWIN_3K:
                assert body["parent"] == canonical(PARENT)
                assert body["state"] == "in_transit" and body["destination"] == PLACE
            assert body["lot"] == LOT
        # a code sharing all but the last character of a long one is another code: not
        # found, and (beyond TDS limits, so never capturable) 400 rather than 404
        assert client.get("/codes/" + quote(CODE_3K[:-1], safe="")).status_code == 400
        children = client.get("/codes/" + quote(PARENT, safe="") + "/hierarchy").json()
        assert children["children"] == sorted([canonical(CODE_3K), canonical(CODE_10K)])

        def ids(**params: str) -> list[str]:
            response = client.get("/events", params=params)
            assert response.status_code == 200, response.text[:500]
            listed = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            return [e.get("eventID", "") for e in listed]

        found = ids(MATCH_epc=CODE_10K)  # its commissioning, and the packing (childEPCs)
        assert len(found) == 2 and EVENT_ID in found
        assert ids(MATCH_epc=CODE_3K[:-1]) == []
        assert ids(EQ_eventID=EVENT_ID) == [EVENT_ID]
        assert ids(EQ_bizStep=STEP) == [EVENT_ID]
        assert len(ids(EQ_bizLocation=PLACE)) == 2
        assert len(ids(EQ_readPoint=PLACE)) == 2
        assert ids(**{"EQ_bizTransaction_po": TX}) == [EVENT_ID]
        assert ids(MATCH_parentID=PARENT) != []
        assert client.get("/epcs/" + quote(canonical(CODE_3K), safe="")).status_code == 200
        members = client.get("/epcs", params={"perPage": "100"}).json()["member"]
        assert canonical(CODE_10K) in members
        stock = client.get("/stock", params={"location": PLACE})
        assert stock.status_code == 200
        lines = client.get("/trails", params={"product": "10614141073464", "lot": LOT})
        assert lines.status_code == 200, lines.text[:500]
        assert [line["code"] for line in lines.json()] == [canonical(SHORT)]
        health = client.get("/health").json()
        assert health["status"] == "ok", health

    ledger = Ledger(api.ledger.settings)
    runner = ReadModelRunner(ledger)
    try:
        assert runner.rebuild() == 3
        with runner.connect() as conn:
            assert failures.count(conn, runner.name) == 0
            found = status(conn, CODE_10K)
            assert found is not None and found.lot == LOT
            assert hierarchy.parent_of(conn, CODE_3K) == canonical(PARENT)
            assert {line.code for line in trail(conn, code=PARENT)} == {
                canonical(c) for c in (PARENT, CODE_3K, CODE_10K)
            }
    finally:
        runner.close()
        ledger.close()


def test_lookups_use_the_bounded_indexes(ledger: Ledger) -> None:
    """``/codes/{code}``, ``MATCH_epc`` and ``EQ_bizLocation`` look up by index, not by
    scanning (PostgreSQL: with sequential scans priced out, as on a big table)."""
    append_unvalidated(ledger, *long_events())
    runner = ReadModelRunner(ledger)
    try:
        runner.run_until_caught_up()
        with runner.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                conn.exec_driver_sql("SET enable_seqscan = off")
            queries = {
                "view_code_facts_": select(code_facts).where(keyed_eq(code_facts.c.code, CODE_10K)),
                "view_event_epcs_value": select(event_epcs.c.position).where(
                    keyed_in(event_epcs.c.value, [CODE_3K])
                ),
                "view_events_biz_location": select(events.c.position).where(
                    keyed_in(events.c.biz_location, [PLACE])
                ),
            }
            # CODE_10K: commissioned, packed (shipped in its case: the case's fact, passed on
            # when read); CODE_3K: an EPC and a child; PLACE: the bizLocation of two events
            expected = {
                "view_code_facts_": 2,  # view_code_facts_code: it begins with the code's key
                "view_event_epcs_value": 2,
                "view_events_biz_location": 2,
            }
            for index, query in queries.items():
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
                plan = " ".join(
                    str(row[-1]) for row in conn.exec_driver_sql(explain + sql.replace("%", "%%"))
                )
                assert index in plan, plan
                assert ("Index" if postgres else "SEARCH") in plan, plan
                assert len(conn.execute(query).all()) == expected[index]
    finally:
        runner.close()


def test_views_of_an_older_schema_are_projected_again(ledger: Ledger) -> None:
    """A database whose views were made before the bounded keys (schema version 1: a
    primary key on the raw code) has them dropped and filled again from the log."""
    append_unvalidated(ledger, *long_events()[:1])
    engine = make_engine(ledger.settings.url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE view_tracking (projection VARCHAR(100) PRIMARY KEY, "
                "notification_id BIGINT NOT NULL)"
            )
            conn.exec_driver_sql("INSERT INTO view_tracking VALUES ('code_status', 99)")
            conn.exec_driver_sql(
                "CREATE TABLE view_code_facts (code TEXT, position BIGINT, "
                "PRIMARY KEY (code, position))"
            )
    finally:
        engine.dispose()
    runner = ReadModelRunner(ledger)
    try:
        assert runner.position() == 0
        assert runner.run_until_caught_up() == 1
        with runner.connect() as conn:
            found = status(conn, CODE_3K)
            assert found is not None and found.lot == LOT
            version = conn.execute(
                select(tracking.c.notification_id).where(tracking.c.projection == SCHEMA_ROW)
            ).scalar()
            assert version == SCHEMA_VERSION
    finally:
        runner.close()
    again = ReadModelRunner(ledger)  # the current version: nothing dropped
    try:
        assert again.position() > 0
    finally:
        again.close()
