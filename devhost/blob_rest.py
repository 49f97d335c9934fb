"""The blob requests devhost makes, as plain signed HTTP requests.

A host makes few blob requests: its hub's lease (lease.py), its timer triggers' status,
its virtual clock, and a value too large for a table (store.py). Importing the blob SDK
for them cost 0.17 s of CPU, a fifth of a host's start-up. This client sends the same
requests as the SDK's `create_container`, `exists`, `upload_blob`, `download_blob`,
`delete_blob` and lease operations, signed with the account key (Shared Key) as the SDK
signs them, over kept-alive connections (lean_http.py).

Only for connection strings with an account key; others (SAS), and any when a proxy is
configured, go through the SDK (`SdkBlobs`, the same methods). Failures raise the SDK's
exceptions (ResourceExistsError, ResourceNotFoundError, HttpResponseError with the
service's error code), so callers handle both the same way. A request that fails on the
way or gets a 408/5xx answer is sent again up to `retries` times, after 0.5, 1, 2 s (the
SDK's own policy waits 15 s first); a lease's renewal and release never are, since the
hub lease times its renewals itself (lease.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from .shared_key import SignedRequests, account_endpoint, proxy_configured, raise_storage_error

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobServiceClient

API_VERSION = "2021-12-02"
# The signed headers that precede the x-ms- ones in a blob request's string to sign.
_STANDARD = (
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-MD5",
    "Content-Type",
    "Date",
    "If-Modified-Since",
    "If-Match",
    "If-None-Match",
    "If-Unmodified-Since",
    "Range",
)
_TRANSIENT = (408, 500, 502, 503, 504)
_UNRETRIED_LEASE_ACTIONS = ("renew", "release")


class Blobs(Protocol):
    """The blob operations devhost uses, whichever way they are sent."""

    async def create_container(self, container: str) -> None: ...
    async def exists(self, container: str, blob: str) -> bool: ...
    async def upload(
        self,
        container: str,
        blob: str,
        data: bytes,
        *,
        overwrite: bool = True,
        lease_id: str | None = None,
    ) -> None: ...
    async def download(self, container: str, blob: str) -> tuple[bytes, str]: ...
    async def delete(self, container: str, blob: str) -> None: ...
    async def lease(
        self,
        container: str,
        blob: str,
        action: str,
        lease_id: str,
        *,
        seconds: int | None = None,
        if_match: str | None = None,
    ) -> None: ...
    async def close(self) -> None: ...


def blobs_for(
    connection_string: str, connect_timeout: float, read_timeout: float, retries: int
) -> Blobs:
    """Signed requests when the connection string has an account key and no proxy is set,
    else the SDK's clients."""
    found = None if proxy_configured() else account_endpoint(connection_string, "blob")
    if found is not None:
        return BlobRest(*found, connect_timeout, read_timeout, retries)
    return SdkBlobs(connection_string, connect_timeout, read_timeout, retries)


