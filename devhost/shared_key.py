"""What devhost's signed storage requests share (table_rest.py, blob_rest.py): the account
behind a Shared Key connection string, the request's date, the signature, and failures
raised as the storage SDKs raise them, so that callers handle both paths the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from email.utils import formatdate
from typing import NoReturn
from urllib.parse import urlsplit

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from .azurite import connection_fields
from .lean_http import ConnectFailed, LeanHttp

# With the SDK's default env settings, aiohttp reads the proxy variables and ~/.netrc on
# every request (a fifth of the writer's CPU); storage never authenticates by netrc, so
# they are read only when a proxy is configured. Signed requests never go through one.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def proxy_configured() -> bool:
    return any(name.lower() in PROXY_VARIABLES and value for name, value in os.environ.items())


def account_endpoint(connection_string: str, service: str) -> tuple[str, str, bytes] | None:
    """(endpoint URL of `service` ("blob", "table"), account name, account key) of a Shared
    Key connection string, or None when it has no account key."""
    fields = connection_fields(connection_string)
    account, key = fields.get("accountname"), fields.get("accountkey")
    if not account or not key:
        return None
    endpoint = fields.get(f"{service}endpoint")
    if not endpoint:
        protocol = fields.get("defaultendpointsprotocol", "https")
        suffix = fields.get("endpointsuffix", "core.windows.net")
        endpoint = f"{protocol}://{account}.{service}.{suffix}"
    return endpoint.rstrip("/"), account, base64.b64decode(key)


class SignedRequests:
    """Requests to one storage service endpoint, signed with the account key."""

    def __init__(
        self, endpoint: str, account: str, key: bytes, connect_timeout: float, read_timeout: float
    ):
        parts = urlsplit(endpoint)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.base_path = parts.path.rstrip("/")  # Azurite's: /devstoreaccount1
        self.account = account
        self._key = key
        self._http = LeanHttp(self.origin, connect_timeout, read_timeout)
        self._date = ""
        self._date_second = -1

    def date(self) -> str:
        """Now, as the x-ms-date header says it (formatted once a second)."""
        second = int(time.time())
        if second != self._date_second:
            self._date, self._date_second = formatdate(second, usegmt=True), second
        return self._date

    def authorization(self, string_to_sign: str) -> str:
        digest = hmac.new(self._key, string_to_sign.encode(), hashlib.sha256).digest()
        return f"SharedKey {self.account}:{base64.b64encode(digest).decode()}"

    async def send(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes = b"",
        with_headers: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, the answer's headers in lower case (only `with_headers`, else none),
        body); no connection or no answer raise as the SDK reports them."""
        try:
            if with_headers:
                return await self._http.exchange(method, target, headers, body)
            status, answer = await self._http.request(method, target, headers, body)
            return status, {}, answer
        except ConnectFailed as error:
            raise ServiceRequestError(f"{method} {target}: {error}", error=error) from error
        except (OSError, TimeoutError) as error:
            # Storage that failed or stopped answering.
            raise ServiceResponseError(f"{method} {target}: {error!r}", error=error) from error

    async def close(self) -> None:
        await self._http.close()


def raise_storage_error(status: int, code: str | None, message: str) -> NoReturn:
    """The SDK's exception for a refused request: ResourceExistsError (409),
    ResourceNotFoundError (404), else HttpResponseError; with its status and error code."""
    error_type: type[HttpResponseError] = HttpResponseError
    if status == 409:
        error_type = ResourceExistsError
    elif status == 404:
        error_type = ResourceNotFoundError
    error = error_type(message=message)
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]  # as the SDK's errors carry it
    raise error
