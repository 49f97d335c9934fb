"""What an agent does to its local resources (haymaker.providers.local_cloud): create and
delete a container, table or queue, and use one (put a blob, upsert an entity, put or update
a queue message); as plain signed requests, or through the SDKs.

An agent uses its resources a few times in each of its 96 rounds, and each use through the
storage SDKs costs 1-2 ms of the agent's CPU, most of it the SDK's pipeline (a dozen
policies, the generated serializer, and requests looking up proxy settings in the
environment twice per request) rather than the request; and importing the three storage
SDKs cost a local agent a third of a second at start, more than the rest of its start-up.
`SignedUses` sends the same requests as the SDKs' `create_container`, `create_queue`,
`create_table`, their deletes and metadata updates, `upload_blob`, `upsert_entity`
(replace), `delete_entity`, `send_message` and `update_message` (their URLs, bodies,
service versions and Shared Key signatures) over one kept-alive http.client connection
per service, for a fraction of that, and the agent imports no storage SDK. Only for
connection strings with an account key and http endpoints (Azurite's); others (a SAS,
TLS) keep the SDKs' clients (`SdkUses`).
Failures raise the SDK's exceptions (ResourceNotFoundError, HttpResponseError,
ServiceRequestError, ServiceResponseError), so agent/retrying.py treats both alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

# The service version the SDKs of requirements.txt send for these operations.
BLOB_QUEUE_VERSION = "2021-08-06"
TABLE_VERSION = "2019-02-02"
SERVICES = ("blob", "queue", "table")
# Azurite's well-known account (public: the SDKs and the emulator ship it) and ports.
# devhost/azurite.py has its own: the app imports nothing of devhost, nor devhost of it.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_PORTS = (10000, 10001, 10002)
_MESSAGE_ID = re.compile(r"<MessageId>([^<]+)</MessageId>")
_POP_RECEIPT = re.compile(r"<PopReceipt>([^<]+)</PopReceipt>")


class Uses(Protocol):
    def create_container(self, name: str, metadata: Mapping[str, str]) -> bool:
        """Create it with `metadata`, or set the metadata of the one there; True when new."""
        ...

    def create_queue(self, name: str, metadata: Mapping[str, str]) -> bool:
        """Create it with `metadata`, or set the metadata of the one there; True when new."""
        ...

    def create_table(self, name: str) -> bool:
        """Create it; True when new, False when it was there."""
        ...

    def delete_container(self, name: str) -> bool:
        """Delete it; False when it was not there."""
        ...

    def delete_queue(self, name: str) -> bool:
        """Delete it; False when it was not there."""
        ...

    def delete_table(self, name: str) -> bool:
        """Delete it; False when it was not there."""
        ...

    def delete_entity(self, table: str, partition_key: str, row_key: str) -> None:
        """Delete the entity; nothing when it (or its table) is not there."""
        ...

    def put_blob(self, container: str, name: str, body: bytes) -> None: ...

    def upsert_entity(self, table: str, entity: Mapping[str, str]) -> None: ...

    def put_message(self, queue: str, text: str) -> tuple[str, str]:
        """Add a message; (its id, its pop receipt)."""
        ...

    def update_message(self, queue: str, message_id: str, pop_receipt: str, text: str) -> str:
        """Replace a message's text, visible at once; its new pop receipt.
        ResourceNotFoundError when it is gone; HttpResponseError (400) when the receipt is
        no longer its."""
        ...


def shared_key(connection_string: str) -> tuple[str, bytes, dict[str, str]] | None:
    """(account name, account key, endpoint per service) of a connection string with an
    account key and plain http endpoints (Azurite's), else None. `UseDevelopmentStorage=true`
    (the default of `./dev run` and of local.settings.json) is Azurite's well-known account
    on its default ports, as the SDKs read it."""
    if connection_string.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        endpoints = {
            service: f"http://127.0.0.1:{port}/{DEV_ACCOUNT}"
            for service, port in zip(SERVICES, DEV_PORTS, strict=True)
        }
        return DEV_ACCOUNT, base64.b64decode(DEV_KEY), endpoints
    fields = {}
    for part in connection_string.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    account, key = fields.get("accountname"), fields.get("accountkey")
    if not account or not key:
        return None
    protocol = fields.get("defaultendpointsprotocol", "https")
    suffix = fields.get("endpointsuffix", "core.windows.net")
    endpoints = {}
    for service in SERVICES:
        endpoint = fields.get(f"{service}endpoint") or f"{protocol}://{account}.{service}.{suffix}"
        if urlsplit(endpoint).scheme != "http":
            return None  # TLS: the SDK's clients, which trust what requests trusts
        endpoints[service] = endpoint.rstrip("/")
    try:
        return account, base64.b64decode(key), endpoints
    except ValueError:
        return None


class _Answer(NamedTuple):
    status: int
    text: str
    headers: dict[str, str]  # names in lower case


class SignedUses:
    """Signed requests for one account, over one kept-alive connection per service and
    thread: an agent acts from one thread, the host's activities from several at once."""

    def __init__(
        self, account: str, key: bytes, endpoints: Mapping[str, str], timeout: float = 20.0
    ) -> None:
        self._account = account
        self._key = key
        self._timeout = timeout
        self._endpoints = {service: urlsplit(url) for service, url in endpoints.items()}
        self._local = threading.local()
        self._date = ""
        self._date_second = -1

    @classmethod
    def for_connection(cls, connection_string: str) -> SignedUses | None:
        found = shared_key(connection_string)
        return None if found is None else cls(*found)

    def create_container(self, name: str, metadata: Mapping[str, str]) -> bool:
        path, headers = f"/{quote(name, safe='')}", _metadata_headers(metadata)
        return _created_or_retagged(
            lambda: self._send("blob", "PUT", path, {"restype": "container"}, b"", headers),
            lambda: self._send(
                "blob", "PUT", path, {"restype": "container", "comp": "metadata"}, b"", headers
            ),
        )

    def create_queue(self, name: str, metadata: Mapping[str, str]) -> bool:
        path, headers = f"/{quote(name, safe='')}", _metadata_headers(metadata)
        try:
            answer = self._send("queue", "PUT", path, {}, b"", headers)
        except ResourceExistsError:  # there, with other metadata
            answer = None
        if answer is not None and answer.status != 204:  # 204: there, with this metadata
            return True
        self._send("queue", "PUT", path, {"comp": "metadata"}, b"", headers)
        return False

    def create_table(self, name: str) -> bool:
        body = json.dumps({"TableName": name}).encode()
        return _created_or_retagged(
            lambda: self._send(
                "table", "POST", "/Tables", {}, body, {"Prefer": "return-no-content"}
            ),
            lambda: None,
        )

    def delete_container(self, name: str) -> bool:
        return self._delete("blob", f"/{quote(name, safe='')}", {"restype": "container"})

    def delete_queue(self, name: str) -> bool:
        return self._delete("queue", f"/{quote(name, safe='')}", {})

    def delete_table(self, name: str) -> bool:
        return self._delete("table", f"/Tables('{_key(name)}')", {})

    def delete_entity(self, table: str, partition_key: str, row_key: str) -> None:
        self._delete("table", _entity_path(table, partition_key, row_key), {}, {"If-Match": "*"})

    def put_blob(self, container: str, name: str, body: bytes) -> None:
        self._send(
            "blob",
            "PUT",
            f"/{quote(container, safe='')}/{quote(name, safe='/')}",
            {},
            body,
            {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"},
        )

    def upsert_entity(self, table: str, entity: Mapping[str, str]) -> None:
        """Insert or replace the entity (its properties: strings)."""
        path = _entity_path(table, entity["PartitionKey"], entity["RowKey"])
        self._send("table", "PUT", path, {}, json.dumps(dict(entity)).encode(), {})

    def put_message(self, queue: str, text: str) -> tuple[str, str]:
        answer = self._send(
            "queue", "POST", f"/{quote(queue, safe='')}/messages", {}, _message(text), {}
        )
        message_id, receipt = _MESSAGE_ID.search(answer.text), _POP_RECEIPT.search(answer.text)
        if message_id is None or receipt is None:
            raise HttpResponseError(
                message=f"put message on {queue}: no id in {answer.text[:200]!r}"
            )
        return message_id[1], receipt[1]

    def update_message(self, queue: str, message_id: str, pop_receipt: str, text: str) -> str:
        answer = self._send(
            "queue",
            "PUT",
            f"/{quote(queue, safe='')}/messages/{quote(message_id, safe='')}",
            {"popreceipt": pop_receipt, "visibilitytimeout": "0"},
            _message(text),
            {},
        )
        return answer.headers["x-ms-popreceipt"]

    def _delete(
        self,
        service: str,
        path: str,
        query: Mapping[str, str],
        extra: Mapping[str, str] | None = None,
    ) -> bool:
        return _deleted(lambda: self._send(service, "DELETE", path, query, b"", extra or {}))

    # -- requests ---------------------------------------------------------------------

    def _now(self) -> str:
        second = int(time.time())
        if second != self._date_second:
            self._date, self._date_second = formatdate(second, usegmt=True), second
        return self._date

    def _send(
        self,
        service: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: bytes,
        extra: Mapping[str, str],
    ) -> _Answer:
        """The service's answer; a status of 300 or more raises as the SDKs do."""
        endpoint = self._endpoints[service]
        path = endpoint.path.rstrip("/") + path
        date = self._now()
        headers = {"x-ms-date": date, "Content-Length": str(len(body)), **extra}
        if service == "table":
            headers.update(
                {
                    "x-ms-version": TABLE_VERSION,
                    "Content-Type": "application/json",
                    "Accept": "application/json;odata=minimalmetadata",
                    "DataServiceVersion": "3.0",
                }
            )
            signed = f"{method}\n\n{headers['Content-Type']}\n{date}\n/{self._account}{path}"
        else:
            headers["x-ms-version"] = BLOB_QUEUE_VERSION
            signed = self._blob_queue_string(method, path, query, headers)
        digest = hmac.new(self._key, signed.encode(), hashlib.sha256).digest()
        headers["Authorization"] = f"SharedKey {self._account}:{base64.b64encode(digest).decode()}"
        target = path
        if query:
            target += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        answer = self._request(service, method, target, body, headers)
        if answer.status >= 300:
            _raise(answer.status, method, target, answer.text)
        return answer

    def _blob_queue_string(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> str:
        """Shared Key's string to sign for the blob and queue services."""
        length = headers.get("Content-Length", "")
        standard = [
            method,
            "",  # Content-Encoding
            "",  # Content-Language
            "" if length == "0" else length,
            "",  # Content-MD5
            headers.get("Content-Type", ""),
            "",  # Date (x-ms-date is signed below)
            "",  # If-Modified-Since
            "",  # If-Match
            "",  # If-None-Match
            "",  # If-Unmodified-Since
            "",  # Range
        ]
        ms_headers = sorted(
            (name.lower(), value)
            for name, value in headers.items()
            if name.lower().startswith("x-ms-")
        )
        resource = f"/{self._account}{path}" + "".join(
            f"\n{name.lower()}:{value}" for name, value in sorted(query.items())
        )
        return (
            "\n".join(standard)
            + "\n"
            + "".join(f"{name}:{value}\n" for name, value in ms_headers)
            + resource
        )

    def _request(
        self, service: str, method: str, target: str, body: bytes, headers: Mapping[str, str]
    ) -> _Answer:
        """The answer over the service's kept connection; a kept connection
        that the server closed meanwhile is replaced once (every use may be repeated)."""
        for attempt in range(2):
            connection = self._connection(service)
            sent = False
            try:
                connection.request(method, target, body=body, headers=dict(headers))
                sent = True
                response = connection.getresponse()
                text = response.read().decode("utf-8", "replace")
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                # Left mid-request: a SIGTERM's SystemExit unwound through a send, and the
                # agent's `finally` sends its held events on the same thread's connection.
                http.client.ImproperConnectionState,
            ) as error:
                self._drop(service)
                if attempt == 0:
                    continue
                raise ServiceResponseError(f"{method} {target}: {error!r}", error=error) from error
            except (OSError, http.client.HTTPException) as error:
                self._drop(service)
                kind = ServiceResponseError if sent else ServiceRequestError
                raise kind(f"{method} {target}: {error!r}", error=error) from error
            if response.will_close:
                self._drop(service)
            headers = {name.lower(): value for name, value in response.getheaders()}
            return _Answer(response.status, text, headers)
        raise AssertionError("unreachable")

    def _connection(self, service: str) -> http.client.HTTPConnection:
        connections = self._connections()
        connection = connections.get(service)
        if connection is None:
            endpoint = self._endpoints[service]
            connection = http.client.HTTPConnection(endpoint.netloc, timeout=self._timeout)
            connections[service] = connection
        return connection

    def _connections(self) -> dict[str, http.client.HTTPConnection]:
        """This thread's connections, by service."""
        connections: dict[str, http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if connections is None:
            connections = self._local.connections = {}
        return connections

    def _drop(self, service: str) -> None:
        connection = self._connections().pop(service, None)
        if connection is not None:
            connection.close()


class SignedQueue:
    """One queue's `send_message`, as the SDK's QueueClient has it (no encoding: the text as
    given), over signed requests: where a local agent sends its events."""

    def __init__(self, uses: SignedUses, queue: str) -> None:
        self._uses, self._queue = uses, queue

    def send_message(self, content: str) -> None:
        self._uses.put_message(self._queue, content)


class SdkUses:
    """The same through the SDKs' clients (connection strings without an account key)."""

    def __init__(self, blobs: Any, tables: Any, queues: Any) -> None:
        self._blobs, self._tables, self._queues = blobs, tables, queues

    def create_container(self, name: str, metadata: Mapping[str, str]) -> bool:
        container = self._blobs.get_container_client(name)
        return _created_or_retagged(
            lambda: container.create_container(metadata=dict(metadata)),
            lambda: container.set_container_metadata(dict(metadata)),
        )

    def create_queue(self, name: str, metadata: Mapping[str, str]) -> bool:
        queue = self._queues.get_queue_client(name)
        return _created_or_retagged(
            lambda: queue.create_queue(metadata=dict(metadata)),
            lambda: queue.set_queue_metadata(dict(metadata)),
        )

    def create_table(self, name: str) -> bool:
        return _created_or_retagged(lambda: self._tables.create_table(name), lambda: None)

    def delete_container(self, name: str) -> bool:
        return _deleted(lambda: self._blobs.delete_container(name))

    def delete_queue(self, name: str) -> bool:
        return _deleted(lambda: self._queues.delete_queue(name))

    def delete_table(self, name: str) -> bool:
        tables = self._tables.query_tables("TableName eq @n", parameters={"n": name})
        existed = any(True for _ in tables)
        self._tables.delete_table(name)  # a missing table is no error to the SDK
        return existed

    def delete_entity(self, table: str, partition_key: str, row_key: str) -> None:
        # A 404 (no such entity, or no such table) is no error to the SDK.
        self._tables.get_table_client(table).delete_entity(partition_key, row_key)

    def put_blob(self, container: str, name: str, body: bytes) -> None:
        self._blobs.get_blob_client(container, name).upload_blob(body, overwrite=True)

    def upsert_entity(self, table: str, entity: Mapping[str, str]) -> None:
        from azure.data.tables import UpdateMode

        self._tables.get_table_client(table).upsert_entity(dict(entity), mode=UpdateMode.REPLACE)

    def put_message(self, queue: str, text: str) -> tuple[str, str]:
        sent = self._queues.get_queue_client(queue).send_message(text)
        return str(sent.id), str(sent.pop_receipt)

    def update_message(self, queue: str, message_id: str, pop_receipt: str, text: str) -> str:
        updated = self._queues.get_queue_client(queue).update_message(
            message_id, pop_receipt=pop_receipt, content=text, visibility_timeout=0
        )
        return str(updated.pop_receipt)


def _key(value: str) -> str:
    return quote(value.replace("'", "''"), safe="")


def _created_or_retagged(create: Callable[[], object], retag: Callable[[], object]) -> bool:
    """True when `create` made it; when it was there, `retag` and False."""
    try:
        create()
    except ResourceExistsError:
        retag()
        return False
    return True


def _deleted(delete: Callable[[], object]) -> bool:
    """True when `delete` removed it; False when it was not there."""
    try:
        delete()
    except ResourceNotFoundError:
        return False
    return True


def _entity_path(table: str, partition_key: str, row_key: str) -> str:
    return (
        f"/{quote(table, safe='')}(PartitionKey='{_key(partition_key)}',RowKey='{_key(row_key)}')"
    )


def _metadata_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    return {f"x-ms-meta-{name}": value for name, value in metadata.items()}


def _message(text: str) -> bytes:
    return f"<QueueMessage><MessageText>{escape(text)}</MessageText></QueueMessage>".encode()


def _raise(status: int, method: str, target: str, text: str) -> None:
    code = re.search(r"<Code>([^<]+)</Code>|\"code\"\s*:\s*\"([^\"]+)\"", text)
    error_code = (code[1] or code[2]) if code else None
    message = f"{method} {target}: {status} {error_code or ''} {text[:300]}".strip()
    error_type: type[HttpResponseError] = HttpResponseError
    if status == 409:
        error_type = ResourceExistsError
    elif status == 404:
        error_type = ResourceNotFoundError
    error = error_type(message=message)
    error.status_code = status
    error.error_code = error_code  # type: ignore[attr-defined]  # as the SDK's errors carry it
    raise error