class BlobRest:
    """Signed blob-service requests for one account, over kept-alive connections."""

    def __init__(
        self,
        endpoint: str,
        account: str,
        key: bytes,
        connect_timeout: float = 10,
        read_timeout: float = 30,
        retries: int = 0,
    ):
        self._retries = retries
        self._signed = SignedRequests(endpoint, account, key, connect_timeout, read_timeout)

    async def close(self) -> None:
        await self._signed.close()

    async def create_container(self, container: str) -> None:
        """Create it; ResourceExistsError if it exists."""
        await self._send("PUT", container, None, {"restype": "container"})

    async def exists(self, container: str, blob: str) -> bool:
        try:
            await self._send("HEAD", container, blob)
        except ResourceNotFoundError:
            return False
        return True

    async def upload(
        self,
        container: str,
        blob: str,
        data: bytes,
        *,
        overwrite: bool = True,
        lease_id: str | None = None,
    ) -> None:
        """Store `data` as a block blob; ResourceExistsError if it exists and not
        `overwrite`; an error (412) if the blob is leased and `lease_id` is not the lease."""
        headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"}
        if not overwrite:
            headers["If-None-Match"] = "*"
        if lease_id is not None:
            headers["x-ms-lease-id"] = lease_id
        await self._send("PUT", container, blob, headers=headers, body=data)

    async def download(self, container: str, blob: str) -> tuple[bytes, str]:
        """(content, ETag); ResourceNotFoundError if there is no such blob."""
        headers, body = await self._send("GET", container, blob)
        return body, headers.get("etag", "")

    async def delete(self, container: str, blob: str) -> None:
        await self._send("DELETE", container, blob)

    async def lease(
        self,
        container: str,
        blob: str,
        action: str,
        lease_id: str,
        *,
        seconds: int | None = None,
        if_match: str | None = None,
    ) -> None:
        """Lease `action` on the blob: "acquire" (for `seconds`, as `lease_id`), "renew",
        "release", or "break" (after `seconds`; only while its ETag is `if_match`)."""
        headers = {"x-ms-lease-action": action}
        if action == "acquire":
            headers["x-ms-proposed-lease-id"] = lease_id
            headers["x-ms-lease-duration"] = str(seconds if seconds is not None else -1)
        elif action == "break":
            if seconds is not None:
                headers["x-ms-lease-break-period"] = str(seconds)
        else:
            headers["x-ms-lease-id"] = lease_id
        if if_match is not None:
            headers["If-Match"] = if_match
        retries = 0 if action in _UNRETRIED_LEASE_ACTIONS else self._retries
        await self._send("PUT", container, blob, {"comp": "lease"}, headers, retries=retries)

    async def _send(
        self,
        method: str,
        container: str,
        blob: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        retries: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        retries = self._retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return await self._send_once(method, container, blob, query, headers, body)
            except (ServiceRequestError, ServiceResponseError, HttpResponseError) as error:
                transient = not isinstance(error, HttpResponseError) or (
                    error.status_code in _TRANSIENT
                )
                if not transient or attempt >= retries:
                    raise
            await asyncio.sleep(0.5 * 2**attempt)
            attempt += 1

    async def _send_once(
        self,
        method: str,
        container: str,
        blob: str | None,
        query: dict[str, str] | None,
        headers: dict[str, str] | None,
        body: bytes,
    ) -> tuple[dict[str, str], bytes]:
        # Encoded as the SDK encodes a name; signed as it is sent.
        path = f"{self._signed.base_path}/{quote(container, safe='')}"
        if blob is not None:
            path += "/" + quote(blob, safe="~/")
        signed = self._signed
        headers = {**(headers or {}), "x-ms-date": signed.date(), "x-ms-version": API_VERSION}
        if body:
            headers["Content-Length"] = str(len(body))
        headers["Authorization"] = signed.authorization(
            _string_to_sign(method, signed.account, path, query or {}, headers)
        )
        headers.pop("Content-Length", None)  # lean_http sends it
        target = path
        if query:
            target += "?" + "&".join(f"{name}={quote(value)}" for name, value in query.items())
        status, answer_headers, answer = await signed.send(
            method, target, headers, body, with_headers=True
        )
        if status >= 300:
            code = answer_headers.get("x-ms-error-code")
            detail = answer.decode("utf-8", "replace")[:300]
            raise_storage_error(
                status, code, f"{method} {target}: {status} {code or ''} {detail}".strip()
            )
        return answer_headers, answer


def _string_to_sign(
    method: str, account: str, path: str, query: dict[str, str], headers: dict[str, str]
) -> str:
    """The Shared Key string to sign of a blob request (x-ms-date stands for Date)."""
    standard = "\n".join(headers.get(name, "") for name in _STANDARD)
    own = sorted(
        (name.lower(), value) for name, value in headers.items() if name.lower().startswith("x-ms-")
    )
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in own)
    resource = f"/{account}{path}" + "".join(
        f"\n{name.lower()}:{value}" for name, value in sorted(query.items())
    )
    return f"{method}\n{standard}\n{canonical_headers}{resource}"


class SdkBlobs:
    """BlobRest's operations through the SDK's clients, for connection strings that signed
    requests cannot sign (no account key: a SAS), or when a proxy is configured."""

    def __init__(
        self, connection_string: str, connect_timeout: float, read_timeout: float, retries: int
    ):
        from azure.storage.blob.aio import BlobServiceClient, LinearRetry

        self._service: BlobServiceClient = BlobServiceClient.from_connection_string(
            connection_string,
            connection_timeout=connect_timeout,
            read_timeout=read_timeout,
            retry_policy=LinearRetry(backoff=1, random_jitter_range=0, retry_total=retries),
            use_env_settings=proxy_configured(),
        )

    async def close(self) -> None:
        await self._service.close()

    async def create_container(self, container: str) -> None:
        await self._service.create_container(container)

    async def exists(self, container: str, blob: str) -> bool:
        return bool(await self._service.get_blob_client(container, blob).exists())

    async def upload(
        self,
        container: str,
        blob: str,
        data: bytes,
        *,
        overwrite: bool = True,
        lease_id: str | None = None,
    ) -> None:
        client = self._service.get_blob_client(container, blob)
        # The SDK takes a lease id where its types say a lease client.
        leased: dict[str, Any] = {} if lease_id is None else {"lease": lease_id}
        await client.upload_blob(data, overwrite=overwrite, **leased)

    async def download(self, container: str, blob: str) -> tuple[bytes, str]:
        download = await self._service.get_blob_client(container, blob).download_blob()
        return await download.readall(), str(download.properties.etag)

    async def delete(self, container: str, blob: str) -> None:
        await self._service.get_blob_client(container, blob).delete_blob()

    async def lease(
        self,
        container: str,
        blob: str,
        action: str,
        lease_id: str,
        *,
        seconds: int | None = None,
        if_match: str | None = None,
    ) -> None:
        from azure.core import MatchConditions
        from azure.storage.blob.aio import BlobLeaseClient

        lease = BlobLeaseClient(self._service.get_blob_client(container, blob), lease_id)
        conditions: dict[str, Any] = {}
        if if_match is not None:
            conditions = {"etag": if_match, "match_condition": MatchConditions.IfNotModified}
        if action == "acquire":
            await lease.acquire(lease_duration=seconds if seconds is not None else -1)
        elif action == "renew":
            await lease.renew(retry_total=0)
        elif action == "release":
            await lease.release(retry_total=0)
        elif action == "break":
            await lease.break_lease(lease_break_period=seconds, **conditions)
        else:
            raise ValueError(f"unknown lease action {action!r}")
