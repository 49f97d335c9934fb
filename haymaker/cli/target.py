"""Which HayMaker the CLI talks to, and with which keys.

First match wins, per value: `--url`/`--key`/`--master-key`; the environment
(`HAYMAKER_URL`, `HAYMAKER_KEY`, `HAYMAKER_MASTER_KEY`); the profile file
(`~/.config/haymaker/config.toml`, or `$HAYMAKER_CONFIG`): top-level `url`, `key`,
`master_key`, or a `[profiles.NAME]` table chosen by `--profile`/`HAYMAKER_PROFILE`;
then the local devhost: the URL `haymaker up` recorded (else http://127.0.0.1:7071) and
the keys in ./.devhost/keys.json (also used for any loopback URL given without keys).
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haymaker.api_client import ApiClient

DEFAULT_URL = "http://127.0.0.1:7071"
CONFIG_PATH = Path("~/.config/haymaker/config.toml")
KEYS_FILE = Path(".devhost") / "keys.json"
UP_FILE = Path(".devhost") / "haymaker-up.json"


class TargetError(Exception):
    """The target cannot be worked out; the message says what to do."""


@dataclass(frozen=True)
class Target:
    url: str
    key: str | None
    master_key: str | None
    source: str

    @property
    def api(self) -> ApiClient:
        return ApiClient(f"{self.url}/api", self.key, key_option="--key")

    @property
    def admin(self) -> ApiClient:
        return ApiClient(self.url, self.master_key, key_option="--master-key")


def _profile(environ: Mapping[str, str], name: str | None) -> dict[str, Any]:
    path = Path(environ.get("HAYMAKER_CONFIG") or CONFIG_PATH).expanduser()
    if not path.is_file():
        if name:
            raise TargetError(f"profile {name!r} asked for, but there is no profile file {path}")
        return {}
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TargetError(f"cannot read the profile file {path}: {error}") from None
    if not name:
        return {k: v for k, v in config.items() if k in ("url", "key", "master_key")}
    profiles = config.get("profiles", {})
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise TargetError(f"no profile {name!r} in {path} (profiles: {known})")
    return dict(profiles[name])


def _local(cwd: Path) -> tuple[str, str | None, str | None]:
    url = DEFAULT_URL
    up = cwd / UP_FILE
    if up.is_file():
        with contextlib.suppress(ValueError, KeyError):
            url = json.loads(up.read_text())["url"]
    keys_path = cwd / KEYS_FILE
    if not keys_path.is_file():
        return url, None, None
    try:
        keys = json.loads(keys_path.read_text())
        return url, keys["functionKeys"]["default"], keys["masterKey"]
    except (ValueError, KeyError, TypeError):
        raise TargetError(
            f"{keys_path} is unusable: delete it and run `haymaker up` to write new keys"
        ) from None


def _loopback(url: str) -> bool:
    """A devhost on this machine: its keys file is the default for keys not given."""
    return urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def _check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        host = url.split("://", 1)[-1].strip("/")
        if host.rstrip(":") in ("", "http", "https"):  # `http://`: no host to show with it
            host = "YOUR-APP.azurewebsites.net"
        raise TargetError(
            f"the URL {url!r} needs a scheme and a host, e.g. https://{host} "
            "(or http://127.0.0.1:7071 for a local devhost)"
        )


def resolve_target(
    url: str | None = None,
    key: str | None = None,
    master_key: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> Target:
    chosen = _profile(environ, profile or environ.get("HAYMAKER_PROFILE"))
    url = url or environ.get("HAYMAKER_URL") or chosen.get("url")
    key = key or environ.get("HAYMAKER_KEY") or chosen.get("key")
    master_key = master_key or environ.get("HAYMAKER_MASTER_KEY") or chosen.get("master_key")
    source = "flags, environment or profile"
    if not url or _loopback(url):
        local_url, local_key, local_master = _local(cwd or Path.cwd())
        if not url:
            url, source = local_url, "local devhost"
        key = key or local_key
        master_key = master_key or local_master
    _check_url(url)
    url = url.rstrip("/").removesuffix("/api")
    return Target(url=url, key=key, master_key=master_key, source=source)
