"""Sending the outbox's 医保 messages (a :class:`projections.outbox.Transport`).

Each message goes as one JSON request to ``TRACECODE_NHSA_URL``: the envelope of seed 003
(``infno``, ``msgid``, the institution's fields the outbox derived, the fixed fields from
the settings below, ``inf_time`` of this attempt) around ``input``. The personal fields
(``psn_no``, ``certno``, ``psn_name``) are joined in here, from the erasable store
(:mod:`ledger.settlement_persons`), so they never rest in the outbox either.

The answer decides: ``infcode`` 0 is taken (the platform's "already received" of a msgid
it took before is too: the acknowledgement a crash or a lost answer hid), ``infcode`` -1 is
refused with its ``err_msg``; no answer, a 5xx or a body that is not the platform's answer
is :class:`projections.outbox.Unreachable` (sent again later with the same msgid).

Settings (environment): ``TRACECODE_NHSA_URL`` (unset: messages are owed and kept, none
sent), ``TRACECODE_NHSA_RECER_SYS_CODE`` (``YBXT``), ``TRACECODE_NHSA_INFVER`` (``V1.0``),
``TRACECODE_NHSA_OPTER_TYPE`` (``1`` 经办人), and when the province wants them
``TRACECODE_NHSA_DEV_NO``, ``TRACECODE_NHSA_DEV_SAFE_INFO``, ``TRACECODE_NHSA_CAINFO``,
``TRACECODE_NHSA_SIGNTYPE``, ``TRACECODE_NHSA_SIGN_NO``; ``TRACECODE_NHSA_TIMEOUT_SECONDS``
(10); batching into the A variants (``3505A``…): ``TRACECODE_NHSA_BATCH_SIZE`` (0: off; else
at most that many rows a message) and ``TRACECODE_NHSA_BATCH_DELAY_SECONDS`` (5: how long a
message may wait for others to travel with). The endpoint is the operator's own setting,
so the webhooks' address rules do not apply to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.nhsa.answers import BEIJING, already_received
from adapters.nhsa.owed import PERSONAL
from projections.outbox import Message, Reply, Unreachable

FIXED = {
    "recer_sys_code": ("TRACECODE_NHSA_RECER_SYS_CODE", "YBXT"),
    "infver": ("TRACECODE_NHSA_INFVER", "V1.0"),
    "opter_type": ("TRACECODE_NHSA_OPTER_TYPE", "1"),
    "dev_no": ("TRACECODE_NHSA_DEV_NO", ""),
    "dev_safe_info": ("TRACECODE_NHSA_DEV_SAFE_INFO", ""),
    "cainfo": ("TRACECODE_NHSA_CAINFO", ""),
    "signtype": ("TRACECODE_NHSA_SIGNTYPE", ""),
    "sign_no": ("TRACECODE_NHSA_SIGN_NO", ""),
}
"""Envelope fields from the settings: field -> (variable, default)."""

Persons = Callable[[str, str], Mapping[str, str | None] | None]
"""``(pseudonym, institution)`` -> the personal fields kept for them (None: none)."""


def _defaults() -> dict[str, str]:
    return {name: default for name, (_, default) in FIXED.items() if default}


@dataclass(frozen=True)
class NhsaSettings:
    url: str | None = None
    fixed: dict[str, str] = field(default_factory=_defaults)
    timeout: float = 10.0
    batch_size: int = 0
    batch_delay: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NhsaSettings:
        env = os.environ if environ is None else environ
        fixed = {name: env.get(var, default) for name, (var, default) in FIXED.items()}
        return cls(
            url=env.get("TRACECODE_NHSA_URL") or None,
            fixed={k: v for k, v in fixed.items() if v},
            timeout=_number(env, "TRACECODE_NHSA_TIMEOUT_SECONDS", 10.0),
            batch_size=int(_number(env, "TRACECODE_NHSA_BATCH_SIZE", 0, whole=True)),
            batch_delay=_number(env, "TRACECODE_NHSA_BATCH_DELAY_SECONDS", 5.0),
        )


class NhsaSettingsError(ValueError):
    """A 医保 setting that cannot be used; the message names it."""


def _number(env: Mapping[str, str], name: str, default: float, *, whole: bool = False) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise NhsaSettingsError(f"{name}={value!r}: not {kind}") from None
    if number < 0 or (number == 0 and not whole):
        raise NhsaSettingsError(f"{name}={value!r}: must be more than 0")
    return float(number)


def envelope(
    message: Message,
    settings: NhsaSettings,
    find: Persons | None,
    now: datetime,
) -> dict[str, Any]:
    """The request of one outbox message as sent now."""
    given = message.body.get("input", {})
    inputs: dict[str, Any] = {}
    for key, value in given.items():
        if isinstance(value, list):
            inputs[key] = [dict(row) for row in value]
        else:
            inputs[key] = dict(value) if isinstance(value, Mapping) else value
    rows: list[Any] = []
    for value in inputs.values():
        rows += value if isinstance(value, list) else [value]
    persons = message.body.get("persons") or [message.person] * len(rows)
    if find is not None:
        for row, person in zip(rows, persons, strict=False):
            if person is None or not isinstance(row, dict):
                continue
            personal = find(person, message.institution) or {}
            row.update({k: personal[k] for k in PERSONAL if personal.get(k)})
    return {
        "infno": message.kind,
        "msgid": message.msgid,
        **settings.fixed,
        **message.body.get("envelope", {}),
        "inf_time": now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "input": inputs,
    }


class NhsaTransport:
    """The 医保 endpoint of the settings."""

    def __init__(
        self,
        settings: NhsaSettings,
        persons: Persons | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.persons = persons
        self.clock = clock
        self.client = httpx.Client(timeout=settings.timeout, trust_env=False)

    def configured(self) -> bool:
        return bool(self.settings.url)

    def send(self, message: Message) -> Reply:
        assert self.settings.url is not None
        request = envelope(message, self.settings, self.persons, self.clock())
        try:
            response = self.client.post(self.settings.url, json=request)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise Unreachable(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "infcode" not in answer:
            raise Unreachable(f"HTTP {response.status_code}: not the platform's answer")
        if answer.get("infcode") == 0 or already_received(answer):
            return Reply(True, answer)
        return Reply(False, answer, str(answer.get("err_msg") or f"infcode {answer['infcode']}"))

    def close(self) -> None:
        self.client.close()
