"""Each step activity runs inside its span (haymaker.telemetry; a no-op when telemetry is off)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from haymaker import telemetry

Result = TypeVar("Result")


def traced(phase: str | None) -> Callable[[Callable[[dict[str, Any]], Result]], Any]:
    """A span named after the activity, under the agent's `phase` (or the run when None)."""

    def decorate(step: Callable[[dict[str, Any]], Result]) -> Callable[[dict[str, Any]], Result]:
        @functools.wraps(step)
        def wrapper(payload: dict[str, Any]) -> Result:
            plan = payload.get("plan") or {}
            with telemetry.step_span(
                step.__name__,
                run_id=str(plan.get("run_id") or payload.get("run_id")),
                agent_id=plan.get("agent_id"),
                scenario_id=plan.get("scenario_id"),
                phase=phase,
            ):
                return step(payload)

        return wrapper

    return decorate
