"""What agent/Dockerfile says, read offline: its instructions, and the files it copies.

`stage` lays the copied files out as the image has them, so tests can run the live agent
from exactly that file set.
"""

from __future__ import annotations

import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "agent" / "Dockerfile"
DOCKERIGNORE = ROOT / "agent" / "Dockerfile.dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    # Absolute path in the image (relative destinations resolved against WORKDIR).
    destination: str


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip()))
    return found


def copies(path: Path = DOCKERFILE) -> list[Copy]:
    workdir = "/"
    found: list[Copy] = []
    for instruction in instructions(path):
        if instruction.keyword == "WORKDIR":
            workdir = posixpath.join(workdir, instruction.arguments)
        elif instruction.keyword in ("COPY", "ADD"):
            words = [w for w in instruction.arguments.split() if not w.startswith("--")]
            *sources, destination = words
            absolute = posixpath.join(workdir, destination)
            if destination.endswith("/") and not absolute.endswith("/"):
                absolute += "/"
            found.append(Copy(tuple(sources), absolute))
    return found


def workdir(path: Path = DOCKERFILE) -> str:
    """The final WORKDIR: where `python3 -m agent` runs, so what is importable."""
    current = "/"
    for instruction in instructions(path):
        if instruction.keyword == "WORKDIR":
            current = posixpath.join(current, instruction.arguments)
    return current


def stage(target: Path, path: Path = DOCKERFILE) -> Path:
    """Copy what the image has under its WORKDIR into `target`, laid out the same way."""
    base = workdir(path).rstrip("/") + "/"
    for copy in copies(path):
        if not copy.destination.startswith(base):
            continue
        destination = target / copy.destination[len(base) :]
        for source in copy.sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    destination,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination / origin.name)
    return target
