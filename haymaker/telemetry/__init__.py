"""OpenTelemetry for HayMaker: spans run -> agent -> phase -> step, and fleet metrics.

Orchestrations replay, so they emit nothing; spans come from activities, which run once
per attempt. A step span (one activity execution) is live. A phase, agent or run span is
emitted once it has ended, from the times the run records hold (an agent's at
verify_teardown, the run's at finalize_run), with ids derived from the run, agent and
phase names, so children emitted earlier, elsewhere, already point at it:

    run <run_id>                     (finalize_run)
      agent <agent_id>               (verify_teardown)
        phase provisioning|monitoring|tearing_down
          <activity name>            (each execution, live)
      <run activity name>            (begin_run, run_progress, finalize_run)

Every span carries `haymaker.run_id`, and below the run `haymaker.agent_id` and
`haymaker.scenario_id`. The same figures as `GET /api/metrics` are counted as they
happen: runs by status, agents by outcome and scenario, provisioning and teardown
durations, resources by action, failures by step, estimated cost.

Off unless a setting turns it on (haymaker.telemetry.setup); then nothing here is free,
but nothing here can fail a step either: telemetry errors are logged, never raised.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from haymaker.naming import parse_iso_utc
from haymaker.telemetry.setup import Pipeline, build, next_ids

log = logging.getLogger(__name__)
PHASES = ("provisioning", "monitoring", "tearing_down")
_PHASE_END = {"provisioning": "monitoring_at", "monitoring": "tearing_down_at"}
_lock = threading.Lock()
_pipeline: Pipeline | None = None
_built = False


def pipeline() -> Pipeline | None:
    """This process's pipeline, built from its settings on first use (None: off)."""
    global _pipeline, _built
    if not _built:
        with _lock:
            if not _built:
                try:
                    _pipeline = build()
                except Exception:  # a broken exporter must not break the app
                    log.exception("telemetry could not be set up; it stays off")
                _built = True
    return _pipeline


def use(pipeline_: Pipeline | None) -> None:
    """Replace this process's pipeline (tests: one with in-memory exporters)."""
    global _pipeline, _built
    with _lock:
        _pipeline, _built = pipeline_, True


