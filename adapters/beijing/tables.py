"""Seed 004 §三 (数据格式), tables 1–14, as data: every field with its name as the seed
spells it, its 中文 description, its type, whether it is required, and how it nests.

The seed is the final word; where it is unclear the field or table carries a ``note``
saying how it was read (the README's "The stand-in Beijing platform" lists them all). The
seed's column 必填 has three values: 是 (required), 否 (optional) and 条件 (conditional,
the condition not stated): a conditional field is checked as optional, except where a table's
``one_of`` says at least one of some fields must be given.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Need(Enum):
    """The seed's 必填 column."""

    YES = "是"
    NO = "否"
    CONDITIONAL = "条件"


class Kind(Enum):
    """How a field's value is written. The JSON and XML forms of each are in
    :mod:`adapters.beijing.render`."""

    TEXT = "text"
    """A string (the seed's String / 字符串)."""
    NUMBER = "number"
    """An integer (数字): a JSON number, XML text of digits."""
    DATE_TIME = "date-time"
    """xs:dateTime with an offset (``2020-10-31T14:58:56.591+08:00``)."""
    OFFSET = "offset"
    """A time-zone offset ``+08:00``."""
    DATE = "date"
    """A date; the seed's examples write ``2022-06-30`` (EXP) and ``20210701`` (MFG)."""
    COUNT = "count"
    """A quantity written as a string of digits (``"100"``)."""
    LOCATION = "location"
    """``{"id": …}``; XML ``<bizLocation><id>…</id></bizLocation>`` as the seed's example."""
    EPC_LIST = "epc-list"
    """A list of codes; XML one ``item`` element per code inside the field's element."""
    TYPED_LIST = "typed-list"
    """A list of ``{"type": …, value_key: …}`` (EPCIS bizTransaction / source / destination);
    XML ``<item type="…">value</item>`` inside the field's element."""
    OBJECT = "object"
    """Fields of its own (``children``)."""
    FREE_OBJECT = "free-object"
    """An object whose members the seed does not name: string members, any names."""
    REPEATED_TEXT = "repeated-text"
    """A list of strings; XML the field's element repeated, once per string."""


@dataclass(frozen=True)
class Member:
    """One kind of entry a typed list may hold (a row of a 结构 table of the seed)."""

    type: str
    zh: str
    need: Need
    example: str = ""


@dataclass(frozen=True)
class Field:
    name: str
    """As the seed spells it (see ``seed_name`` where the two differ)."""
    zh: str
    kind: Kind
    need: Need
    seed_type: str = "String"
    example: str = ""
    children: tuple[Field, ...] = ()
    """OBJECT: its fields."""
    item: str = ""
    """EPC_LIST / TYPED_LIST: the element name of one entry."""
    item_need: Need = Need.YES
    """EPC_LIST: the seed's 必填 of the entry row (``epc``): 是 means the list is not empty."""
    value_key: str = ""
    """TYPED_LIST: the JSON member that holds an entry's value."""
    members: tuple[Member, ...] = ()
    """TYPED_LIST: the entry types the seed lists; empty when it lists none (any type)."""
    allowed: tuple[str, ...] = ()
    """TEXT: the only values the seed allows, when it closes the list."""
    seed_name: str = ""
    """The seed's spelling, when the field's name had to differ from it (``note`` says why)."""
    note: str = ""


@dataclass(frozen=True)
class Table:
    number: int
    key: str
    """English name: what a message's ``table`` says."""
    zh: str
    fields: tuple[Field, ...]
    one_of: tuple[str, ...] = ()
    """At least one of these fields must be given (an EPC_LIST: not empty)."""
    note: str = ""


NAMESPACES = {
    "cbvmda": "urn:epcglobal:cbv:mda",
    "idcode": "http://idcode.org.cn/epcis",
}
"""The XML namespaces of the prefixed field names. ``cbvmda`` is GS1 CBV master data's.
The seed names no namespace for ``idcode:`` (table 4's ``idcode:Extension``); its identifiers
all start ``http://idcode.org.cn/epcis/``, and that is used until the platform publishes one."""

