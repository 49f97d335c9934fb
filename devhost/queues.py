"""Queue triggers: Azure Storage queues polled and handed to functions as the host does.

What the Functions host's queue extension does, and devhost with it (host.json
`extensions.queues` is read for the same settings, with the same defaults):
- polls each queue, backing off while it is empty from 100 ms up to `maxPollingInterval`
  (default one minute: a message arriving after a quiet spell may wait that long; set
  e.g. "00:00:02" in host.json for a snappier local loop), and at once again after a
  batch;
- takes up to `batchSize` (16) messages at a time, hidden for 10 minutes while they run,
  and runs them concurrently;
- decodes each body from base64 (`messageEncoding`, default "base64"; "none" takes the
  text as it is) and hands the function an `azure.functions.QueueMessage` with id, body,
  dequeue_count, insertion_time, expiration_time, time_next_visible and pop_receipt;
- deletes a message whose function succeeded; a failed one becomes visible again after
  `visibilityTimeout` (default 0), and once it has been dequeued `maxDequeueCount` (5)
  times it moves to the poison queue `<queue>-poison` (created when first needed).

The queue name may be `%SETTING%`; `connection` names the app setting with the account's
connection string (tried as given, then with the `AzureWebJobs` prefix; default
AzureWebJobsStorage). Identity-based connections (`<name>__queueServiceUri`) are not
served locally.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionMessage

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage

from .appconfig import AppConfigError, resolve_setting_references
from .azurite import resolve_connection_string
from .execution_log import Execution
from .indexer import QUEUE, IndexedFunction

log = logging.getLogger("devhost")

Invoker = Callable[[IndexedFunction, dict[str, Any], str], Awaitable[Any]]

# While a function runs its message stays hidden this long (the host renews it; a local
# function running longer than this would see its message handed out again).
PROCESSING_VISIBILITY_SECONDS = 600
MIN_POLLING_SECONDS = 0.1
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")


@dataclass(frozen=True)
class QueueOptions:
    """host.json extensions.queues, with the host's defaults."""

    max_polling_seconds: float = 60.0
    visibility_seconds: float = 0.0
    batch_size: int = 16
    max_dequeue_count: int = 5
    base64: bool = True

    @classmethod
    def from_host_json(cls, host_json: dict[str, Any]) -> QueueOptions:
        section = host_json.get("extensions", {}).get("queues", {})
        if not isinstance(section, dict):
            raise AppConfigError('host.json: "extensions.queues" must be an object')
        encoding = str(section.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise AppConfigError(
                f'host.json: "extensions.queues.messageEncoding" must be "base64" or "none", '
                f"got {encoding!r}"
            )
        polling = _seconds(section.get("maxPollingInterval", "00:01:00"), "maxPollingInterval")
        return cls(
            max_polling_seconds=max(MIN_POLLING_SECONDS, polling),
            visibility_seconds=_seconds(
                section.get("visibilityTimeout", "00:00:00"), "visibilityTimeout"
            ),
            batch_size=int(section.get("batchSize", 16)),
            max_dequeue_count=int(section.get("maxDequeueCount", 5)),
            base64=encoding == "base64",
        )


def _seconds(value: Any, name: str) -> float:
    """A TimeSpan ("00:00:02", "1.00:00:00"), in seconds."""
    match = _TIMESPAN.fullmatch(str(value).strip())
    if match is None:
        raise AppConfigError(
            f'host.json: "extensions.queues.{name}" must be a TimeSpan like "00:00:02", '
            f"got {value!r}"
        )
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def connection_string(name: str | None, settings: dict[str, str]) -> str:
    """The connection string a trigger's `connection` names, as the host looks it up."""
    name = name or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate)
        if value:
            return resolve_connection_string(value, candidate)
    raise AppConfigError(
        f"queue trigger connection {name!r}: neither app setting {name} nor "
        f"AzureWebJobs{name} is set"
    )


