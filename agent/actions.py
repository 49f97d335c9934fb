"""How a scenario step is acted out: the interface the lifecycle drives, one class per mode.

`agent.local_actions` acts steps out on a storage account (the local provider's "cloud");
`agent.live_actions` runs them with the Azure CLI. The lifecycle (phases, deadlines,
events, what a failure means) is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# Created resources by (kind, name), in creation order.
Created = dict[tuple[str, str], dict[str, str]]
EFFECTS = ("creates", "deletes", "uses")


@dataclass(frozen=True)
class Step:
    """One command to act out, placeholders filled."""

    phase: str
    name: str
    command: str
    # creates / deletes / uses, and the resource it names (as `Actions.resolve` gave it).
    effect: str | None = None
    resource: dict[str, str] | None = None


@dataclass(frozen=True)
class Outcome:
    """How a step went: its exit code, its standard output, and why it failed (scrubbed)."""

    exit_code: int
    output: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


# The lifecycle's way to run a command as a step (printed, timed, reported) ...
RunStep = Callable[[Step], Outcome]
# ... and to report an event: report("resource_deleted", kind=..., name=...).
Report = Callable[..., None]


class Actions(Protocol):
    """What differs between the modes."""

    # After a failure in deploy or operate, clean up before reporting `failed` (live), or
    # leave that to the provider's teardown (local).
    cleans_up_after_failure: bool
    # Local mode runs no command: each is acted out on the storage account. Its command
    # events and log lines say so, so no record reads as if Azure had run it.
    acts_out_locally: bool

    def prepare(self) -> None:
        """Get ready to act (credentials, sign-in); raises when the agent cannot start."""

    def resolve(self, ref: Mapping[str, Any], name: str) -> dict[str, str]:
        """A scenario resource reference (name filled) as the fields of its events."""
        ...

    def command(self, command: str) -> str:
        """The command to run and report for a scenario step's filled command."""
        ...

    def run(self, step: Step, timeout: float) -> Outcome:
        """Act the step out; a failing command is an Outcome, not an exception."""
        ...

    def remove_leftovers(self, created: Created, run: RunStep, report: Report) -> list[str]:
        """Delete what cleanup left behind, reporting `resource_deleted` for each; removes
        what it deleted from `created`. Returns the problems (empty when all went well)."""
        ...

    def close(self) -> None:
        """Release what `prepare` took (sign out); called whatever happened."""