# ---- fields shared by the event tables (3–12), with the seed's wording and examples ----

LOCATION_EXAMPLE = "http://idcode.org.cn/epcis/loc/MA.156.M1.123456.0123456C"
CODE_EXAMPLE = "AHM.81234567890123456789"


def event_time() -> Field:
    return Field(
        "eventTime",
        "事件发生时间，格式xs:dateTime",
        Kind.DATE_TIME,
        Need.YES,
        example="2020-10-31T14:58:56.591+08:00",
    )


def time_zone() -> Field:
    return Field("eventTimeZoneOffset", "时区", Kind.OFFSET, Need.YES, example="+08:00")


def epc_list(epc_need: Need = Need.YES) -> Field:
    return Field(
        "epcList",
        "追溯码列表（epc：追溯码）",
        Kind.EPC_LIST,
        Need.YES,
        seed_type="Array<epc>",
        example=CODE_EXAMPLE,
        item="epc",
        item_need=epc_need,
    )


def biz_location(example: str = LOCATION_EXAMPLE) -> Field:
    return Field(
        "bizLocation",
        "业务发生地点标识码",
        Kind.LOCATION,
        Need.YES,
        example=f"<id>{example}</id>",
        note="The seed types it String and shows it as <id>…</id>: written as EPCIS writes "
        'bizLocation, {"id": …} in JSON and <bizLocation><id>…</id></bizLocation> in XML.',
    )


def scanned(
    *more: Field, epcs: Need = Need.YES, location: str = LOCATION_EXAMPLE
) -> tuple[Field, ...]:
    """The fields every scan table (3, 5–12) begins with, in the seed's order, then its own;
    ``epcs``: the 必填 of its ``epc`` row, ``location``: its bizLocation example."""
    return (event_time(), time_zone(), epc_list(epcs), biz_location(location), *more)


PRESCRIBE_DOC = Field("prescribeDoc", "使用医师的姓名", Kind.TEXT, Need.NO)
PRESCRIPTION = Field("prescription", "患者的病历号/门诊号", Kind.TEXT, Need.YES)

_BTT = "urn:epcglobal:cbv:btt:"
_SDT = "urn:epcglobal:cbv:sdt:"
_ID = "http://idcode.org.cn/epcis/"


def biz_transactions(*members: Member) -> Field:
    return Field(
        "bizTransactionList",
        "交易信息",
        Kind.TYPED_LIST,
        Need.YES,
        seed_type="Array<BizTransaction>",
        item="bizTransaction",
        value_key="bizTransaction",
        members=members,
    )


ORDER = Member(_BTT + "po", "订单号", Need.YES, _ID + "po/MA.156.M2.123456.POnum")
INVOICE = Member(_BTT + "inv", "发票", Need.YES, _ID + "inv/发票代码.发票号码")
RECEIPT = Member(_BTT + "recadv", "入库单号", Need.YES, _ID + "recadv/MA.156.M2.123456.RECnum")
DISPATCH = Member(_BTT + "desadv", "出库单号", Need.YES, _ID + "desadv/MA.156.M2.123456.ASNnum")

OWNER = Member(
    _SDT + "owning_party",
    "来源单位标识码（货主）",
    Need.YES,
    _ID + "loc/MA.156.M1.123456.0123456C.120",
)
CARRIER = Member(
    _SDT + "possessing_party",
    "三方物流标识码（条件可选）",
    Need.CONDITIONAL,
    _ID + "loc/MA.156.M1.135790.0123456C.120",
)
CARRIER_WAREHOUSE = Member(
    _SDT + "location",
    "三方物流仓库标识码",
    Need.CONDITIONAL,
    _ID + "loc/MA.156.M1.135790.0123456C.08",
)


