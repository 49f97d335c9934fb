"""Storage calls that ride out a short outage: retried with growing pauses, then given up.

The agent's SDK clients retry nothing themselves (`CLIENT_OPTIONS`): the storage SDKs'
own policy waits 15 s and more between tries, and the table SDK does not retry a refused
connection at all, so one policy here governs every call the agent makes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError

T = TypeVar("T")

# For every storage client the agent makes: no SDK retries, and no call that hangs long.
CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 20}
# Statuses a later try may get past: timeouts, throttling, a service restarting.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 8.0


def is_transient(error: AzureError) -> bool:
    """Whether trying again later may work: no connection, or a status that says 'later'."""
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return True
    return getattr(error, "status_code", None) in TRANSIENT_STATUSES


def describe(error: BaseException) -> str:
    """The error's type and first line: enough to say what failed, never a request dump."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def with_retries(
    action: Callable[[], T],
    patience: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """`action()`, tried again after transient storage errors for up to `patience` seconds."""
    give_up_at = monotonic() + patience
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            return action()
        except AzureError as error:
            if not is_transient(error) or monotonic() + pause > give_up_at:
                raise
            print(f"{what}: {describe(error)}; trying again in {pause:.1f}s", file=sys.stderr)
            sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_SECONDS)
