"""The CLI run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
