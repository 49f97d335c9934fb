"""`haymaker doctor`: each of the seed's failures, built into a copy of the app, is found.

Every test breaks one thing in a fresh copy of the repo's app and runs the doctor as a
user does (`haymaker doctor APP_DIR --json`): exit 1 and a failed finding that names the
problem. The untouched copy passes every check.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import DEV_KEY
from haymaker.cli import main
from haymaker.doctor.markers import marker_lines
from haymaker.doctor.tree import package_files

# Built, not written: a conflict marker at the start of a line here would itself be one.
OURS, SEPARATOR, THEIRS = "<" * 7 + " HEAD", "=" * 7, ">" * 7 + " feature"
FAKE_ACCOUNT_KEY = "c2VjcmV0" * 11  # 88 base64 characters, the shape of a real key


def doctor(app: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, Any]]]:
    code = main(["doctor", str(app), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is (code == 0)
    return code, {check["check"]: check for check in report["checks"]}


def failing(app: Path, capsys: pytest.CaptureFixture[str], check: str) -> dict[str, Any]:
    """Run the doctor, expect exit 1, and return the failed finding `check`."""
    code, checks = doctor(app, capsys)
    assert code == 1
    assert check in checks, sorted(checks)
    finding = checks[check]
    assert finding["ok"] is False, finding
    assert finding["fix"], finding
    return finding


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def edit_json(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def test_the_clean_app_passes_every_check(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    code, checks = doctor(app_copy, capsys)
    assert [c for c in checks.values() if not c["ok"]] == []
    assert code == 0
    # Reported in the groups' order, though the checks that need the indexed functions
    # run last (while indexing runs, the others do).
    names = list(checks)
    assert names[:5] == [
        "merge markers",
        "discovery: indexing",
        "discovery: decorators only in function_app.py",
        "discovery: one FunctionApp, in function_app.py",
        "discovery: expected functions",
    ]
    assert names.index("settings: schedules") < names.index("settings: no committed secrets")
    groups = [
        "merge markers",
        "discovery: ",
        "host.json",
        "requirements.txt",
        "python version",
        "settings: ",
        "infra: ",
        "deployment package",
    ]
    for group in groups:
        assert any(name.startswith(group) for name in checks), group


def test_the_text_output_has_one_line_per_check_with_the_fix(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    edit(app_copy / "host.json", '"version": "2.0"', '"version": "1.0"')
    assert main(["doctor", str(app_copy)]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = [line for line in lines if line.startswith("FAIL ")]
    assert len(failed) == 1
    assert failed[0].startswith("FAIL host.json: version is '1.0'")
    assert "-> fix: " in failed[0]
    assert lines[-1] == "doctor: 1 of " + str(len(lines) - 1) + " checks failed"


def test_merge_markers_in_python_are_found(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    edit(
        app_copy / "haymaker" / "service.py",
        "@functools.cache\n",
        f"{OURS}\n@functools.cache\n{SEPARATOR}\n{THEIRS}\n@functools.cache\n",
    )
    finding = failing(app_copy, capsys, "merge markers")
    assert "haymaker/service.py:" in finding["message"]


def test_merge_markers_in_a_settings_file_are_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    edit(
        app_copy / "local.settings.sample.json",
        '    "HAYMAKER_PROVIDER": "local",\n',
        f'{OURS}\n    "HAYMAKER_PROVIDER": "local",\n{SEPARATOR}\n'
        f'    "HAYMAKER_PROVIDER": "azure",\n{THEIRS}\n',
    )
    finding = failing(app_copy, capsys, "merge markers")
    assert "local.settings.sample.json:" in finding["message"]


def test_a_markdown_heading_underline_is_not_a_marker():
    assert marker_lines(f"Title\n{SEPARATOR}\n\ntext\n", prose=True) == []
    assert marker_lines(f"{OURS}\na\n{SEPARATOR}\nb\n{THEIRS}\n", prose=True) == [1, 3, 5]


def test_a_decorator_outside_function_app_is_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    (app_copy / "starters" / "ping.py").write_text(
        "import azure.functions as func\n\n"
        "from function_app import app\n\n\n"
        '@app.route(route="ping", methods=["GET"])\n'
        "def ping(req: func.HttpRequest) -> func.HttpResponse:\n"
        '    return func.HttpResponse("pong")\n'
    )
    finding = failing(app_copy, capsys, "discovery: decorators only in function_app.py")
    assert "starters/ping.py:6" in finding["message"]


def test_a_second_function_app_in_another_module_is_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    (app_copy / "haymaker" / "orchestrator_app.py").write_text(
        "import azure.durable_functions as df\n\napp = df.DFApp()\n"
    )
    finding = failing(app_copy, capsys, "discovery: one FunctionApp, in function_app.py")
    assert "haymaker/orchestrator_app.py:3 df.DFApp()" in finding["message"]


def test_a_function_missing_from_the_expected_list_is_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    edit(
        app_copy / "function_app.py",
        '@app.route(route="health", methods=["GET"])\n'
        "async def health(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return await answer(runs.health, req)\n",
        "",
    )
    finding = failing(app_copy, capsys, "discovery: expected functions")
    assert "missing function 'health' (httpTrigger)" in finding["message"]


def test_an_import_error_means_zero_functions(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    edit(
        app_copy / "activities" / "run_steps.py",
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom haymaker.naming import no_such_helper\n",
    )
    finding = failing(app_copy, capsys, "discovery: indexing")
    assert finding["message"].startswith("0 functions found")
    assert "no_such_helper" in finding["message"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda host: host.update(version="1.0"), "version is '1.0'"),
        (
            lambda host: host["extensionBundle"].update(version="[3.*, 4.0.0)"),
            "excludes bundle 4.x",
        ),
        (lambda host: host["extensions"]["durableTask"].pop("hubName"), "hubName is missing"),
    ],
    ids=["version", "bundle-range", "hub-name"],
)
def test_host_json_problems_are_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str], change: Any, expected: str
):
    edit_json(app_copy / "host.json", change)
    assert expected in failing(app_copy, capsys, "host.json")["message"]


def test_a_package_missing_from_requirements_is_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    edit(app_copy / "requirements.txt", "pyyaml>=6\n", "")
    finding = failing(app_copy, capsys, "requirements.txt")
    assert re.search(r"pyyaml \(for yaml, haymaker/catalog_yaml\.py:\d+\)", finding["message"])
    assert "add pyyaml" in finding["fix"]


def test_an_unsupported_python_version_is_found(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    edit(app_copy / "pyproject.toml", 'requires-python = ">=3.11"', 'requires-python = ">=3.8"')
    assert "starts at 3.8" in failing(app_copy, capsys, "python version")["message"]


def test_a_bad_ncrontab_schedule_is_found(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    sample = app_copy / "local.settings.sample.json"
    edit_json(sample, lambda s: s["Values"].update(HAYMAKER_SCHEDULE_ASIA="0 0 25 * * *"))
    finding = failing(app_copy, capsys, "settings: schedules")
    assert "window_asia: %HAYMAKER_SCHEDULE_ASIA% = '0 0 25 * * *'" in finding["message"]


def test_a_setting_a_binding_needs_is_required(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    sample = app_copy / "local.settings.sample.json"
    edit_json(sample, lambda s: s["Values"].pop("HAYMAKER_SCHEDULE_EUROPE"))
    finding = failing(app_copy, capsys, "settings: required")
    assert (
        "HAYMAKER_SCHEDULE_EUROPE is missing (used by window_europe's binding)"
        in (finding["message"])
    )


def test_a_committed_account_key_is_found_and_not_shown(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    secret = (
        "DefaultEndpointsProtocol=https;AccountName=hmstore;"
        f"AccountKey={FAKE_ACCOUNT_KEY};EndpointSuffix=core.windows.net"
    )
    sample = app_copy / "local.settings.sample.json"
    edit_json(sample, lambda s: s["Values"].update(AzureWebJobsStorage=secret))
    finding = failing(app_copy, capsys, "settings: no committed secrets")
    assert "local.settings.sample.json:" in finding["message"]
    assert "storage account key" in finding["message"]
    assert FAKE_ACCOUNT_KEY not in json.dumps(finding)


def test_each_secret_is_named_by_file_line_and_kind(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    script = app_copy / "scripts" / "rotate.sh"
    script.write_text(
        "#!/bin/sh\n"
        "# rotate the keys\r\n"
        "curl 'https://hm.blob.core.windows.net/c?sv=2024&sig=" + "a" * 40 + "'\n"
        "\n"
        f"KEY='AccountKey={FAKE_ACCOUNT_KEY}' OTHER='SharedAccessKey={FAKE_ACCOUNT_KEY}'\n"
        "echo 'AccountKey=<your key>'\n"
    )
    finding = failing(app_copy, capsys, "settings: no committed secrets")
    assert finding["message"] == (
        "secret values in the deployable tree: scripts/rotate.sh:3 SAS signature; "
        "scripts/rotate.sh:5 storage account key; scripts/rotate.sh:5 shared access key"
    )


def test_a_checkouts_test_and_install_leftovers_stay_out_of_the_image(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    """Running the tests leaves .hypothesis/, `pip install -e .` a *.egg-info folder; the
    image's `COPY .` takes the folder as .dockerignore leaves it."""
    (app_copy / ".hypothesis" / "constants").mkdir(parents=True, exist_ok=True)
    (app_copy / ".hypothesis" / "constants" / "0475a29679bc1d56").write_text("x")
    (app_copy / "haymaker.egg-info").mkdir(exist_ok=True)
    (app_copy / "haymaker.egg-info" / "PKG-INFO").write_text("Name: haymaker\n")
    shipped = [path.as_posix() for path in package_files(app_copy)]
    assert "function_app.py" in shipped
    assert [p for p in shipped if p.startswith((".hypothesis/", "haymaker.egg-info/"))] == []


