"""A small client for HayMaker's HTTP API (standard library only): what the CLI speaks."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

# Answers that say "not now" rather than "no": a read is tried again after the server's
# Retry-After (storage that did not answer in time is a 503 with one), for up to
# BUSY_PATIENCE seconds in all. Writes are not retried: a start may have gone through.
BUSY_STATUSES = (429, 503)
BUSY_PATIENCE = 120.0
DEFAULT_RETRY_AFTER = 2.0
MAX_RETRY_AFTER = 30.0


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def error_message(status: int, body: Any) -> str:
    """What an error answer says, in words: the API's own message, else the host's
    (`{"Message": ...}`), else the HTTP reason for an empty or unreadable body."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for name in ("message", "Message"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])
    if isinstance(body, str) and body.strip() and len(body) < 300:
        return body.strip()
    return _reason(status)


def _retry_after(header: str | None) -> float:
    """Seconds from a Retry-After header (a number of seconds; a date counts as the
    default), within sensible bounds."""
    try:
        seconds = float(header) if header else DEFAULT_RETRY_AFTER
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.1), MAX_RETRY_AFTER)


class ApiError(Exception):
    """An error answer from the API; the message is the API's own.

    `key_option` names where the key this client sent comes from, so a 401 can say which
    one to fix (the function key and the master key are set differently).
    """

    def __init__(self, status: int, body: Any, key_option: str = "--key"):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        field = error.get("field") if isinstance(error, dict) else None
        message = error_message(status, body)
        super().__init__(f"HTTP {status}: {message}" + (f" (field: {field})" if field else ""))
        self.status = status
        self.body = body
        self.key_option = key_option
        # Seconds the server asked to wait before trying again (429 and 503 only).
        self.retry_after: float | None = None


@dataclass
class ApiClient:
    base_url: str
    function_key: str | None = None
    timeout: float = 30.0
    key_option: str = "--key"
    # Seconds in all that a read waits out busy answers (429, 503) before raising one.
    busy_patience: float = BUSY_PATIENCE

    def _url(self, path: str, query: dict[str, Any] | None = None) -> str:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if self.function_key:
            params["code"] = self.function_key
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        return url + ("?" + urllib.parse.urlencode(params) if params else "")

    def request(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        give_up_at = time.monotonic() + self.busy_patience
        while True:
            try:
                return self._request_once(method, path, body, query)
            except ApiError as error:
                wait = error.retry_after
                if method != "GET" or wait is None or time.monotonic() + wait > give_up_at:
                    raise
                time.sleep(wait)

    def _request_once(
        self, method: str, path: str, body: Any, query: dict[str, Any] | None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._url(path, query),
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            answer = ApiError(error.code, parsed, self.key_option)
            if error.code in BUSY_STATUSES:
                answer.retry_after = _retry_after(error.headers.get("Retry-After"))
            raise answer from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)[1]

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)[1]
