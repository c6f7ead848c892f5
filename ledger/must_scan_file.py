"""A must-scan rules file: YAML (JSON too, being YAML) read strictly, every error named.

The file is a mapping with one key, ``rules``: a list, in priority order (the first rule
whose ``when`` matches decides), of ``{name, when, then}``::

    rules:
      - name: loose injections are exempt
        when: {form: 散装注射剂}
        then: {must_scan: false}

The YAML is composed (PyYAML's safe loader, no Python objects) and each value is read from
the text as written, so a product code like ``08200001`` keeps its digits whatever YAML
would make of it, and every error names the line and the field
(``line 7, /rules/2/when/location_kind``). Aliases are refused (a small file cannot expand
into a huge one). What the rules may name is checked against master data by
:mod:`ledger.must_scan_book`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ledger.master_data_rows import MasterDataInvalid, RowError

MAX_BYTES = 1024 * 1024
MAX_RULES = 1000
KINDS = ("institution", "warehouse", "pharmacy", "ward", "department", "supplier", "external")
MODES = ("whole", "split")
WHEN_FLAGS = ("must_scan", "split", "preparation")
"""Master-data flags a rule may match (``1`` on any packaging level of the product)."""
WHEN_LISTS = ("product", "form", "location", "location_kind")
"""Conditions that take one value or a list of them (any matches)."""
WHEN_COUNTS = ("min_quantity", "max_quantity")
THEN_FIELDS = ("must_scan", "mode")
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"


class RulesInvalid(MasterDataInvalid):
    """A rules file refused as a whole: every error (nothing was stored)."""


@dataclass
class Rule:
    """One rule as read: ``when`` (conditions, lists for :data:`WHEN_LISTS`) and ``then``;
    ``line`` and ``pointer`` say where it is in its file (errors found later name them)."""

    name: str
    when: dict[str, Any]
    then: dict[str, Any]
    line: int
    pointer: str
    lines: dict[str, int]
    """The line of each ``when`` field."""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "when": self.when, "then": self.then}


class _Reader:
    def __init__(self) -> None:
        self.errors: list[RowError] = []

    def error(self, node: yaml.Node, pointer: str, message: str) -> None:
        self.errors.append(RowError(node.start_mark.line + 1, "", message, pointer))

    def mapping(self, node: yaml.Node, pointer: str, what: str) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, pointer, f"{what} is a mapping (key: value lines)")
            return None
        found: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if not isinstance(name, str):
                self.error(key, pointer, f"a key of {what} is a plain word")
            elif name in found:
                self.error(key, f"{pointer}/{name}", f"{name} is given twice")
            else:
                found[name] = value
        return found

    def value(self, node: yaml.Node, pointer: str, kind: str) -> Any:
        """A single value, read as written: ``text``, ``flag`` or ``count``; None when bad
        (the error noted)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            self.error(node, pointer, "a single value is needed here")
            return None
        raw = str(node.value).strip()
        if kind == "flag":
            ok = node.tag == _BOOL or raw in ("0", "1")
            found: Any = raw.lower() in ("true", "yes", "on", "1")
            problem = f"{node.value!r} is not true or false"
        elif kind == "count":
            ok = node.tag == _INT and raw.isdigit() and 0 < int(raw) < 10**9
            found = int(raw) if ok else None
            problem = f"{node.value!r} is not a whole number of units, >= 1"
        else:
            ok, found = 0 < len(raw) <= 200, raw
            problem = "a text of 1 to 200 characters is needed here"
        if not ok:
            self.error(node, pointer, problem)
            return None
        return found

    def texts(self, node: yaml.Node, pointer: str) -> list[str] | None:
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                self.error(node, pointer, "one value or a non-empty list of values")
                return None
            values = [
                self.value(item, f"{pointer}/{i}", "text") for i, item in enumerate(node.value)
            ]
            return None if None in values else [v for v in values if v is not None]
        one = self.value(node, pointer, "text")
        return None if one is None else [one]

    def when(self, node: yaml.Node, pointer: str) -> tuple[dict[str, Any], dict[str, int]]:
        fields = self.mapping(node, pointer, "when")
        found: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for name, value in (fields or {}).items():
            at = f"{pointer}/{name}"
            lines[name] = value.start_mark.line + 1
            if name in WHEN_FLAGS:
                found[name] = self.value(value, at, "flag")
            elif name in WHEN_LISTS:
                found[name] = self.texts(value, at)
                if name == "location_kind":
                    kinds = ", ".join(KINDS)
                    for bad in [k for k in found[name] or () if k not in KINDS]:
                        self.error(value, at, f"{bad!r} is not a location kind ({kinds})")
            elif name in WHEN_COUNTS:
                found[name] = self.value(value, at, "count")
            else:
                known = ", ".join((*WHEN_FLAGS, *WHEN_LISTS, *WHEN_COUNTS))
                self.error(value, at, f"{name} is not a condition ({known})")
        low, high = found.get("min_quantity"), found.get("max_quantity")
        if low is not None and high is not None and low > high:
            self.error(node, f"{pointer}/max_quantity", "max_quantity is less than min_quantity")
        return {k: v for k, v in found.items() if v is not None}, lines

    def then(self, node: yaml.Node, pointer: str) -> dict[str, Any]:
        fields = self.mapping(node, pointer, "then")
        found: dict[str, Any] = {}
        for name, value in (fields or {}).items():
            at = f"{pointer}/{name}"
            if name == "must_scan":
                found[name] = self.value(value, at, "flag")
            elif name == "mode":
                mode = self.value(value, at, "text")
                if mode is not None and mode not in MODES:
                    self.error(value, at, f"{mode!r} is not whole or split")
                found[name] = mode if mode in MODES else None
            else:
                self.error(value, at, f"{name} is not a decision ({', '.join(THEN_FIELDS)})")
        if fields is not None and not fields:
            self.error(node, pointer, "then decides must_scan, mode or both")
        return {k: v for k, v in found.items() if v is not None}

    def rule(self, node: yaml.Node, pointer: str, names: set[str]) -> Rule | None:
        fields = self.mapping(node, pointer, "a rule")
        if fields is None:
            return None
        for key, value in fields.items():
            if key not in ("name", "when", "then"):
                self.error(value, f"{pointer}/{key}", f"{key} is not part of a rule")
        for needed in ("name", "then"):
            if needed not in fields:
                self.error(node, f"{pointer}/{needed}", f"a rule needs {needed}")
        name = self.value(fields["name"], f"{pointer}/name", "text") if "name" in fields else None
        if name is not None and name in names:
            self.error(fields["name"], f"{pointer}/name", f"another rule is named {name!r}")
        names.add(name or "")
        when: dict[str, Any] = {}
        lines: dict[str, int] = {}
        if "when" in fields:
            when, lines = self.when(fields["when"], f"{pointer}/when")
        then = self.then(fields["then"], f"{pointer}/then") if "then" in fields else {}
        line = node.start_mark.line + 1
        return Rule(name or "", when, then, line, pointer, lines)


