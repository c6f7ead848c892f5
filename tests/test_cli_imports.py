"""``tracecode --help`` and ``tracecode id`` import only what they use (issue 9, item 4).

The JSON Schema stack (``rfc3987_syntax`` builds a parser grammar at import: seconds of
CPU), the ledger, the projections and the HTTP server are imported inside the commands that
need them. These tests assert *what* a fresh interpreter imported, never how long it took;
the time is a figure of ``make bench`` (``python -m bench cli``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = frozenset(
    {
        "jsonschema",
        "rfc3987_syntax",
        "lark",
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "eventsourcing",
        "psycopg",
        "lxml",
        "ledger",
        "projections",
    }
)
"""Top-level packages that neither ``--help`` nor ``id`` may import."""

HEAVY_MODULES = frozenset({"epcis.validation", "epcis.document", "adapters.http"})
"""Our own modules (and their submodules) that pull in the stacks above."""

_PROBE = """
import json, sys
from adapters.cli import main
try:
    main(sys.argv[1:], prog_name="tracecode")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.write("\\n" + json.dumps({"exit": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _run(*args: str) -> tuple[int, set[str]]:
    """Run ``tracecode ARGS`` in a fresh interpreter; its exit code and the modules it held."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return last["exit"], set(last["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in HEAVY or any(m == h or m.startswith(h + ".") for h in HEAVY_MODULES)
    )


def test_importing_the_cli_imports_nothing_heavy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import adapters.cli, sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    modules = set(done.stdout.split())
    assert _heavy(modules) == []
    assert not any(m == "epcis" or m.startswith("epcis.") for m in modules)


def test_help_imports_nothing_heavy() -> None:
    code, modules = _run("--help")
    assert code == 0
    assert _heavy(modules) == []
    assert not any(m.startswith("epcis.") for m in modules)


@pytest.mark.parametrize(
    "raw",
    [
        "urn:epc:id:sgtin:0614141.107346.2017",
        "https://id.gs1.org/01/09506000134352/21/ABC",
        "(01)09506000134352(17)261231(10)L1(21)S1",
        "not an identifier",
    ],
)
def test_id_imports_only_the_identifier_parser(raw: str) -> None:
    code, modules = _run("id", raw)
    assert code == (1 if raw == "not an identifier" else 0)
    assert "epcis.identifiers.parse" in modules
    assert _heavy(modules) == []
    assert "pydantic" not in modules  # Identifier is a dataclass: pydantic was ~1/4 of `id`
