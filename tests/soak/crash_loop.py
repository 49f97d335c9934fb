"""The crash loop: runs whose host is killed with SIGKILL (its whole process group) at a
random moment and started again, on the `./dev run` set-up (agents follow the host's
virtual clock). Too slow for CI; `./dev soak` runs it.

    ./dev soak [--runs 10] [--agents 5] [--seed 11] [--duration PT2H]

Each run: start it, kill the host at a moment drawn from a seeded random source (spread
over a run's length as the runs measured it, so kills land in provisioning, monitoring
and teardown alike), restart the host on the same task hub, wait for the run to end. A
run that ends before its moment is checked too, but its kill does not count: the next
moments are drawn over the length it took, and runs go on until `--runs` kills have
landed during a run. A run passes when it completed with every agent `finished` (none failed by the
restart), nothing of it is left (tagged resources, identities, secrets, processes, its
events queue), and its resource rows are reconciled: none still `created`, and the
report's `left_behind` is the rows not removed. Exits 0 only if every run passed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost import azurite  # noqa: E402
from tests.app.helpers import FINISHED, App, app_host, new_hub  # noqa: E402

# Real seconds to allow a run before calling it stuck (a failure bound, not a budget).
RUN_TIMEOUT = 900.0
# Runs that end before their kill moment do not count; this many per kill at most.
MAX_RUNS_PER_KILL = 3


def phases(app: App, run_id: str) -> str:
    run = app.run(run_id)
    counts = ", ".join(f"{n} {p}" for p, n in sorted(run.get("phases", {}).items()))
    return f"{run.get('status')} [{counts}]"


def problems_of(app: App, run_id: str, totals: Counter[str]) -> list[str]:
    """What is wrong with a finished run (empty when it passed); adds its figures to
    `totals`."""
    found = []
    run = app.run(run_id)
    report = app.report(run_id)
    if run["status"] != "completed":
        found.append(f"status {run['status']}")
    outcomes = Counter(str(r["outcome"]) for r in report["agent_results"])
    totals.update({f"agents {outcome}": n for outcome, n in outcomes.items()})
    if set(outcomes) != {"finished"}:
        errors = {r["agent_id"]: r["error"] for r in report["agent_results"] if r["error"]}
        found.append(f"outcomes {dict(outcomes)} {errors}")
    left = app.leftovers(run_id)
    totals["leftovers"] += len(left)
    if left:
        found.append(f"left behind: {left}")
    rows = app.get(f"runs/{run_id}/resources").json()["resources"]
    stale = [r for r in rows if r["action"] == "created"]
    totals["rows still created"] += len(stale)
    if stale:
        found.append(f"{len(stale)} resource rows still 'created'")
    kept = [r for r in rows if r["action"] != "removed"]
    if report["left_behind"] != len(kept):
        found.append(f"left_behind {report['left_behind']} but {len(kept)} rows not removed")
    return found


def one_run(
    app: App,
    label: str,
    rng: random.Random,
    span: float,
    duration: str,
    agents: int,
    totals: Counter[str],
) -> tuple[bool, bool, float]:
    """(passed, killed during the run, seconds to its end)."""
    kill_after = rng.uniform(0.5, span)
    began = time.monotonic()
    run_id = app.start_run({"count": agents, "duration": duration})
    while time.monotonic() - began < kill_after:
        if app.run(run_id).get("status") in FINISHED:
            break
        time.sleep(0.2)
    at = time.monotonic() - began
    seen = phases(app, run_id)
    killed = app.run(run_id).get("status") not in FINISHED
    if killed:
        app.host.kill()
        app.host.restart()
    app.wait_for_run(run_id, timeout=RUN_TIMEOUT)
    took = time.monotonic() - began
    found = problems_of(app, run_id, totals)
    verdict = "ok" if not found else "FAILED: " + "; ".join(found)
    what = (
        f"killed at {at:.1f}s ({seen}), restarted"
        if killed
        else f"ended before its kill at {kill_after:.1f}s (not counted)"
    )
    print(f"{label} {run_id}: {what}; ended after {took:.1f}s: {verdict}", flush=True)
    return not found, killed, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev soak", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=10, help="runs killed (kill -9) mid-run (default 10)"
    )
    parser.add_argument("--agents", type=int, default=5, help="agents per run (default 5)")
    parser.add_argument("--seed", type=int, default=11, help="random seed of the kill moments")
    parser.add_argument("--duration", default="PT2H", help="each run's duration (default PT2H)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="haymaker-soak-") as temp:
        folder = Path(temp)
        # An Azurite of its own on free ports: nothing else's load or sweeps meet the runs.
        emulator = azurite.start_on_free_ports(folder / "azurite", ROOT)
        connection = emulator.connection_string()
        try:
            with app_host(folder, connection, hub=new_hub()) as app:
                print(
                    f"Crash loop: {args.runs} runs of {args.agents} agents, seed {args.seed}; "
                    f"host log: {app.host.log_path}",
                    flush=True,
                )
                killed = runs = failed = 0
                span, totals = 30.0, Counter[str]()
                while killed < args.runs and runs < MAX_RUNS_PER_KILL * args.runs:
                    runs += 1
                    label = f"kill {killed + 1}/{args.runs}, run {runs}"
                    ok, was_killed, took = one_run(
                        app, label, rng, span, args.duration, args.agents, totals
                    )
                    failed += not ok
                    killed += was_killed
                    if not was_killed:  # a run is shorter than the moments drawn so far
                        span = min(span, took)
                restarts = app.host.log().count("Host started") - 1
        finally:
            emulator.stop()
    print(
        f"{runs - failed}/{runs} runs complete with every agent finished, nothing left and "
        f"resource rows reconciled; {killed} of them killed mid-run (kill -9) and "
        f"restarted ({restarts} restarts in all)",
        flush=True,
    )
    print(", ".join(f"{name}: {n}" for name, n in sorted(totals.items())), flush=True)
    return 0 if failed == 0 and killed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
