"""The ``@context`` of an EPCIS JSON-LD document: the EPCIS context URL and namespace prefixes."""

from __future__ import annotations

from typing import Any

EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
KNOWN_EPCIS_CONTEXTS = frozenset(
    {
        EPCIS_CONTEXT_URL,
        "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
        "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    }
)

# Prefixes that the EPCIS context itself defines; documents may use them without declaring.
BUILTIN_PREFIXES: dict[str, str] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "gs1": "https://gs1.org/voc/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "dcterms": "http://purl.org/dc/terms/",
    "sbdh": "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader",
}


def namespaces(document: dict[str, Any]) -> dict[str, str]:
    """Prefix → namespace URI declared in the document's ``@context`` (later entries win)."""
    out: dict[str, str] = {}
    ctx = document.get("@context")
    entries = ctx if isinstance(ctx, list) else [ctx]
    for entry in entries:
        if isinstance(entry, dict):
            for key, value in entry.items():
                if key.startswith("@"):
                    continue
                if isinstance(value, str):
                    out[key] = value
                elif isinstance(value, dict) and isinstance(value.get("@id"), str):
                    out[key] = value["@id"]
    return out


def make_context(prefixes: dict[str, str]) -> list[Any]:
    """A ``@context`` list: the EPCIS context URL, then one object per declared prefix."""
    ctx: list[Any] = [EPCIS_CONTEXT_URL]
    ctx.extend({prefix: uri} for prefix, uri in prefixes.items())
    return ctx
