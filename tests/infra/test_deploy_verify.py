"""The deploy's verification step against the real app on a real local host (devhost on
Azurite): what passes promotes a revision, what fails rolls it back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.process import HostHandle, free_port, running_host
from haymaker.deploy_verify import discovered_functions, main, verify_live_app
from haymaker.discovery import load_expected
from tests.app.helpers import host_env, new_hub
from tests.infra.helpers import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostHandle]:
    folder = tmp_path_factory.mktemp("verify")
    with running_host(
        ROOT,
        clock="virtual",
        hub=new_hub(),
        env=host_env(folder / "state"),
        log_path=folder / "host.log",
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def expected() -> dict[str, str]:
    return load_expected(ROOT)


def test_the_app_as_built_is_verified(host: HostHandle, expected: dict[str, str]) -> None:
    assert verify_live_app(host.base_url, host.master_key, host.function_key, expected) == []


def test_a_function_the_host_did_not_find_fails_verification(
    host: HostHandle, expected: dict[str, str]
) -> None:
    wanted = {**expected, "nightly_report": "timerTrigger"}
    problems = verify_live_app(host.base_url, host.master_key, host.function_key, wanted)
    assert problems == ["discovery: missing function 'nightly_report' (timerTrigger)"]


def test_a_function_with_the_wrong_trigger_fails_verification(
    host: HostHandle, expected: dict[str, str]
) -> None:
    wanted = {**expected, "health": "timerTrigger"}
    problems = verify_live_app(host.base_url, host.master_key, host.function_key, wanted)
    assert len(problems) == 1
    assert problems[0].startswith("discovery: function 'health' is a")
    assert problems[0].endswith("httpTrigger, expected timerTrigger")


def test_the_function_list_needs_the_master_key(host: HostHandle, expected: dict[str, str]) -> None:
    problems = verify_live_app(host.base_url, host.function_key, host.function_key, expected)
    assert problems == ["function list: HTTP 401 from /admin/functions (master key)"]


def test_health_needs_a_function_key(host: HostHandle, expected: dict[str, str]) -> None:
    problems = verify_live_app(host.base_url, host.master_key, "not-a-key", expected)
    assert problems == ["health: HTTP 401, no health report"]


def test_nothing_listening_fails_every_check(expected: dict[str, str]) -> None:
    problems = verify_live_app(f"http://127.0.0.1:{free_port()}", "k", "k", expected, timeout=2)
    assert [p.split(":")[0] for p in problems] == ["host status", "function list", "health"]


def test_an_app_with_broken_settings_fails_health(
    storage_connection_string: str, tmp_path: Path, expected: dict[str, str]
) -> None:
    env = host_env(tmp_path / "state", HAYMAKER_RUN_DURATION="PT99H")
    with running_host(
        ROOT, clock="virtual", hub=new_hub(), env=env, log_path=tmp_path / "log"
    ) as bad:
        problems = verify_live_app(bad.base_url, bad.master_key, bad.function_key, expected)
    assert len(problems) == 1
    assert problems[0].startswith("health: HTTP 503, failed checks: settings:")
    assert "HAYMAKER_RUN_DURATION" in problems[0]


def test_the_command_line_exits_0_when_verified_and_1_otherwise(
    host: HostHandle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HAYMAKER_MASTER_KEY", host.master_key)
    monkeypatch.setenv("HAYMAKER_FUNCTION_KEY", host.function_key)
    assert main(["--base-url", host.base_url, "--app-dir", str(ROOT)]) == 0
    assert "functions as expected" in capsys.readouterr().out
    (tmp_path / "expected_functions.json").write_text(json.dumps({"only_one": "httpTrigger"}))
    assert main(["--base-url", host.base_url, "--app-dir", str(tmp_path)]) == 1
    assert "FAIL discovery: unexpected function" in capsys.readouterr().out


def test_functions_host_listing_shape_is_understood() -> None:
    # The Functions host's /admin/functions answers function.json-shaped entries.
    listing = [
        {
            "name": "health",
            "config": {"bindings": [{"type": "httpTrigger", "direction": "in"}, {"type": "http"}]},
        },
        {"name": "run_orchestrator", "config": {"bindings": [{"type": "orchestrationTrigger"}]}},
    ]
    assert discovered_functions(listing) == {
        "health": "httpTrigger",
        "run_orchestrator": "orchestrationTrigger",
    }
    assert discovered_functions([]) == {}
