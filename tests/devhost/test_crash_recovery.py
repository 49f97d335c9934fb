"""Kill -9 the host in the middle of a fan-out; the restarted host finishes the work.

State lives in Azure Storage only, so a crash loses nothing that was checkpointed:
activities whose results were not yet written run again (at least once, as in Azure)
and every activity's completion is in history exactly once.
"""

from __future__ import annotations

import concurrent.futures
import functools
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from azure.data.tables import TableServiceClient

from devhost.testing import running_host
from tests.devhost.helpers import app_host, wait_for_status, wait_until

APP = Path(__file__).parent / "apps" / "durable"
FAN_OUT = 200


def _count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_kill_during_fan_out_then_restart_completes_exactly_once(
    tmp_path: Path, storage_connection_string: str, unique_name: str
) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(APP, app_dir)
    run_log = tmp_path / "runs.log"
    with running_host(app_dir, hub=unique_name, env={"DURABLE_TEST_RUN_LOG": str(run_log)}) as host:
        params = {"code": host.system_key}
        started = requests.post(
            f"{host.management}/orchestrators/fan_out_recorded/crashme",
            params=params,
            json=FAN_OUT,
            timeout=10,
        )
        assert started.status_code == 202
        deadline = time.monotonic() + 30
        while _count_lines(run_log) < FAN_OUT // 4:
            assert time.monotonic() < deadline, "activities never started"
            time.sleep(0.01)
        host.kill()
        done_before_crash = _count_lines(run_log)
        assert done_before_crash < FAN_OUT, "the crash came too late to test anything"

        host.restart()
        deadline = time.monotonic() + 60
        while True:
            status = requests.get(
                f"{host.management}/instances/crashme", params=params, timeout=10
            ).json()
            if status["runtimeStatus"] not in ("Pending", "Running"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.1)

    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == sum(range(FAN_OUT))
    ran = Counter(int(line) for line in run_log.read_text().split())
    assert set(ran) == set(range(FAN_OUT)), "every activity ran at least once"

    history = TableServiceClient.from_connection_string(storage_connection_string)
    rows = list(
        history.get_table_client(f"{unique_name}History").query_entities(
            "PartitionKey eq 'crashme'"
        )
    )
    completions = Counter(r["TaskScheduledId"] for r in rows if r["EventType"] == 5)
    assert sorted(completions) == list(range(FAN_OUT))
    assert set(completions.values()) == {1}, "each completion is in history exactly once"
    scheduled = [r["EventId"] for r in rows if r["EventType"] == 4]
    assert sorted(scheduled) == list(range(FAN_OUT)), "nothing was scheduled twice"


def test_every_start_answered_202_survives_a_kill_right_after(
    tmp_path: Path, storage_connection_string: str, unique_name: str
) -> None:
    """A 202 means the start is stored: kill -9 at once after the last one, and the
    restarted host runs every instance (its row was still being written behind)."""
    count = 60
    with app_host("durable_app", tmp_path, hub=unique_name) as host:
        params = {"code": host.system_key}

        def start(i: int) -> int:
            url = f"{host.management}/orchestrators/echo_orchestrator/kept-{i}"
            return requests.post(url, params=params, json=f"v{i}", timeout=30).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(start, range(count)))
        host.kill()
        assert answers == [202] * count

        host.restart()

        def completed(instance_id: str) -> dict[str, Any] | None:
            url = f"{host.management}/instances/{instance_id}"
            body: dict[str, Any] = requests.get(url, params=params, timeout=10).json()
            return body if body.get("runtimeStatus") == "Completed" else None

        for i in range(count):
            done = wait_until(
                functools.partial(completed, f"kept-{i}"),
                timeout=60,
                message=f"kept-{i} to complete after the restart",
            )
            assert done["output"] == {"input": f"v{i}", "shouted": f"V{i}"}


def test_events_raised_concurrently_arrive_once_in_order_across_a_kill(
    tmp_path: Path, storage_connection_string: str, unique_name: str
) -> None:
    """Senders raise events at once (stored together, a write for those that arrive side by
    side): each arrives once, in its sender's order, and a 202 means the event is stored,
    so a kill -9 right after the last one loses none of them; consumed events are deleted."""
    senders, each = 6, 12
    with app_host("durable", tmp_path, hub=unique_name) as host:
        params = {"code": host.system_key}
        url = f"{host.management}/orchestrators/events_in_order/ordered"
        assert requests.post(url, params=params, json=senders * each, timeout=10).ok
        wait_for_status(f"{host.management}/instances/ordered", ("Running",), code=host.system_key)

        def send(sender: int, positions: range) -> list[int]:
            event = f"{host.management}/instances/ordered/raiseEvent/item"
            with requests.Session() as session:
                return [
                    session.post(event, params=params, json=[sender, p], timeout=30).status_code
                    for p in positions
                ]

        def send_all(positions: range) -> None:
            with concurrent.futures.ThreadPoolExecutor(senders) as pool:
                answers = list(pool.map(send, range(senders), [positions] * senders))
            assert answers == [[202] * len(positions)] * senders

        send_all(range(each // 2))
        host.kill()
        host.restart()
        send_all(range(each // 2, each))
        status = wait_for_status(
            f"{host.management}/instances/ordered", timeout=60, code=host.system_key
        )

    assert status["runtimeStatus"] == "Completed", status
    received = status["output"]
    assert sorted(map(tuple, received)) == [(s, p) for s in range(senders) for p in range(each)]
    for sender in range(senders):
        assert [p for s, p in received if s == sender] == list(range(each)), received
    service = TableServiceClient.from_connection_string(storage_connection_string)
    messages = service.get_table_client(f"{unique_name}Messages")
    assert list(messages.query_entities("PartitionKey eq 'ordered'")) == []
