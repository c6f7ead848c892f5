"""Validation of EPCIS 2.0 documents in their internal (JSON-LD dict) form.

* :func:`validate_json_schema` - the GS1 EPCIS 2.0 JSON Schema (shape, types, formats).
* :func:`check_rules` - the rules of the standard that no schema expresses (see
  :mod:`epcis.validation.rules` for the list).
* :func:`validate_document` - both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from epcis.problems import Problem
from epcis.validation.json_schema import validate_json_schema
from epcis.validation.rules import RULES, Rule, check_rules

__all__ = [
    "RULES",
    "Problem",
    "Rule",
    "check_rules",
    "validate_document",
    "validate_json_schema",
]


def validate_document(document: Mapping[str, Any], *, strict: bool = True) -> list[Problem]:
    """Everything wrong with ``document``: JSON Schema problems, then rule problems.

    ``strict=False`` skips the JSON Schema, for documents converted from XML whose shape the
    XSD already checked; the rules still run. When the schema and a rule both report the
    same pointer, only the rule's problem is kept: it says the same thing more precisely
    (e.g. the bare CBV word to write instead of a URN).
    """
    rule_problems = check_rules(document)
    if not strict:
        return rule_problems
    covered = {p.pointer for p in rule_problems}
    schema_problems = [p for p in validate_json_schema(document) if p.pointer not in covered]
    return schema_problems + rule_problems
