"""`./dev bench --compare`'s bookkeeping: medians, the ratio, wrong answers and skipped
engines. The other engines themselves are not installed for the tests (the benchmark
installs them into .venv-bench when a developer runs it); this checks what decides the
table and the exit status, fed directly."""

from __future__ import annotations

import pytest

from benchmarks.compare.__main__ import ENGINES, rotated
from benchmarks.compare.engine import checked, missing_modules, record_checked
from benchmarks.compare.table import Results
from benchmarks.devhost_throughput import WrongResult, event_plan, expected_sequence

SIZES = {"fan-out": 1000, "sequence": 200, "events": 500, "starts": 200}


def sitting() -> Results:
    results = Results(["devhost", "Restate", "DBOS"])
    for rate in (300.0, 100.0, 200.0):
        results.add("devhost", "fan-out", rate)
    for rate in (500.0, 400.0, 900.0):
        results.add("Restate", "fan-out", rate)
    for rate in (700.0, 50.0, 450.0):
        results.add("DBOS", "fan-out", rate)
    return results


def row(table: str, label: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {label}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_cells_are_medians_and_the_ratio_is_to_the_fastest_other_engine() -> None:
    table = sitting().table(SIZES)
    # Medians 200, 500, 450: Restate is the fastest other engine by its median, even
    # though DBOS had the single fastest round.
    assert row(table, "fan-out") == [
        "fan-out, 1,000 activities",
        "200/s",
        "500/s",
        "450/s",
        "0.40× Restate",
    ]
    # A workload no engine measured shows no figure and no ratio, rather than a zero.
    assert row(table, "sequence")[1:] == ["-", "-", "-", "-"]


def test_a_wrong_answer_fails_the_run_and_never_counts_as_a_figure() -> None:
    results = sitting()
    plan = event_plan(16)
    reordered = [payload for payloads in plan for payload in reversed(payloads)]
    with pytest.raises(WrongResult, match="out of order"):
        checked("events", 16, seconds=1.0, output=reordered)

    line = record_checked(results, "Restate", "fan-out", size=1000, seconds=1.0, output=7)
    assert line.startswith("fan-out WRONG")
    assert results.failed()
    # Restate's figures from other rounds do not make it the fastest: DBOS is now.
    assert row(results.table(SIZES), "fan-out")[2:] == ["WRONG", "450/s", "0.44× DBOS"]
    assert any("Restate fan-out WRONG" in note for note in results.notes())


def test_right_answers_give_their_figures() -> None:
    results = Results(["devhost"])
    record_checked(
        results, "devhost", "sequence", size=200, seconds=0.5, output=expected_sequence(200)
    )
    record_checked(
        results,
        "devhost",
        "starts",
        size=200,
        seconds=2.0,
        accepted_seconds=0.5,
        output=list(range(200)),
    )
    assert not results.failed()
    assert results.median("devhost", "sequence") == 400.0
    assert results.median("devhost", "starts") == 400.0
    assert results.median("devhost", "starts-completed") == 100.0


def test_an_engine_that_cannot_be_installed_is_reported_with_its_reason() -> None:
    results = sitting()
    reason = missing_modules("an_engine_that_is_not_installed")
    assert reason is not None and ".venv-bench" in reason
    results.skipped["DBOS"] = reason
    assert row(results.table(SIZES), "fan-out")[3] == "skipped"
    assert f"DBOS skipped: {reason}" in results.notes()
    assert not results.failed()  # skipped is reported, not a failure


def test_every_engine_runs_first_in_some_round() -> None:
    firsts = {rotated(ENGINES, index)[0].name for index in range(len(ENGINES))}
    assert firsts == {engine.name for engine in ENGINES}
