"""A hospital day with many trace codes for the outbox's fault tests (issue 13), and the
check every fault test ends with: what the stand-in 医保 platform took against what the
outbox owes.

Each group of codes is received from the supplier (a 3502 108), moved from the warehouse
to the outpatient pharmacy and one box on to a ward (internal moves: nothing owed), then
sold with its settlement (3505), sold and returned (3505, then 3506 for the same code),
and sold and cancelled (its 3505 superseded when unsent, reversed by a 3507 when sent).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.nhsa.answers import already_received
from projections.outbox import ACKNOWLEDGED, SUPERSEDED, Message, listed
from tests.nhsa_outbox_support import INSURED, PATIENT, STAFF, World, box

CODES_PER_GROUP = 4


@dataclass
class Day:
    """What a scenario did: the eventIDs of internal moves (they owe nothing), and the
    sold codes whose bind may still be cancelled."""

    internal: set[str] = field(default_factory=set)
    sold: list[str] = field(default_factory=list)


def settled(order: str) -> dict[str, Any]:
    return {**INSURED, "setl_id": f"SETL-{order}", "mdtrt_sn": f"MDTRT-{order}"}


def group(w: World, day: Day, n: int) -> None:
    """One group of four boxes through receipt, internal moves, sales, a return, a cancel."""
    sold, returned, cancelled, kept = (box(n * CODES_PER_GROUP + k) for k in range(4))
    codes = [sold, returned, cancelled, kept]
    w.scan(
        operation="receive",
        location="WH",
        codes=codes,
        lot=f"L{n:04d}",
        manufactured="2025-03-01",
        expires="2027-02-28",
        operatorId="OP-07",
    )
    for made in (
        w.scan(operation="transfer", location="WH", destination="OP", codes=codes),
        w.scan(operation="accept", location="OP", codes=codes),
        w.scan(operation="transfer", location="OP", destination="W3", codes=[kept]),
        w.scan(operation="accept", location="W3", codes=[kept]),
    ):
        day.internal.update(made["eventIDs"])
    for code, suffix in ((sold, "a"), (returned, "b"), (cancelled, "c")):
        order = f"RX{n}{suffix}"
        w.scan(
            operation="bind",
            location="OP",
            codes=[code],
            patient=PATIENT,
            order=order,
            operatorId="OP-07",
            settlement=settled(order),
            scanId=f"bind-{code}",
            **STAFF,
        )
    w.scan(operation="unbind", location="OP", codes=[returned], reason="patient returned")
    w.scan(operation="cancel", scanId=f"bind-{cancelled}")
    day.sold.append(sold)


def hospital_day(w: World, groups: int, first: int = 0, day: Day | None = None) -> Day:
    day = day or Day()
    for n in range(first, first + groups):
        group(w, day, n)
    return day


def cancel_sales(w: World, day: Day) -> None:
    """Cancel every sale still standing (those sent are reversed by a 3507)."""
    while day.sold:
        w.scan(operation="cancel", scanId=f"bind-{day.sold.pop()}")


def set_faults(w: World, **faults: Any) -> None:
    answer = httpx.post(w.url + "/faults", json=faults)
    assert answer.status_code == 200, answer.text


def owed(w: World) -> list[Message]:
    return listed(w.runner, platform="nhsa", limit=100_000)


def deliver_all(w: World, patience: float = 90.0) -> None:
    """Derive and deliver until every owed message is acknowledged (a generous deadline:
    a hang, not a slow run, fails)."""
    deadline = time.monotonic() + patience
    while True:
        w.deliver()
        left = [m for m in owed(w) if m.state not in (ACKNOWLEDGED, SUPERSEDED)]
        if not left:
            return
        assert time.monotonic() < deadline, [(m.msgid, m.state, m.error) for m in left[:5]]
        time.sleep(0.02)


def taken(received: Iterable[dict[str, Any]]) -> list[str]:
    """The msgids the platform took, in the order it took them (``infcode`` 0 answers
    that are not its "already received")."""
    return [
        m["msgid"]
        for m in received
        if m["answer"]["infcode"] == 0 and not already_received(m["answer"])
    ]


def check_delivered(w: World, day: Day) -> list[Message]:
    """Every owed message taken exactly once by msgid, nothing else taken, per code in log
    order, nothing for internal moves; the messages."""
    received = w.received()
    took = taken(received)
    twice = {msgid: n for msgid, n in Counter(took).items() if n > 1}
    assert not twice, f"taken more than once: {twice}"
    messages = owed(w)
    due = [m for m in messages if m.state != SUPERSEDED]
    assert [m.msgid for m in due if m.state != ACKNOWLEDGED] == []
    assert set(took) == {m.msgid for m in due}, "taken and owed differ"
    known = {m.msgid for m in messages}
    assert {m["msgid"] for m in received} <= known, "a message the outbox does not owe was sent"
    first = {msgid: n for n, msgid in enumerate(took)}
    by_code: dict[str, list[Message]] = {}
    for message in due:
        for code in message.codes:
            by_code.setdefault(code, []).append(message)
    for code, its in by_code.items():
        order = [first[m.msgid] for m in sorted(its, key=lambda m: m.seq)]
        assert order == sorted(order), f"{code}: taken out of log order"
    assert not {m.event for m in messages} & day.internal, "an internal move owed a message"
    return messages


def retaken(w: World) -> int:
    """How many times the platform answered "already received" (a resend after a lost
    answer)."""
    return sum(1 for m in w.received() if already_received(m["answer"]))
