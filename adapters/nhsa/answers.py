"""The 医保 platform's answer envelope, and how to recognise its "already received".

Every answer carries ``infcode`` (0 taken, -1 refused), ``inf_refmsgid`` (the platform's
own id of the message), ``refmsg_time`` (when it received it) and ``respond_time`` (when it
answered), both ``yyyyMMddHHmmssSSS`` in Beijing time, ``err_msg`` and ``output``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8), "CST")
"""The platform's clock (China has no daylight saving time)."""
ALREADY_RECEIVED = "already received"
"""How the stand-in's ``err_msg`` begins when it answers a msgid it already took
(``infcode`` 0): the delivery treats it as the acknowledgement it missed."""


def stamp(moment: datetime) -> str:
    """``yyyyMMddHHmmssSSS`` in Beijing time."""
    local = moment.astimezone(BEIJING)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def answer(
    infcode: int,
    refmsgid: str,
    received: datetime,
    *,
    err_msg: str | None = None,
    output: Any = None,
) -> dict[str, Any]:
    return {
        "infcode": infcode,
        "inf_refmsgid": refmsgid,
        "refmsg_time": stamp(received),
        "respond_time": stamp(datetime.now(BEIJING)),
        "err_msg": err_msg,
        "output": output,
    }


def already_received(reply: Mapping[str, Any]) -> bool:
    """Whether an answer says the msgid had been taken before (a success, not a new one)."""
    message = reply.get("err_msg")
    return (
        reply.get("infcode") == 0
        and isinstance(message, str)
        and message.startswith(ALREADY_RECEIVED)
    )
