"""Where spans and metrics go, chosen once per process from the app settings.

- `APPLICATIONINSIGHTS_CONNECTION_STRING` (set in Azure by infra/): Application Insights,
  through `azure-monitor-opentelemetry`;
- else `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): OTLP over
  HTTP, with the standard `OTEL_*` settings;
- else `HAYMAKER_TELEMETRY_CONSOLE=true`: spans printed on the host's console;
- else off, and nothing of OpenTelemetry is even imported (app start and tests pay nothing).

Span ids are not random: a run's, an agent's and a phase's ids derive from their names
(see haymaker.telemetry), so spans emitted by different activities, at different times,
in different processes, still join one tree.
"""

from __future__ import annotations

import contextvars
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONSOLE_SETTING = "HAYMAKER_TELEMETRY_CONSOLE"
CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_SETTINGS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SERVICE_NAME = "haymaker"

# The ids the next span gets; unset means random, as usual.
next_ids: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "haymaker_next_span_ids", default=None
)


@dataclass(frozen=True)
class Pipeline:
    """A configured tracer and meter (OpenTelemetry objects, typed loosely: lazy imports)."""

    tracer: Any
    meter: Any
    tracer_provider: Any
    meter_provider: Any

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        if hasattr(self.meter_provider, "force_flush"):
            self.meter_provider.force_flush()


def chosen_exporter(environ: Mapping[str, str]) -> str | None:
    """'azure', 'otlp', 'console', or None (telemetry off)."""
    if environ.get(CONNECTION_SETTING):
        return "azure"
    if any(environ.get(name) for name in OTLP_SETTINGS):
        return "otlp"
    if environ.get(CONSOLE_SETTING, "").lower() in ("1", "true", "yes"):
        return "console"
    return None


def _id_generator() -> Any:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class NamedIds(IdGenerator):
        """Random ids, unless the span being started was given its ids by name."""

        def generate_trace_id(self) -> int:
            given = next_ids.get()
            return given[0] if given else random.getrandbits(128)

        def generate_span_id(self) -> int:
            given = next_ids.get()
            return given[1] if given else random.getrandbits(64)

    return NamedIds()


def build(
    environ: Mapping[str, str] = os.environ, span_exporter: Any = None, metric_reader: Any = None
) -> Pipeline | None:
    """The pipeline the settings ask for; `span_exporter` and `metric_reader` (tests, e.g.
    in-memory ones) override them."""
    kind = "test" if span_exporter is not None else chosen_exporter(environ)
    if kind is None:
        return None
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": SERVICE_NAME})
    if kind == "azure":
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=environ[CONNECTION_SETTING], resource=resource)
        tracer_provider: Any = trace.get_tracer_provider()
        tracer_provider.id_generator = _id_generator()
        meter_provider: Any = metrics.get_meter_provider()
    else:
        tracer_provider = TracerProvider(resource=resource, id_generator=_id_generator())
        readers: list[Any] = []
        if kind == "test":
            tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
            readers += [metric_reader] if metric_reader is not None else []
        elif kind == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        else:
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    return Pipeline(
        tracer=tracer_provider.get_tracer(SERVICE_NAME),
        meter=meter_provider.get_meter(SERVICE_NAME),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
