"""The body of ``POST /api/runs``, checked completely before anything starts.

A bad request gets a ``RequestError`` with a stable ``code`` for programs, a message for
people and the offending ``field`` ("body" when the body as a whole is wrong), so the HTTP
starter can answer 400 without starting a half-made run. Optional fields may be absent or
``null``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from haymaker.durations import DurationRange, format_duration, parse_duration
from haymaker.json_body import RequestError, parse_object, shown
from haymaker.settings import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RUN_DURATION,
    DEFAULT_RUN_SIZE,
    MAX_AGENTS_PER_RUN,
    POLL_INTERVAL_RANGE,
    REGIONS,
    RUN_DURATION_RANGE,
    RUN_SIZES,
    Settings,
)
from haymaker.suggest import did_you_mean

if TYPE_CHECKING:  # the CLI reads the run id rule here, and needs no catalog to
    from haymaker.catalog import Catalog

_FIELDS = (
    "size",
    "count",
    "scenarios",
    "duration",
    "poll_interval",
    "region",
    "run_id",
    "dry_run",
)
_CHOICES = ("size", "count", "scenarios")
_RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,39}")
RUN_ID_RULE = "3-40 lowercase letters, digits or dashes, starting with a letter or digit"
_TOKEN = re.compile(r"[a-z0-9]{1,16}")


@dataclass(frozen=True)
class RunRequest:
    """A validated run request: exactly one of ``size``, ``count`` or ``scenarios`` is set."""

    duration: timedelta
    poll_interval: timedelta
    size: str | None = None
    count: int | None = None
    scenarios: tuple[str, ...] | None = None
    region: str | None = None
    run_id: str | None = None
    # Plan only: answer with the plan and its estimated cost, start nothing (not recorded).
    dry_run: bool = False

    @property
    def agent_count(self) -> int:
        if self.scenarios is not None:
            return len(self.scenarios)
        return self.count if self.count is not None else RUN_SIZES[self.size or DEFAULT_RUN_SIZE]

    def scenario_ids(self, catalog: Catalog) -> list[str]:
        """One scenario id per agent; a size or count is resolved with the run id as seed."""
        if self.scenarios is not None:
            return list(self.scenarios)
        if self.run_id is None:
            raise ValueError("a run id is needed to pick scenarios; call with_run_id first")
        return [scenario.id for scenario in catalog.select(self.agent_count, seed=self.run_id)]

    def with_run_id(self, run_id: str) -> RunRequest:
        """This request with the id the starter assigned (when the caller gave none)."""
        if not _RUN_ID.fullmatch(run_id):
            raise ValueError(f"invalid run id {run_id!r}")
        return replace(self, run_id=run_id)

    @classmethod
    def scheduled(cls, settings: Settings, region: str, run_id: str) -> RunRequest:
        """The request a regional timer makes: the configured size, duration and interval."""
        if region not in REGIONS:
            raise ValueError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}")
        size, count = settings.default_run_shape()
        return cls(
            duration=settings.run_duration,
            poll_interval=settings.poll_interval,
            size=size,
            count=count,
            region=region,
        ).with_run_id(run_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "size": self.size,
            "count": self.count,
            "scenarios": list(self.scenarios) if self.scenarios is not None else None,
            "duration": format_duration(self.duration),
            "poll_interval": format_duration(self.poll_interval),
            "region": self.region,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRequest:
        scenarios = data.get("scenarios")
        return cls(
            duration=parse_duration(data["duration"], "duration"),
            poll_interval=parse_duration(data["poll_interval"], "poll_interval"),
            size=data.get("size"),
            count=data.get("count"),
            scenarios=tuple(scenarios) if scenarios is not None else None,
            region=data.get("region"),
            run_id=data.get("run_id"),
        )


def parse_run_request(body: bytes, catalog: Catalog, defaults: Settings | None) -> RunRequest:
    """Validate a request body; an empty body asks for a run with every default.

    Absent fields come from ``defaults`` (the app settings) or, without them, from the
    documented defaults. An absent ``poll_interval`` that would not be shorter than the
    requested duration becomes a quarter of it, so a short run is still polled.
    """
    fields = parse_object(body, _FIELDS, '{"size": "small"}')
    fields = {key: value for key, value in fields.items() if value is not None}
    chosen = [name for name in _CHOICES if name in fields]
    if len(chosen) > 1:
        message = f"give only one of size, count or scenarios; got {' and '.join(chosen)}"
        raise RequestError("conflicting_fields", message, chosen[1])
    size, count, scenarios = _size(fields), _count(fields), _scenarios(fields, catalog)
    if not chosen:
        size, count = defaults.default_run_shape() if defaults else (DEFAULT_RUN_SIZE, None)
    duration = _duration(fields, "duration", RUN_DURATION_RANGE)
    if duration is None:
        duration = defaults.run_duration if defaults else DEFAULT_RUN_DURATION
    poll_interval = _duration(fields, "poll_interval", POLL_INTERVAL_RANGE)
    if poll_interval is None:
        poll_interval = defaults.poll_interval if defaults else DEFAULT_POLL_INTERVAL
        poll_interval = poll_interval if poll_interval < duration else duration / 4
    elif poll_interval >= duration:
        message = (
            f"poll_interval {format_duration(poll_interval)} must be shorter than the duration "
            f"{format_duration(duration)}"
        )
        raise RequestError("out_of_range", message, "poll_interval")
    return RunRequest(
        duration=duration,
        poll_interval=poll_interval,
        size=size,
        count=count,
        scenarios=scenarios,
        region=_region(fields),
        run_id=_run_id(fields),
        dry_run=_dry_run(fields),
    )


def new_run_id(now: datetime, token: str) -> str:
    """A readable, sortable run id such as ``run-20261126-113000-ab12cd``.

    The caller passes the random ``token`` (and the clock), so this stays a pure function
    an orchestrator could call; a naive ``now`` is taken to be UTC.
    """
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"token must be 1-16 lowercase letters or digits, got {token!r}")
    moment = now.astimezone(UTC) if now.tzinfo is not None else now
    return f"run-{moment:%Y%m%d-%H%M%S}-{token}"


def _size(fields: dict[str, Any]) -> str | None:
    value = fields.get("size")
    if value is None:
        return None
    if not isinstance(value, str) or value not in RUN_SIZES:
        choices = ", ".join(f"{name} ({n} agents)" for name, n in RUN_SIZES.items())
        message = f"size must be one of {choices}; got {shown(value)}"
        raise RequestError("invalid_field", message, "size")
    return value


def _count(fields: dict[str, Any]) -> int | None:
    value = fields.get("count")
    if value is None:
        return None
    if type(value) is not int:
        message = f"count must be a whole number; got {shown(value)}"
        raise RequestError("invalid_field", message, "count")
    if not 1 <= value <= MAX_AGENTS_PER_RUN:
        message = f"count must be between 1 and {MAX_AGENTS_PER_RUN}; got {shown(value)}"
        raise RequestError("out_of_range", message, "count")
    return value


def _scenarios(fields: dict[str, Any], catalog: Catalog) -> tuple[str, ...] | None:
    value = fields.get("scenarios")
    if value is None:
        return None
    if not isinstance(value, list):
        message = f"scenarios must be a list of scenario ids; got {shown(value)}"
        raise RequestError("invalid_field", message, "scenarios")
    if not 1 <= len(value) <= MAX_AGENTS_PER_RUN:
        message = f"scenarios must list 1 to {MAX_AGENTS_PER_RUN} ids; got {len(value)}"
        raise RequestError("out_of_range", message, "scenarios")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            message = f"scenarios[{index}] must be a scenario id (text); got {shown(item)}"
            raise RequestError("invalid_field", message, f"scenarios[{index}]")
    broken = [item for item in dict.fromkeys(value) if item in catalog.broken]
    if broken:
        problems = "; ".join(catalog.broken[broken[0]])
        message = f"scenario {broken[0]} cannot run: its file has problems: {problems}"
        raise RequestError("invalid_scenario", message, "scenarios")
    known = set(catalog.ids())
    unknown = [item for item in dict.fromkeys(value) if item not in known]
    if unknown:
        listed = ", ".join(f"{shown(item)}{did_you_mean(item, known)}" for item in unknown[:5])
        message = f"scenarios names unknown id(s) {listed}; known: {', '.join(catalog.ids())}"
        raise RequestError("unknown_scenario", message, "scenarios")
    return tuple(value)


def _duration(fields: dict[str, Any], name: str, allowed: DurationRange) -> timedelta | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        message = f"{name} must be an ISO 8601 duration string such as PT8H; got {shown(value)}"
        raise RequestError("invalid_field", message, name)
    try:
        duration = parse_duration(value, name)
    except ValueError as error:
        raise RequestError("invalid_field", str(error), name) from None
    if duration not in allowed:
        raise RequestError("out_of_range", f"{name} must be {allowed}; got {shown(value)}", name)
    return duration


def _region(fields: dict[str, Any]) -> str | None:
    value = fields.get("region")
    if value is not None and value not in REGIONS:
        message = f"region must be one of {', '.join(REGIONS)}; got {shown(value)}"
        raise RequestError("invalid_field", message, "region")
    return value


def _dry_run(fields: dict[str, Any]) -> bool:
    value = fields.get("dry_run", False)
    if not isinstance(value, bool):
        raise RequestError(
            "invalid_field", f"dry_run must be true or false; got {shown(value)}", "dry_run"
        )
    return value


def is_run_id(value: str) -> bool:
    """Whether `value` can be a run's id (every run has one that is: see with_run_id)."""
    return _RUN_ID.fullmatch(value) is not None


def _run_id(fields: dict[str, Any]) -> str | None:
    value = fields.get("run_id")
    if value is not None and not (isinstance(value, str) and _RUN_ID.fullmatch(value)):
        message = f"run_id must be {RUN_ID_RULE}; got {shown(value)}"
        raise RequestError("invalid_field", message, "run_id")
    return value
