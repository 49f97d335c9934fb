"""The operate plan: weighted, varied rounds, the same for the same run and agent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agent.operate_plan import MAX_SHARE, MIN_ACTIONS, N_RANGE, OperatePlan
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
    sizes = {len(r) for r in rounds if r}
    assert min(sizes) >= MIN_ACTIONS and max(sizes) < len(STEPS) and len(sizes) > 1
    assert len({tuple(r) for r in rounds}) > 150


def test_a_run_has_quiet_stretches_and_busier_rounds_but_never_starts_idle() -> None:
    """An 8-hour run is 96 rounds: a tenth to a fifth of them idle, in pauses of one or
    two rounds, the first never; some rounds do more than the usual share."""
    usual = int(len(STEPS) * MAX_SHARE)
    idle_shares = []
    for index in range(50):
        rounds = [[name for name, _ in r] for r in draw(RUN, f"a{index:02d}", 96)]
        assert rounds[0], index
        idle = [not r for r in rounds]
        idle_shares.append(sum(idle) / len(rounds))
        # No pause longer than two rounds: a quiet stretch, not an agent gone silent.
        assert "111" not in "".join("1" if i else "0" for i in idle), index
        assert max(len(r) for r in rounds) > usual, index
    assert all(0.07 <= share <= 0.25 for share in idle_shares), idle_shares
    assert 0.1 <= sum(idle_shares) / len(idle_shares) <= 0.2


def test_each_action_draws_a_small_number_for_its_n() -> None:
    plan = OperatePlan(STEPS, RUN, "a00")
    drawn = [action.n for _ in range(50) for action in plan.next_round()]
    assert set(drawn) == set(range(N_RANGE[0], N_RANGE[1] + 1))


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
