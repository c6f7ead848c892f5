"""Typed models of EPCIS 2.0 documents and events (a view of the JSON-LD internal form).

``model_validate(doc)`` on the internal form and ``to_jsonld()`` back give the same dict:
standard fields are typed, user extensions (``prefix:name`` keys) are kept as extra fields
in the order they came, at every level that has an extension point.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from epcis.context import namespaces
from epcis.event_hash import document_hash_ids
from epcis.event_types import EVENT_TYPES

Number = int | float
Action = Literal["ADD", "OBSERVE", "DELETE"]


class _Node(BaseModel):
    """A JSON-LD object with an extension point: unknown keys are kept, in order."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)

    def to_jsonld(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")

    @property
    def extensions(self) -> dict[str, Any]:
        """The user extension fields (``prefix:name``) of this object."""
        return dict(self.__pydantic_extra__ or {})


class QuantityElement(_Node):
    epcClass: str
    quantity: Number | None = None
    uom: str | None = None


class BizTransaction(_Node):
    type: str | None = None
    bizTransaction: str


class Source(_Node):
    type: str
    source: str


class Destination(_Node):
    type: str
    destination: str


class Location(_Node):
    """A ``readPoint`` or ``bizLocation``."""

    id: str


class PersistentDisposition(_Node):
    set: list[str] | None = None
    unset: list[str] | None = None


class ErrorDeclaration(_Node):
    declarationTime: str
    reason: str | None = None
    correctiveEventIDs: list[str] | None = None


class SensorMetadata(_Node):
    time: str | None = None
    startTime: str | None = None
    endTime: str | None = None
    deviceID: str | None = None
    deviceMetadata: str | None = None
    rawData: str | None = None
    dataProcessingMethod: str | None = None
    bizRules: str | None = None


class SensorReport(_Node):
    type: str | None = None
    exception: str | None = None
    deviceID: str | None = None
    deviceMetadata: str | None = None
    rawData: str | None = None
    dataProcessingMethod: str | None = None
    time: str | None = None
    microorganism: str | None = None
    chemicalSubstance: str | None = None
    value: Number | None = None
    component: str | None = None
    stringValue: str | None = None
    booleanValue: bool | None = None
    hexBinaryValue: str | None = None
    uriValue: str | None = None
    minValue: Number | None = None
    maxValue: Number | None = None
    meanValue: Number | None = None
    sDev: Number | None = None
    percRank: Number | None = None
    percValue: Number | None = None
    uom: str | None = None
    coordinateReferenceSystem: str | None = None


class SensorElement(_Node):
    sensorMetadata: SensorMetadata | None = None
    sensorReport: list[SensorReport] = Field(default_factory=list)


class _Event(_Node):
    """Fields every event type has."""

    eventID: str | None = None
    eventTime: str
    eventTimeZoneOffset: str
    recordTime: str | None = None
    errorDeclaration: ErrorDeclaration | None = None
    certificationInfo: str | list[str] | None = None
    bizStep: str | None = None
    disposition: str | None = None
    persistentDisposition: PersistentDisposition | None = None
    readPoint: Location | None = None
    bizLocation: Location | None = None
    bizTransactionList: list[BizTransaction] | None = None
    sourceList: list[Source] | None = None
    destinationList: list[Destination] | None = None
    sensorElementList: list[SensorElement] | None = None

    @property
    def event_time(self) -> datetime:
        """``eventTime`` as an aware datetime."""
        return datetime.fromisoformat(self.eventTime.replace("Z", "+00:00"))


class ObjectEvent(_Event):
    type: Literal["ObjectEvent"] = "ObjectEvent"
    action: Action
    epcList: list[str] | None = None
    quantityList: list[QuantityElement] | None = None
    ilmd: dict[str, Any] | None = None


class _ParentChildEvent(_Event):
    """Fields of an event about a parent and its children (aggregation, association)."""

    type: str
    action: Action
    parentID: str | None = None
    childEPCs: list[str] | None = None
    childQuantityList: list[QuantityElement] | None = None


class AggregationEvent(_ParentChildEvent):
    type: Literal["AggregationEvent"] = "AggregationEvent"


class TransactionEvent(_Event):
    type: Literal["TransactionEvent"] = "TransactionEvent"
    action: Action
    parentID: str | None = None
    epcList: list[str] | None = None
    quantityList: list[QuantityElement] | None = None


class TransformationEvent(_Event):
    type: Literal["TransformationEvent"] = "TransformationEvent"
    inputEPCList: list[str] | None = None
    inputQuantityList: list[QuantityElement] | None = None
    outputEPCList: list[str] | None = None
    outputQuantityList: list[QuantityElement] | None = None
    transformationID: str | None = None
    ilmd: dict[str, Any] | None = None


class AssociationEvent(_ParentChildEvent):
    type: Literal["AssociationEvent"] = "AssociationEvent"


class ExtensionEvent(_Event):
    """An event of a user-defined type (``"type": "example:CustomEvent"``)."""

    type: str


STANDARD_EVENT_TYPES = EVENT_TYPES


def _event_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in STANDARD_EVENT_TYPES else "extension"


Event = Annotated[
    Annotated[ObjectEvent, Tag("ObjectEvent")]
    | Annotated[AggregationEvent, Tag("AggregationEvent")]
    | Annotated[TransactionEvent, Tag("TransactionEvent")]
    | Annotated[TransformationEvent, Tag("TransformationEvent")]
    | Annotated[AssociationEvent, Tag("AssociationEvent")]
    | Annotated[ExtensionEvent, Tag("extension")],
    Discriminator(_event_tag),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class EPCISBody(_Node):
    eventList: list[Event] = Field(default_factory=list)


class ResultsBody(_Node):
    eventList: list[Event] = Field(default_factory=list)


class QueryResults(_Node):
    queryName: str | None = None
    subscriptionID: str | None = None
    resultsBody: ResultsBody


class QueryBody(_Node):
    queryResults: QueryResults


class _Document(_Node):
    context: list[Any] | str | dict[str, Any] = Field(alias="@context")
    schemaVersion: str
    creationDate: str
    epcisHeader: dict[str, Any] | None = None

    @property
    def namespaces(self) -> dict[str, str]:
        return namespaces({"@context": self.context})

    @property
    @abstractmethod
    def events(self) -> list[Event]:
        """The events, wherever this kind of document keeps them."""

    def hash_ids(self) -> list[str]:
        """The Event Hash ID of each event, in document order."""
        return document_hash_ids(self.to_jsonld())  # contexts on events taken in


class EPCISDocument(_Document):
    type: Literal["EPCISDocument"] = "EPCISDocument"
    epcisBody: EPCISBody

    @property
    def events(self) -> list[Event]:
        return self.epcisBody.eventList


class EPCISQueryDocument(_Document):
    type: Literal["EPCISQueryDocument"] = "EPCISQueryDocument"
    epcisBody: QueryBody

    @property
    def events(self) -> list[Event]:
        return self.epcisBody.queryResults.resultsBody.eventList


AnyDocument = Annotated[EPCISDocument | EPCISQueryDocument, Field(discriminator="type")]
DOCUMENT_ADAPTER: TypeAdapter[EPCISDocument | EPCISQueryDocument] = TypeAdapter(AnyDocument)


def parse_event(event: dict[str, Any]) -> Event:
    """The typed model of one event in the internal form."""
    return EVENT_ADAPTER.validate_python(event)


def parse_document(document: dict[str, Any]) -> EPCISDocument | EPCISQueryDocument:
    """The typed model of a document in the internal form."""
    return DOCUMENT_ADAPTER.validate_python(document)
