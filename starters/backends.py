"""The API's calls to storage and to the Durable host, each bounded in time.

A storage account that stops answering (a hung emulator, a network partition, a throttled
account) would otherwise hold every request until the SDK gave up, minutes later. Here
each call has a deadline: past it, or when the service cannot be reached, the caller gets
503 with `Retry-After` and the documented error body. The work itself is not abandoned
half-way: a storage call on its thread runs on until the SDK's own socket timeouts
(haymaker.storage) end it, and a call still queued for a thread when its deadline has
passed is not started at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from starters.responses import ApiError

T = TypeVar("T")

# How long a request waits for storage ("a few seconds"): a healthy account answers
# in milliseconds; one that has not answered by then is treated as unavailable. (Not less:
# an emulator on a loaded machine takes seconds at times.)
STORAGE_DEADLINE_SECONDS = 8.0
RETRY_AFTER_SECONDS = 5
# The host answers its own storage trouble within its deadline (devhost: 10 s): wait longer.
HOST_DEADLINE_SECONDS = 15.0


class _DeadlinePassed(Exception):
    pass


def unavailable(what: str, detail: str) -> ApiError:
    """503 with Retry-After: the request was fine, a service behind the API was not."""
    return ApiError(
        503,
        f"{what}_unavailable",
        f"{detail}; try again in {RETRY_AFTER_SECONDS} s",
        None,
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def storage_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` (a blocking storage call) on a worker thread, within the deadline."""
    return await blocking_call(fn, *args, **kwargs)


async def blocking_call(
    fn: Callable[..., T],
    *args: Any,
    deadline: float = STORAGE_DEADLINE_SECONDS,
    what: str = "storage",
    **kwargs: Any,
) -> T:
    """`fn(*args, **kwargs)` on a worker thread, answered within `deadline` seconds or 503
    (`what` names the service in the error)."""
    give_up_at = time.monotonic() + deadline

    def bounded() -> T:
        if time.monotonic() > give_up_at:  # waited for a thread behind hung calls
            raise _DeadlinePassed
        return fn(*args, **kwargs)

    try:
        return await asyncio.wait_for(asyncio.to_thread(bounded), deadline)
    except (TimeoutError, _DeadlinePassed):
        raise unavailable(what, f"{what} did not answer within {deadline:g} s") from None
    except (ServiceRequestError, ServiceResponseError) as error:
        raise unavailable(
            "storage", f"storage cannot be reached ({type(error).__name__})"
        ) from None
    except HttpResponseError as error:
        if error.status_code is not None and error.status_code >= 500:
            code = getattr(error, "error_code", None) or error.status_code
            raise unavailable("storage", f"storage failed the request ({code})") from None
        raise


async def host_call(call: Awaitable[T]) -> T:
    """A call of the Durable client (the Functions host's management API), within the deadline.

    The API only sends it what it has validated, so a failure here is the host's:
    unreachable, or itself waiting on storage.
    """
    try:
        return await within_deadline(call)
    except ApiError:
        raise
    except Exception as error:  # the SDK raises plain Exception for any unexpected status
        raise unavailable(
            "host", f"the Durable Functions host failed the request: {error}"
        ) from None


async def within_deadline(call: Awaitable[T]) -> T:
    """A call of the Durable client within the deadline; its own refusals are the caller's."""
    try:
        return await asyncio.wait_for(call, HOST_DEADLINE_SECONDS)
    except TimeoutError:
        raise unavailable("host", "the Durable Functions host did not answer in time") from None
