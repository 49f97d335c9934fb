"""How HayMaker's Azure clients talk to Azure: bounded waits inside a call, errors by code.

Every SDK client gets a `BoundedRetryPolicy`: the SDK's own retry policy (it honors
`Retry-After` on 429 and 5xx), except that a wait longer than `MAX_INLINE_WAIT` raises
`RetryLater` instead of sleeping. The activity hands that wait to its orchestration,
which sleeps on a durable timer: an activity never sits for minutes on a throttled call.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

from haymaker.providers.base import RetryLater

# Seconds a call may sleep on a server's Retry-After before handing the wait over.
MAX_INLINE_WAIT = 10.0
# ARM error codes that mean "try again shortly", with how long to wait.
RETRYABLE_CODES = {
    "RetryableErrorDueToAnotherOperation": 15.0,
    "AnotherOperationInProgress": 15.0,
    "PrincipalNotFound": 10.0,
    "NoBackingApplicationObject": 5.0,
}


class BoundedRetryPolicy(RetryPolicy):
    """The SDK's retries, with long server-requested waits handed to the caller."""

    def __init__(self, max_inline_wait: float = MAX_INLINE_WAIT, **kwargs: Any) -> None:
        kwargs.setdefault("retry_total", 4)
        super().__init__(**kwargs)
        self._max_inline_wait = max_inline_wait

    def sleep(
        self,
        settings: dict[str, Any],
        transport: Any,
        response: PipelineResponse[Any, Any] | None = None,
    ) -> None:
        if response is not None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self._max_inline_wait:
                request = response.http_request
                raise RetryLater(
                    wait,
                    f"{response.http_response.status_code} from {request.method} "
                    f"{urlparse(request.url).path}",
                )
        super().sleep(settings, transport, response)


def error_codes(error: HttpResponseError) -> list[str]:
    """The service's error code and its details' codes, outermost first.

    Graph puts the telling code in the details: `NoBackingApplicationObject` arrives as
    `{"code": "Request_BadRequest", "details": [{"code": "NoBackingApplicationObject"}]}`.
    """
    body = None
    if error.response is not None:
        try:
            body = json.loads(error.response.text())
        except (ValueError, TypeError):
            body = None
    codes: list[str] = []
    detail = getattr(error, "error", None)
    if getattr(detail, "code", None):
        codes.append(str(detail.code))  # type: ignore[union-attr]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        outer = body["error"]
        for item in [outer, *(outer.get("details") or [])]:
            code = item.get("code") if isinstance(item, dict) else None
            if code and str(code) not in codes:
                codes.append(str(code))
    return codes


def error_code(error: HttpResponseError) -> str:
    """The service's error code (`ScopeLocked`, `PrincipalNotFound`, ...), or ''."""
    codes = error_codes(error)
    return codes[0] if codes else ""


def raise_if_retryable(error: HttpResponseError, what: str) -> None:
    """Turn a transient ARM/Graph refusal into `RetryLater`; leave other errors alone."""
    for code in error_codes(error):
        if code in RETRYABLE_CODES:
            raise RetryLater(RETRYABLE_CODES[code], f"{what}: {code}") from None


def describe(error: BaseException) -> str:
    """A short error text for records and results: code and first line, no request dump."""
    code = error_code(error) if isinstance(error, HttpResponseError) else ""
    text = str(getattr(error, "message", None) or error).strip()
    first_line = text.splitlines()[0] if text else ""
    prefix = code or type(error).__name__
    return f"{prefix}: {first_line}"[:300]
