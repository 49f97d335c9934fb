"""When an agent operates, waits between rounds, and stops; and whether stopping then cuts
its scenario short.

An agent operates until it is time to clean up before its deadline, keeping
`CLEANUP_RESERVE` of scenario time for that. Its time is either its own (the deadline in
real time, compressed by `HAYMAKER_AGENT_TIME_SCALE`) or the host's (devhost's virtual
clock, `HAYMAKER_AGENT_CLOCK_URL`). On the host's clock the agent is a participant of it
(agent/clock_participant.py): between rounds it waits for the next multiple of
`OPERATE_INTERVAL`, or for its cleanup moment if that comes first. A waiting participant's
moment is a stop on the clock (a jump goes no further), and the participant is busy again
from there, so no jump can skip the agent's cleanup: it cleans up before the deadline
instead of being stopped there.

Two things can end operating earlier, and the agent then says its scenario was cut short
(the `finished` event's `cut_short`, and so the agent's outcome): the wall-time cap
(`HAYMAKER_AGENT_MAX_WALL_SECONDS`), and a host that has not answered for
`HAYMAKER_AGENT_HOST_PATIENCE` seconds (a host that is gone for good: the agent cleans up
rather than run on unwatched). A host that is away for less (a restart) is ridden out: the
agent retries with growing pauses and estimates the host's time meanwhile.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agent.clock_participant import ClockParticipant, NoParticipants, participant_name
from agent.contract import Contract
from agent.host_clock import HostClock
from haymaker.naming import iso_utc, next_multiple

# Scenario seconds between operate rounds; kept for cleanup before the deadline.
OPERATE_INTERVAL = 300
CLEANUP_RESERVE = 300.0
# Real seconds between tries to wait on a host that is away (a restart takes a few).
AWAY_RETRY_SECONDS = (0.5, 5.0)


@dataclass(frozen=True)
class Stop:
    """Operating is over; `cut_short` says why early, None when the scenario ran its course."""

    cut_short: str | None = None


class OperateWindow:
    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self._started = time.monotonic()
        self._cap = contract.max_wall_seconds
        self._cap_end = self._started + self._cap if self._cap else float("inf")
        self.cleanup_at = contract.deadline - timedelta(seconds=CLEANUP_RESERVE)
        self._host_clock: HostClock | None = None
        self._participant: ClockParticipant | None = None
        if contract.clock_url:
            self._host_clock = HostClock(contract.clock_url)
            name = participant_name(contract.run_id, contract.agent_id)
            self._participant = ClockParticipant(contract.clock_url, name)
        # Without a host clock: the monotonic times to stop operating and of the deadline.
        self._operate_end = self._deadline_end = self._full_end = float("inf")
        self._capped = False
        # The host's time when the last wait for a round ended: the next round's clock
        # time, known without asking the host again.
        self._woke_at: datetime | None = None

    def begin(self) -> str:
        """Start the window; returns what it is, to print."""
        cap = f", at most {self._cap:.0f}s of real time" if self._cap else ""
        if self._host_clock is not None:
            now = self._host_clock.now()
            left = f" ({_span((self.cleanup_at - now).total_seconds())} away)" if now else ""
            until = iso_utc(self.cleanup_at)
            return f"operating until the host's clock shows {until}{left}{cap}"
        scale = self._contract.time_scale
        budget = (self._contract.deadline - datetime.now(UTC)).total_seconds() / scale
        self._full_end = self._started + budget
        self._capped = self._cap is not None and self._cap < budget
        if self._cap is not None:
            budget = min(budget, self._cap)
        budget = max(0.0, budget)
        reserve = min(CLEANUP_RESERVE / scale, budget * 0.1)
        self._deadline_end = self._started + budget
        self._operate_end = self._deadline_end - reserve
        return f"operating for up to {budget - reserve:.1f}s of real time"

    def end(self) -> float:
        """The monotonic time operating must end by, as far as real time tells."""
        return min(self._operate_end, self._cap_end)

    def stop(self) -> Stop | None:
        """Whether to stop operating now, and why (None: go on)."""
        clock = self._host_clock
        if clock is None:
            if time.monotonic() < self._operate_end:
                return None
            return Stop(self._cap_reason() if self._capped else None)
        return self._stop_at(clock.now())

    def _stop_at(self, now: datetime | None) -> Stop | None:
        """Whether to stop operating, the host's clock showing `now` (None: unknown)."""
        clock = self._host_clock
        assert clock is not None
        if now is not None and now >= self.cleanup_at:
            return Stop()
        if clock.away_for() > self._contract.host_patience:
            return Stop(f"the host has not answered for {clock.away_for():.0f}s")
        if time.monotonic() >= self._cap_end:
            return Stop(self._cap_reason(now))
        return None

    def pause(self, before_report: Callable[[], None] = lambda: None) -> Stop | None:
        """Wait until the next round; a stop that comes meanwhile ends the wait.

        `before_report` (sending held events) is called before a wait on the host's clock
        that passes a report moment (`report_every`), and before any other wait.
        """
        if self._participant is None:
            before_report()
            interval = OPERATE_INTERVAL / self._contract.time_scale
            time.sleep(max(0.0, min(interval, self.end() - time.monotonic())))
            return self.stop()
        # One clock read, then the wait, whose answer is the host's time when it came: two
        # requests per round (each one the host serves on its loop).
        assert self._host_clock is not None
        retry = AWAY_RETRY_SECONDS[0]
        now = self._host_clock.now()
        while (stop := self._stop_at(now)) is None:
            until = self._next_round(now) if now is not None else None
            if until is None or self._passes_report(now, until):
                before_report()
            try:
                reached = self._wait_on_host(until) if until is not None else None
                if reached is not None:
                    self._woke_at = reached
                    return self._stop_at(reached)
            except NoParticipants:
                # A host without participants: follow its clock by sleeping, as before.
                self._participant = None
                return self.pause(before_report)
            except OSError as error:  # the host is away (a restart): try again soon
                print(f"could not wait on the host clock: {error}", file=sys.stderr, flush=True)
            time.sleep(min(retry, max(0.0, self._cap_end - time.monotonic())))
            retry = min(retry * 2, AWAY_RETRY_SECONDS[1])
            now = self._host_clock.now()
        return stop

    def round_began(self) -> datetime:
        """The run clock's time as a round begins (what its actions' `{stamp}` counts from).

        On the host's clock: when the wait before it ended, or one reading for the first
        round; on the agent's own time: the deadline less the scenario time left.
        """
        if self._host_clock is not None:
            woke, self._woke_at = self._woke_at, None
            return woke or self._host_clock.now() or datetime.now(UTC)
        if self._full_end == float("inf"):
            return datetime.now(UTC)
        left = (self._full_end - time.monotonic()) * self._contract.time_scale
        return self._contract.deadline - timedelta(seconds=left)

    def _next_round(self, now: datetime) -> datetime:
        """The next round's time on the host's clock (or the cleanup moment, if earlier)."""
        return min(next_multiple(now, OPERATE_INTERVAL), self.cleanup_at)

    def _passes_report(self, now: datetime | None, until: datetime) -> bool:
        """Whether waiting from `now` to `until` passes a report moment (the last wait
        before cleanup always does: held events go out before it)."""
        every = self._contract.report_every
        if every is None or now is None or until >= self.cleanup_at:
            return True
        return until.timestamp() // every > now.timestamp() // every

    def _wait_on_host(self, until: datetime) -> datetime | None:
        """Idle on the host's clock until `until`: the host's time when it came, or None
        when the wall-time cap came first."""
        assert self._participant is not None
        give_up_at = None if self._cap_end == float("inf") else self._cap_end
        return self._participant.wait_until(until, give_up_at=give_up_at)

    def deadline_left(self) -> float | None:
        """Real seconds to the deadline, where the agent's own time tells (else None)."""
        if self._deadline_end == float("inf"):
            return None
        return self._deadline_end - time.monotonic()

    def _cap_reason(self, host_now: datetime | None = None) -> str:
        if host_now is not None:
            left = (self._contract.deadline - host_now).total_seconds()
        else:
            left = (self._full_end - time.monotonic()) * self._contract.time_scale
        return (
            f"the wall-time cap of {self._cap:.0f}s ended it {_span(left)} of scenario time "
            "before its deadline"
        )


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
