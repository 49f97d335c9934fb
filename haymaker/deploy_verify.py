"""Verify a live HayMaker app after a deploy: the checks that decide promote or roll back.

Three things, each a failure the upstream team met only by reading logs:
- the host is running (`GET /admin/host/status` answers state Running);
- the functions the host discovered (`GET /admin/functions`, master key) are exactly
  expected_functions.json — the seed's "0 functions found" fails here, loudly;
- the app is healthy end to end (`GET /api/health?deep=true`, function key): settings,
  storage, catalog and provider.

`verify_live_app` returns the problems (empty: verified). The command line form is what
scripts/deploy.sh runs against a new revision's own URL before it gets any traffic:

    HAYMAKER_MASTER_KEY=... HAYMAKER_FUNCTION_KEY=... \\
        python -m haymaker.deploy_verify --base-url https://app--rev.example --wait 300

Keys come from the environment, never the command line (process lists are readable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from haymaker.discovery import compare_functions, load_expected

MASTER_KEY_ENV = "HAYMAKER_MASTER_KEY"
FUNCTION_KEY_ENV = "HAYMAKER_FUNCTION_KEY"


def verify_live_app(
    base_url: str,
    master_key: str,
    function_key: str,
    expected: Mapping[str, str],
    timeout: float = 30.0,
) -> list[str]:
    """Problems found on the app at `base_url`, one line each; [] when it is verified."""
    base = base_url.rstrip("/")
    problems: list[str] = []

    status, body = _get(f"{base}/admin/host/status", master_key, timeout)
    state = body.get("state") if isinstance(body, dict) else None
    if status != 200 or state != "Running":
        problems.append(f"host status: HTTP {status}, state {state!r} (expected 'Running')")

    status, body = _get(f"{base}/admin/functions", master_key, timeout)
    if status != 200 or not isinstance(body, list):
        problems.append(f"function list: HTTP {status} from /admin/functions (master key)")
    else:
        found = discovered_functions(body)
        if not found:
            problems.append("0 functions found: the host indexed no function at all")
        problems += [f"discovery: {p}" for p in compare_functions(found, expected)]

    status, body = _get(f"{base}/api/health?deep=true", function_key, timeout)
    if status != 200 or not isinstance(body, dict) or body.get("ok") is not True:
        problems.append(f"health: HTTP {status}, {_failed_checks(body)}")
    return problems


def discovered_functions(listing: list[Any]) -> dict[str, str]:
    """{name: trigger type} from an /admin/functions answer.

    devhost gives each function's `trigger`; the Functions host gives `config.bindings`
    (the function.json shape), whose trigger is the binding whose type ends in Trigger.
    """
    found: dict[str, str] = {}
    for entry in listing:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        trigger = entry.get("trigger")
        if not trigger:
            config = entry.get("config")
            bindings = entry.get("bindings") or (config or {}).get("bindings") or []
            trigger = next(
                (
                    str(b.get("type"))
                    for b in bindings
                    if isinstance(b, dict) and str(b.get("type", "")).lower().endswith("trigger")
                ),
                "unknown",
            )
        found[str(entry["name"])] = str(trigger)
    return found


def _failed_checks(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("checks"), list):
        return "no health report"
    failed = [
        f"{check.get('name')}: {check.get('detail', 'failed')}"
        for check in body["checks"]
        if isinstance(check, dict) and not check.get("ok")
    ]
    return "failed checks: " + "; ".join(failed) if failed else "ok is not true"


def _get(url: str, key: str, timeout: float) -> tuple[int, Any]:
    """(HTTP status, parsed JSON or None). The key goes in a header, not the URL."""
    request = urllib.request.Request(url, headers={"x-functions-key": key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (OSError, ValueError) as error:
        return 0, {"error": str(error)}
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def verify_until(
    base_url: str,
    master_key: str,
    function_key: str,
    expected: Mapping[str, str],
    wait: float,
    interval: float = 10.0,
) -> list[str]:
    """Verify again until it passes or `wait` seconds passed; the last problems found.

    A new revision's host can answer before it has indexed its functions; waiting lets it
    settle, while a broken revision still fails at the deadline."""
    deadline = time.monotonic() + wait
    while True:
        problems = verify_live_app(base_url, master_key, function_key, expected)
        if not problems or time.monotonic() + interval > deadline:
            return problems
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m haymaker.deploy_verify",
        description="Verify a live HayMaker app (keys from HAYMAKER_MASTER_KEY and "
        "HAYMAKER_FUNCTION_KEY). Exit 0 when verified, 1 with the problems otherwise.",
    )
    parser.add_argument("--base-url", required=True, help="https://<app or revision fqdn>")
    parser.add_argument(
        "--app-dir", type=Path, default=Path("."), help="holds expected_functions.json"
    )
    parser.add_argument("--wait", type=float, default=0.0, help="retry for this many seconds")
    args = parser.parse_args(argv)
    master_key = os.environ.get(MASTER_KEY_ENV, "")
    function_key = os.environ.get(FUNCTION_KEY_ENV, "")
    if not master_key or not function_key:
        print(f"set {MASTER_KEY_ENV} and {FUNCTION_KEY_ENV}", file=sys.stderr)
        return 2
    expected = load_expected(args.app_dir)
    problems = verify_until(args.base_url, master_key, function_key, expected, args.wait)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        return 1
    print(f"OK {args.base_url}: host running, {len(expected)} functions as expected, healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
