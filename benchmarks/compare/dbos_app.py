"""The benchmark for DBOS, run as a child process in the benchmark's own environment
(.venv-bench): DBOS is a library, so the app and the driver share one process, and its
workloads are driven by direct calls, not over HTTP as devhost's and Restate's are.

    .venv-bench/bin/python benchmarks/compare/dbos_app.py DB_FILE fan-out=1000 ...

The system database is SQLite in DB_FILE (fresh per run), with `PRAGMA synchronous=OFF`:
no fsync, as Azurite never fsyncs. An activity is a step (`@DBOS.step`, its result
checkpointed in the database); the fan-out starts each step as a child workflow, which
DBOS runs at once on its thread pool. Prints one JSON line per workload, with the raw
timings and outputs: the runner checks the answers, as it does every engine's.
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time
import uuid
from typing import Any

from dbos import DBOS, SetWorkflowID
from sqlalchemy import event
from sqlalchemy.engine import Engine

MODULUS = 1_000_000_007
SENDERS = 8
WAIT_SECONDS = 300


@event.listens_for(Engine, "connect")
def _no_fsync(connection: Any, _record: Any) -> None:
    # Azurite never fsyncs; without this SQLite would fsync every commit.
    connection.execute("PRAGMA synchronous=OFF")


@DBOS.step()
def square(value: int) -> int:
    return value * value


@DBOS.step()
def mix(pair: list[int]) -> int:
    accumulator, step = pair
    return (accumulator * 31 + step + 1) % MODULUS


@DBOS.workflow()
def fan_out(size: int) -> int:
    handles = [DBOS.start_workflow(square, i) for i in range(size)]
    return sum(handle.get_result() for handle in handles)


@DBOS.workflow()
def sequence(size: int) -> int:
    accumulator = 0
    for i in range(size):
        accumulator = mix([accumulator, i])
    return accumulator


@DBOS.workflow()
def collect_events(size: int) -> list[Any]:
    return [DBOS.recv("tick", timeout_seconds=WAIT_SECONDS) for _ in range(size)]


@DBOS.workflow()
def trivial(value: int) -> int:
    return value


def run(workflow: Any, size: int) -> dict[str, Any]:
    started = time.perf_counter()
    output = DBOS.start_workflow(workflow, size).get_result()
    return {"seconds": time.perf_counter() - started, "output": output}


def events(size: int) -> dict[str, Any]:
    handle = DBOS.start_workflow(collect_events, size)
    plan = [
        [[sender, position] for position in range(len(range(sender, size, SENDERS)))]
        for sender in range(min(SENDERS, size))
    ]

    def send(payloads: list[list[int]]) -> None:
        for payload in payloads:
            DBOS.send(handle.workflow_id, payload, "tick")

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(plan)) as pool:
        list(pool.map(send, plan))
    output = handle.get_result()
    return {"seconds": time.perf_counter() - started, "output": output}


def starts(size: int) -> dict[str, Any]:
    prefix = uuid.uuid4().hex[:8]

    def start(i: int) -> Any:
        with SetWorkflowID(f"{prefix}-{i}"):
            return DBOS.start_workflow(trivial, i)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        handles = list(pool.map(start, range(size)))
    accepted = time.perf_counter() - started
    outputs = [handle.get_result() for handle in handles]
    completed = time.perf_counter() - started
    return {"accepted_seconds": accepted, "seconds": completed, "output": outputs}


WORKLOADS = {
    "fan-out": lambda size: run(fan_out, size),
    "sequence": lambda size: run(sequence, size),
    "events": events,
    "starts": starts,
}


def main(argv: list[str]) -> int:
    database, *jobs = argv
    DBOS(
        config={
            "name": "haymaker-bench",
            "system_database_url": f"sqlite:///{database}",
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    try:
        DBOS.start_workflow(trivial, 0).get_result()  # warm up, as every engine is
        for job in jobs:
            name, size = job.split("=")
            try:
                result = WORKLOADS[name](int(size))
            except Exception as error:  # reported, and the runner fails the workload
                result = {"error": f"{type(error).__name__}: {error}"}
            print(json.dumps({"workload": name, **result}), flush=True)
    finally:
        DBOS.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
