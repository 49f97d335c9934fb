"""The operate plan: weighted, varied rounds, the same for the same run and agent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agent.operate_plan import MIN_ACTIONS, OperatePlan
from haymaker.catalog import load_catalog
from haymaker.catalog_rules import fill_sample, is_read

SCENARIO = load_catalog(Path(__file__).resolve().parents[2] / "scenarios").get(
    "analytics-orders-servicebus-feed"
)
STEPS = SCENARIO.to_dict()["operate"]
RUN = "run-20261126-113000-ab12cd"


def draw(run_id: str, agent_id: str, rounds: int) -> list[list[tuple[str, float]]]:
    plan = OperatePlan(STEPS, run_id, agent_id)
    return [[(a.step["name"], a.think_seconds) for a in plan.next_round()] for _ in range(rounds)]


def test_the_same_run_and_agent_draw_the_same_rounds() -> None:
    assert draw(RUN, "a03", 50) == draw(RUN, "a03", 50)


def test_two_agents_of_one_run_and_one_agent_of_two_runs_differ() -> None:
    assert draw(RUN, "a03", 5) != draw(RUN, "a04", 5)
    assert draw(RUN, "a03", 5) != draw("run-20261126-173000-ab12cd", "a03", 5)


def test_rounds_are_subsets_without_repeats_and_vary_in_size_and_order() -> None:
    rounds = [[name for name, _ in r] for r in draw(RUN, "a00", 200)]
    assert all(len(r) == len(set(r)) for r in rounds)
    sizes = {len(r) for r in rounds}
    assert min(sizes) >= MIN_ACTIONS and max(sizes) < len(STEPS) and len(sizes) > 1
    assert len({tuple(r) for r in rounds}) > 150


def test_heavier_actions_come_up_more_often_and_reads_outnumber_writes() -> None:
    picked = Counter(name for r in draw(RUN, "a00", 400) for name, _ in r)
    weight = {step["name"]: step["weight"] for step in STEPS}
    heaviest = max(weight, key=lambda name: weight[name])
    lightest = min(weight, key=lambda name: weight[name])
    assert picked[heaviest] > 1.5 * picked[lightest]
    read = {step["name"]: is_read(fill_sample(step["command"])) for step in STEPS}
    reads = sum(count for name, count in picked.items() if read[name])
    writes = sum(count for name, count in picked.items() if not read[name])
    assert reads > 2 * writes


def test_think_times_are_jittered() -> None:
    thinks = [think for r in draw(RUN, "a00", 20) for _, think in r]
    assert len(set(thinks)) == len(thinks)
    assert min(thinks) >= 15.0 and max(thinks) <= 45.0
