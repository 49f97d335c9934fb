"""Activities hand long waits to their orchestration instead of sleeping through them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from haymaker.providers.base import RetryLater

Step = Callable[[dict[str, Any]], dict[str, Any]]


def waits_as_results(step: Step) -> Step:
    """`RetryLater` from the cloud becomes a result; the orchestration's durable timer
    does the waiting (see orchestrations/cloud_calls.py) and then calls again."""

    @functools.wraps(step)
    def wrapper(payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return step(payload)
        except RetryLater as later:
            return later.as_result()

    return wrapper
