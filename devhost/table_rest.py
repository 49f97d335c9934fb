"""The table writes devhost makes most, as plain signed HTTP requests.

Each azure-data-tables operation costs about 1.4 ms of Python CPU, most of it the SDK's
pipeline (a dozen policies, the generated serializer, tracing hooks) rather than the
request; the history writer makes several per orchestration step. This client sends the
same requests (the same URL, headers, JSON body and Shared Key signature as the SDK's
`get_entity`, `upsert_entity`, `create_entity`, `delete_entity` and `submit_transaction`)
over kept-alive connections (lean_http.py), for a fraction of the CPU. Entity properties
are typed by the SDK's own serializer and deserializer, so rows read and write exactly as
with the SDK.

Only for connection strings with an account key (Azurite's, or a storage account's);
others (SAS), and any when a proxy is configured, keep the SDK. Failures raise the SDK's
exceptions (ResourceExistsError, ResourceNotFoundError, HttpResponseError), so callers
handle both the same way; retries are the callers' (the engine retries every write).
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from azure.data.tables._deserialize import _convert_to_entity
from azure.data.tables._serialize import _add_entity_properties

from .shared_key import SignedRequests, account_endpoint, raise_storage_error

API_VERSION = "2019-02-02"
ACCEPT = "application/json;odata=minimalmetadata"


def table_endpoint(connection_string: str) -> tuple[str, str, bytes] | None:
    """(table endpoint URL, account name, account key) of a Shared Key connection string,
    or None when it has no account key."""
    return account_endpoint(connection_string, "table")


def _key(value: str) -> str:
    return quote(value.replace("'", "''"), safe="")


class TableRest:
    """Signed table-service requests for one account, over kept-alive connections."""

    def __init__(
        self,
        endpoint: str,
        account: str,
        key: bytes,
        connect_timeout: float = 10,
        read_timeout: float = 30,
    ):
        self.endpoint = endpoint
        self._signed = SignedRequests(endpoint, account, key, connect_timeout, read_timeout)
        self._origin, self._base_path = self._signed.origin, self._signed.base_path

    @classmethod
    def for_connection(cls, connection_string: str) -> TableRest | None:
        found = table_endpoint(connection_string)
        return None if found is None else cls(*found)

    async def close(self) -> None:
        await self._signed.close()

    # -- operations -------------------------------------------------------------------

    async def get(self, table: str, partition_key: str, row_key: str) -> dict[str, Any]:
        """The row's properties, typed as the SDK's get_entity types them;
        ResourceNotFoundError if there is none."""
        path = self._entity_path(table, partition_key, row_key)
        text = await self._send("GET", path, None, None, read=True)
        return dict(_convert_to_entity(json.loads(text)))

    async def upsert(self, table: str, entity: dict[str, Any], merge: bool = False) -> None:
        """Insert or replace (or merge) the entity."""
        path = self._entity_path(table, entity["PartitionKey"], entity["RowKey"])
        body = json.dumps(_add_entity_properties(entity)).encode()
        await self._send("PATCH" if merge else "PUT", path, body, "application/json")

    async def insert(self, table: str, entity: dict[str, Any]) -> None:
        """Insert the entity; ResourceExistsError if its row exists."""
        body = json.dumps(_add_entity_properties(entity)).encode()
        await self._send(
            "POST",
            f"{self._base_path}/{quote(table, safe='')}",
            body,
            "application/json;odata=nometadata",
            {"Prefer": "return-no-content"},
        )

    async def delete(self, table: str, partition_key: str, row_key: str) -> None:
        """Delete the row; ResourceNotFoundError if there is none."""
        path = self._entity_path(table, partition_key, row_key)
        await self._send("DELETE", path, None, None, {"If-Match": "*"})

    async def transaction(self, table: str, operations: list[tuple[str, dict[str, Any]]]) -> None:
        """One entity-group transaction of ("upsert" | "create" | "delete", entity), all
        of one partition, at most 100: stored all or none ("create" inserts: the
        transaction fails if the row exists, as "delete" does if it does not)."""
        batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
        parts = [
            f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()
        ]
        for kind, entity in operations:
            url = self._origin + self._entity_path(table, entity["PartitionKey"], entity["RowKey"])
            if kind == "upsert":
                body = json.dumps(_add_entity_properties(entity))
                request = (
                    f"PUT {url} HTTP/1.1\r\nContent-Type: application/json\r\n"
                    f"Accept: {ACCEPT}\r\nDataServiceVersion: 3.0\r\n"
                    f"Content-Length: {len(body.encode())}\r\n\r\n{body}\r\n"
                )
            elif kind == "create":
                body = json.dumps(_add_entity_properties(entity))
                table_url = f"{self._origin}{self._base_path}/{quote(table, safe='')}"
                request = (
                    f"POST {table_url} HTTP/1.1\r\nContent-Type: application/json\r\n"
                    f"Accept: {ACCEPT}\r\nDataServiceVersion: 3.0\r\n"
                    "Prefer: return-no-content\r\n"
                    f"Content-Length: {len(body.encode())}\r\n\r\n{body}\r\n"
                )
            elif kind == "delete":
                request = (
                    f"DELETE {url} HTTP/1.1\r\nAccept: {ACCEPT}\r\nDataServiceVersion: 3.0\r\n"
                    "If-Match: *\r\n\r\n"
                )
            else:
                raise ValueError(f"unknown table operation {kind!r}")
            parts.append(
                f"--{changeset}\r\nContent-Type: application/http\r\n"
                f"Content-Transfer-Encoding: binary\r\n\r\n{request}".encode()
            )
        parts.append(f"--{changeset}--\r\n--{batch}--\r\n".encode())
        text = await self._send(
            "POST",
            f"{self._base_path}/$batch",
            b"".join(parts),
            f"multipart/mixed; boundary={batch}",
            read=True,
        )
        _check_batch(text, operations)

    # -- requests ---------------------------------------------------------------------

    def _entity_path(self, table: str, partition_key: str, row_key: str) -> str:
        return (
            f"{self._base_path}/{quote(table, safe='')}"
            f"(PartitionKey='{_key(partition_key)}',RowKey='{_key(row_key)}')"
        )

    async def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        content_type: str | None,
        extra: dict[str, str] | None = None,
        read: bool = False,
    ) -> str:
        signed = self._signed
        date = signed.date()
        headers = {
            "x-ms-date": date,
            "x-ms-version": API_VERSION,
            "DataServiceVersion": "3.0",
            "Accept": ACCEPT,
            "Authorization": signed.authorization(
                f"{method}\n\n{content_type or ''}\n{date}\n/{signed.account}{path}"
            ),
        }
        if content_type:
            headers["Content-Type"] = content_type
        if extra:
            headers.update(extra)
        status, _, answer = await signed.send(method, path, headers, body or b"")
        text = answer.decode("utf-8", "replace") if read or status >= 300 else ""
        if status >= 300:
            _raise(status, method, path, text)
        return text


def _error_code(text: str) -> str | None:
    try:
        error = json.loads(text).get("odata.error", {})
    except (ValueError, AttributeError):
        return None
    code = error.get("code")
    return str(code) if code else None


def _raise(status: int, method: str, path: str, text: str) -> None:
    code = _error_code(text)
    message = f"{method} {path}: {status} {code or ''} {text[:300]}".strip()
    raise_storage_error(status, code, message)


def _check_batch(text: str, operations: list[tuple[str, dict[str, Any]]]) -> None:
    """A transaction's answer holds one sub-response per operation, or one error: the
    failed operation's, and nothing of the transaction was stored."""
    for line in text.splitlines():
        if line.startswith("HTTP/1.1 "):
            status = int(line.split()[1])
            if status >= 300:
                body = text[text.find(line) :]
                brace = body.find("{")
                detail = body[brace:].split("\r\n", 1)[0] if brace >= 0 else ""
                _raise(status, "POST", f"$batch of {len(operations)}", detail)
