"""Sending the outbox's Beijing messages (:class:`projections.outbox.Transport`): POSTed to
the platform, or written as files to a directory it collects from.

Settings (:meth:`BeijingTransport.from_env`):

* ``TRACECODE_BEIJING_URL``: POST each message to this URL (JSON, or XML with
  ``TRACECODE_BEIJING_FORMAT=xml``; :mod:`adapters.beijing.render`). A 2xx answer, or the
  platform's "already received", is taken; a 4xx is refused, its problems kept as the
  error; a 5xx, 408, 429, a network error or no answer within
  ``TRACECODE_BEIJING_TIMEOUT`` seconds (default 10) is :class:`Unreachable` (sent again,
  same id).
* ``TRACECODE_BEIJING_DIR``: write each message as ``<id>.json`` (or ``.xml``) in this
  directory, through a temporary file and a rename, so the reader never sees half a
  file; a file of that id there already means "already received".

Neither set: nothing is sent (the messages wait). Both set: refused, naming both. The
endpoint comes from the operator's settings: the webhook address rules do not apply to it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from adapters.beijing import render
from adapters.beijing.standin import ALREADY_RECEIVED
from adapters.beijing.tables import BY_KEY
from projections.outbox import Message, Reply, Unreachable

URL = "TRACECODE_BEIJING_URL"
DIR = "TRACECODE_BEIJING_DIR"
FORMAT = "TRACECODE_BEIJING_FORMAT"
TIMEOUT = "TRACECODE_BEIJING_TIMEOUT"
FORMATS = ("json", "xml")
MEDIA = {"json": "application/json", "xml": "application/xml"}
RETRY_LATER = (408, 429)


class BeijingSettingsError(ValueError):
    """A Beijing setting that cannot be used (names the setting)."""


def encoded(message: Message, form: str) -> bytes:
    """The message as the platform takes it, under its outbox id."""
    table = BY_KEY.get(str(message.body.get("table")))
    if table is None:
        raise ValueError(f"outbox message {message.msgid}: no Beijing table {message.kind!r}")
    rows = list(message.body.get("rows") or [])
    sent = render.Message(table, message.msgid, rows)
    return render.to_xml(sent) if form == "xml" else render.to_json(sent)


class BeijingTransport:
    """Posts to :data:`URL` or writes to :data:`DIR` (see the module)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        directory: Path | None = None,
        form: str = "json",
        timeout: float = 10.0,
    ) -> None:
        if url and directory:
            raise BeijingSettingsError(f"{URL} and {DIR} are both set: choose one")
        if form not in FORMATS:
            shown = ", ".join(FORMATS)
            raise BeijingSettingsError(f"{FORMAT} must be one of {shown}, not {form!r}")
        self.url = url or None
        self.directory = directory
        self.form = form
        self._client = httpx.Client(timeout=timeout, trust_env=False) if url else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BeijingTransport:
        form = (environ.get(FORMAT) or "json").strip().lower()
        directory = environ.get(DIR, "").strip()
        try:
            timeout = float(environ.get(TIMEOUT) or 10.0)
        except ValueError:
            raise BeijingSettingsError(
                f"{TIMEOUT} must be a number of seconds, not {environ.get(TIMEOUT)!r}"
            ) from None
        if not timeout > 0:
            raise BeijingSettingsError(f"{TIMEOUT} must be more than 0 seconds")
        return cls(
            url=environ.get(URL, "").strip() or None,
            directory=Path(directory) if directory else None,
            form=form,
            timeout=timeout,
        )

    def configured(self) -> bool:
        return self.url is not None or self.directory is not None

    def send(self, message: Message) -> Reply:
        body = encoded(message, self.form)
        if self.directory is not None:
            return self._write(message.msgid, body)
        return self._post(body)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _post(self, body: bytes) -> Reply:
        assert self._client is not None and self.url is not None
        try:
            answer = self._client.post(
                self.url, content=body, headers={"content-type": MEDIA[self.form]}
            )
        except httpx.HTTPError as exc:
            raise Unreachable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        status = answer.status_code
        if status >= 500 or status in RETRY_LATER:
            raise Unreachable(f"{self.url} answered {status}: {answer.text[:300]}")
        said = _json(answer)
        if 200 <= status < 300 or said.get("result") == ALREADY_RECEIVED:
            return Reply(taken=True, answer=said)
        return Reply(taken=False, answer=said, error=_problems(status, said, answer.text))

    def _write(self, msgid: str, body: bytes) -> Reply:
        assert self.directory is not None
        if not msgid or "/" in msgid or "\\" in msgid or msgid.startswith("."):
            return Reply(taken=False, error=f"{msgid!r} cannot name a file")
        target = self.directory / f"{msgid}.{self.form}"
        if target.exists():
            return Reply(taken=True, answer={"result": ALREADY_RECEIVED, "file": str(target)})
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(body)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise Unreachable(f"{self.directory}: {exc}") from None
        return Reply(taken=True, answer={"result": "written", "file": str(target)})


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {"answer": found}


def _problems(status: int, said: dict[str, Any], text: str) -> str:
    """A refusal as one line: each problem's place and message."""
    problems = said.get("problems")
    if isinstance(problems, list) and problems:
        return "; ".join(
            f"{p.get('pointer') or p.get('path') or ''}: {p.get('message')}"
            for p in problems
            if isinstance(p, dict)
        )
    return f"{status}: {text[:500]}"
