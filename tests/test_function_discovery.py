"""Function discovery: the worker finds every HayMaker function, and only in function_app.py.

The app is indexed exactly as the Python worker indexes it (devhost.indexer.index_app:
import the script with the app root on sys.path, find the one FunctionRegister, call
get_functions()), and the result is compared with expected_functions.json. The tests at
the end prove the check bites: a copy of the app with a function deleted, or with its
decorator moved to another module, is reported as missing that function by name.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devhost.indexer import ACTIVITY, HTTP, ORCHESTRATION, TIMER, IndexedFunction, index_app
from haymaker.discovery import (
    SCRIPT_FILE,
    compare_functions,
    decorators_outside_script,
    find_decorators,
    load_expected,
)

ROOT = Path(__file__).resolve().parent.parent
# Folders that hold other function apps (each with its own function_app.py and host.json).
OTHER_APPS = ("tests/", "devhost/examples/", "benchmarks/samples/")

# route, methods: the HTTP API as clients and the docs know it.
HTTP_API = {
    "start_run": ("runs", ["POST"]),
    "list_runs": ("runs", ["GET"]),
    "get_run": ("runs/{run_id}", ["GET"]),
    "get_run_agents": ("runs/{run_id}/agents", ["GET"]),
    "get_run_resources": ("runs/{run_id}/resources", ["GET"]),
    "get_run_events": ("runs/{run_id}/events", ["GET"]),
    "get_run_report": ("runs/{run_id}/report", ["GET"]),
    "cancel_run": ("runs/{run_id}/cancel", ["POST"]),
    "start_sweep": ("sweeps", ["POST"]),
    "list_scenarios": ("scenarios", ["GET"]),
    "get_scenario": ("scenarios/{scenario_id}", ["GET"]),
    "health": ("health", ["GET"]),
    "get_metrics": ("metrics", ["GET"]),
    "get_dashboard": ("dashboard", ["GET"]),
}
TIMER_SCHEDULES = {
    "window_americas": "%HAYMAKER_SCHEDULE_AMERICAS%",
    "window_asia": "%HAYMAKER_SCHEDULE_ASIA%",
    "window_middle_east": "%HAYMAKER_SCHEDULE_MIDDLE_EAST%",
    "window_europe": "%HAYMAKER_SCHEDULE_EUROPE%",
    "hourly_sweep": "%HAYMAKER_SWEEP_SCHEDULE%",
}
# Functions that get a durable client binding: starters, and the activity that cancels.
DURABLE_CLIENTS = {"start_run", "get_run", "cancel_run", "start_sweep", "cancel_agents"} | set(
    TIMER_SCHEDULES
)


@pytest.fixture(scope="module")
def indexed() -> dict[str, IndexedFunction]:
    functions = index_app(ROOT)
    names = [f.name for f in functions]
    assert len(names) == len(set(names)), f"duplicate function names: {sorted(names)}"
    return {f.name: f for f in functions}


def triggers(functions: dict[str, IndexedFunction]) -> dict[str, str]:
    return {name: f.trigger_type for name, f in functions.items()}


# -- the real app ------------------------------------------------------------------------


def test_indexing_finds_exactly_the_expected_functions(
    indexed: dict[str, IndexedFunction],
) -> None:
    expected = load_expected(ROOT)
    assert compare_functions(triggers(indexed), expected) == []
    assert triggers(indexed) == expected


def test_expected_functions_cover_each_kind() -> None:
    kinds = set(load_expected(ROOT).values())
    assert kinds == {HTTP, TIMER, ORCHESTRATION, ACTIVITY}


def test_http_functions_have_their_routes_methods_and_function_auth(
    indexed: dict[str, IndexedFunction],
) -> None:
    http = {name: f for name, f in indexed.items() if f.trigger_type == HTTP}
    assert set(http) == set(HTTP_API)
    for name, (route, methods) in HTTP_API.items():
        trigger = http[name].trigger
        assert trigger.get("route") == route, f"{name}: route {trigger.get('route')!r}"
        # Named explicitly: no function answers every method by default.
        assert [m.upper() for m in trigger.get("methods") or []] == methods, (
            f"{name}: methods {trigger.get('methods')!r}"
        )
        assert str(trigger.get("authLevel", "")).lower() == "function", (
            f"{name}: authLevel {trigger.get('authLevel')!r}"
        )
    # No two functions answer the same method on the same route.
    pairs = [(route, method) for route, methods in HTTP_API.values() for method in methods]
    assert len(pairs) == len(set(pairs))


def test_timers_read_their_schedules_from_app_settings(
    indexed: dict[str, IndexedFunction],
) -> None:
    for name, schedule in TIMER_SCHEDULES.items():
        assert indexed[name].trigger.get("schedule") == schedule, name


def test_durable_client_bindings(indexed: dict[str, IndexedFunction]) -> None:
    with_client = {name for name, f in indexed.items() if f.durable_client_param}
    assert with_client == DURABLE_CLIENTS
    for name in with_client:
        assert indexed[name].durable_client_param == "client", name


def test_orchestrators_and_activities_bind_context_and_payload(
    indexed: dict[str, IndexedFunction],
) -> None:
    for name, f in indexed.items():
        if f.trigger_type == ORCHESTRATION:
            assert f.trigger["name"] == "context", name
        if f.trigger_type == ACTIVITY:
            assert f.trigger["name"] == "payload", name


def project_python_files() -> list[str]:
    """Tracked .py files, plus new ones not yet committed (not the ignored ones)."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listing.stdout.splitlines() if line]


