"""The local provider's stand-in for Key Vault: one JSON file of secrets, readable only by us.

Activities of one host may run in parallel threads or processes, so every change is a
read-modify-write under an exclusive file lock, written to a temporary file and renamed
into place (a crash leaves the old file or the new one, never half of one). POSIX only,
like the rest of the local provider.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


def _validate_name(name: str) -> str:
    if not _SECRET_NAME.match(name):
        raise ValueError(f"invalid secret name {name!r}: 1-127 letters, digits or dashes")
    return name


class LocalSecretStore:
    """Secrets by name in `<state_dir>/secrets.json` (mode 0600, folder 0700)."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self._dir = Path(state_dir)
        self._path = self._dir / "secrets.json"
        self._lock_path = self._dir / "secrets.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, str]]:
        """Yield the current secrets; whatever the caller leaves in the dict is saved."""
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            secrets = self._read()
            before = dict(secrets)
            yield secrets
            if secrets != before:
                self._write(secrets)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self._path} is not a JSON object of secrets")
        return {str(key): str(value) for key, value in data.items()}

    def _write(self, secrets: dict[str, str]) -> None:
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(secrets, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)

    def put(self, name: str, value: str) -> None:
        """Store `value` under `name`, replacing any earlier value."""
        _validate_name(name)
        with self._locked() as secrets:
            secrets[name] = value

    def get(self, name: str) -> str | None:
        """The secret's value, or None when there is no such secret."""
        _validate_name(name)
        with self._locked() as secrets:
            return secrets.get(name)

    def delete(self, name: str) -> bool:
        """Remove the secret; False when it was already gone (which counts as success)."""
        _validate_name(name)
        with self._locked() as secrets:
            return secrets.pop(name, None) is not None

    def list(self) -> list[str]:
        """The names of all stored secrets (never their values), sorted."""
        with self._locked() as secrets:
            return sorted(secrets)
