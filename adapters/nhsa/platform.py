"""What the stand-in 医保 platform decides about each message it receives, and what it
remembers: every message with its answer, and the msgids it took.

A message is checked against the field tables (:mod:`.check`). One with any problem is
refused (``infcode`` -1, ``err_msg`` naming each problem by its JSON pointer); an A variant
whose envelope is good takes the good rows and lists the others in its per-row error list
(refused whole when no row is good). A msgid taken before is answered "already received"
(``infcode`` 0) with the first answer's ``inf_refmsgid``, and nothing is taken twice.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.nhsa.answers import ALREADY_RECEIVED, answer, stamp
from adapters.nhsa.check import pointer, problems
from adapters.nhsa.faults import Faults
from adapters.nhsa.fields import Message, Tables
from epcis.problems import Problem, capped


@dataclass
class Taken:
    """A msgid the platform took: its answer and the body it came with."""

    answer: dict[str, Any]
    body: Any


def _said(found: list[Problem]) -> str:
    shown, more = capped(found)
    text = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in shown)
    return text + (f"; and {more} more" if more else "")


class Platform:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.messages: list[dict[str, Any]] = []
        self.taken: dict[str, Taken] = {}
        self.faults = Faults()
        self._ids = itertools.count(1)

    def clear(self) -> int:
        """Forget every message and every msgid taken; how many messages there were."""
        count = len(self.messages)
        self.messages.clear()
        self.taken.clear()
        return count

    def receive(self, raw: bytes, arrived: datetime) -> tuple[int, dict[str, Any]]:
        """Decide a message, record it with its answer; the HTTP status and the answer."""
        try:
            body, exact, decoded = json.loads(raw), json.loads(raw, parse_float=Decimal), True
        except ValueError:
            body, exact, decoded = raw.decode("utf-8", errors="replace"), None, False
        envelope = body if isinstance(body, dict) else {}
        refmsgid = self._refmsgid(envelope, arrived)
        status, reply = 200, None
        if not decoded:
            reply = answer(-1, refmsgid, arrived, err_msg="/: the body is not JSON")
        elif self.faults.error_now():
            status = 500
            reply = answer(-1, refmsgid, arrived, err_msg="stand-in fault: the platform failed")
        else:
            reply = self._decide(envelope, exact, refmsgid, arrived)
        self.messages.append(
            {
                "infno": envelope.get("infno"),
                "msgid": envelope.get("msgid"),
                "received": arrived.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "body": body,
                "answer": reply,
            }
        )
        return status, reply

    def _refmsgid(self, envelope: dict[str, Any], arrived: datetime) -> str:
        """The platform's id of a message: area (6) + yyyyMMddHHmmssSSS + sequence (7)."""
        area = envelope.get("mdtrtarea_admvs")
        area = area if isinstance(area, str) and len(area) == 6 else "000000"
        return f"{area}{stamp(arrived)}{next(self._ids) % 10_000_000:07d}"

    def _decide(
        self, envelope: dict[str, Any], exact: Any, refmsgid: str, arrived: datetime
    ) -> dict[str, Any]:
        msgid = envelope.get("msgid")
        if isinstance(msgid, str) and msgid in self.taken:
            return self._again(msgid, envelope, arrived)
        found = problems(exact, self.tables)
        spec = self.tables.messages.get(str(envelope.get("infno")))
        if spec is not None and spec.batch and found:
            return self._batch(spec, envelope, found, refmsgid, arrived)
        if found:
            return answer(-1, refmsgid, arrived, err_msg=_said(found))
        assert spec is not None and isinstance(msgid, str)
        rows = len(envelope["input"][spec.node]) if spec.batch else 1
        reply = answer(0, refmsgid, arrived, output=self._output(spec, rows, []))
        self.taken[msgid] = Taken(reply, envelope)
        return reply

    def _again(self, msgid: str, envelope: dict[str, Any], arrived: datetime) -> dict[str, Any]:
        first = self.taken[msgid]
        said = (
            f"{ALREADY_RECEIVED}: msgid {msgid} was taken at {first.answer['refmsg_time']} "
            f"as {first.answer['inf_refmsgid']}"
        )
        if envelope != first.body:
            said += "; this body differs from the one taken"
        reply = answer(0, first.answer["inf_refmsgid"], arrived, output=first.answer["output"])
        return {**reply, "err_msg": said}

    def _batch(
        self,
        spec: Message,
        envelope: dict[str, Any],
        found: list[Problem],
        refmsgid: str,
        arrived: datetime,
    ) -> dict[str, Any]:
        """An A variant: refused whole for a problem outside the rows, or when no row is
        good; else the good rows are taken and the bad ones listed."""
        node = pointer("input", spec.node)
        by_row: dict[int, list[Problem]] = {}
        for problem in found:
            rest = (problem.pointer or "").removeprefix(node + "/")
            index = rest.split("/")[0]
            if rest == problem.pointer or not index.isdigit():
                return answer(-1, refmsgid, arrived, err_msg=_said(found))
            by_row.setdefault(int(index), []).append(problem)
        rows = envelope["input"][spec.node]
        if len(by_row) == len(rows):
            return answer(-1, refmsgid, arrived, err_msg=_said(found))
        errors = [
            {
                "index": index,
                "fixmedins_bchno": rows[index].get("fixmedins_bchno")
                if isinstance(rows[index], dict)
                else None,
                "err_msg": _said(row_problems),
            }
            for index, row_problems in sorted(by_row.items())
        ]
        reply = answer(0, refmsgid, arrived, output=self._output(spec, len(rows), errors))
        self.taken[envelope["msgid"]] = Taken(reply, envelope)
        return reply

    def _output(self, spec: Message, rows: int, errors: list[dict[str, Any]]) -> dict[str, Any]:
        """``{result: {retRslt, msgRslt}}`` for 3505/3507 (per the tables), and an A
        variant's per-row error list."""
        output: dict[str, Any] = {}
        if spec.answer == "result":
            taken = rows - len(errors)
            output["result"] = {
                "retRslt": 0 if errors else 1,
                "msgRslt": f"{taken} of {rows} row(s) taken",
            }
        if spec.batch and spec.errors:
            output[spec.errors] = errors
        return output
