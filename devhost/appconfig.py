"""An app folder's configuration: local.settings.json, host.json and the task hub name.

devhost reads the same files Core Tools (`func start`) reads, with the same precedence,
so an app behaves locally as it will under the Functions host.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ROUTE_PREFIX = "api"
# Core Tools' local default; in Azure the Durable extension derives it from the site name.
DEFAULT_HUB_NAME = "TestHubName"
# The app setting that holds the task hub's storage unless host.json names another.
DEFAULT_STORAGE_SETTING = "AzureWebJobsStorage"

# The Durable extension's rule for Azure Storage task hubs: the name becomes part of
# queue, table and blob container names, which constrain it this tightly.
_HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}")
_HUB_NAME_RULE = "3-45 characters, letters and digits only, starting with a letter"

# Setting names never hold whitespace; requiring that keeps text such as "50% to 75%"
# from being read as a reference to a setting named " to 75".
_SETTING_REFERENCE = re.compile(r"%([^%\s]+)%")


class AppConfigError(Exception):
    """The app folder's configuration is missing or malformed; the message says where."""


@dataclass(frozen=True)
class HostSection:
    """local.settings.json `Host`: what Core Tools reads for `func start` itself.

    Command-line flags win over these, and these over Core Tools' defaults.
    """

    local_http_port: int | None = None
    cors: str | None = None
    cors_credentials: bool = False


@dataclass(frozen=True)
class AppConfig:
    """Everything devhost needs from an app folder before indexing its functions.

    `settings` is what app code and binding expressions see: local.settings.json Values
    overlaid with the whole environment. `local_values` keeps Values alone, so
    `apply_to_environ` can export exactly those.
    """

    app_dir: Path
    settings: dict[str, str]
    route_prefix: str
    hub_name: str
    host_json: dict[str, Any]
    local_values: dict[str, str] = field(default_factory=dict)
    host_section: HostSection = field(default_factory=HostSection)
    storage_setting: str = DEFAULT_STORAGE_SETTING


def load_app_config(
    app_dir: Path,
    environ: Mapping[str, str] | None = None,
    hub_override: str | None = None,
) -> AppConfig:
    """Read `app_dir`'s local.settings.json (optional) and host.json (required).

    `environ` defaults to os.environ; environment variables win over Values, as in Core
    Tools. `hub_override` (e.g. a CLI flag) wins over host.json's hubName.
    """
    environment = os.environ if environ is None else environ
    values, host_section = _read_local_settings(app_dir / "local.settings.json")
    settings = {**values, **environment}
    host_path = app_dir / "host.json"
    host_json = _read_host_json(host_path)
    route_prefix = _host_option(
        host_json, "extensions.http.routePrefix", DEFAULT_ROUTE_PREFIX, host_path
    )
    if hub_override is not None:
        hub_name = hub_override
    else:
        configured = _host_option(
            host_json, "extensions.durableTask.hubName", DEFAULT_HUB_NAME, host_path
        )
        try:
            hub_name = resolve_setting_references(configured, settings)
        except AppConfigError as error:
            raise AppConfigError(
                f'{host_path}: "extensions.durableTask.hubName": {error}'
            ) from error
    _validate_hub_name(hub_name)
    return AppConfig(
        app_dir=app_dir,
        settings=settings,
        route_prefix=route_prefix.strip("/"),
        hub_name=hub_name,
        host_json=host_json,
        local_values=values,
        host_section=host_section,
        storage_setting=_storage_setting(host_json, host_path),
    )


def apply_to_environ(config: AppConfig) -> list[str]:
    """Export Values the environment does not set into os.environ; return their names.

    The Functions host puts app settings in the worker's environment, and app code reads
    them through os.environ, so Values must be there too. Variables already set stay
    untouched: they win, as in `load_app_config`.
    """
    applied = [name for name in config.local_values if name not in os.environ]
    for name in applied:
        os.environ[name] = config.local_values[name]
    return sorted(applied)