def test_no_module_but_function_app_decorates_functions() -> None:
    files = project_python_files()
    assert SCRIPT_FILE in files
    assert "orchestrations/agent.py" in files
    found = decorators_outside_script(ROOT, files, exempt=OTHER_APPS)
    assert found == [], "function decorators outside function_app.py:\n" + "\n".join(
        str(d) for d in found
    )
    # The scan does see function_app.py's decorators when asked.
    script = find_decorators((ROOT / SCRIPT_FILE).read_text(), SCRIPT_FILE)
    assert len(script) >= len(load_expected(ROOT))


# -- the comparison ---------------------------------------------------------------------


def test_compare_functions_names_each_problem() -> None:
    expected = {"a": ACTIVITY, "b": HTTP, "c": ACTIVITY}
    found = {"b": HTTP, "c": TIMER, "d": ORCHESTRATION}
    assert compare_functions(found, expected) == [
        "missing function 'a' (activityTrigger)",
        "unexpected function 'd' (orchestrationTrigger)",
        "function 'c' is a timerTrigger, expected activityTrigger",
    ]
    assert compare_functions(expected, expected) == []


@pytest.mark.parametrize(
    "line",
    [
        '@app.route(route="runs", methods=["POST"])',
        "  @bp.timer_trigger(schedule='0 * * * * *', arg_name='t')",
        '@app.orchestration_trigger(context_name="context")',
        '@app.activity_trigger(input_name="payload")',
        '@app.durable_client_input(client_name="client")',
        '@my_app.function_name(name="x")',
        '@app.blob_input(arg_name="b", path="c/b")',
        '@app.queue_output(arg_name="q", queue_name="q")',
        "@ app . entity_trigger (context_name='c')",
    ],
)
def test_decorator_scan_recognises(line: str) -> None:
    assert [d.text for d in find_decorators(line)] == [line.strip()]


@pytest.mark.parametrize(
    "line",
    [
        "@dataclass(frozen=True)",
        "@pytest.fixture(scope='module')",
        "@property",
        "app.route_table = {}",
        "# @app.route(route='x')",
        "x = app.activity_trigger(input_name='p')",
    ],
)
def test_decorator_scan_ignores(line: str) -> None:
    assert find_decorators(line) == []


# -- the check bites: broken copies of the app --------------------------------------------