def to_function_message(message: QueueMessage, base64_encoded: bool) -> FunctionMessage:
    """The message as the Python worker hands it over; ValueError if the body is not base64."""
    content = message.content or ""
    if base64_encoded:
        try:
            body = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"message {message.id} is not valid base64 (host.json messageEncoding is "
                '"base64", the default; send it base64-encoded or set "none")'
            ) from None
    else:
        body = content.encode()
    return FunctionMessage(
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        expiration_time=message.expires_on,
        insertion_time=message.inserted_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


class _Listener:
    def __init__(
        self,
        function: IndexedFunction,
        queue: str,
        connection: str,
        options: QueueOptions,
    ):
        self.function = function
        self.queue = queue
        self.options = options
        # Imported only for an app with queue triggers: a tenth of a second of every other
        # host's start-up.
        from azure.storage.queue.aio import QueueClient

        self.client = QueueClient.from_connection_string(connection, queue)
        self.poison = QueueClient.from_connection_string(connection, f"{queue}-poison")

    async def run(self, invoke: Invoker, spawn: Callable[[Any], None]) -> None:
        self.invoke = invoke
        self.spawn = spawn
        delay = MIN_POLLING_SECONDS
        while True:
            try:
                batch = [
                    message
                    async for message in self.client.receive_messages(
                        max_messages=self.options.batch_size,
                        visibility_timeout=PROCESSING_VISIBILITY_SECONDS,
                    )
                ]
            except ResourceNotFoundError:
                batch = []  # the queue does not exist yet: as empty, like the host
            except Exception as error:  # storage away for a moment: keep polling
                log.warning("Polling queue %s failed: %s", self.queue, error)
                batch = []
            if batch:
                delay = MIN_POLLING_SECONDS
                await asyncio.gather(*(self._handle(message) for message in batch))
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.options.max_polling_seconds)

    async def _handle(self, message: QueueMessage) -> None:
        """Run the function on `message` as an engine task (the virtual clock waits for it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def process() -> None:
            try:
                await self._process(message)
            except asyncio.CancelledError:
                # The host is stopping mid-function: hand the message to the next host now
                # rather than after its 10 minutes of processing visibility.
                with contextlib.suppress(Exception):
                    await self.client.update_message(
                        message.id, message.pop_receipt, visibility_timeout=0
                    )
                raise
            finally:
                done.set_result(None)

        self.spawn(process())
        await done

    async def _process(self, message: QueueMessage) -> None:
        execution = Execution(self.function.name, f"New queue message detected on '{self.queue}'.")
        succeeded = False
        with contextlib.suppress(Exception), execution:
            argument = to_function_message(message, self.options.base64)
            await self.invoke(
                self.function, {str(self.function.trigger["name"]): argument}, execution.invocation
            )
            succeeded = True
        try:
            if succeeded:
                await self.client.delete_message(message.id, message.pop_receipt)
            elif (message.dequeue_count or 0) >= self.options.max_dequeue_count:
                await self._to_poison_queue(message)
            else:
                await self.client.update_message(
                    message.id,
                    message.pop_receipt,
                    visibility_timeout=int(self.options.visibility_seconds),
                )
        except Exception as error:  # the message reappears when its visibility ends
            log.warning("Could not settle message %s on %s: %s", message.id, self.queue, error)

    async def _to_poison_queue(self, message: QueueMessage) -> None:
        log.warning(
            "Message %s has reached MaxDequeueCount of %d. Moving message to queue '%s-poison'.",
            message.id,
            self.options.max_dequeue_count,
            self.queue,
        )
        with contextlib.suppress(ResourceExistsError):
            await self.poison.create_queue()
        # The content as it came, so the poison queue holds it in the same encoding.
        await self.poison.send_message(message.content)
        await self.client.delete_message(message.id, message.pop_receipt)

    async def close(self) -> None:
        await self.client.close()
        await self.poison.close()


class QueueTriggers:
    def __init__(
        self,
        functions: list[IndexedFunction],
        settings: dict[str, str],
        host_json: dict[str, Any],
    ):
        self.listeners: list[_Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        queue_functions = [f for f in functions if f.trigger_type == QUEUE and not f.disabled]
        if not queue_functions:
            return
        options = QueueOptions.from_host_json(host_json)
        for function in queue_functions:
            try:
                queue = resolve_setting_references(str(function.trigger["queueName"]), settings)
            except AppConfigError as error:
                raise AppConfigError(f"queue trigger {function.name}: {error}") from error
            connection = connection_string(function.trigger.get("connection"), settings)
            self.listeners.append(_Listener(function, queue.lower(), connection, options))

    def start(self, invoke: Invoker, spawn: Callable[[Any], None]) -> None:
        """Poll every queue; `spawn` runs each message's function as an engine task."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(listener.run(invoke, spawn)) for listener in self.listeners]

    async def stop_polling(self) -> None:
        """No new messages; those in flight are the engine's tasks, which it ends."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for listener in self.listeners:
            await listener.close()
