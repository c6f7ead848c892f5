"""EPC matching for the ``MATCH_*`` query parameters (EPCIS 2.0 §8.2.7.1.1).

A parameter value is an identifier (EPC URN, EPC class URN or GS1 Digital Link) or an
EPC pattern URI (``urn:epc:idpat:sgtin:0614141.107346.*``). Identifiers match by
*identity*, not by spelling: a Digital Link and the EPC URN of the same thing are the same
identifier (both reduce to :func:`identity`, the canonical Digital Link). A pattern matches
an identifier of its scheme whose fields equal the pattern's fixed fields; ``*`` matches
any value. A Digital Link value is read as an EPC URN with the pattern's own company-prefix
length, so a pattern matches Digital Links too. An ``sgtin`` pattern also matches the
classes of its GTIN (``urn:epc:class:lgtin:…`` and the GTIN-level class), as the standard
asks for ``MATCH_epcClass``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from epcis.identifiers import digital_link_to_epc_urn, parse_identifier
from epcis.problems import excerpt

PATTERN_PREFIX = "urn:epc:idpat:"
_EPC_FORM = re.compile(r"^urn:epc:(id|idpat|class):([a-z0-9]+):(.*)$")
# the class schemes that an instance pattern of the key scheme also covers
_CLASS_SCHEMES = {"lgtin": "sgtin"}


class PatternError(ValueError):
    """A value that is neither an identifier nor a well-formed EPC pattern."""


@lru_cache(maxsize=65536)
def identity(value: str) -> str:
    """What identifies the same thing whatever its spelling: the canonical Digital Link of a
    GS1 key, the URN of a Chinese trace code, else the value itself."""
    try:
        return parse_identifier(value).canonical
    except Exception:
        return value


@dataclass(frozen=True)
class EpcPattern:
    scheme: str
    fields: tuple[str, ...]
    """Fixed values, then ``*`` (a fixed field never follows a ``*``)."""

    @property
    def company_prefix(self) -> str | None:
        first = self.fields[0] if self.fields else "*"
        return None if first == "*" else first

    def matches(self, value: str) -> bool:
        urn = _as_epc_urn(value, self.company_prefix)
        if urn is None:
            # a Digital Link whose company prefix is unknown still matches ``scheme:*.*…``
            return self.company_prefix is None and _kind(value) == self.scheme
        found = _EPC_FORM.match(urn)
        if found is None:
            return False
        scheme = _CLASS_SCHEMES.get(found.group(2), found.group(2))
        if scheme != self.scheme:
            return False
        parts = found.group(3).split(".")
        if len(parts) != len(self.fields):
            return False
        for want, got in zip(self.fields, parts, strict=True):
            if want != "*" and want != got:
                return False
        return True


def parse_pattern(text: str) -> EpcPattern:
    """An ``urn:epc:idpat:…`` pattern; :class:`PatternError` says what is wrong with it."""
    body = text[len(PATTERN_PREFIX) :]
    scheme, _, rest = body.partition(":")
    if not scheme or not rest:
        raise PatternError(f"{excerpt(text)} is not an EPC pattern (urn:epc:idpat:scheme:fields)")
    fields = tuple(rest.split("."))
    wild = False
    for field in fields:
        if field == "*":
            wild = True
        elif wild:
            raise PatternError(f"{excerpt(text)}: a fixed field follows a '*'")
        elif field == "" or "*" in field:
            raise PatternError(f"{excerpt(text)}: each field is a value or a single '*'")
    return EpcPattern(scheme, fields)


@dataclass(frozen=True)
class EpcMatcher:
    """One ``MATCH_*`` parameter: its identifiers (by identity) and its patterns."""

    identities: frozenset[str]
    patterns: tuple[EpcPattern, ...]

    def matches(self, value: str) -> bool:
        if identity(value) in self.identities:
            return True
        return any(p.matches(value) for p in self.patterns)


def matcher(values: list[str]) -> EpcMatcher:
    identities: set[str] = set()
    patterns: list[EpcPattern] = []
    for value in values:
        if value.startswith(PATTERN_PREFIX) and "*" in value:
            patterns.append(parse_pattern(value))
        else:
            identities.add(identity(value))
    return EpcMatcher(frozenset(identities), tuple(patterns))


@lru_cache(maxsize=65536)
def _kind(value: str) -> str | None:
    try:
        kind = parse_identifier(value).kind
    except Exception:
        return None
    return _CLASS_SCHEMES.get(kind or "", kind)


@lru_cache(maxsize=65536)
def _as_epc_urn(value: str, company_prefix: str | None) -> str | None:
    if value.startswith("urn:epc:"):
        return value
    if not value.startswith(("http://", "https://")):
        return None
    try:
        return digital_link_to_epc_urn(
            value, len(company_prefix) if company_prefix is not None else None
        )
    except Exception:
        return None
