"""The import rules between the packages, checked on the source (every import, also those
inside functions).

- ``epcis`` (the standard) imports nothing of ``ledger``, ``projections`` or ``adapters``;
  ``ledger`` (the write side) nothing of ``projections`` or ``adapters``; ``projections``
  (the read side) nothing of ``adapters``.
- Adapters: inbound ones drive tracecode (``adapters.cli``, ``adapters.http``), outbound
  ones are driven by it (``adapters.webhooks``, ``adapters.nhsa`` the 医保 messages,
  ``adapters.beijing`` the Beijing platform's). No adapter imports another; no inbound
  adapter imports a database driver.
- ``adapters.bootstrap`` is the composition root, not an adapter: it wires every adapter to
  the rest and may import them all; of the adapters only the command line (an entry point
  that calls it) imports it.

``KNOWN`` lists by name the edges that break these rules; the test fails on any edge not
listed, and on a listed one that is gone (so the list only shrinks). It is empty.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("epcis", "ledger", "projections", "adapters")
DRIVERS = frozenset({"sqlalchemy", "sqlite3", "psycopg", "psycopg_pool"})
FORBIDDEN = {
    "epcis": {"ledger", "projections", "adapters"},
    "ledger": {"projections", "adapters"},
    "projections": {"adapters"},
}
INBOUND = frozenset({"cli", "http"})
COMPOSITION_ROOT = "bootstrap"
"""``adapters.bootstrap``: the composition root."""
CALLS_ROOT = frozenset({"cli"})

KNOWN: set[tuple[str, str]] = set()


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def imported(module: str, path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                yield ".".join([*base, *([node.module] if node.module else [])])
            elif node.module:
                yield node.module


def _adapter(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "adapters" and len(parts) > 1 else None


def broken(module: str, name: str) -> bool:
    top = module.split(".")[0]
    if name.split(".")[0] in FORBIDDEN.get(top, set()):
        return True
    mine, theirs = _adapter(module), _adapter(name)
    if mine is None:
        return False
    if name.split(".")[0] in DRIVERS:
        return mine in INBOUND
    if mine == COMPOSITION_ROOT:
        return False
    if theirs == COMPOSITION_ROOT:
        return mine not in CALLS_ROOT
    return theirs is not None and theirs != mine


def violations() -> set[tuple[str, str]]:
    return {
        (module, name)
        for module, path in modules()
        for name in imported(module, path)
        if broken(module, name)
    }


def test_the_packages_keep_their_import_rules() -> None:
    found = violations()
    assert found - KNOWN == set(), "new imports across the layers"
    assert KNOWN - found == set(), "gone: take them off KNOWN"


def test_the_rules_catch_what_they_are_about() -> None:
    assert broken("epcis.document", "ledger.application")
    assert broken("ledger.capture", "projections.runner")
    assert broken("projections.stock", "adapters.http.app")
    assert broken("adapters.webhooks.delivery", "adapters.http.documents")
    assert broken("adapters.http.reads", "adapters.webhooks")
    assert broken("adapters.http.reads", "sqlalchemy")
    assert broken("adapters.cli", "psycopg")
    assert broken("adapters.cli", "adapters.http.transport")
    assert broken("adapters.http.app", "adapters.bootstrap")
    assert not broken("adapters.cli.store", "adapters.bootstrap")
    assert not broken("adapters.bootstrap", "adapters.webhooks")
    assert not broken("adapters.bootstrap", "adapters.http.app")
    assert not broken("adapters.webhooks.delivery", "adapters.webhooks.destinations")
    assert broken("adapters.nhsa.standin", "adapters.webhooks")
    assert broken("adapters.cli.standin", "adapters.nhsa.standin")
    assert broken("adapters.nhsa.check", "adapters.http.problems")
    assert not broken("adapters.bootstrap", "adapters.nhsa.standin")
    assert not broken("adapters.nhsa.check", "epcis.problems")
    assert not broken("ledger.postgres", "psycopg")
    assert broken("adapters.beijing.standin", "adapters.webhooks.delivery")
    assert broken("adapters.cli.standin", "adapters.beijing.standin")
    assert not broken("adapters.beijing.check", "epcis.validation.rules.times")
    assert not broken("projections.runner", "epcis.document")
