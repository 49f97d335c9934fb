"""Calling the app's functions with the arguments the Python worker would pass."""

from __future__ import annotations

import asyncio
import functools
import inspect
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from .execution_log import Execution
from .indexer import IndexedFunction
from .replay import ActivityWork, EventType, event


def trigger_param(function: IndexedFunction) -> str:
    return str(function.trigger["name"])


def wants_context(function: IndexedFunction) -> bool:
    try:
        return _declares_context(function.user_function)
    except TypeError:  # an unhashable callable: not cached
        return bool(_declares_context.__wrapped__(function.user_function))


@functools.lru_cache(maxsize=1024)
def _declares_context(user_function: Any) -> bool:
    """Whether the function takes `context` (looked up once per function, not per call)."""
    try:
        return "context" in inspect.signature(user_function).parameters
    except (TypeError, ValueError):
        return False


class InvocationContext:
    """The `context` parameter a function may declare (func.Context's commonly used parts)."""

    def __init__(self, name: str, directory: str):
        self.invocation_id = str(uuid.uuid4())
        self.function_name = name
        self.function_directory = directory
        self.trace_context = None
        self.retry_context = None


async def call_user_function(fn: Any, kwargs: dict[str, Any], pool: Executor) -> Any:
    """Await coroutine functions on the loop; run plain ones on the thread pool."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    result = await asyncio.get_running_loop().run_in_executor(pool, lambda: fn(**kwargs))
    if inspect.isawaitable(result):
        return await result
    return result


async def invoke_activity(
    function: IndexedFunction,
    work: ActivityWork,
    now: Callable[[], datetime],
    client_binding: str | None,
    app_dir: str,
    pool: Executor,
) -> dict[str, Any]:
    """Run an activity as the worker does; its result or error as a history event."""
    try:
        with Execution(function.name):
            argument = (
                None
                if work.input is None
                else ActivityTriggerConverter.decode(
                    meta.Datum(work.input, "json"), trigger_metadata=None
                )
            )
            kwargs: dict[str, Any] = {trigger_param(function): argument}
            if function.durable_client_param:
                kwargs[function.durable_client_param] = client_binding
            if wants_context(function):
                kwargs["context"] = InvocationContext(function.name, app_dir)
            value = await call_user_function(function.user_function, kwargs, pool)
            encoded = ActivityTriggerConverter.encode(value, expected_type=None).value
        return event(EventType.TaskCompleted, now(), TaskScheduledId=work.event_id, Result=encoded)
    except Exception as error:
        return event(
            EventType.TaskFailed,
            now(),
            TaskScheduledId=work.event_id,
            Reason=f"{type(error).__name__}: {error}",
            Details="".join(traceback.format_exception(error)),
        )
