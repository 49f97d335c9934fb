"""Management API answers that wait on storage are bounded in time.

Every call of the management API reads or writes the task hub's tables. When storage
stops answering (a hung emulator, a network partition), the SDK clients' own timeouts
and retries take a minute or more, and a start's writes are retried on top of that. So
an answer that storage holds up past `STORAGE_DEADLINE_SECONDS` becomes a 503 with
`Retry-After` that says so, and so does a call that storage failed. The call itself is
not cancelled half-way: it runs on and finishes (or fails) on its own, as a request
that timed out at a load balancer does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from azure.core.exceptions import AzureError

from .management import RPC_PREFIX, WEBHOOK_PREFIX
from .writer import WriterError

log = logging.getLogger("devhost")

STORAGE_DEADLINE_SECONDS = 10.0
RETRY_AFTER_SECONDS = 10


@web.middleware
async def bounded_by_storage(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith((WEBHOOK_PREFIX + "/", RPC_PREFIX + "/")):
        return await handler(request)  # not storage-bound here (the app bounds its own)
    call = asyncio.ensure_future(handler(request))
    deadline = STORAGE_DEADLINE_SECONDS + _waits_for(request)
    try:
        response: web.StreamResponse = await asyncio.wait_for(asyncio.shield(call), deadline)
        return response
    except TimeoutError:
        call.add_done_callback(_log_late_failure)
        return _unavailable(f"storage did not answer within {deadline:g} s")
    except (AzureError, WriterError) as error:
        code = getattr(error, "error_code", None)
        detail = f"{type(error).__name__}" + (f" ({code})" if code else "")
        log.warning("Storage failed %s %s: %s", request.method, request.path, error)
        return _unavailable(f"storage failed the request: {detail}")


def _waits_for(request: web.Request) -> float:
    """A start may wait for its instance to finish (`timeout=` seconds) on top."""
    try:
        return max(0.0, min(float(request.query.get("timeout", "0")), 24 * 3600.0))
    except ValueError:
        return 0.0


def _unavailable(reason: str) -> web.Response:
    return web.json_response(
        {"Message": f"The task hub's storage is unavailable: {reason}. Retry shortly."},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _log_late_failure(call: asyncio.Future[Any]) -> None:
    if not call.cancelled() and call.exception() is not None:
        log.warning("A management call answered 503 later failed: %s", call.exception())
