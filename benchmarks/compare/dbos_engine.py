"""DBOS in the comparison: dbos_app.py in a child process of .venv-bench's Python, on a
fresh SQLite file per round; the runner checks the outputs it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.compare.engine import BENCH_PYTHON, missing_modules, record_checked
from benchmarks.compare.table import Results

APP = Path(__file__).with_name("dbos_app.py")
WORKLOADS = ["fan-out", "sequence", "events", "starts"]
ROUND_SECONDS = 1800


class Dbos:
    name = "DBOS"
    durability = "SQLite with PRAGMA synchronous=OFF (no fsync); in-process, no HTTP hop"

    def unavailable(self) -> str | None:
        return missing_modules("dbos")

    def round(self, sizes: dict[str, int], scratch: Path, results: Results) -> None:
        jobs = [f"{w}={sizes[w]}" for w in WORKLOADS if sizes.get(w, 0) > 0]
        done = subprocess.run(
            [str(BENCH_PYTHON), str(APP), str(scratch / "dbos.sqlite"), *jobs],
            capture_output=True,
            text=True,
            timeout=ROUND_SECONDS,
        )
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"dbos_app.py exited {done.returncode}: {tail}")
        for line in done.stdout.splitlines():
            measured = json.loads(line)
            workload = measured.pop("workload")
            if "error" in measured:
                results.mark_wrong(self.name, workload, measured["error"])
                print(f"  {self.name} {workload} failed: {measured['error']}", file=sys.stderr)
                continue
            size = sizes[workload]
            line = record_checked(results, self.name, workload, size=size, **measured)
            print(f"  {self.name} {line}", file=sys.stderr, flush=True)
