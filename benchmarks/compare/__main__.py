"""Side-by-side: devhost, Restate and DBOS on the same workloads, on this machine, in one
sitting, interleaved.

    python -m benchmarks.compare [--rounds 3] [--fan-out 1000] [--sequence 200]
        [--events 500] [--starts 200] [--engines devhost Restate DBOS]

Each round starts every engine fresh (new data, free ports), runs every workload once
and stops it; the engines' order rotates from round to round, so none always runs
first or on a machine warmed by the others. The workloads mean what
benchmarks/devhost_throughput.py's do, and every engine's answers are checked the same
way. Prints one table of each figure's median over the rounds, with devhost's ratio to
the fastest other engine, and what durability each engine had. An engine that is not
installed (./dev bench --compare installs them into .venv-bench) is reported as skipped
with the reason. A wrong answer, or an engine that broke, exits 1.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.compare.dbos_engine import Dbos
from benchmarks.compare.devhost_engine import Devhost
from benchmarks.compare.engine import Engine
from benchmarks.compare.restate_engine import Restate
from benchmarks.compare.table import Results

SIZES = {"fan-out": 1000, "sequence": 200, "events": 500, "starts": 200}
ENGINES: list[Engine] = [Devhost(), Restate(), Dbos()]


def rotated(engines: list[Engine], round_index: int) -> list[Engine]:
    shift = round_index % len(engines) if engines else 0
    return engines[shift:] + engines[:shift]


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    for workload, size in SIZES.items():
        parser.add_argument(f"--{workload}", type=int, default=size, help=f"default {size:,}")
    names = [engine.name for engine in ENGINES]
    parser.add_argument("--engines", nargs="+", choices=names, default=names)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    sizes = {workload: getattr(args, workload.replace("-", "_")) for workload in SIZES}
    engines = [engine for engine in ENGINES if engine.name in args.engines]

    results = Results([engine.name for engine in engines])
    for engine in engines:
        reason = engine.unavailable()
        if reason:
            results.skipped[engine.name] = reason
            print(f"{engine.name}: skipped: {reason}", file=sys.stderr)
    runnable = [engine for engine in engines if engine.name not in results.skipped]

    began, load_before = datetime.datetime.now().astimezone(), load()
    for round_index in range(args.rounds):
        for engine in rotated(runnable, round_index):
            if engine.name in results.broken:
                continue
            print(
                f"round {round_index + 1}/{args.rounds}: {engine.name} (load {load()})",
                file=sys.stderr,
                flush=True,
            )
            started = time.monotonic()
            try:
                with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch:
                    engine.round(sizes, Path(scratch), results)
            except Exception as error:  # an engine that breaks is reported, not fatal
                traceback.print_exc(file=sys.stderr)
                results.broken[engine.name] = f"round {round_index + 1}: {error}"
            print(
                f"  {engine.name} round took {time.monotonic() - started:.0f}s",
                file=sys.stderr,
                flush=True,
            )

    print(
        f"\n{began:%Y-%m-%d %H:%M %Z}, {args.rounds} interleaved round(s), medians; "
        f"load average (1, 5, 15 min) {load_before} before, {load()} after, "
        f"{os.cpu_count()} cores\n"
    )
    print(results.table(sizes))
    print("\nDurability:")
    for engine in engines:
        print(f"- {engine.name}: {engine.durability}")
    for note in results.notes():
        print(f"- {note}")
    return 1 if results.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
