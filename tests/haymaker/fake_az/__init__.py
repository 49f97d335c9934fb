"""A fake `az` for the live-mode agent tests, and helpers to install it on a PATH."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("fake_az.py")


def install(bin_dir: Path) -> Path:
    """Put an executable `az` in `bin_dir` that runs the fake with this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    az = bin_dir / "az"
    # -S: the fake needs only the standard library, and starts faster without site.
    az.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{SCRIPT}" "$@"\n', encoding="utf-8")
    az.chmod(az.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return az


def path_with(bin_dir: Path) -> str:
    return os.pathsep.join([str(bin_dir), os.environ.get("PATH", os.defpath)])
