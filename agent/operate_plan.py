"""Which operate actions an agent runs in each round, and how long it thinks between them.

Real people do not run a runbook top to bottom every five minutes: they look at a few
things, change one, look again. Each round draws a weighted random subset of the
scenario's actions (no action twice in a round, heavier ones more often and earlier) and a
jittered think time after each. The random source is seeded with the run id and the agent
id and nothing else, so an agent that is replayed (a test, a restarted job) repeats its
sequence exactly, and two agents of one scenario in one run do different things.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Scenario seconds between two actions of a round, before jitter (divided by the time scale).
THINK_SECONDS = 30.0
JITTER = (0.5, 1.5)
# How much of the list a round covers: at least MIN_ACTIONS (or all, if fewer), at most
# this fraction of them.
MIN_ACTIONS = 3
MAX_SHARE = 0.6
# The values an action's `{n}` takes.
N_RANGE = (1, 9)


@dataclass(frozen=True)
class PlannedAction:
    step: Mapping[str, Any]
    # Scenario seconds to think after this action.
    think_seconds: float
    # The action's `{n}` (haymaker.scenario.PLACEHOLDERS): drawn with the plan, so a
    # replayed agent writes the same values.
    n: int = 1


def seed_for(run_id: str, agent_id: str) -> int:
    """A seed from the run and agent alone (never the clock or the process)."""
    digest = hashlib.sha256(f"haymaker-operate\0{run_id}\0{agent_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class OperatePlan:
    """The endless sequence of rounds of one agent."""

    def __init__(self, steps: Sequence[Mapping[str, Any]], run_id: str, agent_id: str) -> None:
        self._steps = list(steps)
        self._random = random.Random(seed_for(run_id, agent_id))

    def next_round(self) -> list[PlannedAction]:
        """The actions of the next round, in order."""
        steps, rng = self._steps, self._random
        if not steps:
            return []
        least = min(MIN_ACTIONS, len(steps))
        most = max(least, int(len(steps) * MAX_SHARE))
        count = rng.randint(least, most)
        # Weighted sampling without replacement (Efraimidis-Spirakis): each action draws
        # u ** (1 / weight); the largest keys win, in key order.
        keys = [(rng.random() ** (1.0 / _weight(step)), index) for index, step in enumerate(steps)]
        chosen = [index for _, index in sorted(keys, reverse=True)[:count]]
        return [
            PlannedAction(steps[i], THINK_SECONDS * rng.uniform(*JITTER), rng.randint(*N_RANGE))
            for i in chosen
        ]

    def rounds(self) -> Iterator[list[PlannedAction]]:
        while True:
            yield self.next_round()


def _weight(step: Mapping[str, Any]) -> float:
    weight = step.get("weight", 1)
    return float(weight) if isinstance(weight, int | float) and weight > 0 else 1.0
