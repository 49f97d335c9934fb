"""Which operate actions an agent runs in each round, and how long it thinks between them.

Real people do not run a runbook top to bottom every five minutes: they look at a few
things, change one, look again, and now and then do nothing for a while (a meeting, lunch)
or a lot at once (an incident, a release). Each round draws a weighted random subset of
the scenario's actions (no action twice in a round, heavier ones more often and earlier)
and a jittered think time after each. Rounds come in stretches of `STRETCH_ROUNDS`: each
holds one pause of `PAUSE_ROUNDS` idle rounds in a row (no actions; the agent still sends
its heartbeat), never at the stretch's start, so never the first round, and sometimes one
busy round of up to `BUSY_SHARE` of the actions. Over a run a tenth to a fifth of the
rounds are idle. The agent still wakes on the clock's 5-minute marks: a pause is an empty
round, not a longer wait, so the virtual clock jumps as before. The random source is
seeded with the run id and the agent id and nothing else, so an agent that is replayed (a
test, a restarted job) repeats its sequence exactly, and two agents of one scenario in one
run do different things.
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
# Rounds per stretch, idle rounds in its pause, the chance of a busy round in it, and how
# much of the list a busy round covers.
STRETCH_ROUNDS = (8, 14)
PAUSE_ROUNDS = (1, 2)
BUSY_CHANCE = 0.5
BUSY_SHARE = 0.85
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
        # The kinds of the current stretch's rounds still to come ("idle", "busy", "").
        self._stretch: list[str] = []

    def _next_kind(self) -> str:
        if not self._stretch:
            rng = self._random
            kinds = [""] * rng.randint(*STRETCH_ROUNDS)
            pause = rng.randint(*PAUSE_ROUNDS)
            start = rng.randint(1, len(kinds) - pause)
            kinds[start : start + pause] = ["idle"] * pause
            if rng.random() < BUSY_CHANCE:
                kinds[rng.choice([i for i, kind in enumerate(kinds) if not kind])] = "busy"
            self._stretch = kinds[::-1]
        return self._stretch.pop()

    def next_round(self) -> list[PlannedAction]:
        """The actions of the next round, in order (none in an idle round)."""
        steps, rng = self._steps, self._random
        if not steps:
            return []
        kind = self._next_kind()
        if kind == "idle":
            return []
        least = min(MIN_ACTIONS, len(steps))
        most = max(least, int(len(steps) * MAX_SHARE))
        if kind == "busy":
            least = min(most + 1, len(steps))
            most = max(least, int(len(steps) * BUSY_SHARE))
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
