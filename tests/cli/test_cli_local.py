"""CLI behaviour that needs no host: target selection, local validation, usage errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from haymaker.catalog import load_catalog
from haymaker.cli import main
from haymaker.cli.target import DEFAULT_URL, KEYS_FILE, UP_FILE, TargetError, resolve_target

ROOT = Path(__file__).resolve().parents[2]


def write_keys(folder: Path) -> None:
    (folder / KEYS_FILE).parent.mkdir(parents=True, exist_ok=True)
    keys = {"masterKey": "m1", "functionKeys": {"default": "f1"}, "systemKeys": {}}
    (folder / KEYS_FILE).write_text(json.dumps(keys))


def test_the_default_target_is_the_local_devhost_and_its_keys(tmp_path: Path):
    write_keys(tmp_path)
    target = resolve_target(environ={"HAYMAKER_CONFIG": str(tmp_path / "none")}, cwd=tmp_path)
    assert (target.url, target.key, target.master_key) == (DEFAULT_URL, "f1", "m1")
    (tmp_path / UP_FILE).write_text(json.dumps({"url": "http://127.0.0.1:7123"}))
    assert resolve_target(environ={}, cwd=tmp_path).url == "http://127.0.0.1:7123"


def test_flags_beat_environment_beat_profile(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text(
        'url = "https://profile.example"\nkey = "pk"\n'
        '[profiles.prod]\nurl = "https://prod.example/api"\nkey = "prod-key"\n'
    )
    environ = {"HAYMAKER_CONFIG": str(config)}
    assert resolve_target(environ=environ, cwd=tmp_path).url == "https://profile.example"
    environ["HAYMAKER_URL"] = "https://env.example"
    target = resolve_target(environ=environ, cwd=tmp_path)
    assert (target.url, target.key) == ("https://env.example", "pk")
    target = resolve_target(url="https://flag.example", key="fk", environ=environ, cwd=tmp_path)
    assert (target.url, target.key) == ("https://flag.example", "fk")
    prod = resolve_target(profile="prod", environ={"HAYMAKER_CONFIG": str(config)}, cwd=tmp_path)
    assert (prod.url, prod.key) == ("https://prod.example", "prod-key")


def test_an_unknown_profile_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    config = tmp_path / "config.toml"
    config.write_text('[profiles.prod]\nurl = "https://prod.example"\n')
    monkeypatch.setenv("HAYMAKER_CONFIG", str(config))
    with pytest.raises(TargetError, match="no profile 'test'.*profiles: prod"):
        resolve_target(profile="test", cwd=tmp_path)
    assert main(["run", "list", "--profile", "test"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# Two scenarios, not the whole catalog: the catalog is checked by test_catalog.py, and its
# every command parsed by the Azure CLI by test_azcli_check.py (about 6 s of CPU, which
# this test spent a second time).
def test_scenarios_validate_a_folder_and_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in ("security-key-rotation.yaml", "compute-linux-vm.yaml"):
        shutil.copy(ROOT / "scenarios" / name, folder / name)
    steps = sum(
        len(steps)
        for scenario in load_catalog(folder).scenarios()
        for steps in scenario.phases().values()
    )
    assert main(["scenarios", "validate", str(folder)]) == 0
    valid, checked = capsys.readouterr().out.strip().splitlines()
    assert valid == f"{folder}: valid"
    assert checked == f"Azure CLI check: {steps} commands parsed by the CLI's own parser"
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\ntitle: A broken scenario\narea: nowhere\n")
    assert main(["scenarios", "validate", str(broken), "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is False and answer["problems"]
    assert all(problem.startswith(str(broken)) for problem in answer["problems"])


def test_doctor_on_a_folder_that_does_not_exist_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["doctor", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("haymaker: error: ") and err.count("\n") == 1


def test_a_local_run_says_when_the_azurite_folder_grows_large_and_what_to_do(tmp_path: Path):
    from haymaker.local_run import azurite_data_note

    folder = tmp_path / ".devhost" / "azurite"
    assert azurite_data_note(folder, limit=1_000) is None  # no folder yet
    (folder / "__blobstorage__").mkdir(parents=True)
    (folder / "__azurite_db_table__.json").write_bytes(b"x" * 600)
    assert azurite_data_note(folder, limit=1_000) is None  # small: nothing to say
    (folder / "__blobstorage__" / "extent").write_bytes(b"x" * 3 * 2**20)
    note = azurite_data_note(folder, limit=1_000)
    assert note is not None
    assert f"{folder} holds 3 MB" in note
    assert f"delete {folder}/ while no host runs" in note
