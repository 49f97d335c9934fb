"""devhost throughput on Azurite: fan-out, sequence, external events, starts.

    python benchmarks/devhost_throughput.py [--fan-out 1000] [--sequence 200]
        [--events 500] [--starts 200]

Starts an Azurite of its own (fresh data, free ports: a long-used emulator slows down as
its database grows), runs a devhost on benchmarks/samples/bench against it, drives it over
the management API, and prints one line per figure.
Targets on a 2-core machine: fan-out >= 500/s, sequence >= 100/s, events >= 200/s.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devhost import azurite  # noqa: E402
from devhost.process import HostHandle, free_port, running_host  # noqa: E402

APP = Path(__file__).parent / "samples" / "bench"
TARGETS = {"fan-out": 500.0, "sequence": 100.0, "events": 200.0, "starts": None}


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

    def status(self, instance_id: str) -> dict[str, Any]:
        response = self.session.get(
            f"{self.host.management}/instances/{instance_id}", params=self.params, timeout=30
        )
        return dict(response.json())

    def wait(self, instance_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(instance_id)
            if status["runtimeStatus"] not in ("Pending", "Running"):
                return status
            time.sleep(0.01)
        raise TimeoutError(f"{instance_id} did not finish in {timeout}s")


def timed(client: Client, name: str, payload: Any) -> tuple[float, Any]:
    """Start and wait server-side (`timeout=`): no status polling competes for the CPU."""
    started = time.perf_counter()
    response = client.session.post(
        f"{client.host.management}/orchestrators/{name}",
        params={**client.params, "timeout": "300"},
        json=payload,
        timeout=310,
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed, response.json()


def bench_events(client: Client, count: int) -> float:
    instance = client.start("collect_events", count)
    while client.status(instance)["runtimeStatus"] != "Running":
        time.sleep(0.01)
    url = f"{client.host.management}/instances/{instance}/raiseEvent/tick"
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        sessions = [requests.Session() for _ in range(8)]
        list(
            pool.map(
                lambda i: (
                    sessions[i % 8]
                    .post(url, params=client.params, json=i, timeout=30)
                    .raise_for_status()
                ),
                range(count),
            )
        )
    status = client.wait(instance)
    assert status["output"] == count, status
    return count / (time.perf_counter() - started)


def bench_starts(client: Client, count: int) -> tuple[float, float]:
    prefix = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: client.start("trivial", i, f"{prefix}-{i}"), range(count)))
    accepted = time.perf_counter() - started
    for instance in ids:
        client.wait(instance)
    finished = time.perf_counter() - started
    return count / accepted, count / finished


def report(name: str, rate: float, unit: str) -> None:
    target = TARGETS.get(name)
    verdict = (
        ""
        if target is None
        else f"  (target {target:.0f}/s: {'met' if rate >= target else 'MISSED'})"
    )
    print(f"{name:<10} {rate:8.1f} {unit}/s{verdict}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fan-out", type=int, default=1000)
    parser.add_argument("--sequence", type=int, default=200)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--starts", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        ports = {service: free_port() for service in azurite.PORTS}
        emulator = azurite.start(Path(scratch) / "azurite", ports, search_from=ROOT)
        app_dir = Path(scratch) / "bench"
        shutil.copytree(APP, app_dir)
        hub = "bench" + uuid.uuid4().hex[:8]
        extra = ["--log-level", "warning"]
        env = {"AzureWebJobsStorage": azurite.dev_connection_string(ports=ports)}
        try:
            with running_host(app_dir, hub=hub, extra_args=extra, env=env) as host:
                client = Client(host)
                client.wait(client.start("trivial", 0))  # warm up imports and tables
                seconds, output = timed(client, "fan_out", args.fan_out)
                assert output == args.fan_out, output
                report("fan-out", args.fan_out / seconds, "activities")
                seconds, output = timed(client, "sequence", args.sequence)
                assert output == args.sequence, output
                report("sequence", args.sequence / seconds, "activities")
                report("events", bench_events(client, args.events), "events")
                accepted, finished = bench_starts(client, args.starts)
                report("starts", accepted, "starts")
                print(f"{'':<10} {finished:8.1f} started-and-completed/s", flush=True)
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
