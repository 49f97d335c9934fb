"""`haymaker orch status|health`: the seed's diagnostics, without the Azure portal.

status: is the function app up, which functions it discovered (compared with
expected_functions.json, the list function_app.py must define), and the last runs.
health: the app's own storage, provider and catalog checks (GET /api/health).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from haymaker.api_client import ApiError
from haymaker.cli.output import EXIT_FAILURE, EXIT_OK, CliError, print_json, show, table
from haymaker.cli.runs import recent_runs
from haymaker.cli.target import Target
from haymaker.discovery import EXPECTED_FILE, compare_functions, load_expected


def _functions(target: Target) -> list[dict[str, Any]]:
    if not target.master_key:
        raise CliError(
            "listing the discovered functions needs the host's master key: pass --master-key "
            "or set HAYMAKER_MASTER_KEY (locally it is read from .devhost/keys.json)"
        )
    return list(target.admin.get("admin/functions"))


def status(args: argparse.Namespace, target: Target) -> int:
    host = target.admin.get("admin/host/status")
    functions = _functions(target)
    found = {f["name"]: f["trigger"] for f in functions}
    expected_path = Path(args.app_dir) / EXPECTED_FILE
    expected = load_expected(Path(args.app_dir)) if expected_path.is_file() else None
    differences = compare_functions(found, expected) if expected is not None else []
    runs, _ = recent_runs(target, args.runs)
    ok = host.get("state") == "Running" and bool(found) and not differences
    if args.json:
        print_json(
            {
                "ok": ok,
                "url": target.url,
                "host": host,
                "functions": functions,
                "expected": expected,
                "differences": differences,
                "runs": runs,
            }
        )
        return EXIT_OK if ok else EXIT_FAILURE
    show(f"Function app at {target.url}: {host.get('state')}")
    rows = (
        (f["name"], f["trigger"], f.get("route") or "", ",".join(f.get("methods") or []))
        for f in functions
    )
    show(
        table(
            f"{len(functions)} functions discovered", ("name", "trigger", "route", "methods"), rows
        )
    )
    if expected is None:
        show(f"No {expected_path}: nothing to compare with.")
    elif differences:
        show(f"Differs from {EXPECTED_FILE}:", *(f"  {d}" for d in differences))
    else:
        show(f"Matches {EXPECTED_FILE}: all {len(expected)} functions discovered.")
    run_rows = ((r["run_id"], r["status"], r.get("agents_total"), r["created_at"]) for r in runs)
    show(table("Last runs", ("run", "status", "agents", "created"), run_rows))
    return EXIT_OK if ok else EXIT_FAILURE


def detail_text(detail: Any) -> str:
    """A check's detail in words: a provider's sub-checks as `name ok`/`name FAILED: why`,
    a list of problems one per line, a number as it is."""
    if detail is None:
        return ""
    if isinstance(detail, list):
        return "\n".join(detail_text(item) for item in detail)
    if isinstance(detail, dict):
        if "name" in detail and "ok" in detail:
            why = detail_text(detail.get("detail") or detail.get("error"))
            verdict = "ok" if detail["ok"] else "FAILED"
            return f"{detail['name']} {verdict}" + (f": {why}" if why else "")
        return ", ".join(f"{key} {detail_text(value)}" for key, value in detail.items())
    return str(detail)


def health(args: argparse.Namespace, target: Target) -> int:
    try:
        answer = target.api.get("health", deep="true" if args.deep else None)
    except ApiError as error:
        if error.status != 503 or not isinstance(error.body, dict) or "checks" not in error.body:
            raise
        answer = error.body  # 503 carries the failed checks
    if args.json:
        print_json(answer)
    else:
        rows = (
            (c["name"], "ok" if c["ok"] else "FAILED", detail_text(c.get("detail")))
            for c in answer["checks"]
        )
        show(table(f"Health of {target.url}", ("check", "result", "detail"), rows))
    return EXIT_OK if answer.get("ok") else EXIT_FAILURE