def test_the_public_azurite_key_is_not_a_secret(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    azurite = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    sample = app_copy / "local.settings.sample.json"
    edit_json(sample, lambda s: s["Values"].update(AzureWebJobsStorage=azurite))
    _code, checks = doctor(app_copy, capsys)
    assert checks["settings: no committed secrets"]["ok"] is True
    assert (app_copy / "devhost" / "azurite.py").is_file()  # in the tree, and not flagged


def test_a_workload_profile_without_room_for_blue_green_is_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    bicep = app_copy / "infra" / "core" / "container-apps-environment.bicep"
    edit(bicep, "maximumCount: orchestratorProfileMaximumCount", "maximumCount: 1")
    _code, checks = doctor(app_copy, capsys)
    failed = {name: c for name, c in checks.items() if name.startswith("infra: ") and not c["ok"]}
    assert "maximumCount" in json.dumps(failed), checks


def test_missing_infra_checks_fail_rather_than_pass(
    app_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "haymaker.infra_checks", None)
    finding = failing(app_copy, capsys, "infra")
    assert finding["message"] == "infra checks unavailable: haymaker/infra_checks.py missing"


def test_a_package_that_leaves_out_an_imported_module_is_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    with (app_copy / ".dockerignore").open("a") as ignore:
        ignore.write("haymaker/providers\n")
    finding = failing(app_copy, capsys, "deployment package")
    assert (
        "haymaker/providers/__init__.py (imported by the app) is not in the package"
        in (finding["message"])
    )


def test_a_lazy_import_of_a_missing_module_is_found(
    app_copy: Path, capsys: pytest.CaptureFixture[str]
):
    edit(
        app_copy / "function_app.py",
        "    return run_steps.begin_run(payload)\n",
        "    from activities.begin import begin_run as impl\n\n    return impl(payload)\n",
    )
    finding = failing(app_copy, capsys, "deployment package")
    assert "function_app.py:" in finding["message"]
    assert "imports activities.begin, which does not exist" in finding["message"]


def test_an_app_that_imports_devhost_is_found(app_copy: Path, capsys: pytest.CaptureFixture[str]):
    settings = app_copy / "haymaker" / "settings.py"
    settings.write_text("from devhost.keys import mask_key  # noqa: F401\n" + settings.read_text())
    finding = failing(app_copy, capsys, "deployment package")
    assert (
        "the app imports the local dev host (devhost/__init__.py, devhost/keys.py)"
        in (finding["message"])
    )
