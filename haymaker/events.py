"""The agent event queue: agents send JSON events, monitoring receives them into run records.

One Azure Storage queue per run, in the account the app already has. Delivery is
at-least-once by design: `EventReceiver.receive` leaves messages invisible but in the
queue, and only `acknowledge` deletes them, after the caller has recorded the events. A
crash in between redelivers them once the visibility timeout passes; records dedupe by
the event id the sender stamps on every event.

Each function takes the app's `StorageAccount` (haymaker.storage: reached with a
connection string or an identity) or, as older callers do, a connection string. The agent
image carries this module but not haymaker.storage, so the account is typed here by what is
used of it (`QueueAccount`). The queue SDK is imported where a client is made: a local
agent sends its events as signed requests (haymaker.providers.local_uses) and imports none.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, cast

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from haymaker.naming import iso_utc, parse_iso_utc, run_short, validate_run_id

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

log = logging.getLogger(__name__)

AGENT_PHASES = ("deploy", "operate", "cleanup")
# Required fields per event type, beyond the common ones.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "started": ("scenario_id",),
    "phase": ("phase",),
    "command": ("step", "command", "exit_code", "duration_s"),
    "resource_created": ("kind", "name"),
    "resource_deleted": ("kind", "name"),
    "heartbeat": (),
    "error": ("message",),
    "finished": (),
    "failed": ("error",),
}
COMMON_FIELDS = ("type", "run_id", "agent_id", "id", "ts")
# A queue message holds 64 KiB; leave room for the XML envelope and escaping.
MAX_MESSAGE_CHARS = 32_000
BATCH_PREFIX = '{"events":['
RUN_METADATA_KEY = "haymaker_run"
# A table property's text (the run records keep each event's JSON in one).
MAX_PROPERTY_CHARS = 30_000
_TRUNCATED = "...[truncated {} chars]"


class QueueAccount(Protocol):
    """The queue side of a storage account (haymaker.storage.StorageAccount is one)."""

    def queue(self, name: str) -> QueueClient: ...

    def queue_service(self) -> QueueServiceClient: ...


class MessageQueue(Protocol):
    """Where a sender puts its messages: the SDK's QueueClient, or a local agent's signed
    requests (haymaker.providers.local_uses.SignedQueue)."""

    def send_message(self, content: str) -> Any: ...


# The app's storage account, or a connection string.
QueueStorage = QueueAccount | str


def _queue(storage: QueueStorage, name: str) -> QueueClient:
    if isinstance(storage, str):
        from azure.storage.queue import QueueClient

        return QueueClient.from_connection_string(storage, name)
    return storage.queue(name)


def _queue_service(storage: QueueStorage) -> QueueServiceClient:
    if isinstance(storage, str):
        from azure.storage.queue import QueueServiceClient

        return QueueServiceClient.from_connection_string(storage)
    return storage.queue_service()


def _is_storage(storage: object) -> TypeGuard[QueueStorage]:
    """Whether `storage` is an account or a connection string (else: a queue's client)."""
    return isinstance(storage, str) or hasattr(storage, "queue_service")


def truncate_text(text: str, limit: int = MAX_PROPERTY_CHARS) -> str:
    """Cut `text` to at most `limit` chars, saying how much was cut."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(_TRUNCATED.format(len(text))))
    return text[:keep] + _TRUNCATED.format(len(text) - keep)


def fit_event(event: Mapping[str, Any], limit: int = MAX_PROPERTY_CHARS) -> str:
    """The event as JSON of at most `limit` chars, cutting its longest texts first."""
    body = dict(event)
    text = json.dumps(body, separators=(",", ":"))
    while len(text) > limit:
        longest = max(
            (key for key, value in body.items() if isinstance(value, str)),
            key=lambda key: len(body[key]),
            default=None,
        )
        if longest is None or len(body[longest]) < 64:
            keep = ("id", "type", "run_id", "agent_id", "ts", "seq")
            body = {key: body[key] for key in keep if key in body}
            body["truncated"] = True
            return json.dumps(body, separators=(",", ":"))
        excess = len(text) - limit
        body[longest] = truncate_text(body[longest], max(32, len(body[longest]) - excess - 64))
        text = json.dumps(body, separators=(",", ":"))
    return text


def events_queue_name(run_id: str) -> str:
    """The run's queue: `haymaker-events-<run short>` (valid: lowercase, digits, dashes)."""
    return f"haymaker-events-{run_short(run_id)}"


def create_events_queue(storage: QueueStorage, run_id: str) -> str:
    """Create the run's queue if missing (idempotent), labelled with its run; returns its name.

    The label (metadata `haymaker_run`) lets a sweep tell which run a leftover queue was for.
    """
    validate_run_id(run_id)
    name = events_queue_name(run_id)
    queue = _queue(storage, name)
    # Already there (an earlier try, or other metadata): fine either way.
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue(metadata={RUN_METADATA_KEY: run_id})
    return name


def events_queue_exists(storage: QueueStorage, queue_name: str) -> bool:
    """Whether the queue is there: launching an agent with nowhere to report is refused."""
    try:
        _queue(storage, queue_name).get_queue_properties()
    except ResourceNotFoundError:
        return False
    return True


def delete_events_queue(storage: QueueStorage, run_id: str) -> None:
    """Delete the run's queue once nothing will read it again; a missing queue is fine, so
    a retried (or repeated) finalize succeeds."""
    with contextlib.suppress(ResourceNotFoundError):
        _queue_service(storage).delete_queue(events_queue_name(run_id))


def list_events_queues(storage: QueueStorage) -> dict[str, str]:
    """Event queues in the account by name, each with the run id it was created for."""
    service = _queue_service(storage)
    return {
        queue.name: queue.metadata[RUN_METADATA_KEY]
        for queue in service.list_queues(name_starts_with="haymaker-events-", include_metadata=True)
        if queue.metadata and RUN_METADATA_KEY in queue.metadata
    }


def event_problems(event: Any) -> list[str]:
    """What is wrong with an event (empty when it is valid): the type and its fields."""
    if not isinstance(event, Mapping):
        return [f"an event is a JSON object, not {type(event).__name__}"]
    kind = event.get("type")
    if kind not in EVENT_FIELDS:
        return [f"unknown event type {kind!r}; expected one of {', '.join(EVENT_FIELDS)}"]
    problems = [
        f"{kind} event lacks {field!r}"
        for field in (*COMMON_FIELDS, *EVENT_FIELDS[kind])
        if event.get(field) in (None, "")
    ]
    if kind == "phase" and event.get("phase") not in (None, *AGENT_PHASES):
        problems.append(f"phase must be one of {', '.join(AGENT_PHASES)}")
    if kind == "command" and not isinstance(event.get("exit_code"), int):
        problems.append("command event exit_code must be an integer")
    if isinstance(event.get("ts"), str):
        try:
            parse_iso_utc(event["ts"])
        except ValueError:
            problems.append(f"ts {event['ts']!r} is not an ISO 8601 time")
    return problems


class EventSender:
    """Sends validated events to one queue, stamping each with an id, a time and a sequence."""

    def __init__(self, storage: QueueStorage | MessageQueue, queue_name: str) -> None:
        self._queue = (
            _queue(storage, queue_name) if _is_storage(storage) else cast(MessageQueue, storage)
        )
        # Orders events of one sender sent within the same millisecond.
        self._sequence = itertools.count()

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        queue_name: str,
        credential: TokenCredential,
        **client_options: Any,
    ) -> EventSender:
        """A sender that signs in with `credential` (an agent's managed identity) instead of
        an account key; `account_url` is the queue service, `https://<account>.queue...`.
        `client_options` go to the SDK client (retries, timeouts)."""
        from azure.storage.queue import QueueClient

        client = QueueClient(account_url, queue_name, credential=credential, **client_options)
        return cls(client, queue_name)

    def send(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Send `event`; returns it as sent. ValueError names what is missing or wrong.

        An `id` already present is kept, so resending the same event after an unclear
        failure is deduplicated downstream.
        """
        full = self.stamp(event)
        self.deliver(full)
        return full

    def stamp(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """`event` with its id, time and sequence, checked; ValueError names what is wrong.

        Stamped when it happens, an event keeps its time and place in order even when it
        is delivered later (see agent/event_buffer.py).
        """
        full = dict(event)
        full.setdefault("id", uuid.uuid4().hex)
        full.setdefault("ts", iso_utc(datetime.now(UTC)))
        full.setdefault("seq", next(self._sequence))
        problems = event_problems(full)
        if problems:
            raise ValueError("invalid event: " + "; ".join(problems))
        return full

    def deliver(self, full: Mapping[str, Any]) -> None:
        """Put a stamped event on the queue; raises what the SDK raises."""
        self._queue.send_message(fit_event(full, MAX_MESSAGE_CHARS))

    def deliver_many(self, events: Sequence[Mapping[str, Any]]) -> int:
        """Put the first of `events` (stamped, in order) on the queue as one message, as
        many as fit in it; returns how many went. Raises what the SDK raises.

        One message per event costs the receiver a delete each: a round of an agent's
        steps goes as one `{"events": [...]}` message instead.
        """
        texts = [fit_event(event, MAX_MESSAGE_CHARS) for event in events]
        taken, size = 0, len(BATCH_PREFIX) + 2
        while taken < len(texts) and size + len(texts[taken]) + 1 <= MAX_MESSAGE_CHARS:
            size += len(texts[taken]) + 1
            taken += 1
        if taken <= 1:
            self._queue.send_message(texts[0])
            return 1
        self._queue.send_message(BATCH_PREFIX + ",".join(texts[:taken]) + "]}")
        return taken


def parse_message(content: Any) -> list[dict[str, Any]]:
    """The events in a message: one event, or a batch `{"events": [...]}` (see
    `EventSender.deliver_many`); plain JSON, or base64 JSON as Functions output bindings
    send. Raises ValueError saying why the message holds no valid event.
    """
    if not isinstance(content, str):
        raise ValueError("message has no text content")
    texts = [content]
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        texts.append(base64.b64decode(content, validate=True).decode("utf-8"))
    reason = "message is not JSON"
    for text in texts:
        try:
            body = json.loads(text)
        except ValueError:
            continue
        batch = body.get("events") if isinstance(body, dict) and "type" not in body else None
        events = batch if isinstance(batch, list) and batch else [body]
        problems = [
            problem
            for event in events
            for problem in (event_problems(event) if isinstance(event, dict) else ["not an object"])
        ]
        if not problems:
            return [dict(event) for event in events]
        reason = "; ".join(problems)
    raise ValueError(reason)


class EventReceiver:
    """Receives a run's events; deletes them only when the caller acknowledges them.

    Malformed messages can never become valid, so they are deleted at once and counted in
    `malformed` rather than returned or left to be redelivered forever.
    """

    def __init__(
        self, storage: QueueStorage | QueueClient, queue_name: str, visibility_timeout: int = 120
    ) -> None:
        self._queue = (
            _queue(storage, queue_name) if _is_storage(storage) else cast("QueueClient", storage)
        )
        self._visibility_timeout = visibility_timeout
        # Message ids by event id; the received messages and their unacknowledged events.
        self._unacknowledged: dict[str, set[str]] = {}
        self._messages: dict[str, QueueMessage] = {}
        self._waiting: dict[str, set[str]] = {}
        self.malformed = 0

    def receive(self, max_messages: int = 32) -> list[dict[str, Any]]:
        """Up to `max_messages` valid events, oldest first; [] when the queue does not exist."""
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        try:
            messages = list(
                self._queue.receive_messages(
                    messages_per_page=min(32, max_messages),
                    max_messages=max_messages,
                    visibility_timeout=self._visibility_timeout,
                )
            )
        except ResourceNotFoundError:
            return []
        events: list[dict[str, Any]] = []
        for message in messages:
            try:
                parsed = parse_message(message.content)
            except ValueError as problem:
                self.malformed += 1
                log.warning("skipped malformed event message %s: %s", message.id, problem)
                self._queue.delete_message(message)
                continue
            # A batch message is deleted once all of its events are acknowledged, with the
            # pop receipt of its latest delivery.
            self._messages[message.id] = message
            self._waiting[message.id] = {str(event["id"]) for event in parsed}
            for event in parsed:
                self._unacknowledged.setdefault(str(event["id"]), set()).add(message.id)
            events.extend(parsed)
        events.sort(key=_send_order)
        return events

    def acknowledge(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Delete the messages of received `events` (call after recording them); returns how many.

        A message whose invisibility ran out may already have been received again: its
        delete then fails and it is simply delivered once more, which dedupe absorbs.
        """
        deleted = 0
        for event in events:
            event_id = str(event.get("id"))
            for message_id in self._unacknowledged.pop(event_id, set()):
                waiting = self._waiting.get(message_id, set())
                waiting.discard(event_id)
                if waiting:
                    continue
                self._waiting.pop(message_id, None)
                message = self._messages.pop(message_id)
                try:
                    self._queue.delete_message(message)
                    deleted += 1
                except ResourceNotFoundError:
                    log.info("event %s was redelivered before it was acknowledged", event_id)
                except HttpResponseError as error:
                    if getattr(error, "error_code", None) != "PopReceiptMismatch":
                        raise
                    log.info("event %s was redelivered before it was acknowledged", event_id)
        return deleted


def _send_order(event: Mapping[str, Any]) -> tuple[datetime, int]:
    seq = event.get("seq")
    return parse_iso_utc(str(event["ts"])), seq if isinstance(seq, int) else 0
