"""The ``@context`` of an EPCIS JSON-LD document: the EPCIS context URL and namespace prefixes.

Two facts about prefixes live here, because hashing, validation, conversion and queries
must agree on them:

- **What an undeclared standard prefix names** (:data:`STANDARD_NAMESPACES`). A JSON-LD
  document may use ``cbvmda:``, ``gs1:``… without declaring them: the EPCIS context does.
  Where the GS1 XML binding (its XSDs and examples) spells the same namespace differently
  from that context, the XML spelling is taken (:data:`XML_SPELLINGS`), so that an event
  written the usual way in either syntax has one Event Hash ID. A prefix the document
  *declares* names what the declaration says, as the reference hash vectors require.
- **Contexts below the document** (:func:`lift_scoped_contexts`): JSON-LD lets any object
  carry its own ``@context``; the internal form keeps one, at the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from epcis.problems import Problem, pointer_join

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

XML_SPELLINGS: dict[str, str] = {"cbvmda": "urn:epcglobal:cbv:mda"}
"""Standard prefixes whose namespace the GS1 XML binding spells unlike the EPCIS context.

CBV 2.0 §8 and every GS1 XML example declare ``xmlns:cbvmda="urn:epcglobal:cbv:mda"``; the
EPCIS 2.0 JSON-LD context maps ``cbvmda`` to ``urn:epcglobal:cbv:mda:``. The other prefixes
both define (``epcis``, ``cbv``, ``gs1``, ``sbdh``) are spelled alike; ``xsd`` differs
only by a ``#`` and is never an extension namespace. OpenEPCIS's converter also writes
``xmlns:cbvmda="urn:epcglobal:cbv:mda"`` for a JSON-LD document that uses ``cbvmda``."""

STANDARD_NAMESPACES: dict[str, str] = {**BUILTIN_PREFIXES, **XML_SPELLINGS}
"""What a standard prefix names when a document uses it without declaring it."""

SAME_NAMESPACE: dict[str, str] = {xml: BUILTIN_PREFIXES[p] for p, xml in XML_SPELLINGS.items()}
"""One spelling for queries: a field asked for as ``cbvmda:lotNumber`` is the same master-data
attribute whichever spelling the capturing document declared."""


def namespaces(document: Mapping[str, Any]) -> dict[str, str]:
    """Prefix → namespace URI declared in the document's ``@context`` (later entries win)."""
    return context_prefixes(document.get("@context"))


def context_prefixes(ctx: Any) -> dict[str, str]:
    """Prefix → namespace URI of one ``@context`` value (a URL, an object, or a list)."""
    out: dict[str, str] = {}
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


def make_context(prefixes: Mapping[str, str]) -> list[Any]:
    """A ``@context`` list: the EPCIS context URL, then one object per declared prefix.

    A prefix bound to what it names undeclared (:data:`STANDARD_NAMESPACES`) is left out:
    the EPCIS context implies it, and a JSON-LD processor then expands it the standard way.
    """
    ctx: list[Any] = [EPCIS_CONTEXT_URL]
    ctx.extend(
        {prefix: uri} for prefix, uri in prefixes.items() if STANDARD_NAMESPACES.get(prefix) != uri
    )
    return ctx


def prefix_of(key: str) -> str | None:
    """The prefix of a compact IRI key ``prefix:local`` (not ``scheme://…``), or None."""
    prefix, sep, local = key.partition(":")
    if not sep or not prefix or local.startswith("//") or key.startswith("@"):
        return None
    return prefix


# -- contexts below the document -------------------------------------------------------------

SCOPED_CONTEXT_RULE = "scoped-context"


@dataclass
class _Uses:
    """Per prefix: the namespace each use of it resolves to (None: bound nowhere), and
    where a scoped ``@context`` first bound it to that namespace."""

    names: dict[str, dict[str | None, None]] = field(default_factory=dict)  # ordered sets
    bound_at: dict[tuple[str, str], str] = field(default_factory=dict)


