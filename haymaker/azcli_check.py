"""Check every scenario command against the real Azure CLI's parser, offline.

azure-cli pins its own versions of many Azure SDK packages, so it cannot share the app's
environment: ./dev setup installs the version in requirements-azure-cli.txt into
``.venv-azcli`` and this module runs haymaker/azcli_parse.py with that Python, once for
the whole catalog (loading the command table takes a few seconds; each command then
parses in milliseconds). ``HAYMAKER_AZURE_CLI_PYTHON`` names another interpreter.

Beyond "does it parse", the CLI knows what the static rules cannot: whether a command
takes ``--tags`` (then a create step must pass them rather than say ``untagged``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haymaker.catalog import Step, load_file
from haymaker.catalog_rules import fill_sample, is_create, passes_tags

PYTHON_SETTING = "HAYMAKER_AZURE_CLI_PYTHON"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV = PROJECT_ROOT / ".venv-azcli"
PARSER_SCRIPT = Path(__file__).with_name("azcli_parse.py")
TIMEOUT_SECONDS = 600.0


class AzureCliCheckError(RuntimeError):
    """The checker itself failed (not a scenario problem): the CLI could not be loaded."""


@dataclass(frozen=True)
class CliCheck:
    """What the check found; ``skipped`` says why it did not run (azure-cli not installed)."""

    problems: list[str]
    commands: int
    skipped: str | None = None


def azure_cli_python() -> str | None:
    """The interpreter that has azure-cli: the setting, the project's venv, or this one.

    ``HAYMAKER_AZURE_CLI_PYTHON=off`` turns the check off.
    """
    configured = os.environ.get(PYTHON_SETTING, "").strip()
    if configured.lower() == "off":
        return None
    if configured:
        return configured
    venv_python = VENV / "bin" / "python"
    if venv_python.exists():
        return str(venv_python)
    if importlib.util.find_spec("azure.cli.core") is not None:
        return sys.executable
    return None


@dataclass(frozen=True)
class _Command:
    where: str
    step: Step
    argv: list[str]


def check_with_azure_cli(path: Path, python: str | None = None) -> CliCheck:
    """Parse every command of the scenario file or folder ``path`` with the real CLI.

    Files that do not load are left to the catalog's own checks.
    """
    python = python or azure_cli_python()
    if python is None:
        reason = (
            f"azure-cli is not installed or {PYTHON_SETTING}=off (./dev setup installs it "
            f"into .venv-azcli; {PYTHON_SETTING} names another Python that has it)"
        )
        return CliCheck([], 0, skipped=reason)
    files = [path] if path.is_file() else sorted(path.glob("*.y*ml"))
    commands: list[_Command] = []
    for file in files:
        parsed = load_file(file)
        if parsed.scenario is None:
            continue
        for phase, steps in parsed.scenario.phases().items():
            for index, step in enumerate(steps):
                line = parsed.line_of((phase, index, "command"))
                where = f"{file}:{line}: {phase}[{index}] {step.name!r}"
                commands.append(_Command(where, step, fill_sample(step.command)))
    answers = _parse_all(python, [command.argv[1:] for command in commands])
    problems: list[str] = []
    for command, answer in zip(commands, answers, strict=True):
        problems += [f"{command.where}: {reason}" for reason in _problems(command, answer)]
    return CliCheck(problems, len(commands))


def _problems(command: _Command, answer: dict[str, Any]) -> list[str]:
    if answer["error"]:
        return [f"the Azure CLI refuses it: {answer['error']}"]
    problems = []
    name = f"az {answer['command']}"
    creating = command.step.creates is not None or is_create(command.argv)
    if creating and answer["takes_tags"] and not passes_tags(command.argv):
        problems.append(f"{name} takes --tags: pass --tags {{tags}} (not 'untagged')")
    return problems


def _parse_all(python: str, commands: list[list[str]]) -> list[dict[str, Any]]:
    if not commands:
        return []
    try:
        done = subprocess.run(
            [python, str(PARSER_SCRIPT)],
            input=json.dumps(commands),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        message = f"could not run the Azure CLI parser with {python}: {error}"
        raise AzureCliCheckError(message) from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise AzureCliCheckError(
            f"the Azure CLI parser ({python}) exited with {done.returncode}: {tail}"
        )
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return answers
