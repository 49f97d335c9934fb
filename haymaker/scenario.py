"""A scenario as HayMaker holds it: its resources and the steps of its three phases.

The file format is documented in haymaker.catalog; the rules a scenario must follow are in
haymaker.catalog_checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from haymaker.catalog_yaml import EFFECTS, PHASES
from haymaker.durations import format_duration, parse_duration
from haymaker.resource_kinds import RESOURCE_KINDS, LocalKind

AREAS = (
    "ai-ml",
    "analytics",
    "compute",
    "containers",
    "databases",
    "hybrid",
    "identity",
    "networking",
    "security",
    "web-apps",
)
PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "resource_group": "the agent's own resource group, created before deploy",
        "prefix": "short lowercase letters and digits unique to the run and agent, "
        "starting with a letter; valid inside any Azure resource name",
        "location": "the Azure region the run deploys to, e.g. westeurope",
        "tags": "the HayMaker tags as space-separated key=value pairs, as --tags takes them",
        "run_id": "the run id, e.g. run-20261126-113000-ab12cd",
        "agent_id": "the agent id within the run",
        "subscription_id": "the subscription the agent works in, for resource ids",
        "password": "a strong password the agent makes at its start (28 characters: "
        "upper and lower case, digits, symbols), for a server's admin login; never shown: "
        "events and logs carry *** in its place",
        "round": "operate actions only: the operate round's number, 1 for the first",
        "stamp": "operate actions only: the run clock's time at the action, to the second, "
        "as lowercase letters and digits valid in any name or value, e.g. 20261203t221500",
        "n": "operate actions only: a small number (1-9) drawn per action from the agent's "
        "seeded plan, for a count or a setting that changes",
    }
)
# Filled per operate action (agent.lifecycle): they change from round to round, so a
# resource's name (which cleanup must find again) and deploy and cleanup never use them.
PER_ACTION_PLACEHOLDERS = ("round", "stamp", "n")


@dataclass(frozen=True)
class ResourceRef:
    """A resource a scenario works with: its kind and its name template."""

    kind: str
    name: str

    @property
    def local_kind(self) -> LocalKind:
        return RESOURCE_KINDS[self.kind].local_kind

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "local_kind": str(self.local_kind)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceRef:
        return cls(kind=data["kind"], name=data["name"])


@dataclass(frozen=True)
class Step:
    """One CLI command of a phase and the resource it creates, deletes or uses."""

    name: str
    command: str
    creates: ResourceRef | None = None
    deletes: ResourceRef | None = None
    uses: ResourceRef | None = None
    # Operate actions only: how often the agent picks this one relative to the others.
    weight: int | None = None
    # Create steps the CLI cannot tag: why.
    untagged: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "command": self.command}
        for effect in EFFECTS:
            ref = getattr(self, effect)
            if ref is not None:
                data[effect] = ref.to_dict()
        if self.weight is not None:
            data["weight"] = self.weight
        if self.untagged is not None:
            data["untagged"] = self.untagged
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        refs = {e: ResourceRef.from_dict(data[e]) for e in EFFECTS if data.get(e) is not None}
        return cls(
            name=data["name"],
            command=data["command"],
            weight=data.get("weight"),
            untagged=data.get("untagged"),
            **refs,
        )


@dataclass(frozen=True)
class Scenario:
    """One scenario; ``to_dict`` gives the JSON that orchestration inputs carry."""

    id: str
    title: str
    area: str
    description: str
    resources: tuple[ResourceRef, ...]
    deploy: tuple[Step, ...]
    operate: tuple[Step, ...]
    cleanup: tuple[Step, ...]
    cost_per_hour_usd: float = 0.0
    duration_hint: timedelta | None = field(default=None)

    def phases(self) -> dict[str, tuple[Step, ...]]:
        return {phase: getattr(self, phase) for phase in PHASES}

    def depth(self) -> dict[str, int]:
        """The figures the catalog promises per scenario."""
        return {
            "resources": len(self.resources),
            "deploy_steps": len(self.deploy),
            "operate_actions": len({step.command for step in self.operate}),
            "cleanup_steps": len(self.cleanup),
        }

    def _about(self) -> dict[str, Any]:
        """Who it is and what it costs: what every view of a scenario starts with."""
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "description": self.description,
            "cost_per_hour_usd": self.cost_per_hour_usd,
        }

    def summary(self) -> dict[str, Any]:
        """What a listing shows: who it is, what it costs, how deep it goes."""
        return {**self._about(), **self.depth()}

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._about(),
            "duration_hint": format_duration(self.duration_hint) if self.duration_hint else None,
            "resources": [ref.to_dict() for ref in self.resources],
            **{phase: [step.to_dict() for step in steps] for phase, steps in self.phases().items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        hint = data.get("duration_hint")
        return cls(
            id=data["id"],
            title=data["title"],
            area=data["area"],
            description=data["description"],
            cost_per_hour_usd=float(data.get("cost_per_hour_usd", 0.0)),
            duration_hint=parse_duration(hint, "duration_hint") if hint else None,
            resources=tuple(ResourceRef.from_dict(ref) for ref in data["resources"]),
            **{phase: tuple(Step.from_dict(step) for step in data[phase]) for phase in PHASES},
        )
