"""Group 2: function discovery, the seed's "0 functions found".

The worker imports function_app.py and asks the one app object in it for its functions.
Decorators in other modules register on other objects, or on the same object only if
their module happens to be imported first; either way the project's rule is simple:
every decorator, and the only function app, live in function_app.py.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haymaker.discovery import (
    EXPECTED_FILE,
    compare_functions,
    decorators_outside_script,
    load_expected,
)
from haymaker.doctor.findings import Finding, failed, listing, passed
from haymaker.doctor.tree import python_files

ENTRY_SCRIPT = "function_app.py"
INDEXER = Path(__file__).resolve().parents[2] / "devhost" / "indexer.py"
PROBE = Path(__file__).resolve().parent / "index_probe.py"
APP_CLASSES = {"FunctionApp", "DFApp", "AsgiFunctionApp", "WsgiFunctionApp", "Blueprint"}


@dataclass
class Indexed:
    """What indexing the app found: its functions, or the worker's error."""

    functions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    detail: str = ""


def start_indexing(app_dir: Path, timeout: float = 120.0) -> Callable[[], Indexed]:
    """Start indexing the app in a fresh interpreter; the returned call waits for it (once).

    The probe imports the whole app, most of the doctor's time: the other checks run
    meanwhile, and only those that need the functions wait."""
    sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    command = [sys.executable, "-S", str(PROBE), str(INDEXER), str(app_dir.resolve()), *sites]
    probe = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=app_dir,
    )
    deadline = time.monotonic() + timeout

    @functools.cache
    def indexed() -> Indexed:
        try:
            stdout, stderr = probe.communicate(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.communicate()
            return Indexed(error=f"importing function_app.py did not finish in {timeout:.0f}s")
        return _read_probe(stdout, stderr, probe.returncode)

    return indexed


def _read_probe(stdout: str, stderr: str, returncode: int) -> Indexed:
    lines = stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if "functions" in answer:
        return Indexed(functions=answer["functions"])
    if "error" in answer:
        return Indexed(error=answer["error"], detail=answer.get("detail", ""))
    tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
    return Indexed(error=f"indexing crashed (exit {returncode}): {tail[0]}")


def check_indexing(indexed: Indexed) -> Finding:
    name = "discovery: indexing"
    if indexed.error is not None:
        cause = indexed.detail.strip().splitlines()[-1] if indexed.detail.strip() else ""
        message = indexed.error + (f" [{cause}]" if cause and cause not in indexed.error else "")
        return failed(
            name,
            f"0 functions found: {message}",
            "fix the import error above: run `python -m devhost start .` to see the traceback",
        )
    if not indexed.functions:
        return failed(name, "0 functions found", f"declare the functions in {ENTRY_SCRIPT}")
    return passed(name, f"{len(indexed.functions)} functions found in {ENTRY_SCRIPT}")


def _parsed(app_dir: Path) -> list[tuple[Path, ast.Module]]:
    """The package's modules but function_app.py that name an app class somewhere: a call
    of one names it in the source, so the rest (most) need not be parsed."""
    modules = []
    for relative in python_files(app_dir):
        if relative == Path(ENTRY_SCRIPT):
            continue
        try:
            source = (app_dir / relative).read_text(encoding="utf-8")
            if any(name in source for name in APP_CLASSES):
                modules.append((relative, ast.parse(source, str(relative))))
        except (SyntaxError, UnicodeDecodeError):
            continue  # a module the app imports fails indexing; others cannot register
    return modules


def stray_apps(app_dir: Path) -> list[str]:
    """`file:line Class()` for every function app or blueprint created outside function_app.py."""
    found = []
    for relative, tree in _parsed(app_dir):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            if name in APP_CLASSES:
                found.append(f"{relative}:{node.lineno} {ast.unparse(callee)}()")
    return found


def check_stray_decorators(app_dir: Path) -> Finding:
    name = "discovery: decorators only in function_app.py"
    paths = [path.as_posix() for path in python_files(app_dir)]
    found = [str(line) for line in decorators_outside_script(app_dir, paths)]
    if found:
        return failed(
            name,
            f"trigger decorators outside {ENTRY_SCRIPT}: {listing(found)}",
            f"move each decorator to a thin wrapper in {ENTRY_SCRIPT} that delegates to the "
            "undecorated implementation",
        )
    return passed(name, f"no trigger or binding decorators outside {ENTRY_SCRIPT}")


def check_stray_apps(app_dir: Path) -> Finding:
    name = "discovery: one FunctionApp, in function_app.py"
    found = stray_apps(app_dir)
    if found:
        return failed(
            name,
            f"function apps created outside {ENTRY_SCRIPT}: {listing(found)}",
            f"create the only FunctionApp/DFApp in {ENTRY_SCRIPT}; other modules hold plain "
            "functions",
        )
    return passed(name, f"no FunctionApp, DFApp or Blueprint created outside {ENTRY_SCRIPT}")


def check_expected(app_dir: Path, indexed: Indexed) -> Finding:
    name = "discovery: expected functions"
    fix = f"make {ENTRY_SCRIPT} and {EXPECTED_FILE} agree (declare or remove the function)"
    if indexed.error is not None:
        return failed(name, "cannot compare: indexing failed (see above)", fix)
    try:
        expected = load_expected(app_dir)
    except (OSError, ValueError) as error:
        return failed(name, f"cannot read {EXPECTED_FILE}: {error}", f"add {EXPECTED_FILE}")
    found = {f["name"]: f["trigger"] for f in indexed.functions}
    problems = compare_functions(found, expected)
    if problems:
        return failed(name, listing(problems), fix)
    return passed(name, f"the {len(found)} functions found match {EXPECTED_FILE}")
