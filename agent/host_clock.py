"""The host's clock as an agent follows it: read over HTTP, estimated while the host is away.

Under devhost's virtual clock the deadline is in the host's time, so an agent asks the
host (`/admin/host/clock`) what time it is. A host restarts now and then (a crash, a
deploy, Ctrl-C and resume); one failed read must not end the agent. So a failed read is
retried with growing pauses, and in between the agent estimates the host's time from its
last reading plus the real time since: the host's clock never runs slower than real
time, so the estimate can only lag (the agent then operates a little longer, never less).
When the host answers again, its reading wins, even if it is behind the estimate.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from agent import host_http
from haymaker.naming import parse_iso_utc

FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
READ_TIMEOUT_SECONDS = 5.0


def read_host_clock(url: str) -> datetime:
    """One reading of the host's clock; raises OSError (unreachable) or ValueError (garbled)."""
    _, text = host_http.request("GET", url, timeout=READ_TIMEOUT_SECONDS)
    body = json.loads(text)
    if not isinstance(body, dict) or not isinstance(body.get("now"), str):
        raise ValueError(f"{url} answered without a `now` time")
    return parse_iso_utc(body["now"])


class HostClock:
    """`now()` is the host's time: read when a read is due, else estimated."""

    def __init__(
        self,
        url: str,
        read: Callable[[str], datetime] = read_host_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._read = read
        self._monotonic = monotonic
        self._reading: tuple[datetime, float] | None = None
        self._answered_at = monotonic()
        self._next_try = 0.0
        self._pause = FIRST_RETRY_SECONDS
        self._away_since: float | None = None
        self.outages = 0

    def now(self) -> datetime | None:
        """The host's time, or None before the host ever answered."""
        moment = self._monotonic()
        if moment >= self._next_try:
            try:
                host_now = self._read(self.url)
            except (OSError, ValueError) as error:
                self._failed(error, moment)
            else:
                self._answered(host_now, moment)
                return host_now
        if self._reading is None:
            return None
        last, read_at = self._reading
        return last + timedelta(seconds=moment - read_at)

    def away_for(self) -> float:
        """Real seconds since the host last answered (or since this clock was made)."""
        return self._monotonic() - self._answered_at

    def _answered(self, host_now: datetime, moment: float) -> None:
        if self._away_since is not None:
            print(
                f"host clock answers again after {moment - self._away_since:.1f}s",
                file=sys.stderr,
                flush=True,
            )
        self._reading = (host_now, moment)
        self._answered_at = moment
        self._away_since = None
        self._next_try = moment
        self._pause = FIRST_RETRY_SECONDS

    def _failed(self, error: Exception, moment: float) -> None:
        if self._away_since is None:
            self._away_since = moment
            self.outages += 1
            print(
                f"host clock unreachable ({type(error).__name__}: {error}); "
                "estimating the host's time until it answers",
                file=sys.stderr,
                flush=True,
            )
        self._next_try = moment + self._pause
        self._pause = min(self._pause * 2, MAX_RETRY_SECONDS)
