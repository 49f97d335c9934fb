"""JSON responses and the API's error shape: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import json
import re
from typing import Any

import azure.functions as func

# ASCII digits only (int() also takes other scripts' digits), and few enough of them.
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,18}")


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    body = {"error": {"code": code, "message": message, "field": field}}
    return json_response(body, status, headers)


class ApiError(Exception):
    """Raised by handlers to answer with the error shape (and `headers`, e.g. Retry-After)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers

    def response(self) -> func.HttpResponse:
        return error_response(self.status, self.code, self.message, self.field, self.headers)


def query_int(req: func.HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise ApiError(
            400, "invalid_field", f"{name} must be a whole number, not {shown(raw)}", name
        )
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, "out_of_range", f"{name} must be between {low} and {high}", name)
    return value


def shown(text: str, limit: int = 40) -> str:
    """A caller's value quoted in a message, cut short (it may be megabytes)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


async def answer(handler: Any, *args: Any) -> func.HttpResponse:
    """Run a handler; its ApiError becomes the documented error response."""
    try:
        response: func.HttpResponse = await handler(*args)
    except ApiError as error:
        return error.response()
    return response
