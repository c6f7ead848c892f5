"""``python -m bench cli``: how long the ``tracecode`` command line takes to start and answer.

Each command is run ``BENCH_CLI_RUNS`` times (default 10) as a fresh process, the way a
script that calls ``tracecode id`` once per scanned code runs it; the bench reports the
median and the best wall time of each, next to a bare ``python -c pass`` (the interpreter's
own start-up, the floor). The goal the figures are read against (issue 9): ``tracecode
--help`` and ``tracecode id`` under 0.3 s. Nothing is asserted; ``tests/test_cli_imports.py``
holds what makes it so (neither command imports the JSON Schema stack, the ledger, the
projections or the HTTP server).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_CLI_RUNS", "10"))

COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("--help", ("--help",)),
    ("id (EPC URN)", ("id", "urn:epc:id:sgtin:0614141.107346.2017")),
    ("id (DataMatrix element string)", ("id", "(01)09506000134352(17)261231(10)L1(21)S1")),
    ("id (Digital Link)", ("id", "https://id.gs1.org/01/09506000134352/21/ABC")),
)


def _tracecode() -> list[str]:
    """The installed ``tracecode`` script next to this interpreter, else the module."""
    beside = Path(sys.executable).with_name("tracecode")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tracecode")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from adapters.cli import main; sys.exit(main())"]


def _wall(argv: list[str]) -> list[float]:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def _line(label: str, times: list[float]) -> tuple[float, float]:
    median, best = statistics.median(times), min(times)
    print(f"  {label:<40} median {median * 1000:7.1f} ms  best {best * 1000:7.1f} ms")
    return median, best


def machine_line() -> str:
    """Cores, Python and load average, on one line (no database needed here)."""
    try:
        load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load}"
    )


def main() -> list[str]:
    """The command-line start-up benchmark; returns its summary lines."""
    print("== cli ==")
    print(machine_line())
    tracecode = _tracecode()
    print(f"{' '.join(tracecode)}: {RUNS} runs of each, wall time per process")
    _line("python -c pass (floor)", _wall([sys.executable, "-c", "pass"]))
    lines = []
    for label, args in COMMANDS:
        median, best = _line(f"tracecode {label}", _wall([*tracecode, *args]))
        lines.append(
            f"cli tracecode {label}: median {median * 1000:.0f} ms, best {best * 1000:.0f} ms"
        )
    return lines


if __name__ == "__main__":
    main()