def extension(need_lists: Need = Need.YES, note: str = "") -> Field:
    """The 附加信息Extension 结构 of tables 5 and 6 (sourceList, destinationList)."""
    return Field(
        "extension",
        "扩展信息",
        Kind.OBJECT,
        Need.NO,
        seed_type="OBJECT",
        children=(
            Field(
                "sourceList",
                "来源信息",
                Kind.TYPED_LIST,
                need_lists,
                seed_type="Array<Source>",
                item="source",
                value_key="source",
                members=(OWNER, CARRIER),
            ),
            Field(
                "destinationList",
                "去向信息",
                Kind.TYPED_LIST,
                need_lists,
                seed_type="Array<Destination>",
                item="destination",
                value_key="destination",
                members=(CARRIER_WAREHOUSE,),
            ),
        ),
        note=note,
    )


LOT = Field("cbvmda:lotNumber", "生产批号", Kind.TEXT, Need.NO, example="Lot001")

# ---- the tables ----

OBJECT_KEY = Field(
    "ObjectKey",
    "请求的产品序列号类型及发码机构；申请序列号产品的药品标识码或医疗器械UDI-DI",
    Kind.OBJECT,
    Need.YES,
    children=(
        Field("Name", "请求的产品序列号类型及发码机构", Kind.TEXT, Need.YES),
        Field("Value", "申请序列号产品的药品标识码或医疗器械UDI-DI", Kind.TEXT, Need.YES),
    ),
    seed_name="ObjectKey Name / ObjectKey Value",
    note="The seed's rows 'ObjectKey Name' and 'ObjectKey Value' are read as the members "
    "Name and Value of one ObjectKey (a name with a space can be no XML element).",
)
ID_TYPE = Field(
    "IDType",
    "请求的产品序列号类型及发码机构。允许值：GTIN、SSCC、MA等",
    Kind.TEXT,
    Need.YES,
    example="GTIN",
    note="The seed lists GTIN, SSCC, MA 'and others' (等): an open list, so any value is taken.",
)
SENDER = Field("Sender_ID", "发送方标识码", Kind.TEXT, Need.YES)
RECEIVER = Field("Receiver_ID", "接收方标识码", Kind.TEXT, Need.YES)

SERIAL_REQUEST = Table(
    1,
    "serial-request",
    "申请序列号信息表",
    (
        Field("SendingSystem", "赋码线或赋码场地的标识码，如GLN等", Kind.TEXT, Need.YES),
        ID_TYPE,
        Field("size", "请求的序列号数量", Kind.NUMBER, Need.YES, seed_type="数字", example="50000"),
        OBJECT_KEY,
        SENDER,
        RECEIVER,
    ),
)

SERIAL_ISSUE = Table(
    2,
    "serial-issue",
    "序列号发码信息",
    (
        Field("ReceivingSystem", "赋码线或赋码场地的标识码，如GLN", Kind.TEXT, Need.YES),
        Field(
            "ACTIONCODE",
            "R-拒绝，P-部分，C-完成",
            Kind.TEXT,
            Need.YES,
            seed_type="字符串",
            example="C",
            allowed=("R", "P", "C"),
        ),
        ID_TYPE,
        Field(
            "size",
            "包装生产线请求的序列号数量",
            Kind.NUMBER,
            Need.YES,
            seed_type="数字",
            example="50000",
        ),
        Field(
            "SerialNumber",
            "序列号列表",
            Kind.REPEATED_TEXT,
            Need.YES,
            seed_type="字符串",
            example="86153050000031896084",
            note="Typed 字符串 but described as 序列号列表 (a list): a list of strings, in XML "
            "one SerialNumber element per number. The seed does not say whether a refusal "
            "(ACTIONCODE R) lists none; the list is required and so not empty.",
        ),
        OBJECT_KEY,
        SENDER,
        RECEIVER,
    ),
    note="Sent by the platform in answer to table 1; the stand-in also takes it, to check it.",
)