def lift_scoped_contexts(document: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The document with every ``@context`` below its top taken into the top one.

    JSON-LD allows ``@context`` on any object (events in other repositories' exports and in
    query results often carry their own); hashing, validation, conversion and queries work
    on one context per document. A prefix a nested context binds is declared at the top
    under its own name when nothing else in the document uses that name for another
    namespace; otherwise the fields under that context get a fresh prefix (``ex2``) for
    the same namespace, with a warning at the context that bound it. Either way every field
    keeps its namespace, so every Event Hash ID is what the nested form gives. Values are
    left as written (a CURIE value is opaque to the hash and the XML binding alike).
    """
    if not has_nested_context(document):
        return document, []
    top = namespaces(document)
    uses = _Uses()
    _collect(document, top, "", uses, root=True)
    names, hoisted, problems = _names(top, uses)
    lifted = _rewrite(document, top, names, root=True)
    if hoisted:
        ctx = lifted.get("@context")
        entries = ctx if isinstance(ctx, list) else [] if ctx is None else [ctx]
        lifted["@context"] = [*entries, hoisted]
    return lifted, problems


def has_nested_context(document: dict[str, Any]) -> bool:
    """Whether any object below the top has a ``@context`` (a plain walk, no bookkeeping:
    most documents have none, and the writer asks for every one)."""
    stack: list[Any] = [*document.values()]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "@context" in value:
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _resolve(prefix: str, scope: Mapping[str, str]) -> str | None:
    return scope.get(prefix) or STANDARD_NAMESPACES.get(prefix)


def _collect(node: Any, scope: Mapping[str, str], at: str, uses: _Uses, *, root: bool) -> None:
    stack: list[tuple[Any, Mapping[str, str], str, bool]] = [(node, scope, at, root)]
    while stack:
        value, bindings, here, is_root = stack.pop()
        if isinstance(value, dict):
            if not is_root and "@context" in value:
                own = context_prefixes(value["@context"])
                bindings = {**bindings, **own}
                for bound, uri in own.items():
                    uses.bound_at.setdefault((bound, uri), pointer_join(here, "@context"))
            for key in value:
                if key == "@context":
                    continue
                used = prefix_of(key) if isinstance(key, str) else None
                if used is not None:
                    uses.names.setdefault(used, {})[_resolve(used, bindings)] = None
            # Pushed last to first: popped, and so seen, in document order.
            for key, child in reversed(value.items()):
                if key != "@context":
                    stack.append((child, bindings, pointer_join(here, str(key)), False))
        elif isinstance(value, list):
            for index in range(len(value) - 1, -1, -1):
                stack.append((value[index], bindings, pointer_join(here, index), False))


def _names(
    top: Mapping[str, str], uses: _Uses
) -> tuple[dict[tuple[str, str | None], str], dict[str, str], list[Problem]]:
    """The prefix each (prefix, namespace) use is written with once lifted; what the top
    context must declare anew; a warning per renamed binding."""
    taken = set(uses.names) | set(top) | set(STANDARD_NAMESPACES)
    taken |= {prefix for prefix, _ in uses.bound_at}
    names: dict[tuple[str, str | None], str] = {}
    hoisted: dict[str, str] = {}
    problems: list[Problem] = []
    for prefix, resolved in uses.names.items():
        at_top = _resolve(prefix, top)
        # A prefix bound nowhere at the top and used nowhere unbound is free: the first
        # namespace a nested context binds it to (in document order) keeps its name.
        free = at_top is None and None not in resolved
        for uri in (u for u in resolved if u is not None and u != at_top):
            if free:
                name, free = prefix, False
            else:
                n = 2
                while f"{prefix}{n}" in taken:
                    n += 1
                name = f"{prefix}{n}"
                taken.add(name)
                problems.append(
                    Problem(
                        f"prefix {prefix!r} is bound here to {uri!r} but elsewhere in the "
                        f"document to another namespace (or to none): the fields it names "
                        f"under this context are kept under the prefix {name!r}, same namespace",
                        pointer=uses.bound_at.get((prefix, uri)),
                        rule=SCOPED_CONTEXT_RULE,
                        severity="warning",
                    )
                )
            names[(prefix, uri)] = name
            hoisted[name] = uri
    return names, hoisted, problems


def _rewrite(
    node: Any,
    scope: Mapping[str, str],
    names: Mapping[tuple[str, str | None], str],
    *,
    root: bool = False,
) -> Any:
    if isinstance(node, dict):
        if not root and "@context" in node:
            scope = {**scope, **context_prefixes(node["@context"])}
        out: dict[str, Any] = {}
        for key, child in node.items():
            if key == "@context" and not root:
                continue
            new_key = key
            prefix = prefix_of(key) if isinstance(key, str) and key != "@context" else None
            if prefix is not None:
                name = names.get((prefix, _resolve(prefix, scope)))
                if name is not None and name != prefix:
                    new_key = name + key[len(prefix) :]
            out[new_key] = child if key == "@context" else _rewrite(child, scope, names)
        return out
    if isinstance(node, list):
        return [_rewrite(child, scope, names) for child in node]
    return node
