"""What EPCIS XML looks like: namespaces, element order per event type, kinds of fields.

Shared by the reader (which accepts any order) and the writer (which must follow the order
the XSDs require). The orders are copied from ``EPCglobal-epcis-2_0.xsd``; those of
``EPCglobal-epcis-1_2.xsd`` follow from them (:func:`_fields_1`).
"""

from __future__ import annotations

from typing import Literal

from epcis import cbv, event_types

EPCIS_2 = "urn:epcglobal:epcis:xsd:2"
EPCIS_1 = "urn:epcglobal:epcis:xsd:1"
QUERY_2 = "urn:epcglobal:epcis-query:xsd:2"
QUERY_1 = "urn:epcglobal:epcis-query:xsd:1"
MASTERDATA_2 = "urn:epcglobal:epcis-masterdata:xsd:2"
MASTERDATA_1 = "urn:epcglobal:epcis-masterdata:xsd:1"
SBDH = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"

Version = Literal["1.2", "2.0"]
RootName = Literal["EPCISDocument", "EPCISQueryDocument", "EPCISMasterDataDocument"]

# (namespace, root element) -> (EPCIS version, what the document is)
ROOTS: dict[tuple[str, str], tuple[Version, RootName]] = {
    (EPCIS_2, "EPCISDocument"): ("2.0", "EPCISDocument"),
    (EPCIS_1, "EPCISDocument"): ("1.2", "EPCISDocument"),
    (QUERY_2, "EPCISQueryDocument"): ("2.0", "EPCISQueryDocument"),
    (QUERY_1, "EPCISQueryDocument"): ("1.2", "EPCISQueryDocument"),
    (MASTERDATA_2, "EPCISMasterDataDocument"): ("2.0", "EPCISMasterDataDocument"),
    (MASTERDATA_1, "EPCISMasterDataDocument"): ("1.2", "EPCISMasterDataDocument"),
}
ROOT_NAMESPACE: dict[tuple[Version, RootName], str] = {v: k[0] for k, v in ROOTS.items()}

EVENT_TYPES = event_types.EVENT_TYPES

# EPCISEventType in 2.0: every event starts with these.
COMMON_FIELDS_2 = (
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
)

EVENT_FIELDS_2: dict[str, tuple[str, ...]] = {
    "ObjectEvent": (
        "epcList",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "bizLocation",
        "bizTransactionList",
        "quantityList",
        "sourceList",
        "destinationList",
        "sensorElementList",
        "persistentDisposition",
        "ilmd",
    ),
    "AggregationEvent": (
        "parentID",
        "childEPCs",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "bizLocation",
        "bizTransactionList",
        "childQuantityList",
        "sourceList",
        "destinationList",
        "sensorElementList",
        "persistentDisposition",
    ),
    "TransactionEvent": (
        "bizTransactionList",
        "parentID",
        "epcList",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "bizLocation",
        "quantityList",
        "sourceList",
        "destinationList",
        "sensorElementList",
        "persistentDisposition",
    ),
    "TransformationEvent": (
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
        "bizStep",
        "disposition",
        "readPoint",
        "bizLocation",
        "bizTransactionList",
        "sourceList",
        "destinationList",
        "sensorElementList",
        "persistentDisposition",
        "ilmd",
    ),
    "AssociationEvent": (
        "parentID",
        "childEPCs",
        "childQuantityList",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "bizLocation",
        "bizTransactionList",
        "sourceList",
        "destinationList",
        "sensorElementList",
        "persistentDisposition",
    ),
}

# EPCIS 1.2: (fields in the event itself, fields inside its <extension>). eventID and
# errorDeclaration live in <baseExtension>; TransformationEvent sits in EventList/extension.
BASE_FIELDS_1 = ("eventTime", "recordTime", "eventTimeZoneOffset")
BASE_EXTENSION_FIELDS_1 = ("eventID", "errorDeclaration")
# What EPCIS 1.2 has no place for.
NOT_IN_1_2 = ("certificationInfo", "sensorElementList", "persistentDisposition")
# What EPCIS 1.1 added to the event types of 1.0, in their <extension> for compatibility.
ADDED_IN_1_1 = frozenset(
    {"quantityList", "childQuantityList", "sourceList", "destinationList", "ilmd"}
)


def _fields_1(event_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The 1.2 layout of an event type: its 2.0 order is the 1.2 order without the
    <extension> wrapper, less what 1.2 has no place for. TransformationEvent, new in 1.1,
    holds everything in itself."""
    fields = [name for name in EVENT_FIELDS_2[event_type] if name not in NOT_IN_1_2]
    if event_type == "TransformationEvent":
        return tuple(fields), ()
    return (
        tuple(name for name in fields if name not in ADDED_IN_1_1),
        tuple(name for name in fields if name in ADDED_IN_1_1),
    )


EVENT_FIELDS_1: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    event_type: _fields_1(event_type)
    for event_type in ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent")
}

# 1.2 requires these lists even when empty.
REQUIRED_LISTS_1 = {
    "ObjectEvent": "epcList",
    "AggregationEvent": "childEPCs",
    "TransactionEvent": "epcList",
}

# Kinds of event fields.
TEXT_FIELDS = frozenset(
    {
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "parentID",
        "transformationID",
        "action",
        "certificationInfo",
    }
)
CBV_FIELDS: dict[str, cbv.Vocabulary] = {"bizStep": cbv.BIZ_STEP, "disposition": cbv.DISPOSITION}
EPC_LISTS = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
QUANTITY_LISTS = frozenset(
    {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
)
SOURCE_DEST_LISTS = {"sourceList": "source", "destinationList": "destination"}
LOCATIONS = frozenset({"readPoint", "bizLocation"})
ALL_EVENT_FIELDS = frozenset(COMMON_FIELDS_2).union(*EVENT_FIELDS_2.values())

# Sensor report / metadata attributes.
SENSOR_NUMBERS = frozenset(
    {"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"}
)
SENSOR_BOOLEANS = frozenset({"booleanValue"})
SENSOR_REPORT_CBV: dict[str, cbv.Vocabulary] = {
    "type": cbv.MEASUREMENT_TYPE,
    "exception": cbv.SENSOR_ALERT_TYPE,
    "component": cbv.COMPONENT,
}
SENSOR_REPORT_STRINGS = frozenset(
    {
        "stringValue",
        "hexBinaryValue",
        "uriValue",
        "uom",
        "chemicalSubstance",
        "microorganism",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "time",
        "dataProcessingMethod",
        "coordinateReferenceSystem",
        "bizRules",
    }
)
# Order of sensorReport attributes in the XSD (the writer follows it for readability).
SENSOR_REPORT_ORDER = (
    "type",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "uom",
    "minValue",
    "maxValue",
    "sDev",
    "chemicalSubstance",
    "microorganism",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "time",
    "meanValue",
    "percRank",
    "percValue",
    "dataProcessingMethod",
    "coordinateReferenceSystem",
    "exception",
    "bizRules",
)
SENSOR_METADATA_ORDER = (
    "time",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "startTime",
    "endTime",
    "bizRules",
    "dataProcessingMethod",
)
SENSOR_METADATA_STRINGS = frozenset(SENSOR_METADATA_ORDER)  # every metadata attribute is text

# JSON document keys that XML has no element for; the writer keeps them as root attributes
# (EPCISDocument has xsd:anyAttribute) and the reader maps them back.
ROOT_ATTRIBUTE_KEYS = ("id", "sender", "receiver", "instanceIdentifier")
