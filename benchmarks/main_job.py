"""The main job's speed: `./dev run --count N` (N agents, 8 hours on the virtual clock).

    python benchmarks/main_job.py [--agents 5 30 50]

Each run gets a fresh Azurite of its own (free ports), so runs do not slow each other or
the shared emulator down. Prints per run: the run time (the report's wall time, from the
run's start to its report), the whole command's wall time (with devhost's start), the
run's status, and how many agents finished on their own (ran their own cleanup before
the deadline; `deadline` means teardown had to stop the agent).
Targets on a 2-core machine: 5 agents < 20 s, 30 agents < 120 s, 50 agents < 180 s of run
time, each run `completed` with every agent `finished`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devhost import azurite  # noqa: E402

TARGETS = {5: 20.0, 30: 120.0, 50: 180.0}
# A row of the report `./dev run` prints: agent, scenario, outcome, then its counts (rounds,
# commands, failed: however many the report has) and whether it was torn down.
AGENT_ROW = re.compile(r"^\s+(a\d+)\s+(\S+)\s+(\S+)\s+(?:[\d-]+\s+)*(yes|NO)\s*$", re.MULTILINE)


def run_once(agents: int, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        emulator = azurite.start_on_free_ports(Path(scratch) / "azurite", ROOT)
        env = {**os.environ, "AzureWebJobsStorage": emulator.connection_string()}
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "haymaker", "local-run", "--count", str(agents)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        finally:
            emulator.stop()
        wall = time.perf_counter() - started
    output = done.stdout
    status = re.search(r"^Report for run \S+: (\w+)", output, re.MULTILINE)
    run_time = re.search(r"wall time ([\d.]+)s", output)
    outcomes = [match[2] for match in AGENT_ROW.findall(output)]
    return {
        "exit": done.returncode,
        "status": status[1] if status else "no report",
        "run_time": float(run_time[1]) if run_time else None,
        "wall": wall,
        "finished": sum(1 for o in outcomes if o == "finished"),
        "outcomes": outcomes,
        "output": output + done.stderr,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[5, 30, 50])
    parser.add_argument("--timeout", type=float, default=1200.0)
    args = parser.parse_args()
    failed = False
    for agents in args.agents:
        result = run_once(agents, args.timeout)
        run_time = result["run_time"]
        target = TARGETS.get(agents)
        ok = (
            result["status"] == "completed"
            and result["finished"] == agents
            and isinstance(run_time, float)
            and (target is None or run_time < target)
        )
        failed |= not ok
        shown = f"{run_time:6.1f} s" if isinstance(run_time, float) else "   n/a  "
        goal = f"  (target < {target:.0f} s: {'met' if ok else 'MISSED'})" if target else ""
        print(
            f"main job {agents:>2} agents  run {shown}  command {result['wall']:6.1f} s  "
            f"{result['status']}, {result['finished']}/{agents} agents finished{goal}",
            flush=True,
        )
        if result["status"] != "completed":
            print(str(result["output"])[-3000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
