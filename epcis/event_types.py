"""The five EPCIS 2.0 event types, named once (EPCIS 2.0 §7.4)."""

from __future__ import annotations

OBJECT = "ObjectEvent"
AGGREGATION = "AggregationEvent"
TRANSACTION = "TransactionEvent"
TRANSFORMATION = "TransformationEvent"
ASSOCIATION = "AssociationEvent"
EVENT_TYPES: tuple[str, ...] = (OBJECT, AGGREGATION, TRANSACTION, TRANSFORMATION, ASSOCIATION)
"""In the order the standard and its XML binding list them."""
WITH_ACTION = frozenset({OBJECT, AGGREGATION, TRANSACTION, ASSOCIATION})
"""The types that carry an ``action`` (every one but TransformationEvent)."""
