"""Loosening GS1's EPCIS JSON Schema where GS1's XSD accepts more (applied when loaded)."""

from __future__ import annotations

from typing import Any

PERSISTENT_DISPOSITION_EVENTS = ("AggregationEvent", "TransactionEvent", "AssociationEvent")


def reconcile_with_xsd(schema: dict[str, Any]) -> None:
    """Where GS1's JSON Schema refuses what GS1's XSD accepts, accept it (in place).

    One event must be equally valid in both syntaxes, or a document converted from one to
    the other is refused by the ledger that converted it. Where the two artefacts disagree
    the ledger follows the XSD, whose choices are the standard's event model (EPCIS 2.0
    §7.4: every event type has ``persistentDisposition``; §7.3.7: a sensor report may be
    an alarm or error ``exception`` without a measurement ``type``), and which GS1's own
    examples rely on (``Example-PersistentDisposition.xml``, ``SensorDataExamples.xml``):

    - ``persistentDisposition`` is allowed on AggregationEvent, TransactionEvent and
      AssociationEvent, as on ObjectEvent and TransformationEvent;
    - a ``sensorReport`` needs no ``type``.

    Nothing the JSON Schema accepts is refused; the EPCIS rules (:mod:`epcis.validation.rules`)
    still apply to both syntaxes alike.
    """
    definitions = schema["definitions"]
    for name in PERSISTENT_DISPOSITION_EVENTS:
        own = definitions[name]["allOf"][1]
        own["properties"].setdefault(
            "persistentDisposition", {"$ref": "#/definitions/persistentDisposition"}
        )
        for allowed in own["propertyNames"]["anyOf"]:
            names = allowed.get("enum")
            if isinstance(names, list) and "persistentDisposition" not in names:
                names.append("persistentDisposition")
    report = definitions["sensorReport"]
    report["required"] = [f for f in report.get("required", []) if f != "type"]
    if not report["required"]:
        del report["required"]
