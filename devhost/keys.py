"""Host keys, kept like the Functions host's file secret storage, and key checks.

Keys live in APP_DIR/.devhost/keys.json and survive restarts, so URLs a user saved (or
that orchestrations handed out, like Durable status URLs carrying the system key) keep
working. Locally they guard against accidents, not attackers, but the checks still
follow the host: function routes take a function key or the master key, admin routes
only the master key.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FUNCTION_KEY = "default"
DURABLE_SYSTEM_KEY = "durabletask_extension"

_LEVELS = ("anonymous", "function", "admin")

# `code=` as a whole query parameter name (not `zipcode=`), in any case because the host
# reads query parameter names case-insensitively. The value runs to the next separator.
_CODE_PARAMETER = re.compile(r"(?<![\w-])(code=)[^&\s\"'#<>]*", re.IGNORECASE)


class KeysFileError(Exception):
    """The keys file exists but cannot be used; the message names it."""


@dataclass
class HostKeys:
    """The master key, named function keys and named system (extension) keys."""

    master: str
    function_keys: dict[str, str]
    system_keys: dict[str, str]


def load_or_create_keys(path: Path) -> HostKeys:
    """Reuse the keys at `path`, or generate, save (mode 0600) and return new ones."""
    if path.exists():
        return _read_keys(path)
    keys = HostKeys(
        master=_new_key(),
        function_keys={DEFAULT_FUNCTION_KEY: _new_key()},
        system_keys={DURABLE_SYSTEM_KEY: _new_key()},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if _write_new_file(path, _serialize(keys)):
        return keys
    # Another devhost on the same app created the file first: share its keys, or the
    # two hosts would hand out URLs each other rejects.
    return _read_keys(path)


def authorize(required_level: str, provided_key: str | None, keys: HostKeys) -> bool:
    """Whether `provided_key` opens a route of `required_level`.

    Levels compare case-insensitively, so both `AuthLevel.ADMIN.value` ("admin") and
    `str(AuthLevel.ADMIN)` ("ADMIN") work. An unknown level raises ValueError rather
    than silently opening or closing the route.
    """
    level = required_level.lower()
    if level not in _LEVELS:
        raise ValueError(f"unknown auth level {required_level!r}: expected one of {_LEVELS}")
    if level == "anonymous":
        return True
    if level == "function" and _matches_any(provided_key, keys.function_keys.values()):
        return True
    return _matches_any(provided_key, [keys.master])


def authorize_system(
    provided_key: str | None, keys: HostKeys, name: str = DURABLE_SYSTEM_KEY
) -> bool:
    """Whether `provided_key` is system key `name` (default: the Durable one) or the master."""
    candidates = [keys.master]
    if name in keys.system_keys:
        candidates.append(keys.system_keys[name])
    return _matches_any(provided_key, candidates)


def provided_key(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The key a request carries: the `code` query parameter, else `x-functions-key`.

    An empty `code=` counts as absent, so the header still gets its turn.
    """
    code = query.get("code")
    if code:
        return code
    # Plain dicts are case-sensitive; HTTP header names are not.
    for name, value in headers.items():
        if name.lower() == "x-functions-key" and value:
            return value
    return None


def mask_key(url_or_text: str) -> str:
    """Replace every `code=<value>` with `code=***` so keys stay out of logs and output."""
    return _CODE_PARAMETER.sub(r"\1***", url_or_text)


def _new_key() -> str:
    # URL-safe so a key can go in `?code=` without percent-encoding.
    return secrets.token_urlsafe(40)


def _matches_any(provided: str | None, candidates: Iterable[str]) -> bool:
    """Constant-time comparison against each candidate key.

    compare_digest on str raises TypeError for non-ASCII text, and the provided key is
    user input, so both sides are compared as UTF-8 bytes.
    """
    if not provided:
        return False
    given = provided.encode()
    matched = False
    for candidate in candidates:
        # No early exit: how long a check takes should not reveal which key matched.
        matched |= hmac.compare_digest(given, candidate.encode())
    return matched


def _serialize(keys: HostKeys) -> str:
    document = {
        "masterKey": keys.master,
        "functionKeys": keys.function_keys,
        "systemKeys": keys.system_keys,
    }
    return json.dumps(document, indent=2) + "\n"


def _write_new_file(path: Path, text: str) -> bool:
    """Create `path` holding `text`, readable by the owner only; False if it already exists.

    The text goes to a temporary file first and is then hard-linked into place: the link
    fails rather than overwrite, and a reader never sees a half-written file. mkstemp
    creates the file with mode 0600 whatever the umask, and the link shares that mode.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".keys-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


def _read_keys(path: Path) -> HostKeys:
    """Load and validate a keys file; any fault names the file and how to recover."""

    def corrupt(problem: str) -> KeysFileError:
        return KeysFileError(
            f"keys file {path} is unusable: {problem}; "
            "delete it to generate new keys (saved URLs with old keys will stop working)"
        )

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise corrupt(f"cannot read it ({error})") from error
    except json.JSONDecodeError as error:
        raise corrupt(f"invalid JSON at line {error.lineno}") from error
    if not isinstance(document, dict):
        raise corrupt("it must hold a JSON object")
    master = document.get("masterKey")
    if not isinstance(master, str) or not master:
        raise corrupt('"masterKey" must be a non-empty string')
    function_keys = _key_map(document, "functionKeys", DEFAULT_FUNCTION_KEY, corrupt)
    system_keys = _key_map(document, "systemKeys", DURABLE_SYSTEM_KEY, corrupt)
    return HostKeys(master=master, function_keys=function_keys, system_keys=system_keys)


def _key_map(
    document: Mapping[str, Any],
    field: str,
    required: str,
    corrupt: Callable[[str], KeysFileError],
) -> dict[str, str]:
    """A {name: key} object that must contain `required`; every key a non-empty string."""
    entries = document.get(field)
    if not isinstance(entries, dict):
        raise corrupt(f'"{field}" must be an object of named keys')
    for name, key in entries.items():
        if not isinstance(key, str) or not key:
            raise corrupt(f'"{field}.{name}" must be a non-empty string')
    if required not in entries:
        raise corrupt(f'"{field}" has no "{required}" key')
    return dict(entries)
