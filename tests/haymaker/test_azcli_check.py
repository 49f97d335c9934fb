"""Every scenario command, placeholders filled, parsed by the real Azure CLI (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from haymaker.azcli_check import (
    PYTHON_SETTING,
    CliCheck,
    azure_cli_python,
    check_with_azure_cli,
)
from haymaker.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SAMPLE = SCENARIOS / "security-key-rotation.yaml"

# A check loads the CLI's whole command table (seconds of CPU): on a machine busy with
# parallel test workers that can pass the default 300 s (a bound, not a budget).
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cli_python() -> str:
    python = azure_cli_python()
    assert python is not None, (
        "azure-cli is not installed: ./dev setup installs requirements-azure-cli.txt into "
        f".venv-azcli (or set {PYTHON_SETTING})"
    )
    return python


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def variant(directory: Path, name: str, old: str, new: str) -> tuple[Path, str]:
    """The sample scenario with one change, as ``name``.yaml (its id follows the file)."""
    text = (
        SAMPLE.read_text()
        .replace(old, new, 1)
        .replace("id: security-key-rotation", f"id: {name}", 1)
    )
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path, text


@dataclass
class Checked:
    """One check of the whole catalog (copied) beside the broken variants of one sample:
    the CLI's command table is loaded once for both tests below."""

    result: CliCheck
    folder: Path
    variants: dict[str, tuple[Path, str]]


@pytest.fixture(scope="module")
def checked(cli_python: str, tmp_path_factory: pytest.TempPathFactory) -> Checked:
    folder = tmp_path_factory.mktemp("scenarios")
    for path in SCENARIOS.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    key = "--kty RSA --size 2048 --ops sign verify --tags {tags}"
    variants = {
        "unknown": variant(folder, "unknown-option", key, key + " --colour blue"),
        "extension": variant(
            folder,
            "extension-command",
            "az keyvault key rotate --vault-name {prefix}kv --name signing-key",
            "az storagesync sync-group show --name g --storage-sync-service {prefix}sync "
            "--resource-group {resource_group}",
        ),
        "choice": variant(folder, "bad-choice", "--kty RSA", "--kty RSB"),
        "untagged": variant(
            folder,
            "untagged-but-taggable",
            key + "\n    creates: signing-key\n",
            "--kty RSA --size 2048\n    creates: signing-key\n    untagged: keys have no tags\n",
        ),
    }
    return Checked(check_with_azure_cli(folder, cli_python), folder, variants)


def test_every_catalog_command_parses_with_the_azure_cli(checked: Checked) -> None:
    steps = sum(
        len(s)
        for scenario in load_catalog(checked.folder).scenarios()
        for s in scenario.phases().values()
    )
    assert checked.result.skipped is None
    assert checked.result.commands == steps
    broken = tuple(str(path) for path, _ in checked.variants.values())
    assert [p for p in checked.result.problems if not p.startswith(broken)] == []
    assert {path.name for path in SCENARIOS.glob("*.yaml")} <= {
        path.name for path in checked.folder.glob("*.yaml")
    }


def test_what_the_cli_refuses_names_file_step_and_the_clis_own_message(
    checked: Checked,
) -> None:
    unknown, unknown_text = checked.variants["unknown"]
    extension, extension_text = checked.variants["extension"]
    choice, choice_text = checked.variants["choice"]
    untagged, untagged_text = checked.variants["untagged"]
    broken = (str(unknown), str(extension), str(choice), str(untagged))
    problems = [p for p in checked.result.problems if p.startswith(broken)]
    assert sorted(problems) == sorted(
        [
            f"{choice}:{line_of(choice_text, '--kty RSB')}: deploy[1] 'Create the signing key': "
            "the Azure CLI refuses it: az keyvault key create: 'RSB' is not a valid value for "
            "'--kty'. Allowed values: EC, EC-HSM, RSA, RSA-HSM, oct, oct-HSM.",
            f"{extension}:{line_of(extension_text, 'az storagesync')}: operate[0] 'Rotate the "
            "signing key': the Azure CLI refuses it: 'az storagesync sync-group show' is not a "
            "command of the core Azure CLI",
            f"{unknown}:{line_of(unknown_text, '--colour')}: deploy[1] 'Create the signing key': "
            "the Azure CLI refuses it: unrecognized arguments: --colour blue",
            f"{untagged}:{line_of(untagged_text, '--size 2048')}: deploy[1] 'Create the signing "
            "key': az keyvault key create takes --tags: pass --tags {tags} (not 'untagged')",
        ]
    )


def test_validate_runs_the_cli_check_and_says_when_it_skipped(tmp_path: Path) -> None:
    path, _ = variant(tmp_path, "unknown-option", "--kty RSA", "--kty RSA --colour blue")

    def validate(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "haymaker", "scenarios", "validate", str(path), "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            cwd=ROOT,
            check=False,
        )

    checked = validate()
    assert checked.returncode == 1, checked.stderr
    answer = json.loads(checked.stdout)
    assert answer["azure_cli"]["skipped"] is None and answer["azure_cli"]["checked"] > 0
    assert any("unrecognized arguments: --colour blue" in p for p in answer["problems"])

    skipped = validate(**{PYTHON_SETTING: "off"})
    assert skipped.returncode == 0, skipped.stderr
    answer = json.loads(skipped.stdout)
    assert answer["problems"] == [] and answer["azure_cli"]["checked"] == 0
    assert (
        "azure-cli is not installed or HAYMAKER_AZURE_CLI_PYTHON=off"
        in answer["azure_cli"]["skipped"]
    )