def local_packages(root: Path, script: str = SCRIPT_FILE) -> set[str]:
    """Top-level modules of ROOT the script imports, directly or through each other."""
    local = {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    local |= {p.stem for p in root.glob("*.py")}
    seen: set[str] = set()
    pending = [root / script]
    while pending:
        tree = ast.parse(pending.pop().read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names} & local - seen:
                seen.add(top)
                target = root / top
                pending.extend(target.rglob("*.py") if target.is_dir() else [root / f"{top}.py"])
    return seen


def copy_app(destination: Path) -> Path:
    """function_app.py, host.json, expected_functions.json and every local package it imports."""
    app = destination / "app"
    app.mkdir()
    for name in (SCRIPT_FILE, "host.json", "expected_functions.json"):
        shutil.copy2(ROOT / name, app / name)
    # devhost too: the indexer the subprocess runs comes from the copy.
    for package in local_packages(ROOT) | {"devhost"}:
        source = ROOT / package
        if source.is_dir():
            shutil.copytree(source, app / package, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / f"{package}.py", app / f"{package}.py")
    return app


INDEX_SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from devhost.indexer import index_app
print(json.dumps({f.name: f.trigger_type for f in index_app(Path(sys.argv[1]))}))
"""


def index_copy(app: Path) -> dict[str, str]:
    """Index a copy in a fresh interpreter, so no module of the real app is reused."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT, str(app)],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def cut_function(script: Path, name: str) -> str:
    """Remove function NAME and its decorators from SCRIPT; return the removed source."""
    source = script.read_text()
    tree = ast.parse(source)
    node = next(
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
    )
    lines = source.splitlines(keepends=True)
    first = min(d.lineno for d in node.decorator_list) - 1
    removed = "".join(lines[first : node.end_lineno])
    script.write_text("".join(lines[:first] + lines[node.end_lineno :]))
    return removed


def test_the_unchanged_copy_indexes_like_the_app(tmp_path: Path) -> None:
    app = copy_app(tmp_path)
    assert compare_functions(index_copy(app), load_expected(app)) == []


def test_deleting_a_decorated_function_is_reported_by_name(tmp_path: Path) -> None:
    app = copy_app(tmp_path)
    removed = cut_function(app / SCRIPT_FILE, "remove_identity")
    assert "@app.activity_trigger" in removed
    problems = compare_functions(index_copy(app), load_expected(app))
    assert problems == ["missing function 'remove_identity' (activityTrigger)"]


def test_a_decorator_moved_to_another_module_is_reported(tmp_path: Path) -> None:
    """The upstream mistake: a function declared in a module function_app.py imports.

    The module's own app object is never indexed, so the worker lacks the function; the
    decorator scan names the file as well.
    """
    app = copy_app(tmp_path)
    cut_function(app / SCRIPT_FILE, "health")
    (app / "starters" / "health_http.py").write_text(
        textwrap.dedent(
            """
            import azure.durable_functions as df
            import azure.functions as func

            from starters import runs
            from starters.responses import answer

            app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


            @app.route(route="health", methods=["GET"])
            async def health(req: func.HttpRequest) -> func.HttpResponse:
                return await answer(runs.health, req)
            """
        )
    )
    script = app / SCRIPT_FILE
    script.write_text(
        script.read_text().replace(
            "from starters import dashboard, metrics, runs, schedules\n",
            "from starters import dashboard, health_http, metrics, runs, schedules  # noqa: F401\n",
        )
    )
    assert "health_http" in script.read_text()
    problems = compare_functions(index_copy(app), load_expected(app))
    assert problems == ["missing function 'health' (httpTrigger)"]
    found = decorators_outside_script(app, ["starters/health_http.py", SCRIPT_FILE])
    assert [(d.path, d.text) for d in found] == [
        ("starters/health_http.py", '@app.route(route="health", methods=["GET"])')
    ]


def test_a_changed_trigger_is_reported(tmp_path: Path) -> None:
    app = copy_app(tmp_path)
    script = app / SCRIPT_FILE
    source = script.read_text()
    old = '@app.activity_trigger(input_name="payload")\ndef find_orphans('
    assert old in source
    script.write_text(
        source.replace(
            old,
            '@app.orchestration_trigger(context_name="payload")\ndef find_orphans(',
        )
    )
    problems = compare_functions(index_copy(app), load_expected(app))
    assert problems == [
        "function 'find_orphans' is an orchestrationTrigger, expected activityTrigger"
    ]
