"""What a deploy ships: the deployment package and the deployable tree.

The deployment package is what `func azure functionapp publish` and `azd deploy` zip for a
Python function app: the app folder minus the patterns in `.funcignore` (gitignore-style;
when the app has none, DEFAULT_FUNCIGNORE below). When the app ships as a container image
(a Dockerfile beside function_app.py), `.dockerignore` decides instead: the image's
`COPY . /home/site/wwwroot` takes the same tree. `local.settings.json` is never
published. The deployable tree is the package plus what the deploy applies besides the
code: the infrastructure (`infra/`, `azure.yaml`) and the workflows that run it. The doctor
scans the deployable tree for merge markers and secrets, and the package's Python files
for stray decorators and function apps.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

FUNCIGNORE = ".funcignore"
DOCKERIGNORE = ".dockerignore"
NEVER_PUBLISHED = ("local.settings.json",)
# Version control, virtualenvs, caches and local state never ship, whatever .funcignore says.
ALWAYS_SKIPPED = (
    ".git",
    ".venv",
    ".venv-azcli",
    ".venv-bench",
    "venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".devhost",
    ".haymaker",
)
DEFAULT_FUNCIGNORE = (
    ".git*",
    ".vscode",
    "/.ci",
    "/.github",
    "/infra",
    "/azure.yaml",
    "/tests",
    "/benchmarks",
    "/devhost/examples",
    "/package.json",
    "/package-lock.json",
    "/dev",
    "*.pyc",
    "*.md",
    "/.funcignore",
)
INFRA_PATHS = ("infra", "azure.yaml", ".github/workflows")

# Within `walked_once()`, each listing of an app folder is walked once and reused.
_listings: ContextVar[dict[tuple[str, Path], list[Path]] | None] = ContextVar(
    "_listings", default=None
)


@contextlib.contextmanager
def walked_once() -> Iterator[None]:
    """The doctor's checks list the same package and tree several times in one run; inside
    this block a folder is walked once (files changed meanwhile are not seen)."""
    token = _listings.set({})
    try:
        yield
    finally:
        _listings.reset(token)


def _listed(kind: str, app_dir: Path, walk: Callable[[Path], list[Path]]) -> list[Path]:
    listings = _listings.get()
    if listings is None:
        return walk(app_dir)
    key = (kind, app_dir.resolve())
    if key not in listings:
        listings[key] = walk(app_dir)
    return list(listings[key])


def ignore_patterns(app_dir: Path) -> list[str]:
    """What the deploy leaves out: `.dockerignore` when the app ships as an image (it has a
    Dockerfile), else `.funcignore`, else the defaults."""
    path = app_dir / FUNCIGNORE
    if (app_dir / "Dockerfile").is_file() and (app_dir / DOCKERIGNORE).is_file():
        path = app_dir / DOCKERIGNORE
    if not path.is_file():
        return list(DEFAULT_FUNCIGNORE)
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """gitignore-style matching, enough for .funcignore: a pattern without a slash matches
    any path segment; with one, it matches from the root; a match on a folder excludes
    everything under it. Negations (`!`) re-include."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        if "/" in pattern:
            pattern = pattern.lstrip("/")
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        else:
            hit = any(fnmatch.fnmatchcase(part, pattern) for part in parts)
        if hit:
            ignored = not negate
    return ignored


def _walk(root: Path, start: Path, pruned: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """The files under `start`; a folder whose path relative to `root` is `pruned` is not
    entered."""
    if start.is_file():
        yield start
        return
    for path in sorted(start.iterdir()):
        if path.name in ALWAYS_SKIPPED:
            continue
        if path.is_dir() and not path.is_symlink():
            if pruned is None or not pruned(path.relative_to(root).as_posix()):
                yield from _walk(root, path, pruned)
        elif path.is_file():
            yield path


def package_files(app_dir: Path) -> list[Path]:
    """Every file of the deployment package, as paths relative to the app folder."""
    return _listed("package", app_dir, _package_files)


def _package_files(app_dir: Path) -> list[Path]:
    patterns = ignore_patterns(app_dir)
    # An ignored folder is not walked (tests/, benchmarks/, ... hold most of the files),
    # unless a negation might bring back something under it.
    negated = any(pattern.startswith("!") for pattern in patterns)
    pruned = None if negated else (lambda folder: _ignored(folder, patterns))
    files = []
    for path in _walk(app_dir, app_dir, pruned):
        relative = path.relative_to(app_dir).as_posix()
        if path.name in NEVER_PUBLISHED or _ignored(relative, patterns):
            continue
        files.append(Path(relative))
    return files


def deployable_files(app_dir: Path) -> list[Path]:
    """The package plus the infrastructure and workflows the deploy applies."""
    return _listed("deployable", app_dir, _deployable_files)


def _deployable_files(app_dir: Path) -> list[Path]:
    found = set(package_files(app_dir))
    for name in INFRA_PATHS:
        start = app_dir / name
        if start.exists():
            found.update(p.relative_to(app_dir) for p in _walk(app_dir, start))
    return sorted(found)


def python_files(app_dir: Path) -> list[Path]:
    """The package's Python files."""
    return [path for path in package_files(app_dir) if path.suffix == ".py"]
