"""What the orchestrations are given: small, JSON-able plans with deterministic names.

A run plan is made once by the starter (HTTP or timer) and is the run orchestration's
whole input; each agent plan is derived from it. Nothing here holds a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from haymaker import naming
from haymaker.run_request import RunRequest


def agent_instance_id(run_id: str, agent_id: str) -> str:
    """The agent sub-orchestration's instance id: the same on every replay and restart."""
    return f"{run_id}:{agent_id}"


@dataclass(frozen=True)
class AgentPlan:
    run_id: str
    agent_id: str
    scenario_id: str
    # The run's end (ISO 8601 UTC): monitoring stops here and teardown starts.
    deadline: str
    poll_seconds: int
    # Monitoring restarts its history (continue-as-new) after this many polls.
    polls_per_generation: int = 48
    # Polls fall on the multiples of poll_seconds since the epoch, the run's progress
    # ticks too (naming.next_multiple). False in plans made before that (their
    # polls came poll_seconds after the last one): instances in flight replay as recorded.
    aligned_polls: bool = False

    @property
    def instance_id(self) -> str:
        return agent_instance_id(self.run_id, self.agent_id)

    @property
    def resource_group(self) -> str:
        return naming.resource_group_name(self.run_id, self.agent_id, self.scenario_id)

    def to_dict(self) -> dict[str, Any]:
        return _without_unaligned(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentPlan:
        return cls(**data)


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    scenario_ids: list[str]
    duration_seconds: int
    poll_seconds: int
    max_parallel: int
    region: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    # See AgentPlan.aligned_polls; every new plan has it.
    aligned_polls: bool = False

    @classmethod
    def for_request(
        cls, request: RunRequest, scenario_ids: list[str], max_parallel: int
    ) -> RunPlan:
        assert request.run_id is not None, "a run request gets its run id before planning"
        return cls(
            run_id=request.run_id,
            scenario_ids=scenario_ids,
            duration_seconds=int(request.duration.total_seconds()),
            poll_seconds=int(request.poll_interval.total_seconds()),
            max_parallel=max_parallel,
            region=request.region,
            request=request.to_dict(),
            aligned_polls=True,
        )

    def agent_ids(self) -> list[str]:
        return [naming.agent_id(self.run_id, i) for i in range(len(self.scenario_ids))]

    def agents(self, deadline: str) -> list[AgentPlan]:
        return [
            AgentPlan(
                self.run_id,
                agent,
                scenario,
                deadline,
                self.poll_seconds,
                aligned_polls=self.aligned_polls,
            )
            for agent, scenario in zip(self.agent_ids(), self.scenario_ids, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        return _without_unaligned(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunPlan:
        return cls(**data)


def _without_unaligned(data: dict[str, Any]) -> dict[str, Any]:
    """A plan from before aligned polls is written as it was (activity inputs included):
    recorded histories replay only if every input is the same."""
    if not data.get("aligned_polls"):
        data.pop("aligned_polls", None)
    return data
