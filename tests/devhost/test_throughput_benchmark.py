"""`./dev bench` keeps working and keeps checking its answers; its speed is not tested here.

The benchmark runs as a user runs it, each workload at a small size, and must exit 0 with
one figure line each. Its checks are fed wrong answers directly (no host needed).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.devhost_throughput import (
    WORKLOADS,
    WrongResult,
    check,
    check_events,
    event_plan,
    expected_fan_out,
    expected_sequence,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "devhost_throughput.py"
SMALL = {"fan-out": 25, "sequence": 12, "events": 19, "starts": 8}


@pytest.mark.slow
def test_every_workload_runs_at_a_small_size_with_correct_answers() -> None:
    assert set(SMALL) == {workload.option for workload in WORKLOADS}
    sizes = [arg for option, size in SMALL.items() for arg in (f"--{option}", str(size))]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *sizes],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "fan-out",
        "sequence",
        "events",
        "starts",
        "starts-completed",
    ], done.stdout
    for line in lines:
        name, rate, unit = line.split()[:3]
        assert float(rate) > 0 and unit.endswith("/s"), line


def test_the_expected_answers_are_the_bench_apps_arithmetic() -> None:
    assert expected_fan_out(4) == 0 + 1 + 4 + 9
    assert expected_sequence(0) == 0
    assert expected_sequence(2) == (1 * 31 + 2)  # step 0 gives 1, step 1 gives 31 + 2
    assert expected_sequence(3) != expected_sequence(2)


def test_a_wrong_sum_or_accumulator_is_caught() -> None:
    with pytest.raises(WrongResult, match="expected 14, got 13"):
        check("sum of squares", expected_fan_out(4), 13)
    check("accumulator", expected_sequence(5), expected_sequence(5))


def test_events_must_all_arrive_once_and_in_each_senders_order() -> None:
    plan = event_plan(19)
    assert sum(len(payloads) for payloads in plan) == 19
    # Round robin across the senders, each sender's own in order: as it may arrive.
    interleaved = [p for round_ in itertools.zip_longest(*plan) for p in round_ if p is not None]
    check_events(plan, interleaved)

    first, second = interleaved.index(plan[0][0]), interleaved.index(plan[0][1])
    swapped = list(interleaved)
    swapped[first], swapped[second] = swapped[second], swapped[first]
    missing = interleaved[:-1]
    doubled = [*interleaved[:-1], interleaved[0]]
    for wrong in (swapped, missing, doubled, None, [7]):
        with pytest.raises(WrongResult):
            check_events(plan, wrong)
    with pytest.raises(WrongResult, match="sender 0's events arrived out of order"):
        check_events(plan, swapped)
