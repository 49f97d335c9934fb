"""A local run with telemetry on yields the span tree run -> agent -> phase -> step.

The app on devhost exports over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT) to a collector
this test runs in memory: the spans and metrics the host sent are decoded with
OpenTelemetry's own protobuf classes and kept in lists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.app.helpers import App, app_host, wait_until

pytestmark = pytest.mark.slow

AGENT_STEPS = {
    "phase provisioning": {"provision_identity", "launch_agent"},
    "phase monitoring": {"poll_agent"},
    "phase tearing_down": {"stop_agent", "remove_resources", "remove_identity", "verify_teardown"},
}


@dataclass
class Collector:
    spans: list[Any] = field(default_factory=list)
    metrics: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with collector.lock:
                    if self.path == "/v1/traces":
                        request = ExportTraceServiceRequest.FromString(body)
                        for resource in request.resource_spans:
                            for scope in resource.scope_spans:
                                collector.spans.extend(scope.spans)
                    elif self.path == "/v1/metrics":
                        metrics = ExportMetricsServiceRequest.FromString(body)
                        for resource in metrics.resource_metrics:
                            for scope in resource.scope_metrics:
                                collector.metrics.update(m.name for m in scope.metrics)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Receive


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, str]]:
    found = Collector()
    server = ThreadingHTTPServer(("127.0.0.1", 0), found.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def traced_app(
    private_storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
    collector: tuple[Collector, str],
) -> Iterator[App]:
    with app_host(
        tmp_path_factory.mktemp("telemetry"),
        private_storage_connection_string,
        AzureWebJobsStorage=private_storage_connection_string,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector[1],
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    ) as app:
        yield app


def attributes(span: Any) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in span.attributes}


def test_a_local_run_yields_the_span_tree(traced_app: App, collector: tuple[Collector, str]):
    found, _ = collector
    run_id = traced_app.start_run({"count": 2, "duration": "PT30M", "poll_interval": "PT15M"})
    assert traced_app.wait_for_run(run_id)["status"] == "completed"

    def run_spans() -> list[Any] | None:
        with found.lock:
            mine = [s for s in found.spans if attributes(s).get("haymaker.run_id") == run_id]
        names = {s.name for s in mine}
        return mine if f"run {run_id}" in names and "finalize_run" in names else None

    spans = wait_until(run_spans, 60, "the run's spans at the collector")
    by_id = {span.span_id: span for span in spans}
    (root,) = [s for s in spans if s.name == f"run {run_id}"]
    assert root.parent_span_id == b"" and {s.trace_id for s in spans} == {root.trace_id}

    def children(parent: Any) -> list[Any]:
        return [s for s in spans if s.parent_span_id == parent.span_id]

    agents = {s.name: s for s in children(root) if s.name.startswith("agent ")}
    assert set(agents) == {"agent a00", "agent a01"}
    assert {"begin_run", "finalize_run"} <= {s.name for s in children(root)}
    for name, agent in agents.items():
        agent_id = name.split()[1]
        phases = {s.name: s for s in children(agent)}
        assert set(phases) == set(AGENT_STEPS)
        for phase_name, steps in AGENT_STEPS.items():
            assert {s.name for s in children(phases[phase_name])} == steps
            for step in children(phases[phase_name]):
                labels = attributes(step)
                assert labels["haymaker.agent_id"] == agent_id
                assert labels["haymaker.scenario_id"] == attributes(agent)["haymaker.scenario_id"]
    # Every span's parent was exported too: nothing hangs off a span that never came.
    assert all(s.parent_span_id in by_id for s in spans if s is not root)

    wait_until(
        lambda: (
            {"haymaker.runs", "haymaker.agents", "haymaker.provisioning.duration"} <= found.metrics
        ),
        60,
        "the run's metrics at the collector",
    )
