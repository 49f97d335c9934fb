"""How long a local agent's step waits out storage that is slow or away (agent/retrying.py
with the patience agent/local_actions.py gives a step), on a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.core.exceptions import ResourceNotFoundError, ServiceResponseError

from agent.local_actions import STEP_PATIENCE_SECONDS
from agent.retrying import CLIENT_OPTIONS, with_retries

READ_TIMEOUT = float(CLIENT_OPTIONS["read_timeout"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def timing_out(clock: Clock, times: int) -> tuple[list[float], Callable[[], str]]:
    """A storage call that is answered only after `times` calls that each waited a whole
    read timeout for nothing (as when Azurite's queue writes wait behind slow fsyncs)."""
    started: list[float] = []

    def call() -> str:
        started.append(clock.now)
        if len(started) <= times:
            clock.now += READ_TIMEOUT
            raise ServiceResponseError(
                "POST /devstoreaccount1/q/messages: TimeoutError('timed out')"
            )
        return "stored"

    return started, call


def test_a_step_waits_out_storage_calls_that_time_out_twice_in_a_row() -> None:
    clock = Clock()
    started, call = timing_out(clock, times=2)
    assert with_retries(call, STEP_PATIENCE_SECONDS, "step", clock.sleep, clock.monotonic) == (
        "stored"
    )
    assert len(started) == 3


def test_storage_that_never_answers_fails_the_step_once_its_patience_is_spent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()
    started, call = timing_out(clock, times=1_000)
    with pytest.raises(ServiceResponseError, match="timed out"):
        with_retries(call, STEP_PATIENCE_SECONDS, "step 'Allow'", clock.sleep, clock.monotonic)
    # It gave up after its patience (within one more call), not at the first timeout ...
    assert STEP_PATIENCE_SECONDS - READ_TIMEOUT <= started[-1] <= STEP_PATIENCE_SECONDS
    assert clock.now <= STEP_PATIENCE_SECONDS + READ_TIMEOUT
    # ... and said each time why it tried again.
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(started) - 1
    assert all(line.startswith("step 'Allow': ServiceResponseError: ") for line in lines)


def test_an_answer_that_is_final_fails_the_step_at_once() -> None:
    clock = Clock()
    calls = []

    def call() -> None:
        calls.append(clock.now)
        raise ResourceNotFoundError("the queue is gone")

    with pytest.raises(ResourceNotFoundError):
        with_retries(call, STEP_PATIENCE_SECONDS, "step", clock.sleep, clock.monotonic)
    assert calls == [0.0]
