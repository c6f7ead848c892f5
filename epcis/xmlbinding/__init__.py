"""The EPCIS XML binding: safe parsing, XML ↔ internal form, XSD validation."""

from epcis.xmlbinding.reader import XmlReadResult, read_xml
from epcis.xmlbinding.safe import parse_xml
from epcis.xmlbinding.writer import write_xml
from epcis.xmlbinding.xsd import validate_xml_schema

__all__ = ["XmlReadResult", "parse_xml", "read_xml", "validate_xml_schema", "write_xml"]
