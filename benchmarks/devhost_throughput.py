"""devhost throughput on Azurite, every answer checked: fan-out, sequence, external
events, starts.

    python benchmarks/devhost_throughput.py [--fan-out 1000] [--sequence 200]
        [--events 500] [--starts 200]

Starts an Azurite of its own (fresh data, free ports: a long-used emulator slows down as
its database grows), runs a devhost on benchmarks/samples/bench against it, drives it
over the management API, and prints one line per figure, `NAME RATE UNIT/s`, with the
target where there is one:

    fan-out              712.4 activities/s  (target 1000/s: MISSED)

Each workload's answer is checked against a value computed here: the fan-out's sum of
squares, the sequence's accumulator, every event in the order its sender sent it, each
start's output. A wrong answer prints `NAME WRONG: why` instead of the figure (a fast
wrong answer measures nothing), and the script exits 1. A size of 0 skips a workload.
A new figure is one more entry in WORKLOADS.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.http_client import KeptAlive  # noqa: E402
from devhost import azurite  # noqa: E402
from devhost.process import HostHandle, running_host  # noqa: E402

APP = Path(__file__).parent / "samples" / "bench"
# Issue 13's targets (the rates of the fastest durable engines on this machine).
TARGETS = {
    "fan-out": 1000.0,
    "sequence": 800.0,
    "events": 500.0,
    "starts": 1000.0,
    "starts-completed": 400.0,
}
# The bench app's `mix` keeps the sequence's accumulator below this prime.
MODULUS = 1_000_000_007
# Concurrent event senders; each sends its share in order.
SENDERS = 8
WAIT_SECONDS = 300


class WrongResult(Exception):
    """A workload's answer is not the expected one."""


@dataclass(frozen=True)
class Figure:
    name: str
    rate: float
    unit: str

    def line(self) -> str:
        target = TARGETS.get(self.name)
        verdict = (
            ""
            if target is None
            else f"  (target {target:.0f}/s: {'met' if self.rate >= target else 'MISSED'})"
        )
        return f"{self.name:<17} {self.rate:9.1f} {self.unit}/s{verdict}"


