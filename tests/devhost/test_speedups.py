"""Speed-ups that must change nothing: the SDK's timestamps parse to exactly the values dateutil
gives (devhost/speedups.py), and the host still collects garbage (devhost/__main__.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devhost.process import running_host

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter, so the time zone is the one its TZ names.
CHECK = """
import random, sys
from datetime import UTC, datetime, timedelta
from dateutil.parser import parse
from devhost import speedups
from devhost.replay import iso

speedups.memoize_history_timestamps()
fast = speedups.history_event_module.dt_parse
moments = [datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC) + timedelta(minutes=m)
           for m in range(-90, 90, 7)]
moments += [datetime(2026, 10, 25, 0, 30, tzinfo=UTC) + timedelta(minutes=m)
            for m in range(-90, 90, 7)]
rng = random.Random(7)
moments += [datetime(1, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 3e11))
            for _ in range(2000)]
texts = [iso(m) for m in moments] + ["2026-12-01T06:00:00Z", "2026-12-01T06:00:00.1234567Z",
                                     "2026-12-01T06:00:00.123456+02:00"]
for text in texts:
    a, b = fast(text), parse(text)
    same = (a == b and a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and type(a.tzinfo) is type(b.tzinfo) and a.utcoffset() == b.utcoffset()
            and a.tzname() == b.tzname() and a.dst() == b.dst() and repr(a) == repr(b))
    if not same:
        sys.exit(f"{text}: {a!r} != dateutil's {b!r}")
print("shortcut" if speedups.devhost_timestamp_parser(parse) else "dateutil only")
"""


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
def test_timestamps_parse_as_dateutil_parses_them_in_any_time_zone(zone: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        env={**os.environ, "TZ": zone, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() in ("shortcut", "dateutil only")


def test_a_date_that_does_not_exist_fails_as_dateutil_fails() -> None:
    from dateutil.parser import ParserError

    from devhost import speedups

    speedups.memoize_history_timestamps()
    with pytest.raises(ParserError):
        speedups.history_event_module.dt_parse("2026-02-30T06:00:00.000000Z")


def test_the_sdk_executor_gets_the_same_payload_types_built_once() -> None:
    """Its task-completion table is what the SDK builds, only no longer rebuilt per episode;
    a caller with unhashable field names still gets a class of its own."""
    from azure.durable_functions.models.TaskOrchestrationExecutor import (
        TaskOrchestrationExecutor,
    )

    from devhost import speedups

    before = TaskOrchestrationExecutor().event_to_SetTaskValuePayload
    speedups.reuse_namedtuple_classes()
    speedups.reuse_namedtuple_classes()  # a second host in the process: installed once
    first, second = (TaskOrchestrationExecutor().event_to_SetTaskValuePayload for _ in "ab")
    assert first == second == before
    assert {type(p) for p in first.values()} == {type(p) for p in second.values()}
    assert [p._fields for p in first.values()] == [p._fields for p in before.values()]
    listed = speedups.executor_module.namedtuple("Pair", ["left", "right"])
    assert listed(1, 2).right == 2


GC_APP = """
import gc
import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="collector")
def collector(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"enabled": gc.isenabled()}))
"""


def test_the_host_collects_garbage_once_it_runs(
    storage_connection_string: str, tmp_path: Path
) -> None:
    """The collector is off only while the host's modules load (devhost/__main__.py): a
    host left without it would never free a reference cycle, and grow for as long as it
    runs."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text(GC_APP)
    (app / "host.json").write_text('{"version": "2.0"}')
    env = {"AzureWebJobsStorage": storage_connection_string}
    with running_host(app, env=env) as host:
        answer = requests.get(f"{host.base_url}/api/collector", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"enabled": True}
