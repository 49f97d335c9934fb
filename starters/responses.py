"""JSON responses and the API's error shape: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func


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
    status: int, code: str, message: str, field: str | None = None
) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": message, "field": field}}, status)


class ApiError(Exception):
    """Raised by handlers to answer with the error shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self) -> func.HttpResponse:
        return error_response(self.status, self.code, self.message, self.field)


def query_int(req: func.HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_field", f"{name} must be a whole number, not {raw!r}", name
        ) from None
    if not low <= value <= high:
        raise ApiError(400, "out_of_range", f"{name} must be between {low} and {high}", name)
    return value


async def answer(handler: Any, *args: Any) -> func.HttpResponse:
    """Run a handler; its ApiError becomes the documented error response."""
    try:
        response: func.HttpResponse = await handler(*args)
    except ApiError as error:
        return error.response()
    return response