class Client:
    def __init__(self, host: HostHandle):
        self.host = host
        self.session = requests.Session()
        self.params = {"code": host.system_key}

    def start(self, name: str, payload: Any, instance_id: str | None = None) -> str:
        url = f"{self.host.management}/orchestrators/{name}"
        if instance_id:
            url += f"/{instance_id}"
        response = self.session.post(url, params=self.params, json=payload, timeout=30)
        response.raise_for_status()
        return str(response.json()["id"])

    def lean(self) -> KeptAlive:
        """The management API through the lean client, for workloads of many requests."""
        return KeptAlive(self.host.management, self.params)

    def status(self, instance_id: str, lean: KeptAlive | None = None) -> dict[str, Any]:
        if lean is not None:
            return dict(lean.get(f"instances/{instance_id}")[1])
        response = self.session.get(
            f"{self.host.management}/instances/{instance_id}", params=self.params, timeout=30
        )
        return dict(response.json())

    def wait(
        self, instance_id: str, lean: KeptAlive | None = None, timeout: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(instance_id, lean)
            if status["runtimeStatus"] not in ("Pending", "Running"):
                return status
            time.sleep(0.01)
        raise WrongResult(f"{instance_id} did not finish in {timeout}s")

    def run(self, name: str, payload: Any) -> tuple[float, Any]:
        """Start and wait server-side (`timeout=`), so no status polling competes for the
        CPU; (seconds, output)."""
        started = time.perf_counter()
        response = self.session.post(
            f"{self.host.management}/orchestrators/{name}",
            params={**self.params, "timeout": str(WAIT_SECONDS)},
            json=payload,
            timeout=WAIT_SECONDS + 10,
        )
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise WrongResult(f"{name} answered {response.status_code}: {response.text[:200]}")
        return seconds, response.json()


# --- the answers each workload must give (pure, so tests can feed them wrong ones) -------


def expected_fan_out(size: int) -> int:
    return sum(i * i for i in range(size))


def expected_sequence(size: int) -> int:
    accumulator = 0
    for step in range(size):
        accumulator = (accumulator * 31 + step + 1) % MODULUS
    return accumulator


def event_plan(count: int) -> list[list[list[int]]]:
    """Each sender's payloads, `[sender, position]`, in the order it sends them."""
    return [
        [[sender, position] for position in range(len(range(sender, count, SENDERS)))]
        for sender in range(min(SENDERS, count))
    ]


def check(what: str, expected: Any, actual: Any) -> None:
    if actual != expected:
        raise WrongResult(f"{what}: expected {_short(expected)}, got {_short(actual)}")


def check_events(plan: list[list[list[int]]], received: Any) -> None:
    """Every event arrived once, and each sender's in the order it sent them."""
    sent = sorted(tuple(payload) for payloads in plan for payload in payloads)
    pairs = isinstance(received, list) and all(isinstance(p, list) for p in received)
    if not pairs or sorted(tuple(payload) for payload in received) != sent:
        raise WrongResult(f"sent {len(sent)} events, received other ones: {_short(received)}")
    for sender, payloads in enumerate(plan):
        arrived = [payload for payload in received if payload[0] == sender]
        if arrived != payloads:
            raise WrongResult(f"sender {sender}'s events arrived out of order: {_short(arrived)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# --- the workloads ------------------------------------------------------------------------


def fan_out(client: Client, size: int) -> list[Figure]:
    seconds, output = client.run("fan_out", size)
    check("sum of squares", expected_fan_out(size), output)
    return [Figure("fan-out", size / seconds, "activities")]


def sequence(client: Client, size: int) -> list[Figure]:
    seconds, output = client.run("sequence", size)
    check("accumulator", expected_sequence(size), output)
    return [Figure("sequence", size / seconds, "activities")]


def events(client: Client, size: int) -> list[Figure]:
    instance = client.start("collect_events", size)
    while client.status(instance)["runtimeStatus"] != "Running":
        time.sleep(0.01)
    senders = client.lean()
    plan = event_plan(size)

    def send(payloads: list[list[int]]) -> None:
        for payload in payloads:
            senders.post(f"instances/{instance}/raiseEvent/tick", payload)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(plan)) as pool:
        list(pool.map(send, plan))
    status = client.wait(instance)
    seconds = time.perf_counter() - started
    check("status", "Completed", status["runtimeStatus"])
    check_events(plan, status["output"])
    return [Figure("events", size / seconds, "events")]


def starts(client: Client, size: int) -> list[Figure]:
    """Accepted: every start answered 202. Completed: every instance also finished."""
    prefix = uuid.uuid4().hex[:8]
    lean = client.lean()

    def start(i: int) -> str:
        status, body = lean.post(f"orchestrators/trivial/{prefix}-{i}", i)
        if status != 202:
            raise WrongResult(f"start {prefix}-{i} answered {status}, not 202")
        return str(body["id"])

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(start, range(size)))
    accepted = time.perf_counter() - started
    outputs = [client.wait(instance, lean).get("output") for instance in ids]
    completed = time.perf_counter() - started
    check("outputs", list(range(size)), outputs)
    return [
        Figure("starts", size / accepted, "starts"),
        Figure("starts-completed", size / completed, "starts"),
    ]


@dataclass(frozen=True)
class Workload:
    option: str
    default: int
    run: Callable[[Client, int], list[Figure]]


WORKLOADS = [
    Workload("fan-out", 1000, fan_out),
    Workload("sequence", 200, sequence),
    Workload("events", 500, events),
    Workload("starts", 200, starts),
]


@contextlib.contextmanager
def bench_host(scratch: Path) -> Iterator[Client]:
    """A devhost on the bench app and a fresh Azurite of its own in `scratch`, warmed up."""
    emulator = azurite.start_on_free_ports(scratch / "azurite", ROOT)
    app_dir = scratch / "bench"
    shutil.copytree(APP, app_dir)
    hub = "bench" + uuid.uuid4().hex[:8]
    extra = ["--log-level", "warning"]
    env = {"AzureWebJobsStorage": emulator.connection_string()}
    try:
        with running_host(app_dir, hub=hub, extra_args=extra, env=env) as host:
            client = Client(host)
            client.wait(client.start("trivial", 0))  # warm up imports and tables
            yield client
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    for workload in WORKLOADS:
        parser.add_argument(f"--{workload.option}", type=int, default=workload.default)
    args = parser.parse_args(argv)
    sizes = {w.option: getattr(args, w.option.replace("-", "_")) for w in WORKLOADS}

    wrong = 0
    with tempfile.TemporaryDirectory() as scratch, bench_host(Path(scratch)) as client:
        for workload in WORKLOADS:
            if sizes[workload.option] <= 0:
                continue
            try:
                figures = workload.run(client, sizes[workload.option])
            except WrongResult as error:
                print(f"{workload.option:<17} WRONG: {error}", flush=True)
                wrong += 1
                continue
            for figure in figures:
                print(figure.line(), flush=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
