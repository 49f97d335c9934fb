"""JSON request bodies, checked before anything reads them: refusals, never crashes.

Python's parser crashes or misbehaves on input an attacker controls: nesting deep enough
overflows its recursion (RecursionError), an integer of more than 4,300 digits raises a
plain ValueError, and duplicate keys silently keep the last value. Each of these becomes a
`RequestError` naming what is wrong (`field` "body" when the body as a whole is), so the
API answers 400 instead of 500.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# Request bodies of this API are flat objects. Json.NET (which the Functions host uses)
# refuses more than 64 levels by default; nothing here needs more than a few.
MAX_DEPTH = 64
BODY = "body"
_NAME_LIMIT = 80


class RequestError(ValueError):
    """Why a request was refused; `field` names the parameter ("body" for the whole body)."""

    def __init__(self, code: str, message: str, field: str = BODY) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the 400 response."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `body` (UTF-8, a BOM allowed); RequestError says why not."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RequestError("invalid_json", f"the body is not UTF-8 text: {error}") from None
    try:
        value = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except RecursionError:
        raise RequestError("invalid_json", _too_deep(max_depth)) from None
    except (json.JSONDecodeError, _DuplicateKey) as error:
        raise RequestError("invalid_json", f"the body is not valid JSON: {error}") from None
    except ValueError:  # the only other: an integer with more digits than int() takes
        raise RequestError("invalid_json", "the body holds a number with too many digits") from None
    if depth(value) > max_depth:
        raise RequestError("invalid_json", _too_deep(max_depth))
    return value


def parse_object(body: bytes, fields: Sequence[str], example: str) -> dict[str, Any]:
    """The body's top-level object (an empty body is `{}`); unknown fields are refused.

    `example` shows a valid body in the message when the body is not an object.
    """
    if not body.strip():
        return {}
    value = parse_json(body)
    if not isinstance(value, dict):
        raise RequestError("invalid_json", f"the body must be a JSON object, e.g. {example}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        names = ", ".join(_name(field) for field in unknown[:5])
        message = f"unknown field(s) {names}; allowed: {', '.join(fields)}"
        raise RequestError("unknown_field", message, unknown[0][:_NAME_LIMIT])
    return value


def shown(value: Any, limit: int = 80) -> str:
    """`value` as JSON for a message, cut short: an error must not echo megabytes back."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name(field: str) -> str:
    """A field name as a message shows it: quoted, and cut (as in `field`) when very long."""
    return json.dumps(field[:_NAME_LIMIT]) + ("..." if len(field) > _NAME_LIMIT else "")


def depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep(max_depth: int) -> str:
    return f"the body nests lists or objects more than {max_depth} levels deep"


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Python's json keeps the last of duplicate keys; a request that says two things is refused."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"duplicate key {key!r}")
        result[key] = value
    return result