def resolve_setting_references(value: str, settings: Mapping[str, str]) -> str:
    """Replace each `%NAME%` in `value` with app setting NAME, as binding expressions do.

    Used for timer schedules (`%MY_SCHEDULE%`) and hub names. A `%` that does not wrap a
    setting name is left alone. Raises AppConfigError when a referenced setting is not set.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        setting = _lookup_setting(name, settings)
        if setting is None:
            raise AppConfigError(
                f"app setting {name!r} referenced by {match.group(0)!r} is not set"
            )
        return setting

    return _SETTING_REFERENCE.sub(substitute, value)


def _lookup_setting(name: str, settings: Mapping[str, str]) -> str | None:
    """A setting by exact name, else ignoring case, as the host's configuration does.

    The host's configuration keys are case-insensitive, so `%my_schedule%` finds
    MY_SCHEDULE there and must here too.
    """
    if name in settings:
        return settings[name]
    folded = name.casefold()
    matches = [value for key, value in settings.items() if key.casefold() == folded]
    # Environment variables come after Values in `settings`, so the last match is the
    # one that wins elsewhere too.
    return matches[-1] if matches else None


def _read_json_object(path: Path) -> dict[str, Any]:
    """Parse a JSON object from `path`, reporting the file and line of any fault."""
    try:
        # utf-8-sig: files saved by Windows editors often start with a BOM, which the
        # .NET host skips and json.loads would reject.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise AppConfigError(f"cannot read {path}: {error}") from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise AppConfigError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    if not isinstance(document, dict):
        raise AppConfigError(f"{path} must hold a JSON object, not {type(document).__name__}")
    return document


def _read_local_settings(path: Path) -> tuple[dict[str, str], HostSection]:
    """local.settings.json's Values and Host; an absent file means none (it is not deployed)."""
    if not path.is_file():
        return {}, HostSection()
    document = _read_json_object(path)
    if document.get("IsEncrypted") is True:
        raise AppConfigError(
            f"{path} is encrypted (IsEncrypted: true): decrypt it with "
            "`func settings decrypt` so devhost can read it"
        )
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise AppConfigError(f'{path}: "Values" must be an object of string settings')
    for name, value in values.items():
        if not isinstance(value, str):
            raise AppConfigError(
                f"{path}: Values[{name!r}] must be a string (app settings are strings), "
                f"got {json.dumps(value)}"
            )
    return dict(values), _read_host_section(path, document.get("Host", {}))


def _read_host_section(path: Path, section: Any) -> HostSection:
    if not isinstance(section, dict):
        raise AppConfigError(f'{path}: "Host" must be an object')
    port = section.get("LocalHttpPort")
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)  # Core Tools' JSON reader takes "7175" as well as 7175
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
    ):
        raise AppConfigError(
            f'{path}: "Host.LocalHttpPort" must be a port number (1-65535), got {json.dumps(port)}'
        )
    cors = section.get("CORS")
    if cors is not None and not isinstance(cors, str):
        raise AppConfigError(
            f'{path}: "Host.CORS" must be a comma-separated string of origins, '
            f"got {json.dumps(cors)}"
        )
    credentials = section.get("CORSCredentials", False)
    if not isinstance(credentials, bool):
        raise AppConfigError(
            f'{path}: "Host.CORSCredentials" must be true or false, got {json.dumps(credentials)}'
        )
    return HostSection(local_http_port=port, cors=cors, cors_credentials=credentials)


def _read_host_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AppConfigError(
            f"host.json not found in APP_DIR ({path.parent}): every Functions app needs one"
        )
    document = _read_json_object(path)
    if document.get("version") != "2.0":
        raise AppConfigError(
            f'{path}: "version" must be "2.0" (the schema of Functions v2 and later), '
            f"got {json.dumps(document.get('version'))}"
        )
    return document


def _host_option(host_json: Mapping[str, Any], dotted: str, default: str, path: Path) -> str:
    """The string at `dotted` (e.g. "extensions.http.routePrefix"), or `default` if absent."""
    *sections, key = dotted.split(".")
    node: Mapping[str, Any] = host_json
    for depth, name in enumerate(sections, start=1):
        node = node.get(name, {})
        if not isinstance(node, dict):
            raise AppConfigError(f'{path}: "{".".join(sections[:depth])}" must be an object')
    value = node.get(key, default)
    if not isinstance(value, str):
        raise AppConfigError(f'{path}: "{dotted}" must be a string, got {json.dumps(value)}')
    return value


def _storage_setting(host_json: Mapping[str, Any], path: Path) -> str:
    """The app setting with the task hub's connection: the Durable extension's
    `storageProvider.connectionName` (or its older `connectionStringName`), else
    AzureWebJobsStorage. An app may so keep its own storage apart from the hub's."""
    for key in ("connectionName", "connectionStringName"):
        name = _host_option(host_json, f"extensions.durableTask.storageProvider.{key}", "", path)
        if name:
            return name
    return DEFAULT_STORAGE_SETTING


def _validate_hub_name(hub_name: str) -> None:
    if not _HUB_NAME.fullmatch(hub_name):
        raise AppConfigError(f"task hub name {hub_name!r} is invalid: it must be {_HUB_NAME_RULE}")