def _id(bits: int, *names: str) -> int:
    digest = hashlib.sha256("\x1f".join(names).encode()).digest()
    return int.from_bytes(digest[: bits // 8], "big") or 1


def trace_id(run_id: str) -> int:
    return _id(128, "trace", run_id)


def span_id(run_id: str, agent_id: str | None = None, phase: str | None = None) -> int:
    """The id of the run's span, an agent's, or an agent phase's."""
    return _id(64, "span", run_id, agent_id or "", phase or "")


def _parent(run_id: str, agent_id: str | None = None, phase: str | None = None) -> Any:
    from opentelemetry import trace

    parent = trace.SpanContext(
        trace_id(run_id),
        span_id(run_id, agent_id, phase),
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(parent))


def _root() -> Any:
    """No parent: a run's span starts its trace, whatever span is current."""
    from opentelemetry.context import Context

    return Context()


def _attributes(
    run_id: str, agent_id: str | None, scenario_id: str | None, **extra: Any
) -> dict[str, Any]:
    found = {
        "haymaker.run_id": run_id,
        "haymaker.agent_id": agent_id,
        "haymaker.scenario_id": scenario_id,
        **{f"haymaker.{k}": v for k, v in extra.items()},
    }
    return {k: v for k, v in found.items() if v is not None}


def _nanos(moment: str | datetime) -> int:
    when = parse_iso_utc(moment) if isinstance(moment, str) else moment
    return int(when.timestamp() * 1_000_000_000)


@contextmanager
def step_span(
    step: str,
    run_id: str,
    agent_id: str | None = None,
    scenario_id: str | None = None,
    phase: str | None = None,
) -> Iterator[None]:
    """A live span for one step (activity execution), under its phase (or the run)."""
    active = pipeline()
    if active is None:
        yield
        return
    parent = _parent(run_id, agent_id, phase) if agent_id else _parent(run_id)
    attributes = _attributes(run_id, agent_id, scenario_id, step=step, phase=phase)
    with active.tracer.start_as_current_span(step, context=parent, attributes=attributes):
        yield


def _ended_span(
    active: Pipeline,
    name: str,
    ids: tuple[str, str | None, str | None],
    parent: Any,
    start: str,
    end: str,
    attributes: dict[str, Any],
) -> None:
    token = next_ids.set((trace_id(ids[0]), span_id(*ids)))
    try:
        span = active.tracer.start_span(
            name, context=parent, attributes=attributes, start_time=_nanos(start)
        )
    finally:
        next_ids.reset(token)
    span.end(end_time=max(_nanos(end), _nanos(start)))


def agent_finished(agent: Mapping[str, Any], left_behind: int) -> None:
    """The agent's phase spans and its own span, and its figures; at verify_teardown."""
    active = pipeline()
    if active is None:
        return
    try:
        _agent_finished(active, agent, left_behind)
    except Exception:
        log.exception("telemetry for agent %s failed", agent.get("agent_id"))


def _agent_finished(active: Pipeline, agent: Mapping[str, Any], left_behind: int) -> None:
    run_id, agent_id = str(agent["run_id"]), str(agent["agent_id"])
    scenario_id = str(agent.get("scenario_id") or "")
    finished = str(agent.get("finished_at"))
    outcome = str(agent.get("status") or "unknown")
    for phase in PHASES:
        start = agent.get(f"{phase}_at")
        if not start:
            continue
        later = [agent.get(_PHASE_END.get(phase, "finished_at")), finished]
        end = next(str(t) for t in later if t)
        _ended_span(
            active,
            f"phase {phase}",
            (run_id, agent_id, phase),
            _parent(run_id, agent_id),
            str(start),
            end,
            _attributes(run_id, agent_id, scenario_id, phase=phase),
        )
    began = agent.get("provisioning_at") or agent.get("tearing_down_at") or finished
    _ended_span(
        active,
        f"agent {agent_id}",
        (run_id, agent_id, None),
        _parent(run_id),
        str(began),
        finished,
        _attributes(run_id, agent_id, scenario_id, outcome=outcome, left_behind=left_behind),
    )
    meter = active.meter
    meter.create_counter("haymaker.agents", description="agents finished, by outcome").add(
        1, {"scenario": scenario_id, "outcome": outcome}
    )
    durations = (
        ("haymaker.provisioning.duration", "provisioning_at", "monitoring_at"),
        ("haymaker.teardown.duration", "tearing_down_at", "finished_at"),
    )
    for name, start_field, end_field in durations:
        if agent.get(start_field) and agent.get(end_field):
            seconds = (
                parse_iso_utc(agent[end_field]) - parse_iso_utc(agent[start_field])
            ).total_seconds()
            meter.create_histogram(name, unit="s").record(seconds, {"scenario": scenario_id})


def run_finished(
    run: Mapping[str, Any],
    status: str,
    finished_at: str,
    resources: Mapping[str, int],
    failures: Mapping[tuple[str, str, str], int],
    cost_usd: float | None,
) -> None:
    """The run's span and its figures; at finalize_run."""
    active = pipeline()
    if active is None:
        return
    try:
        run_id = str(run["run_id"])
        _ended_span(
            active,
            f"run {run_id}",
            (run_id, None, None),
            _root(),
            str(run.get("started_at") or run.get("created_at") or finished_at),
            finished_at,
            _attributes(run_id, None, None, status=status),
        )
        meter = active.meter
        meter.create_counter("haymaker.runs", description="runs finished").add(
            1, {"status": status}
        )
        counter = meter.create_counter("haymaker.resources", description="resources, by action")
        for action, count in resources.items():
            counter.add(count, {"action": action})
        counter = meter.create_counter("haymaker.failures", description="failures, by step")
        for (source, phase, step), count in failures.items():
            counter.add(count, {"source": source, "phase": phase, "step": step})
        if cost_usd is not None:
            meter.create_counter("haymaker.cost.estimated", unit="USD").add(cost_usd)
    except Exception:
        log.exception("telemetry for run %s failed", run.get("run_id"))


def flush() -> None:
    active = pipeline()
    if active is not None:
        active.flush()
