"""HTTP-level building blocks shared by the fake's services: requests, responses, errors, paging.

Each service (ARM, Graph, Key Vault, managed identity) turns a `Request` into a `Response`;
failures are raised as `ApiError` and rendered in that service's own error shape, because the
SDKs parse the error body (ARM's `{"error": {"code", "message"}}` ends up in
`HttpResponseError.error.code`) and product code branches on those codes.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlencode

JSON = dict[str, Any]
T = TypeVar("T")


@dataclass
class Request:
    """One HTTP request as the services see it."""

    method: str
    path: str
    """The path as sent (still percent-encoded), without the query."""
    query: dict[str, str]
    """Query parameters, first value of each, decoded; names as sent."""
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    base_url: str
    """The fake's own URL, for building absolute links (nextLink, operation URLs, ids)."""

    @property
    def segments(self) -> list[str]:
        """The decoded path segments (`/a/b%20c/` -> `["a", "b c"]`)."""
        return [unquote(part) for part in self.path.strip("/").split("/") if part]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """A query parameter by case-insensitive name (ARM treats `$Filter` like `$filter`)."""
        wanted = name.lower()
        for key, value in self.query.items():
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> JSON:
        """The body as a JSON object; an empty body is `{}`; anything else is a 400."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise ApiError(
                400, "InvalidRequestContent", f"The request body is not JSON: {exc}"
            ) from None
        if not isinstance(value, dict):
            raise ApiError(400, "InvalidRequestContent", "The request body must be a JSON object.")
        return value


@dataclass
class Response:
    """What the server writes back."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(payload).encode(), merged)

    @classmethod
    def empty(cls, status: int, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


class ApiError(Exception):
    """A failure to report to the client, in the shape of the service that raised it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        details: Sequence[JSON] = (),
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = list(details)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """What a request is (its op name, see faults.py) and who answers it."""

    op: str
    handler: Handler


class Service:
    """A family of endpoints with its own authentication and error shape."""

    name = "service"
    throttle_code = "TooManyRequests"
    """The error code of this service's 429 answers."""

    def route(self, request: Request) -> Route | None:
        """The route for `request`, or None if the path is not this service's."""
        raise NotImplementedError

    def authenticate(self, request: Request) -> Response | None:
        """None if the request may proceed, else the rejection to send."""
        return None

    def precheck(self, request: Request) -> Response | None:
        """Protocol checks after authentication (e.g. api-version), before faults and handler."""
        return None

    def error(self, error: ApiError) -> Response:
        """Render `error` the way this service does."""
        body: JSON = {"code": error.code, "message": error.message}
        if error.details:
            body["details"] = error.details
        return Response.json(error.status, {"error": body}, error.headers)


def iso_time(timestamp: float) -> str:
    """An ISO-8601 UTC time, as ARM and Graph write them."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def page(
    request: Request, items: Sequence[T], size: int, *, token_param: str = "$skiptoken"
) -> tuple[list[T], str | None]:
    """Cut `items` into the page the request asks for; return it and the next page's link.

    The link repeats the request's query (filter, api-version, ...) with `token_param` set to
    the next offset, as an absolute URL: the SDKs follow nextLink verbatim (re-quoting each
    parameter value, then overriding api-version).
    """
    try:
        offset = max(0, int(request.param(token_param) or 0))
    except ValueError:
        raise ApiError(400, "InvalidSkipToken", f"The {token_param} is not valid.") from None
    size = max(1, size)
    chunk = list(items[offset : offset + size])
    if offset + size >= len(items):
        return chunk, None
    params = {k: v for k, v in request.query.items() if k.lower() != token_param.lower()}
    params[token_param] = str(offset + size)
    query = urlencode(params, safe="$'(),", quote_via=quote)
    return chunk, f"{request.base_url}{request.path}?{query}"


def page_size(request: Request, default: int, *, param: str = "$top") -> int:
    """The page size: the fake's default, lowered by `$top` / `maxresults` if the client asks."""
    raw = request.param(param)
    if raw is None:
        return default
    try:
        wanted = int(raw)
    except ValueError:
        raise ApiError(
            400, "InvalidQueryParameterValue", f"Invalid value '{raw}' for {param}."
        ) from None
    if wanted < 1:
        raise ApiError(400, "InvalidQueryParameterValue", f"{param} must be positive.")
    return min(wanted, default)


def sorted_by(items: Iterable[JSON], key: str) -> list[JSON]:
    """Items in a stable order (case-insensitive on `key`), so listings and snapshots compare."""
    return sorted(items, key=lambda item: str(item.get(key, "")).lower())
