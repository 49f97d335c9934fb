"""Answer a burst of starts first, then run their first episodes.

A start is answered once the start log has stored it (start_log.py); its first episode
would then run at once, and on a machine of few cores every episode of a burst competes
with the starts still waiting to be answered: the host's loop, the history writer and
Azurite serve both. So, as the Durable Task Framework takes a start from its control
queue some time after the client's request stored it, the first episode of a start taken
while another start is being taken waits until starts stop arriving (QUIET without a new
one) or until the oldest has waited LONGEST. A lone start runs at once, and so does a
sub-orchestration (the engine never holds one: no client waits for its answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Starts stopped arriving: no new one for this long.
QUIET = 0.05
# No first episode waits longer than this, however long a burst lasts.
LONGEST = 0.5


class StartBurst(Generic[T]):
    """Holds the first episodes (`T`: the engine's `Live` instances) of a burst's starts."""

    def __init__(self, run: Callable[[T], None], quiet: float = QUIET, longest: float = LONGEST):
        self._run = run
        self._quiet, self._longest = quiet, longest
        self._taking = 0
        self._last_arrival = 0.0
        self._held: list[T] = []
        self._held_since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def arriving(self) -> None:
        """A start is being taken (until `taken`)."""
        self._taking += 1
        self._last_arrival = asyncio.get_running_loop().time()

    def taken(self) -> None:
        self._taking -= 1

    def admit(self, start: T) -> None:
        """Run the stored start's first episode, now or once the burst it is part of ends."""
        if self._taking <= 1 and not self._held:
            self._run(start)
            return
        loop = asyncio.get_running_loop()
        if not self._held:
            self._held_since = loop.time()
        self._held.append(start)
        if self._timer is None:
            self._timer = loop.call_later(self._quiet, self._release)

    def _release(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        wait = min(self._last_arrival + self._quiet, self._held_since + self._longest) - now
        if wait > 0:
            self._timer = loop.call_later(wait, self._release)
            return
        self._timer = None
        held, self._held = self._held, []
        for start in held:
            self._run(start)

    def close(self) -> None:
        """Run nothing more (a stop: the held starts are in the start log, and the next
        host runs them)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held.clear()
