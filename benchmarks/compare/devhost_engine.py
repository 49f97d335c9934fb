"""devhost in the comparison: the bench app on a fresh Azurite per round, driven over
the management API by devhost's own benchmark (benchmarks/devhost_throughput.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.compare.engine import record
from benchmarks.compare.table import Results
from benchmarks.devhost_throughput import WORKLOADS, WrongResult, bench_host


class Devhost:
    name = "devhost"
    durability = "Azurite: keeps data in memory, saves to disk every 5 s, never fsyncs"

    def unavailable(self) -> str | None:
        return None

    def round(self, sizes: dict[str, int], scratch: Path, results: Results) -> None:
        with bench_host(scratch) as client:
            for workload in WORKLOADS:
                size = sizes.get(workload.option, 0)
                if size <= 0:
                    continue
                try:
                    figures = workload.run(client, size)
                except WrongResult as error:
                    results.mark_wrong(self.name, workload.option, str(error))
                    print(f"  {self.name} {workload.option} WRONG: {error}", file=sys.stderr)
                    continue
                record(results, self.name, workload.option, figures)
                done = ", ".join(f"{f.name} {f.rate:,.0f}/s" for f in figures)
                print(f"  {self.name} {done}", file=sys.stderr, flush=True)
