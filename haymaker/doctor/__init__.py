"""`haymaker doctor`: catch before a deploy what cost the upstream team an afternoon.

Six groups of checks, each a module: merge markers (markers), function discovery
(functions), host.json / requirements / Python version (runtime), app settings
(app_settings), infrastructure (infra, delegating to haymaker/infra_checks.py), and the
deployment package (package). What "deployable tree" and "deployment package" mean is in
tree.py. Every check returns findings; the doctor fails if any finding failed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from haymaker.doctor import app_settings, functions, infra, markers, package, runtime, tree
from haymaker.doctor.findings import Finding, failed
from haymaker.doctor.imports import import_closure


def _guarded(check: str, run: Callable[[], Finding | list[Finding]]) -> list[Finding]:
    """A check that crashes is a failed finding naming the crash, never a pass."""
    try:
        result = run()
    except Exception as error:  # the doctor reports every check, whatever one of them hits
        return [failed(check, f"check crashed: {type(error).__name__}: {error}", "report this")]
    return result if isinstance(result, list) else [result]


def run_doctor(app_dir: Path) -> list[Finding]:
    """Every check on the app in `app_dir`, in the order of the issue's six groups.

    Indexing the app (a fresh interpreter importing it) runs while the checks that read
    only files do; the checks that need its functions run last, and every finding is
    reported in the groups' order."""
    app_dir = app_dir.resolve()
    indexed = functions.start_indexing(app_dir)
    # What function_app.py imports, read once for the two checks that need it (a failure
    # is raised again in each, which then reports it as its own).
    closure = cache(lambda: import_closure(app_dir))
    # (name, needs the indexed functions, check)
    checks: list[tuple[str, bool, Callable[[], Finding | list[Finding]]]] = [
        ("merge markers", False, lambda: markers.check_merge_markers(app_dir)),
        ("discovery: indexing", True, lambda: functions.check_indexing(indexed())),
        ("discovery: decorators", False, lambda: functions.check_stray_decorators(app_dir)),
        ("discovery: apps", False, lambda: functions.check_stray_apps(app_dir)),
        ("discovery: expected", True, lambda: functions.check_expected(app_dir, indexed())),
        ("host.json", False, lambda: runtime.check_host_json(app_dir)),
        ("requirements.txt", False, lambda: runtime.check_requirements(app_dir, closure())),
        ("python version", False, lambda: runtime.check_python_version(app_dir)),
        ("settings: required", True, lambda: app_settings.check_required(app_dir, indexed())),
        ("settings: schedules", True, lambda: app_settings.check_schedules(app_dir, indexed())),
        ("settings: secrets", False, lambda: app_settings.check_secrets(app_dir)),
        ("infra", False, lambda: infra.check_infra(app_dir)),
        ("deployment package", False, lambda: package.check_package(app_dir, closure())),
    ]
    with tree.walked_once():
        results = {
            name: _guarded(name, run)
            for waits in (False, True)
            for name, needs_index, run in checks
            if needs_index == waits
        }
    return [finding for name, _, _ in checks for finding in results[name]]


__all__ = ["Finding", "run_doctor"]
