"""Telemetry in one process, against OpenTelemetry's in-memory span exporter and reader."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from haymaker import telemetry
from haymaker.telemetry.setup import build, chosen_exporter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exported() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry.use(build(span_exporter=spans, metric_reader=metrics))
    try:
        yield spans, metrics
    finally:
        telemetry.use(None)


def tree(spans: list[Any]) -> dict[str, list[str]]:
    """Each span's name -> its children's names, sorted; parents found by span id."""
    by_id = {span.context.span_id: span.name for span in spans}
    children: dict[str, list[str]] = {span.name: [] for span in spans}
    for span in spans:
        if span.parent is not None:
            children[by_id[span.parent.span_id]].append(span.name)
    return {name: sorted(kids) for name, kids in children.items()}


def test_steps_phases_agent_and_run_join_one_tree(exported: tuple[Any, Any]):
    spans, metrics = exported
    run_id = "run-20261126-060000-abcdef"
    ids = {"run_id": run_id, "agent_id": "a00", "scenario_id": "compute-linux-vm"}
    with telemetry.step_span("begin_run", run_id):
        pass
    for phase, step in (("provisioning", "provision_identity"), ("monitoring", "poll_agent")):
        with telemetry.step_span(step, phase=phase, **ids):
            pass
    with (
        pytest.raises(RuntimeError),
        telemetry.step_span("stop_agent", phase="tearing_down", **ids),
    ):
        raise RuntimeError("could not stop")
    agent = {
        **ids,
        "status": "finished",
        "provisioning_at": "2026-11-26T06:00:00.000Z",
        "monitoring_at": "2026-11-26T06:00:10.000Z",
        "tearing_down_at": "2026-11-26T14:00:00.000Z",
        "finished_at": "2026-11-26T14:00:30.000Z",
    }
    telemetry.agent_finished(agent, left_behind=0)
    run = {"run_id": run_id, "started_at": "2026-11-26T06:00:00.000Z"}
    failures = {("agent", "operate", "list-vms"): 2}
    telemetry.run_finished(
        run, "completed", "2026-11-26T14:01:00.000Z", {"removed": 3}, failures, None
    )

    finished = spans.get_finished_spans()
    assert tree(finished) == {
        f"run {run_id}": ["agent a00", "begin_run"],
        "begin_run": [],
        "agent a00": ["phase monitoring", "phase provisioning", "phase tearing_down"],
        "phase provisioning": ["provision_identity"],
        "phase monitoring": ["poll_agent"],
        "phase tearing_down": ["stop_agent"],
        "provision_identity": [],
        "poll_agent": [],
        "stop_agent": [],
    }
    assert len({span.context.trace_id for span in finished}) == 1
    by_name = {span.name: span for span in finished}
    assert by_name[f"run {run_id}"].parent is None
    for name in ("agent a00", "phase monitoring", "poll_agent"):
        attributes = by_name[name].attributes
        assert attributes["haymaker.run_id"] == run_id
        assert attributes["haymaker.agent_id"] == "a00"
        assert attributes["haymaker.scenario_id"] == "compute-linux-vm"
    monitoring = by_name["phase monitoring"]
    assert (monitoring.end_time - monitoring.start_time) / 1e9 == 8 * 3600 - 10
    assert not by_name["stop_agent"].status.is_ok

    names = {
        metric.name: metric
        for resource in metrics.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {
        "haymaker.agents",
        "haymaker.provisioning.duration",
        "haymaker.teardown.duration",
        "haymaker.runs",
        "haymaker.resources",
        "haymaker.failures",
    } <= set(names)
    (point,) = names["haymaker.provisioning.duration"].data.data_points
    assert point.sum == 10.0 and point.count == 1
    (failure,) = names["haymaker.failures"].data.data_points
    assert failure.value == 2 and failure.attributes["step"] == "list-vms"


def test_settings_choose_the_exporter():
    assert chosen_exporter({}) is None
    assert chosen_exporter({"HAYMAKER_TELEMETRY_CONSOLE": "true"}) == "console"
    assert chosen_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) == "otlp"
    both = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "h",
    }
    assert chosen_exporter(both) == "azure"
    assert build({}) is None


def test_with_telemetry_off_the_app_imports_no_sdk_or_exporter():
    # (opentelemetry-api itself is imported by azure-functions-durable, whatever we do.)
    script = (
        "import sys, function_app\n"
        "from haymaker import telemetry\n"
        "with telemetry.step_span('begin_run', 'run-1'):\n"
        "    pass\n"
        "heavy = ('opentelemetry.sdk', 'opentelemetry.exporter', 'azure.monitor')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    clean = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS"))
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
