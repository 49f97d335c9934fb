"""An app folder's settings, route prefix and task hub come out as Core Tools reads them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from devhost.appconfig import (
    AppConfigError,
    apply_to_environ,
    load_app_config,
    resolve_setting_references,
)


def make_app(
    app_dir: Path,
    host: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Path:
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "host.json").write_text(json.dumps(host or {"version": "2.0"}))
    if values is not None:
        (app_dir / "local.settings.json").write_text(
            json.dumps({"IsEncrypted": False, "Values": values})
        )
    return app_dir


def durable_host(hub_name: str) -> dict[str, Any]:
    return {"version": "2.0", "extensions": {"durableTask": {"hubName": hub_name}}}


def test_minimal_app_gets_core_tools_defaults(tmp_path: Path) -> None:
    config = load_app_config(make_app(tmp_path), environ={})
    assert config.route_prefix == "api"
    assert config.hub_name == "TestHubName"
    assert config.settings == {}


def test_environment_variables_win_over_local_settings_values(tmp_path: Path) -> None:
    app = make_app(tmp_path, values={"REGION": "westeurope", "MODE": "demo"})
    config = load_app_config(app, environ={"REGION": "eastus", "PATH": "/bin"})
    assert config.settings == {"REGION": "eastus", "MODE": "demo", "PATH": "/bin"}


def test_apply_to_environ_exports_values_but_keeps_variables_already_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVHOST_TEST_MODE", raising=False)
    monkeypatch.setenv("DEVHOST_TEST_REGION", "eastus")
    app = make_app(
        tmp_path, values={"DEVHOST_TEST_REGION": "westeurope", "DEVHOST_TEST_MODE": "demo"}
    )
    applied = apply_to_environ(load_app_config(app))
    assert applied == ["DEVHOST_TEST_MODE"]
    assert os.environ["DEVHOST_TEST_MODE"] == "demo"
    assert os.environ["DEVHOST_TEST_REGION"] == "eastus"


def test_non_string_setting_names_the_file_and_key(tmp_path: Path) -> None:
    app = make_app(tmp_path, values={"RETRIES": 3})
    with pytest.raises(AppConfigError) as caught:
        load_app_config(app, environ={})
    assert "local.settings.json" in str(caught.value)
    assert "'RETRIES'" in str(caught.value)


def test_invalid_json_names_the_file_and_line(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / "local.settings.json").write_text('{\n  "Values": {\n    "A": "1",\n  }\n}\n')
    with pytest.raises(AppConfigError, match=r"local\.settings\.json is not valid JSON.*line 4"):
        load_app_config(app, environ={})


def test_settings_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / "local.settings.json").write_text('{"Values": {"A": "1"}}', encoding="utf-8-sig")
    assert load_app_config(app, environ={}).settings == {"A": "1"}


def test_missing_host_json_explains_it_is_required(tmp_path: Path) -> None:
    with pytest.raises(AppConfigError, match="host.json not found in APP_DIR.*every Functions app"):
        load_app_config(tmp_path, environ={})


def test_host_json_must_be_version_2(tmp_path: Path) -> None:
    app = make_app(tmp_path, host={"version": "1.0"})
    with pytest.raises(AppConfigError, match=r'"version" must be "2.0"'):
        load_app_config(app, environ={})


@pytest.mark.parametrize(("configured", "expected"), [("/v1/", "v1"), ("", ""), ("a/b", "a/b")])
def test_route_prefix_comes_from_host_json_without_slashes(
    tmp_path: Path, configured: str, expected: str
) -> None:
    app = make_app(
        tmp_path, host={"version": "2.0", "extensions": {"http": {"routePrefix": configured}}}
    )
    assert load_app_config(app, environ={}).route_prefix == expected


def test_hub_name_setting_reference_is_resolved(tmp_path: Path) -> None:
    app = make_app(tmp_path, host=durable_host("%HUB%"), values={"HUB": "HayMakerDev"})
    assert load_app_config(app, environ={}).hub_name == "HayMakerDev"


def test_hub_override_wins_over_host_json(tmp_path: Path) -> None:
    app = make_app(tmp_path, host=durable_host("FromHostJson"))
    assert load_app_config(app, environ={}, hub_override="FromCli").hub_name == "FromCli"


def test_unset_hub_name_setting_is_reported(tmp_path: Path) -> None:
    app = make_app(tmp_path, host=durable_host("%HUB%"))
    with pytest.raises(AppConfigError, match="hubName.*app setting 'HUB' referenced by '%HUB%'"):
        load_app_config(app, environ={})


@pytest.mark.parametrize("bad", ["my-hub", "ab", "1hub", "h" * 46, "hub_name"])
def test_hub_name_storage_cannot_use_is_refused_with_the_rule(tmp_path: Path, bad: str) -> None:
    app = make_app(tmp_path, host=durable_host(bad))
    with pytest.raises(AppConfigError) as caught:
        load_app_config(app, environ={})
    assert repr(bad) in str(caught.value)
    assert "3-45 characters, letters and digits only, starting with a letter" in str(caught.value)


def test_bad_hub_override_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(AppConfigError, match="'bad-hub'"):
        load_app_config(make_app(tmp_path), environ={}, hub_override="bad-hub")


@pytest.mark.parametrize(
    ("provider", "setting"),
    [
        ({"type": "AzureStorage"}, "AzureWebJobsStorage"),
        ({"connectionStringName": "LegacyHubStorage"}, "LegacyHubStorage"),
        ({"connectionName": "HubStorage", "connectionStringName": "Old"}, "HubStorage"),
    ],
)
def test_the_task_hub_storage_setting_comes_from_the_storage_provider(
    tmp_path: Path, provider: dict[str, str], setting: str
) -> None:
    host = {"version": "2.0", "extensions": {"durableTask": {"storageProvider": provider}}}
    assert load_app_config(make_app(tmp_path, host), environ={}).storage_setting == setting


def test_setting_references_resolve_everywhere_in_the_text() -> None:
    settings = {"MINUTE": "*/5", "HOUR": "9-17"}
    assert resolve_setting_references("0 %MINUTE% %HOUR% * * *", settings) == "0 */5 9-17 * * *"


def test_setting_reference_is_found_regardless_of_case_like_the_host() -> None:
    assert resolve_setting_references("%my_schedule%", {"MY_SCHEDULE": "0 0 6 * * *"}) == (
        "0 0 6 * * *"
    )


def test_text_without_a_reference_is_unchanged() -> None:
    assert resolve_setting_references("from 50% to 75%", {}) == "from 50% to 75%"


def test_missing_setting_reference_says_which_setting() -> None:
    with pytest.raises(AppConfigError) as caught:
        resolve_setting_references("%MY_SCHEDULE%", {})
    assert str(caught.value) == "app setting 'MY_SCHEDULE' referenced by '%MY_SCHEDULE%' is not set"
