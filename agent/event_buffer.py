"""The agent's events, held in order while the queue cannot be reached, then sent late.

Storage has outages of seconds (a restart, a failover, an emulator that is bounced). An
agent that died on the first failed send would lose everything it was doing, and one that
waited inside each send would stop acting. So each event is stamped when it happens (id,
time, sequence), held, and sent in order as soon as the queue takes it again; failed sends
are retried with growing pauses, never more often than that. When the queue answers again
the agent reports the gap itself: an `error` event saying how long it lasted and how many
events were held. The receiving side dedupes by event id, so a send that failed unclearly
and is repeated does no harm.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from azure.core.exceptions import AzureError

from haymaker.events import EventSender

FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 15.0
# Events held at most; past this the oldest are dropped (and the gap report counts them).
MAX_HELD = 5_000
# Events looked at for one message (a message holds as many of them as fit).
BATCH_MAX = 100
# How long closing waits for held events to go out before giving up on them.
CLOSE_PATIENCE_SECONDS = 60.0


class BufferedSender:
    """Sends events through `sender` in order, holding them while sends fail."""

    def __init__(
        self,
        sender: EventSender,
        identity: Mapping[str, str],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sender = sender
        # run_id, agent_id, scenario_id: what the gap report needs to be a valid event.
        self._identity = dict(identity)
        self._monotonic = monotonic
        self._sleep = sleep
        self._held: deque[dict[str, Any]] = deque()
        self._next_try = 0.0
        self._pause = FIRST_RETRY_SECONDS
        self._outage: dict[str, Any] | None = None
        self._holding = False
        self.dropped = 0

    @property
    def held(self) -> int:
        return len(self._held)

    def send(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Stamp `event` (ValueError if it is invalid), then send it and any held before it."""
        full = self._sender.stamp(event)
        if len(self._held) >= MAX_HELD:
            self._held.popleft()
            self.dropped += 1
        self._held.append(full)
        if not self._holding:
            self._flush(give_up_at=None)
        return full

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold what is sent inside the block, then send it together (few messages, one
        delete each for the receiver): the operate rounds' steps and heartbeats, sent at
        the block's end and at each `flush`."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            self._flush(give_up_at=None)

    def flush(self) -> None:
        """Send what is held now (inside `batch` too), or try when a try is due."""
        self._flush(give_up_at=None)

    def close(self, patience: float = CLOSE_PATIENCE_SECONDS) -> int:
        """Wait up to `patience` seconds for held events to go out; returns how many did not."""
        self._flush(give_up_at=self._monotonic() + patience)
        if self._held:
            print(
                f"could not send {len(self._held)} event(s): the events queue stayed unreachable",
                file=sys.stderr,
                flush=True,
            )
        return len(self._held)

    def _flush(self, give_up_at: float | None) -> None:
        """Send held events in order. Without `give_up_at`, one try when a try is due."""
        while self._held:
            now = self._monotonic()
            if now < self._next_try:
                if give_up_at is None or now >= give_up_at:
                    return
                self._sleep(min(self._next_try, give_up_at) - now)
                continue
            try:
                sent = self._sender.deliver_many(list(itertools.islice(self._held, BATCH_MAX)))
            except AzureError as error:
                self._failed(error, now)
                continue
            for _ in range(sent):
                self._held.popleft()
            self._pause = FIRST_RETRY_SECONDS
        if self._outage is not None:
            self._report_gap()

    def _failed(self, error: AzureError, now: float) -> None:
        if self._outage is None:
            reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"
            self._outage = {"since": now, "reason": reason, "dropped": self.dropped}
            print(f"events queue unreachable ({reason}); holding events", file=sys.stderr)
        self._next_try = now + self._pause
        self._pause = min(self._pause * 2, MAX_RETRY_SECONDS)

    def _report_gap(self) -> None:
        """Tell the run how long its events were held (sent after the held ones)."""
        assert self._outage is not None
        gap = self._monotonic() - self._outage["since"]
        lost = self.dropped - self._outage["dropped"]
        message = (
            f"events could not be sent for {gap:.1f}s ({self._outage['reason']}); "
            "they were held and sent late"
        )
        if lost:
            message += f", {lost} of the oldest were dropped"
        self._outage = None
        print(message, file=sys.stderr, flush=True)
        gap_event = {
            **self._identity,
            "type": "error",
            "step": "report events",
            "message": message,
            "gap_seconds": round(gap, 3),
            "dropped": lost,
        }
        self._held.append(self._sender.stamp(gap_event))
        self._flush(give_up_at=None)
