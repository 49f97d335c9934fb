"""Memoize the SDK's history timestamp parsing: the replay engine's hot spot.

Every episode replays the whole history, and azure-functions-durable parses each event's
`Timestamp` with dateutil (about 85 µs of the ~100 µs an event costs). The same
timestamps come back in every replay of an instance, so a cache returns the very same
(immutable) datetime the parser would build. Nothing else in the SDK changes: the
orchestrator code, the replay logic and its results are exactly those of the package.
"""

from __future__ import annotations

import functools
import importlib

# The module, not the class of the same name that the package re-exports over it.
history_event_module = importlib.import_module(
    "azure.durable_functions.models.history.HistoryEvent"
)

_CACHE_SIZE = 1 << 17


def memoize_history_timestamps() -> None:
    parse = history_event_module.dt_parse
    if getattr(parse, "cache_info", None) is not None:
        return
    history_event_module.dt_parse = functools.lru_cache(maxsize=_CACHE_SIZE)(parse)  # type: ignore[attr-defined]
