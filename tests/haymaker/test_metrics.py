"""Fleet metrics computed from run records in Azure Tables (Azurite), with exact figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from haymaker.catalog import load_catalog
from haymaker.metrics import compute_metrics, percentile
from haymaker.naming import iso_utc
from haymaker.records import RunRecords

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


@pytest.fixture
def records(storage_connection_string: str, unique_name: str) -> Iterator[RunRecords]:
    prefix = "M" + unique_name
    yield RunRecords(storage_connection_string, prefix)
    service = TableServiceClient.from_connection_string(storage_connection_string)
    for table in ("Runs", "Agents", "Resources", "Events", "Reports"):
        service.delete_table(prefix + table)


def at(seconds: float) -> str:
    return iso_utc(T0 + timedelta(seconds=seconds))


def agent(records: RunRecords, run_id: str, agent_id: str, scenario: str, **fields: object):
    records.upsert_agent(run_id, agent_id, scenario_id=scenario, **fields)


def test_metrics_count_runs_agents_durations_resources_and_failures(records: RunRecords):
    records.create_run("run-a", {"duration": "PT8H"}, ["compute-linux-vm"] * 2, T0)
    records.update_run("run-a", status="completed", started_at=at(0), deadline=at(8 * 3600))
    records.create_run("run-b", {"duration": "PT1H"}, ["web-apps-storefront"], T0 + timedelta(1))
    records.update_run("run-b", status="running", started_at=at(86400))
    records.create_run("run-old", {}, ["web-apps-storefront"], T0 - timedelta(days=30))
    times = {"provisioning_at": at(0), "monitoring_at": at(10), "tearing_down_at": at(100)}
    agent(records, "run-a", "a00", "compute-linux-vm", phase="done", status="finished",
          **times, finished_at=at(130))  # fmt: skip
    agent(records, "run-a", "a01", "compute-linux-vm", phase="failed", status="provision_failed",
          provisioning_at=at(0), tearing_down_at=at(30), finished_at=at(40),
          error="launch refused; remove_identity: gone wrong")  # fmt: skip
    agent(records, "run-b", "a00", "web-apps-storefront", phase="monitoring",
          provisioning_at=at(0), monitoring_at=at(50))  # fmt: skip
    for name, action in (("g1", "removed"), ("g2", "removed"), ("g3", "left"), ("g4", "created")):
        records.record_resource("run-a", "a00", "group", name, "created")
        if action != "created":
            records.record_resource("run-a", "a00", "group", name, action)
    events = [
        {
            "type": "error",
            "agent_id": "a00",
            "phase": "operate",
            "step": "list-vms",
            "message": "x",
        },
        {
            "type": "error",
            "agent_id": "a00",
            "phase": "operate",
            "step": "list-vms",
            "message": "y",
        },
        {"type": "failed", "agent_id": "a01", "phase": "deploy", "error": "z"},
        {"type": "command", "agent_id": "a00", "phase": "deploy", "step": "create"},
    ]
    records.append_events(
        "run-a", [{**e, "id": f"e{i}", "ts": at(i)} for i, e in enumerate(events)]
    )

    figures = compute_metrics(
        records, load_catalog(ROOT / "scenarios"), T0 - timedelta(days=7), T0 + timedelta(days=2)
    )

    assert figures["runs"] == {"total": 2, "by_status": {"completed": 1, "running": 1}}
    assert figures["agents"] == {
        "total": 3,
        "by_scenario": {
            "compute-linux-vm": {"finished": 1, "provision_failed": 1},
            "web-apps-storefront": {"monitoring": 1},
        },
    }
    assert figures["durations"]["provisioning"] == {"count": 2, "p50_s": 10.0, "p95_s": 50.0}
    assert figures["durations"]["teardown"] == {"count": 2, "p50_s": 10.0, "p95_s": 30.0}
    assert figures["resources"] == {"created": 4, "removed": 2, "left": 1}
    assert figures["failures_by_step"] == [
        {"source": "agent", "phase": "operate", "step": "list-vms", "count": 2},
        {"source": "orchestrator", "phase": "provisioning", "step": "provision", "count": 1},
        {"source": "orchestrator", "phase": "tearing_down", "step": "remove_identity", "count": 1},
        {"source": "agent", "phase": "deploy", "step": "(agent failed)", "count": 1},
    ]
    # Each run's scenarios' declared cost per hour over its planned duration.
    catalog = load_catalog(ROOT / "scenarios")
    vm = catalog.get("compute-linux-vm").cost_per_hour_usd
    shop = catalog.get("web-apps-storefront").cost_per_hour_usd
    assert figures["cost"] == {
        "estimated_usd": pytest.approx(2 * vm * 8 + shop * 1, abs=0.011),
        "runs_with_estimate": 2,
        "runs_without_estimate": 0,
    }


def test_percentiles_are_values_that_were_observed():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert percentile([1.0, 100.0], 0.95) == 100.0
