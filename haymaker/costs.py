"""Estimated cost: what a scenario costs per hour, and what a run costs over its duration.

The one cost model is the catalog's: a scenario's estimated cost per hour in USD
(`Scenario.cost_per_hour_usd`, declared in its YAML). A catalog that declares none gives
no estimate (None), never a guessed figure. A run's estimate is its agents' hourly costs
times the run's planned duration: what the run commits to, known from its record alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from haymaker.catalog import Catalog, CatalogError
from haymaker.durations import parse_duration
from haymaker.naming import parse_iso_utc


def hourly_cost_usd(catalog: Catalog, scenario_id: str) -> float | None:
    """The scenario's estimated USD per hour, or None when the catalog has no estimate."""
    try:
        scenario = catalog.get(scenario_id)
    except CatalogError:
        return None
    cost = getattr(scenario, "cost_per_hour_usd", None)
    return float(cost) if isinstance(cost, int | float) else None


def agents_cost_usd(catalog: Catalog, scenario_ids: Iterable[str], hours: float) -> float | None:
    """Agents of these scenarios for `hours`; None if any scenario has no estimate."""
    total = 0.0
    for scenario_id in scenario_ids:
        hourly = hourly_cost_usd(catalog, scenario_id)
        if hourly is None:
            return None
        total += hourly * hours
    return round(total, 2)


def planned_duration(run: dict[str, Any]) -> timedelta | None:
    """How long the run was planned for: deadline minus start, else the requested duration."""
    if run.get("started_at") and run.get("deadline"):
        return parse_iso_utc(run["deadline"]) - parse_iso_utc(run["started_at"])
    duration = (run.get("request") or {}).get("duration")
    if isinstance(duration, str):
        try:
            return parse_duration(duration, "duration")
        except ValueError:
            return None
    return None


def run_cost_usd(catalog: Catalog, run: dict[str, Any]) -> float | None:
    """A run record's estimated cost: its scenarios' hourly costs over its planned duration."""
    duration = planned_duration(run)
    if duration is None:
        return None
    hours = duration.total_seconds() / 3600
    return agents_cost_usd(catalog, run.get("scenario_ids") or [], hours)
