"""Copies of the app to break, and the CLI run as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What never belongs to an app copy: VCS, environments, caches, local state, the tests.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".devhost",
    ".haymaker",
    "tests",
)


@pytest.fixture(scope="session")
def app_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the repo's app files, taken once per session."""
    template = tmp_path_factory.mktemp("template") / "app"
    shutil.copytree(ROOT, template, ignore=NOT_COPIED)
    return template


@pytest.fixture
def app_copy(app_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the app for one test to break."""
    copy = tmp_path / "app"
    shutil.copytree(app_template, copy)
    return copy


@pytest.fixture
def haymaker_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`python -m haymaker ARGS` in a child process: real exit codes, stdout and stderr."""

    def run(*args: str, cwd: Path = ROOT, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "haymaker", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
            env={**_clean_env(), "PYTHONPATH": str(ROOT)},
            check=False,
        )

    return run


def _clean_env() -> dict[str, str]:
    import os

    skip = ("HAYMAKER_URL", "HAYMAKER_KEY", "HAYMAKER_MASTER_KEY", "HAYMAKER_PROFILE")
    return {k: v for k, v in os.environ.items() if k not in skip}
