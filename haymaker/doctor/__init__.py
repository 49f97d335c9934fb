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

from haymaker.doctor import app_settings, functions, infra, markers, package, runtime
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
    """Every check on the app in `app_dir`, in the order of the issue's six groups."""
    app_dir = app_dir.resolve()
    indexed = functions.index_in_subprocess(app_dir)
    # What function_app.py imports, read once for the two checks that need it (a failure
    # is raised again in each, which then reports it as its own).
    closure = cache(lambda: import_closure(app_dir))
    checks: list[tuple[str, Callable[[], Finding | list[Finding]]]] = [
        ("merge markers", lambda: markers.check_merge_markers(app_dir)),
        ("discovery: indexing", lambda: functions.check_indexing(indexed)),
        ("discovery: decorators", lambda: functions.check_stray_decorators(app_dir)),
        ("discovery: apps", lambda: functions.check_stray_apps(app_dir)),
        ("discovery: expected", lambda: functions.check_expected(app_dir, indexed)),
        ("host.json", lambda: runtime.check_host_json(app_dir)),
        ("requirements.txt", lambda: runtime.check_requirements(app_dir, closure())),
        ("python version", lambda: runtime.check_python_version(app_dir)),
        ("settings: required", lambda: app_settings.check_required(app_dir, indexed)),
        ("settings: schedules", lambda: app_settings.check_schedules(app_dir, indexed)),
        ("settings: secrets", lambda: app_settings.check_secrets(app_dir)),
        ("infra", lambda: infra.check_infra(app_dir)),
        ("deployment package", lambda: package.check_package(app_dir, closure())),
    ]
    return [finding for name, run in checks for finding in _guarded(name, run)]


__all__ = ["Finding", "run_doctor"]
