"""A small client for HayMaker's HTTP API (standard library only): what the CLI speaks."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any


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


@dataclass
class ApiClient:
    base_url: str
    function_key: str | None = None
    timeout: float = 30.0
    key_option: str = "--key"

    def _url(self, path: str, query: dict[str, Any] | None = None) -> str:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if self.function_key:
            params["code"] = self.function_key
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        return url + ("?" + urllib.parse.urlencode(params) if params else "")

    def request(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
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
            raise ApiError(error.code, parsed, self.key_option) from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)[1]

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)[1]