def parse_rules(data: bytes) -> list[Rule]:
    """The rules of a file, in order; :class:`RulesInvalid` naming every error."""
    if len(data) > MAX_BYTES:
        raise RulesInvalid([RowError(0, "", f"a rules file is at most {MAX_BYTES} bytes")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RulesInvalid([RowError(0, "", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        for item in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(item, yaml.AliasEvent):
                line = item.start_mark.line + 1
                raise RulesInvalid([RowError(line, "", "aliases (*name) are not allowed")])
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesInvalid([RowError(line, "", f"not YAML: {problem}")]) from None
    reader = _Reader()
    if root is None:
        raise RulesInvalid([RowError(1, "", "the file is empty: it needs rules: [...]")])
    top = reader.mapping(root, "", "a rules file")
    rules: list[Rule] = []
    if top is not None:
        for name, value in top.items():
            if name != "rules":
                reader.error(value, f"/{name}", f"{name} is not known: a rules file has rules")
        listed = top.get("rules")
        if listed is None:
            reader.error(root, "/rules", "a rules file needs rules: a list of rules")
        elif not isinstance(listed, yaml.SequenceNode):
            reader.error(listed, "/rules", "rules is a list (- name: ... lines)")
        elif len(listed.value) > MAX_RULES:
            reader.error(listed, "/rules", f"at most {MAX_RULES} rules")
        else:
            names: set[str] = set()
            for index, node in enumerate(listed.value):
                rule = reader.rule(node, f"/rules/{index}", names)
                if rule is not None:
                    rules.append(rule)
    if reader.errors:
        raise RulesInvalid(reader.errors)
    return rules
