"""The 医保 stock interfaces' field tables, read from a YAML file (``fields.yaml`` beside this
module, or a province's variant of it).

The message builders and the stand-in platform both read these tables, never a list of
their own, so that a province whose platform names a field differently, or requires one
more, is a change of the file and not of the code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).with_name("fields.yaml")
FIELDS_ENV = "TRACECODE_NHSA_FIELDS"
"""The setting naming a province's variant of ``fields.yaml``."""
TYPES = frozenset({"C", "N", "D", "DT", "list", "node"})
ANSWERS = frozenset({"result", "none"})


class TablesError(ValueError):
    """A field table file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Requirement:
    """When a field must be present and not empty: always, never, or on a condition."""

    always: bool = False
    field: str | None = None
    """Required when this field of the same row …"""
    value: str | None = None
    """… has this value."""
    input_has: str | None = None
    """(Envelope) required when a row of the input has this field, not empty."""

    def applies(self, row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> bool:
        if self.always:
            return True
        if self.field is not None:
            return row.get(self.field) == self.value
        if self.input_has is not None:
            return any(r.get(self.input_has) not in (None, "") for r in rows)
        return False

    def describe(self, values: Mapping[str, Mapping[str, str]]) -> str:
        """Why the field is required, for a problem's message."""
        if self.field is not None and self.value is not None:
            meaning = values.get(self.field, {}).get(self.value)
            return f"required when {self.field} is {self.value}" + (
                f" ({meaning})" if meaning else ""
            )
        if self.input_has is not None:
            return f"required when the input has {self.input_has}"
        return "required"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    required: Requirement = Requirement()
    values: Mapping[str, str] = field(default_factory=dict)
    """The enumeration, code → meaning; empty: any value of the type."""
    items: Mapping[str, Field] = field(default_factory=dict)
    """For a ``list``: the fields of each item."""

    @property
    def kind(self) -> str:
        """The type as the spec writes it: ``C30``, ``N16,2``, ``D``, ``DT``."""
        if self.type == "N":
            return f"N{self.precision},{self.scale}"
        return f"{self.type}{self.length}" if self.type == "C" else self.type


@dataclass(frozen=True)
class Message:
    """One infno: the node its input carries and the fields of each row."""

    infno: str
    name: str
    node: str
    fields: Mapping[str, Field]
    answer: str
    """``result``: the answer's output is ``{result: {retRslt, msgRslt}}``."""
    batch: bool = False
    """A variants: the node is a list of rows."""
    errors: str | None = None
    """A variants: the name of the answer's per-row error list."""


@dataclass(frozen=True)
class MsgidForm:
    """``msgid`` = the value of ``prefix_field`` (``prefix_length`` characters) + a time +
    a sequence number."""

    prefix_field: str
    prefix_length: int
    time_format: str
    time_length: int
    sequence_digits: int

    @property
    def length(self) -> int:
        return self.prefix_length + self.time_length + self.sequence_digits


@dataclass(frozen=True)
class Tables:
    source: str
    envelope: Mapping[str, Field]
    messages: Mapping[str, Message]
    msgid: MsgidForm
    path: Path

    @property
    def values(self) -> dict[str, Mapping[str, str]]:
        """Every enumeration by field name (for messages that explain a code)."""
        fields = [*self.envelope.values()]
        fields += [f for m in self.messages.values() for f in m.fields.values()]
        return {f.name: f.values for f in fields if f.values}


def _requirement(raw: Any, where: str) -> Requirement:
    if raw in ("Y", True):
        return Requirement(always=True)
    if raw in ("N", False, None):
        return Requirement()
    when = raw.get("when") if isinstance(raw, dict) else None
    if isinstance(when, dict) and "field" in when and "is" in when:
        return Requirement(field=str(when["field"]), value=str(when["is"]))
    if isinstance(when, dict) and "input_has" in when:
        return Requirement(input_has=str(when["input_has"]))
    raise TablesError(
        f"{where}: required is Y, N, {{when: {{field, is}}}} or {{when: {{input_has}}}}"
    )


def _field(name: str, raw: Any, where: str, required: Any = "N") -> Field:
    if not isinstance(raw, dict) or raw.get("type") not in TYPES:
        raise TablesError(f"{where}: a field needs a type, one of {sorted(TYPES)}")
    items = raw.get("items") or {}
    return Field(
        name=name,
        label=str(raw.get("label", "")),
        type=raw["type"],
        length=raw.get("length"),
        precision=raw.get("precision"),
        scale=raw.get("scale"),
        required=_requirement(raw.get("required", required), where),
        values={str(k): str(v) for k, v in (raw.get("values") or {}).items()},
        items={k: _field(k, v, f"{where}/items/{k}") for k, v in items.items()},
    )


def _row(raw: Mapping[str, Any], defined: Mapping[str, Any], where: str) -> dict[str, Field]:
    """A message's (or the envelope's) fields: each named one defined under ``fields``, with
    its requirement and any override (``{required: Y, length: 2}``)."""
    row = {}
    for name, spec in raw.items():
        if name not in defined:
            raise TablesError(f"{where}/{name}: not defined under fields")
        override = spec if isinstance(spec, dict) and "when" not in spec else {}
        required = override.get("required", "N") if override else spec
        merged = {**defined[name], **{k: v for k, v in override.items() if k != "required"}}
        row[name] = _field(name, merged, f"{where}/{name}", required)
    return row


def _messages(raw: Mapping[str, Any], defined: Mapping[str, Any]) -> dict[str, Message]:
    messages = {}
    for infno, spec in raw.items():
        where = f"messages/{infno}"
        if spec.get("answer") not in ANSWERS:
            raise TablesError(f"{where}/answer: one of {sorted(ANSWERS)}")
        fields = _row(spec["fields"], defined, f"{where}/fields")
        common = {"name": spec["name"], "fields": fields, "answer": spec["answer"]}
        messages[str(infno)] = Message(infno=str(infno), node=spec["node"], **common)
        if batch := spec.get("batch"):
            a = str(batch["infno"])
            messages[a] = Message(
                infno=a, node=batch["node"], batch=True, errors=batch["errors"], **common
            )
    return messages


def load(path: Path | str | None = None) -> Tables:
    """The tables of ``path``, else of the file ``TRACECODE_NHSA_FIELDS`` names, else the
    baseline ``fields.yaml``."""
    return _load(str(path or os.environ.get(FIELDS_ENV) or DEFAULT_FILE))


@cache
def _load(name: str) -> Tables:
    """Read once per file name (the check asks for the tables at every message)."""
    path = Path(name).resolve()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        defined = raw["fields"]
        return Tables(
            source=str(raw.get("source", "")),
            envelope=_row(raw["envelope"], defined, "envelope"),
            messages=_messages(raw["messages"], defined),
            msgid=MsgidForm(**raw["msgid"]),
            path=path,
        )
    except TablesError as exc:
        raise TablesError(f"{path}: {exc}") from None
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise TablesError(f"{path}: not a field table file ({exc!r})") from None
