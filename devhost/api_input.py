"""What callers send the Durable management API, checked before it reaches storage.

Instance ids follow the rules of the Durable Functions extension, so an id devhost takes
is one Azure takes too: `DurableClient.StartNewAsync`
(azure-functions-durable-extension, src/WebJobs.Extensions.DurableTask/
ContextImplementations/DurableClient.cs) refuses ids that start with `@` (reserved for
entities) or contain `/`, `\\`, `#`, `?` or a control character (`char.IsControl`: the
Unicode category Cc), and ids longer than `MaxInstanceIdLength` = 256 UTF-16 code units.
Those are also the characters an Azure Table key may not hold (DTFx's Azure Storage
provider escapes them in `KeySanitation.EscapePartitionKey`; devhost keeps ids verbatim,
so it refuses them as the extension does). Lone surrogates cannot be stored at all.

Every refusal is a `BadRequest` whose message starts with the parameter's name, and the
API answers it with 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .store import ACTIVE_STATUSES, TERMINAL_STATUSES

MAX_INSTANCE_ID_LENGTH = 256  # DurableClient.MaxInstanceIdLength, in UTF-16 code units
# Json.NET, which the extension parses request bodies with, refuses more than 64 levels
# (JsonSerializerSettings.MaxDepth, 64 by default since 13.0.1) as "Invalid JSON content".
MAX_JSON_DEPTH = 64
RUNTIME_STATUSES = (*ACTIVE_STATUSES, *TERMINAL_STATUSES)
CONTINUATION_HEADER = "x-ms-continuation-token"
_KEY_FORBIDDEN = "/\\#?"


class BadRequest(ValueError):
    """Input the API refuses with 400; the message names the parameter."""


def instance_id(value: str, parameter: str = "instanceId", new: bool = False) -> str:
    """`value` if it can be an instance id (`new`: one being created, so not `@...`)."""
    problem = _id_problem(value)
    if problem is None and new and value.startswith("@"):
        problem = "must not start with @ (ids starting with @ are entity ids)"
    if problem is not None:
        raise BadRequest(f"{parameter} {_shown(value)} {problem}")
    return value


def event_name(value: str, parameter: str = "eventName") -> str:
    """An event name: any text but empty (as the extension takes it), storable."""
    if not value:
        raise BadRequest(f"{parameter} must not be empty")
    return text_value(value, parameter)


def text(query: Mapping[str, str], name: str) -> str:
    """A free-text query parameter (a reason, say); absent is empty."""
    return text_value(query.get(name, ""), name)


def text_value(value: str, parameter: str) -> str:
    if any(unicodedata.category(char) == "Cs" for char in value):
        raise BadRequest(f"{parameter} must be valid Unicode text (found a lone surrogate)")
    return value


def id_prefix(query: Mapping[str, str], parameter: str = "instanceIdPrefix") -> str | None:
    value = query.get(parameter)
    if not value:
        return None
    problem = _id_problem(value)
    if problem is not None:
        raise BadRequest(f"{parameter} {_shown(value)} {problem}")
    return value


def _id_problem(value: str) -> str | None:
    if not value:
        return "must not be empty"
    for char in value:
        category = unicodedata.category(char)
        if char in _KEY_FORBIDDEN or category == "Cc":
            return f"must not contain /, \\, #, ? or control characters (found {char!r})"
        if category == "Cs":
            return "must be valid Unicode text (found a lone surrogate)"
    length = len(value.encode("utf-16-le")) // 2
    if length > MAX_INSTANCE_ID_LENGTH:
        return f"is {length} characters long; at most {MAX_INSTANCE_ID_LENGTH} are allowed"
    return None


def flag(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A true/false query parameter (any case); absent or empty is `default`."""
    value = query.get(name)
    if not value:
        return default
    if value.lower() not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false, not {_shown(value)}")
    return value.lower() == "true"


def time_param(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 time (naive means UTC), as an aware UTC datetime."""
    value = query.get(name)
    if not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name} must be an ISO 8601 time such as 2026-11-26T12:00:00Z, not {_shown(value)}"
        ) from None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00 is in year 10000 in UTC
        raise BadRequest(f"{name} {_shown(value)} is outside years 1 to 9999 in UTC") from None


def count(query: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """A whole number from `low` to `high`; absent or empty is None."""
    value = query.get(name)
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 9 and low <= int(value) <= high):
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {_shown(value)}")
    return int(value)


def seconds(query: Mapping[str, str], name: str, high: float) -> float | None:
    """A number of seconds from 0 to `high`; absent or empty is None."""
    value = query.get(name)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= high:  # also refuses nan
        raise BadRequest(
            f"{name} must be a number of seconds from 0 to {high:g}, not {_shown(value)}"
        )
    return number


def statuses(query: Mapping[str, str], name: str = "runtimeStatus") -> list[str]:
    """A comma-separated list of runtime statuses, matched without regard to case."""
    known = {status.lower(): status for status in RUNTIME_STATUSES}
    wanted = []
    for item in (query.get(name) or "").split(","):
        if not item.strip():
            continue
        status = known.get(item.strip().lower())
        if status is None:
            choices = ", ".join(RUNTIME_STATUSES)
            raise BadRequest(f"{name} holds {_shown(item)}, not a runtime status: use {choices}")
        wanted.append(status)
    return wanted


def continuation(headers: Mapping[str, str]) -> int:
    """Where a listing resumes: the offset a previous page's continuation token carries."""
    token = headers.get(CONTINUATION_HEADER)
    if not token:
        return 0
    try:
        offset = base64.b64decode(token, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = ""
    if not (offset.isdigit() and len(offset) <= 12):
        raise BadRequest(
            f"{CONTINUATION_HEADER} {_shown(token)} is not a continuation token devhost returned"
        )
    return int(offset)


def continuation_token(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


def payload_json(body: bytes, parameter: str) -> str | None:
    """The JSON text of an input or event payload posted to the API, or None if empty.

    The SDK posts payloads already JSON-encoded, then encoded again as a JSON string;
    curl users post the JSON value itself. So a body that is a JSON string whose content
    is JSON again is taken as such an encoded payload; any other body is the value.
    (A curl user who posts the string "123" therefore sends the number 123.)
    BadRequest, naming `parameter`, when it is not JSON or nests too deeply.
    """
    try:
        text = body.decode("utf-8").strip() if body else ""
    except UnicodeDecodeError as error:
        raise BadRequest(f"{parameter}: the request body is not UTF-8 text: {error}") from None
    if not text:
        return None
    value = _json(text, parameter)
    if isinstance(value, str):
        try:
            _json(value, parameter)
        except BadRequest:
            return text
        return value
    return text


def _json(text: str, parameter: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        deep = True
    except ValueError as error:  # malformed, or an integer of too many digits
        raise BadRequest(f"{parameter}: the request body is not valid JSON: {error}") from None
    else:
        deep = _depth(value) > MAX_JSON_DEPTH
    if deep:
        raise BadRequest(
            f"{parameter}: the request body nests more than {MAX_JSON_DEPTH} levels deep"
        )
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _shown(value: str, limit: int = 60) -> str:
    """A caller's value quoted in a message, cut short (it may be long)."""
    return repr(value if len(value) <= limit else value[:limit] + "...")
