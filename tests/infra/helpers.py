"""Helpers of the infra tests: where the deployment files are, and how to break one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haymaker.infra_checks import check_infra

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_FILES = (
    "infra",
    "azure.yaml",
    "Dockerfile",
    ".github/workflows/deploy.yml",
    "scripts/deploy.sh",
    "expected_functions.json",
    "requirements.txt",
    "host.json",
)


def edit(path: Path, old: str, new: str) -> None:
    """Replace exactly one occurrence of `old` (a test that edits nothing proves nothing)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def failures(repo: Path) -> dict[str, dict[str, Any]]:
    """The failed checks of a tree, by check name."""
    return {c["check"]: c for c in check_infra(repo) if not c["ok"]}
