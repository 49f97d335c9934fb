"""Fixtures of the infra tests: a scratch copy of the deployment files to break on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.infra.helpers import DEPLOY_FILES, ROOT


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of every file the infra checks read, safe to edit."""
    for name in DEPLOY_FILES:
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return tmp_path
