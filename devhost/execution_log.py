"""One function execution, logged as the Functions host logs it.

    with Execution("say_hello", reason="(null)") as execution:
        ...

writes `Executing 'Functions.say_hello' (Reason='(null)', Id=...)` on entry and one
`Executed 'Functions.say_hello' (Succeeded|Failed, Id=..., Duration=...ms)` on exit, then,
for an exception, the error with its traceback at error level (and lets it propagate).
"""

from __future__ import annotations

import logging
import time
import uuid
from types import TracebackType

log = logging.getLogger("devhost")


class Execution:
    def __init__(self, function: str, reason: str = "(null)", invocation: str | None = None):
        self.function = function
        self.reason = reason
        self.invocation = invocation or str(uuid.uuid4())
        # Set when the execution failed without raising (an orchestrator's reported error).
        self.failed = False
        self._started = 0.0

    def __enter__(self) -> Execution:
        self._started = time.perf_counter()
        log.info(
            "Executing 'Functions.%s' (Reason='%s', Id=%s)",
            self.function,
            self.reason,
            self.invocation,
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        failed = self.failed or isinstance(error, Exception)
        log.info(
            "Executed 'Functions.%s' (%s, Id=%s, Duration=%.0fms)",
            self.function,
            "Failed" if failed else "Succeeded",
            self.invocation,
            (time.perf_counter() - self._started) * 1000,
        )
        if isinstance(error, Exception):
            log.error(
                "Exception while executing function: Functions.%s (Id=%s)",
                self.function,
                self.invocation,
                exc_info=error,
            )
