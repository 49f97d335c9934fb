"""What every engine in the comparison shares: the bench environment's paths, the
answers each workload must give (the same checks as devhost's own benchmark), and the
shape of an engine."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Protocol

from benchmarks.compare.table import Results
from benchmarks.devhost_throughput import (
    Figure,
    WrongResult,
    check,
    check_events,
    event_plan,
    expected_fan_out,
    expected_sequence,
)

ROOT = Path(__file__).resolve().parents[2]
# ./dev bench --compare installs the other engines here (requirements-bench.txt), never
# into the app's .venv; its install log says why an engine is missing.
BENCH_VENV = ROOT / ".venv-bench"
BENCH_PYTHON = BENCH_VENV / "bin" / "python"
INSTALL_LOG = BENCH_VENV / "install.log"


class Engine(Protocol):
    name: str
    durability: str

    def unavailable(self) -> str | None:
        """Why this engine cannot run here (not installed, ...), or None."""

    def round(self, sizes: dict[str, int], scratch: Path, results: Results) -> None:
        """Start fresh in `scratch`, run every workload of a non-zero size once, add its
        figures (or what was wrong) to `results`, stop."""


def missing_modules(*modules: str) -> str | None:
    """Why the bench environment cannot import `modules`, or None."""
    if not BENCH_PYTHON.exists():
        return f"{BENCH_VENV.name} does not exist (./dev bench --compare creates it)"
    imports = "; ".join(f"import {module}" for module in modules)
    probe = subprocess.run(
        [str(BENCH_PYTHON), "-c", imports], capture_output=True, text=True, timeout=120
    )
    if probe.returncode == 0:
        return None
    last = (probe.stderr.strip().splitlines() or ["?"])[-1]
    return f"{last} in {BENCH_VENV.name} (its install: {INSTALL_LOG.relative_to(ROOT)})"


def checked(
    workload: str,
    size: int,
    seconds: float,
    output: Any,
    accepted_seconds: float | None = None,
) -> list[Figure]:
    """The workload's figures, once its output is the answer devhost's must give too;
    WrongResult otherwise."""
    if workload == "fan-out":
        check("sum of squares", expected_fan_out(size), output)
        return [Figure("fan-out", size / seconds, "activities")]
    if workload == "sequence":
        check("accumulator", expected_sequence(size), output)
        return [Figure("sequence", size / seconds, "activities")]
    if workload == "events":
        check_events(event_plan(size), output)
        return [Figure("events", size / seconds, "events")]
    if workload == "starts":
        check("outputs", list(range(size)), output)
        assert accepted_seconds is not None
        return [
            Figure("starts", size / accepted_seconds, "starts"),
            Figure("starts-completed", size / seconds, "starts"),
        ]
    raise ValueError(f"unknown workload {workload!r}")


def record(results: Results, engine: str, workload: str, figures: list[Figure]) -> None:
    for figure in figures:
        results.add(engine, figure.name, figure.rate)


def record_checked(results: Results, engine: str, workload: str, **measured: Any) -> str:
    """Check one workload's output and record its figures or why it is wrong; a progress
    line either way."""
    try:
        figures = checked(workload, **measured)
    except WrongResult as error:
        results.mark_wrong(engine, workload, str(error))
        return f"{workload} WRONG: {error}"
    record(results, engine, workload, figures)
    return ", ".join(f"{f.name} {f.rate:,.0f}/s" for f in figures)