COMMISSIONING = Table(
    3,
    "commissioning",
    "进口赋码信息",
    scanned(
        LOT,
        Field(
            "cbvmda:itemExpirationDate",
            "有效期至",
            Kind.DATE,
            Need.YES,
            example="2022-06-30",
            seed_name="Cbvmda:itemExpirationDate",
            note="The seed writes 'Cbvmda:' with a capital C here and 'cbvmda:' for the lot "
            "number one row above; prefixes are case-sensitive and CBV's is cbvmda.",
        ),
        Field("certificateNo", "急需进口药械批准文件编号", Kind.TEXT, Need.YES),
        Field("ImportID", "进口药械通关单号", Kind.TEXT, Need.YES),
    ),
)

AGGREGATION = Table(
    4,
    "aggregation",
    "包装级联信息",
    (
        event_time(),
        time_zone(),
        Field(
            "parentID",
            "追溯码父码，如二级码",
            Kind.TEXT,
            Need.YES,
            example="AHM.81234567890123456788",
        ),
        Field(
            "childEPCs",
            "追溯码子码列表，如一级码（epc：追溯码）",
            Kind.EPC_LIST,
            Need.YES,
            seed_type="Array<epc>",
            example=CODE_EXAMPLE,
            item="epc",
        ),
        biz_location(),
        Field(
            "idcode:Extension",
            "批次附加信息",
            Kind.OBJECT,
            Need.NO,
            seed_type="OBJECT",
            children=(
                Field("LOT", "生产批号", Kind.TEXT, Need.NO, example="Lot001"),
                Field("EXP", "有效期至", Kind.DATE, Need.YES, example="2022-06-30"),
                Field("MFG", "生产日期", Kind.DATE, Need.YES, example="20210701"),
                Field("QTY", "数量", Kind.COUNT, Need.YES, example="100"),
            ),
            note="Optional as a whole, while EXP, MFG and QTY in it are required: they are "
            "required when the extension is given.",
        ),
    ),
)

RECEIVING = Table(
    5,
    "receiving",
    "入库信息",
    scanned(
        biz_transactions(ORDER, INVOICE, RECEIPT),
        extension(),
    ),
)

SHIPPING = Table(
    6,
    "shipping",
    "出库信息",
    scanned(
        biz_transactions(ORDER, INVOICE, DISPATCH),
        extension(),
    ),
)

USE = Table(
    7,
    "use",
    "使用信息",
    scanned(PRESCRIBE_DOC, PRESCRIPTION),
)

TAKE_AWAY = Table(
    8,
    "take-away",
    "带离信息",
    scanned(PRESCRIBE_DOC, PRESCRIPTION),
)

RECALL = Table(
    9,
    "recall",
    "召回信息",
    scanned(
        Field("cbvmda:lotNumber", "产品批号", Kind.TEXT, Need.CONDITIONAL),
        Field("QTY", "产品数量", Kind.COUNT, Need.NO),
        epcs=Need.CONDITIONAL,
        location="http://ui.idcode.cn/epcis/loc/MA.156.M1.654321.0123456C",
    ),
    one_of=("epcList", "cbvmda:lotNumber"),
    note="epc and cbvmda:lotNumber are both 条件 with no condition given; read as: a recall "
    "names its codes or its lot, so epcList may be empty when the lot is given.",
)

SPLIT = Table(
    10,
    "split",
    "拆零信息",
    scanned(PRESCRIBE_DOC, PRESCRIPTION),
)

DESTRUCTION = Table(
    11,
    "destruction",
    "销毁信息",
    scanned(
        biz_transactions(),
        extension(
            Need.NO,
            note="Table 11 gives no structure for its extension: the structure of tables 5 "
            "and 6 is taken, with nothing in it required.",
        ),
    ),
    note="Table 11 lists no bizTransaction types: any type is taken, none is required.",
)

