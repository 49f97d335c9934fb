"""What a run is estimated to cost before it starts, and the budget that can refuse it.

Each scenario declares ``cost_per_hour_usd`` (list prices of the cheap SKUs it uses while
its resources exist). A run keeps every agent's resources for at most its duration, so
the estimate is the sum over agents of that rate times the run's hours: an upper bound,
since deploy and cleanup take some of that time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from haymaker.catalog import Catalog
from haymaker.run_request import RequestError

BUDGET_SETTING = "HAYMAKER_MAX_RUN_COST_USD"


@dataclass(frozen=True)
class CostEstimate:
    usd: float
    hours: float
    # scenario id -> (agents, cost per hour of one agent)
    scenarios: dict[str, tuple[int, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "usd": round(self.usd, 2),
            "hours": round(self.hours, 2),
            "basis": "sum of each agent's scenario cost_per_hour_usd times the run's duration",
            "scenarios": [
                {
                    "id": scenario_id,
                    "agents": agents,
                    "cost_per_hour_usd": rate,
                    "usd": round(agents * rate * self.hours, 2),
                }
                for scenario_id, (agents, rate) in sorted(self.scenarios.items())
            ],
        }


def estimate_run_cost(
    catalog: Catalog, scenario_ids: Sequence[str], duration: timedelta
) -> CostEstimate:
    hours = duration.total_seconds() / 3600
    counts = Counter(scenario_ids)
    rates = {sid: catalog.get(sid).cost_per_hour_usd for sid in counts}
    usd = sum(counts[sid] * rates[sid] for sid in counts) * hours
    return CostEstimate(usd, hours, {sid: (counts[sid], rates[sid]) for sid in counts})


def check_budget(estimate: CostEstimate, limit: float | None) -> None:
    """Refuse a run whose estimate is over ``limit`` (US dollars); None means no limit."""
    if limit is None or estimate.usd <= limit:
        return
    message = (
        f"the run's estimated cost of {estimate.usd:.2f} USD "
        f"({len(estimate.scenarios)} scenarios for {estimate.hours:g} h) is over the limit of "
        f"{limit:.2f} USD set by {BUDGET_SETTING}: ask for fewer agents or a shorter duration"
    )
    raise RequestError("over_budget", message)
