"""Restate in the comparison: its server (the binary from npm's
@restatedev/restate-server, in .venv-bench/restate) and the bench app
(restate_app.py, served by hypercorn from .venv-bench) on fresh data and free ports per
round, driven over Restate's HTTP ingress.

The server runs with the log's fsync off (RocksDB's WAL fsync, for both the replicated
log server and the local loglet), the fair match for Azurite, which never fsyncs; its
telemetry is off. Events go into one virtual object (Restate's keyed instance: its calls
run one at a time, in the order accepted), sent with `/send` (answered once accepted,
as devhost's raiseEvent is); a last call lists what it received, after them all.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from benchmarks.compare.engine import (
    BENCH_PYTHON,
    BENCH_VENV,
    ROOT,
    missing_modules,
    record_checked,
)
from benchmarks.compare.table import Results
from benchmarks.devhost_throughput import SENDERS, WAIT_SECONDS, event_plan
from benchmarks.http_client import KeptAlive
from devhost.process import free_ports

SERVER_PREFIX = BENCH_VENV / "restate"
READY_SECONDS = 120


def server_binary() -> Path | None:
    """The platform package's binary that npm installed beside the launcher package."""
    found = sorted(
        SERVER_PREFIX.glob("node_modules/@restatedev/restate-server-*/bin/restate-server")
    )
    return found[0] if found else None


class Restate:
    name = "Restate"
    durability = "RocksDB log with its fsync off (restate-server 1.7, one node)"

    def unavailable(self) -> str | None:
        binary = server_binary()
        if binary is None:
            return (
                f"no restate-server binary under {SERVER_PREFIX.relative_to(ROOT)} "
                f"(npm install of @restatedev/restate-server failed or was not run; "
                f"see {BENCH_VENV.name}/install.log)"
            )
        probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
        if probe.returncode != 0:
            return f"{binary.name} --version failed: {probe.stderr.strip()[:200]}"
        return missing_modules("restate", "hypercorn")

    def round(self, sizes: dict[str, int], scratch: Path, results: Results) -> None:
        with running(scratch) as ingress:
            session = requests.Session()
            for workload, drive in WORKLOADS.items():
                size = sizes.get(workload, 0)
                if size <= 0:
                    continue
                line = record_checked(
                    results, self.name, workload, size=size, **drive(session, ingress, size)
                )
                print(f"  {self.name} {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def running(scratch: Path) -> Iterator[str]:
    """A fresh server and app, the app registered and answering; yields the ingress URL."""
    binary = server_binary()
    assert binary is not None
    ingress, admin, node, app = free_ports(4)
    env = {
        **os.environ,
        "RESTATE_BASE_DIR": str(scratch / "restate-data"),
        "RESTATE_BIND_ADDRESS": f"127.0.0.1:{node}",
        "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
        "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
        "RESTATE_LISTEN_MODE": "tcp",
        "RESTATE_LOG_SERVER__ROCKSDB_DISABLE_WAL_FSYNC": "true",
        "RESTATE_BIFROST__LOCAL__ROCKSDB_DISABLE_WAL_FSYNC": "true",
        "RESTATE_DISABLE_TELEMETRY": "true",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with open(scratch / "restate-server.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [str(binary), "--no-logo"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        with open(scratch / "restate-app.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(BENCH_PYTHON),
                        "-m",
                        "hypercorn",
                        "--bind",
                        f"127.0.0.1:{app}",
                        "benchmarks.compare.restate_app:app",
                    ],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        admin_url, ingress_url = f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{ingress}"
        _until_ok(
            lambda: requests.post(
                f"{admin_url}/deployments", json={"uri": f"http://127.0.0.1:{app}"}, timeout=10
            ),
            processes,
            scratch,
            "registering the app",
        )
        # The ingress learns the new services shortly after the admin accepted them.
        _until_ok(
            lambda: requests.post(f"{ingress_url}/Trivial/warm-up/run", json=0, timeout=30),
            processes,
            scratch,
            "the warm-up call",
        )
        yield ingress_url
    finally:
        for process in processes:
            _stop(process)


def _until_ok(
    call: Any, processes: list[subprocess.Popen[bytes]], scratch: Path, what: str
) -> None:
    deadline = time.monotonic() + READY_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: a Restate process exited ({_tails(scratch)})")
        try:
            response = call()
            if response.ok:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except requests.ConnectionError as error:
            last = str(error)[:200]
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not succeed in {READY_SECONDS}s: {last} ({_tails(scratch)})")


def _tails(scratch: Path) -> str:
    parts = []
    for name in ("restate-server.log", "restate-app.log"):
        path = scratch / name
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        parts.append(f"{name}: {' | '.join(lines[-3:])}")
    return "; ".join(parts)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


# --- the workloads: each returns what `checked` needs (seconds, output, ...) -------------


def _call(session: requests.Session, url: str, payload: Any = None) -> Any:
    response = session.post(url, json=payload, timeout=WAIT_SECONDS)
    response.raise_for_status()
    return response.json() if response.content else None


def fan_out(session: requests.Session, ingress: str, size: int) -> dict[str, Any]:
    started = time.perf_counter()
    output = _call(session, f"{ingress}/Bench/fan_out", size)
    return {"seconds": time.perf_counter() - started, "output": output}


def sequence(session: requests.Session, ingress: str, size: int) -> dict[str, Any]:
    started = time.perf_counter()
    output = _call(session, f"{ingress}/Bench/sequence", size)
    return {"seconds": time.perf_counter() - started, "output": output}


def events(session: requests.Session, ingress: str, size: int) -> dict[str, Any]:
    instance = f"{ingress}/Inbox/{uuid.uuid4().hex[:8]}"
    senders = KeptAlive(instance, timeout=WAIT_SECONDS)
    plan = event_plan(size)

    def send(payloads: list[list[int]]) -> None:
        for payload in payloads:
            senders.post("tick/send", payload)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, plan))
    output = _call(session, f"{instance}/received")
    return {"seconds": time.perf_counter() - started, "output": output}


def starts(session: requests.Session, ingress: str, size: int) -> dict[str, Any]:
    prefix = uuid.uuid4().hex[:8]
    lean = KeptAlive(ingress, timeout=WAIT_SECONDS)

    def start(i: int) -> None:
        lean.post(f"Trivial/{prefix}-{i}/run/send", i)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(start, range(size)))
    accepted = time.perf_counter() - started
    outputs = [lean.get(f"restate/workflow/Trivial/{prefix}-{i}/attach")[1] for i in range(size)]
    return {
        "seconds": time.perf_counter() - started,
        "accepted_seconds": accepted,
        "output": outputs,
    }


WORKLOADS = {"fan-out": fan_out, "sequence": sequence, "events": events, "starts": starts}