FOLLOW_UP = Table(
    12,
    "follow-up",
    "追访信息",
    scanned(
        PRESCRIPTION,
        Field(
            "Pic",
            "每一独立包装的开启和最后一次使用的产品内包装照片",
            Kind.FREE_OBJECT,
            Need.YES,
            seed_type="Object",
        ),
        Field(
            "video",
            "每一独立包装的开启和最后一次使用的产品内包装视频",
            Kind.FREE_OBJECT,
            Need.YES,
            seed_type="Object",
        ),
    ),
    note="Pic and video are typed Object with no members named: objects of strings (e.g. "
    "links), any member names. Both are 是 in the table although §二(九) asks for two photos "
    "OR two videos; the table is followed.",
)

DRUG = Table(
    13,
    "drug",
    "药品主数据",
    (
        Field("additionalTradeItemIdentification", "药品标识码", Kind.TEXT, Need.YES),
        Field(
            "additionalTradeItemIdentificationTypeCode", "药品标识码发码机构", Kind.TEXT, Need.YES
        ),
        Field("regulatedProductName", "药品通用名称", Kind.TEXT, Need.YES),
        Field("manufacturerOfTradeItemPartyName", "药品持有人", Kind.TEXT, Need.YES),
        Field("dosageFormType", "剂型", Kind.TEXT, Need.YES),
        Field("strengthDescription", "制剂规格", Kind.TEXT, Need.YES),
        Field("netContentDescription", "包装规格", Kind.TEXT, Need.YES),
    ),
    note="注：医疗器械主数据参见UDI数据库字段 (devices: the UDI database's fields, not here).",
)

ENTITY = Table(
    14,
    "entity",
    "实体标识数据（单位、仓库、产线、地点位置等）",
    (
        Field("name", "实体名称", Kind.TEXT, Need.YES),
        Field("streetAddressOne", "地址1", Kind.TEXT, Need.YES),
        Field("streetAddressTwo", "地址2", Kind.TEXT, Need.YES),
        Field("city", "市", Kind.TEXT, Need.YES),
        Field("state", "省", Kind.TEXT, Need.YES),
        Field("postalCode", "邮政编码", Kind.TEXT, Need.YES),
        Field("countryCode", "国家/地区代码", Kind.TEXT, Need.YES),
    ),
    note="The table names no identifier of the entity (its GLN or MA code): none is added.",
)

TABLES: tuple[Table, ...] = (
    SERIAL_REQUEST,
    SERIAL_ISSUE,
    COMMISSIONING,
    AGGREGATION,
    RECEIVING,
    SHIPPING,
    USE,
    TAKE_AWAY,
    RECALL,
    SPLIT,
    DESTRUCTION,
    FOLLOW_UP,
    DRUG,
    ENTITY,
)
BY_KEY = {table.key: table for table in TABLES}


def describe(table: Table) -> dict[str, object]:
    """A table as plain data (``GET /tables`` of the stand-in)."""
    return {
        "number": table.number,
        "key": table.key,
        "zh": table.zh,
        "fields": [_describe_field(field) for field in table.fields],
        **({"oneOf": list(table.one_of)} if table.one_of else {}),
        **({"note": table.note} if table.note else {}),
    }


def _describe_field(field: Field) -> dict[str, object]:
    out: dict[str, object] = {
        "name": field.name,
        "zh": field.zh,
        "type": field.seed_type,
        "kind": field.kind.value,
        "required": field.need.value,
    }
    extras: dict[str, object] = {
        "example": field.example,
        "item": field.item,
        "seedName": field.seed_name,
        "allowed": list(field.allowed),
        "members": [
            {"type": m.type, "zh": m.zh, "required": m.need.value, "example": m.example}
            for m in field.members
        ],
        "fields": [_describe_field(child) for child in field.children],
        "note": field.note,
    }
    out.update({key: value for key, value in extras.items() if value})
    return out
