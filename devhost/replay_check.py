"""Replay recorded histories through the current orchestrator code: the replay gate.

A code change to an orchestrator must not change what it asks for at any point of a
history already recorded, or instances in flight when the change is deployed break
(non-determinism). This module walks a stored history episode by episode, exactly as
devhost's engine built it (`engine._episode`): for episode k it sends the orchestrator
the events before the episode (replayed) plus the episode's incoming events
(OrchestratorStarted, ExecutionStarted on the first episode, the completions, timer
firings and raised events that woke it), runs the real azure-functions-durable handler,
turns its answer into history events with `replay.decide`, and compares them with the
scheduling events and the outcome the history holds for that episode.

No I/O: the caller loads the history (see `RecordedHistory`) and indexes the app.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import OrchestrationTriggerConverter

from .indexer import ORCHESTRATION, IndexedFunction
from .replay import (
    SCHEDULING_EVENTS,
    Decision,
    EventType,
    OrchestratorAnswer,
    decide,
    orchestrator_request,
    parse_iso,
    played_json,
    read_answer,
)

# Calls an orchestrator with the request body devhost would send; returns its answer.
OrchestratorCall = Callable[[str], OrchestratorAnswer]

# What identifies a scheduled task: compared field by field, in this order.
COMPARED_FIELDS = ("EventType", "EventId", "Name", "InstanceId", "Input", "FireAt", "RetryOf")
TERMINAL_EVENTS = {EventType.ExecutionCompleted, EventType.ContinueAsNew}
# Episodes devhost records without calling the orchestrator.
CONTROL_EVENTS = {
    EventType.ExecutionSuspended,
    EventType.ExecutionResumed,
    EventType.ExecutionTerminated,
}
MAX_VALUE_CHARS = 400


@dataclass
class RecordedHistory:
    """One instance's history as devhost stored it, with what the orchestrator was given."""

    name: str
    instance_id: str
    input: str | None
    parent_instance_id: str | None
    history: list[dict[str, Any]]

    def to_json(self) -> str:
        """Readable and diffable: the header indented, then one history event per line."""
        header = {k: v for k, v in asdict(self).items() if k != "history"}
        lines = [json.dumps(e, sort_keys=False, ensure_ascii=False) for e in self.history]
        head = json.dumps(header, indent=2, ensure_ascii=False)[:-2]
        return head + ',\n  "history": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordedHistory:
        return cls(
            name=str(data["name"]),
            instance_id=str(data["instance_id"]),
            input=data.get("input"),
            parent_instance_id=data.get("parent_instance_id"),
            history=list(data["history"]),
        )

    @classmethod
    def load(cls, path: Path) -> RecordedHistory:
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass
class Episode:
    """One OrchestratorStarted ... OrchestratorCompleted stretch of a history."""

    number: int
    # Positions in the history of its OrchestratorStarted and OrchestratorCompleted.
    start: int
    end: int
    # What the engine sent the orchestrator as new (IsPlayed false) events.
    incoming: list[dict[str, Any]]
    # What the engine appended from the orchestrator's decision.
    scheduled: list[dict[str, Any]]
    # ExecutionCompleted or ContinueAsNew, if the episode ended the execution.
    terminal: dict[str, Any] | None
    # Suspend, resume and terminate episodes: recorded without calling the orchestrator.
    control: bool

    @property
    def now(self) -> datetime:
        return parse_iso(str(self.incoming[0]["Timestamp"]))

    def describe(self) -> str:
        woken = ", ".join(_short(e) for e in self.incoming[1:]) or "nothing"
        return f"episode {self.number} (history events {self.start}-{self.end}; new: {woken})"


class MalformedHistory(ValueError):
    """The history is not a sequence of whole episodes."""


def split_episodes(history: list[dict[str, Any]]) -> list[Episode]:
    """The history's episodes, in order; MalformedHistory if it is not made of whole ones."""
    episodes: list[Episode] = []
    position = 0
    while position < len(history):
        first = history[position]
        if first["EventType"] != EventType.OrchestratorStarted:
            raise MalformedHistory(
                f"event {position} is {_kind(first)}, expected OrchestratorStarted"
            )
        end = next(
            (
                i
                for i in range(position + 1, len(history))
                if history[i]["EventType"] == EventType.OrchestratorCompleted
            ),
            None,
        )
        if end is None:
            raise MalformedHistory(f"the episode starting at event {position} never completes")
        body = history[position + 1 : end]
        if any(e["EventType"] == EventType.OrchestratorStarted for e in body):
            raise MalformedHistory(f"the episode starting at event {position} never completes")
        incoming = [first] + [
            e for e in body if e["EventType"] not in SCHEDULING_EVENTS | TERMINAL_EVENTS
        ]
        terminal = next((e for e in body if e["EventType"] in TERMINAL_EVENTS), None)
        episodes.append(
            Episode(
                number=len(episodes),
                start=position,
                end=end,
                incoming=incoming,
                scheduled=[e for e in body if e["EventType"] in SCHEDULING_EVENTS],
                terminal=terminal,
                control=any(e["EventType"] in CONTROL_EVENTS for e in body),
            )
        )
        position = end + 1
    return episodes


@dataclass
class Mismatch:
    """One way the current code's episode differs from the recorded one."""

    name: str
    instance_id: str
    episode: str
    expected: str
    actual: str
    # The orchestration failure devhost would record instead, if there is one.
    error: str | None = None

    def __str__(self) -> str:
        text = (
            f"{self.name} '{self.instance_id}', {self.episode}:\n"
            f"  expected (recorded): {self.expected}\n"
            f"  actual (current code): {self.actual}"
        )
        if self.error:
            text += f"\n  the orchestration would fail: {self.error}"
        return text


@dataclass
class ReplayReport:
    """What replaying one history found; `ok` when every episode matched."""

    name: str
    instance_id: str
    episodes: int = 0
    checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        if self.ok:
            return f"{self.name} '{self.instance_id}': {self.checked} episodes replay identically"
        return "\n".join(str(m) for m in self.mismatches)


def call_function(function: IndexedFunction) -> OrchestratorCall:
    """Call an indexed orchestrator as devhost's engine does (`Engine._call_orchestrator`)."""
    if function.trigger_type != ORCHESTRATION:
        raise ValueError(f"{function.name} is a {function.trigger_type}, not an orchestrator")
    param = str(function.trigger["name"])

    def call(body: str) -> OrchestratorAnswer:
        context = OrchestrationTriggerConverter.decode(
            meta.Datum(body, "json"), trigger_metadata=None
        )
        try:
            return read_answer(returned=function.user_function(**{param: context}))
        except Exception as error:  # the SDK reports orchestrator failures by raising
            return read_answer(raised=error)

    return call


def episode_request(recorded: RecordedHistory, episode: Episode) -> str:
    """The orchestrator request of EPISODE: the history before it, then its incoming events."""
    return orchestrator_request(
        recorded.instance_id,
        [played_json(e) for e in recorded.history[: episode.start]],
        episode.incoming,
        recorded.input,
        recorded.parent_instance_id,
    )


def replay_episode(
    recorded: RecordedHistory, episode: Episode, call: OrchestratorCall
) -> tuple[OrchestratorAnswer, Decision]:
    """Run the orchestrator on the history before EPISODE plus its incoming events."""
    played = recorded.history[: episode.start]
    answer = call(episode_request(recorded, episode))
    decision = decide(recorded.instance_id, played + episode.incoming, answer, episode.now)
    return answer, decision


def compare_episode(
    recorded: RecordedHistory, episode: Episode, decision: Decision
) -> list[Mismatch]:
    """Each difference between the decision and what the history holds for the episode."""
    found: list[Mismatch] = []

    def mismatch(expected: str, actual: str) -> None:
        error = decision.error if decision.outcome == "Failed" else None
        found.append(
            Mismatch(
                recorded.name, recorded.instance_id, episode.describe(), expected, actual, error
            )
        )

    expected_outcome = _recorded_outcome(episode.terminal)
    actual_outcome = _decided_outcome(decision)
    if actual_outcome[0] == "Failed" and expected_outcome[0] != "Failed":
        # Non-determinism (or a new exception): nothing is scheduled, the instance fails.
        recorded_actions = [describe_event(e) for e in episode.scheduled]
        recorded_actions.append(_describe_outcome(expected_outcome))
        mismatch("; ".join(recorded_actions), "nothing scheduled: the orchestration fails")
        return found
    for index in range(max(len(episode.scheduled), len(decision.events))):
        want = episode.scheduled[index] if index < len(episode.scheduled) else None
        got = decision.events[index] if index < len(decision.events) else None
        if want is None or got is None or not _same_task(want, got):
            mismatch(
                describe_event(want) if want else "nothing more scheduled",
                describe_event(got) if got else "nothing more scheduled",
            )
    if not _same_outcome(expected_outcome, actual_outcome):
        mismatch(_describe_outcome(expected_outcome), _describe_outcome(actual_outcome))
    return found


def check_history(recorded: RecordedHistory, call: OrchestratorCall) -> ReplayReport:
    """Replay every episode; stop at the first that differs (later ones would too)."""
    report = ReplayReport(recorded.name, recorded.instance_id)
    episodes = split_episodes(recorded.history)
    report.episodes = len(episodes)
    for episode in episodes:
        if episode.control:
            continue
        _, decision = replay_episode(recorded, episode, call)
        report.checked += 1
        report.mismatches = compare_episode(recorded, episode, decision)
        if report.mismatches:
            break
    return report


def check_recorded(
    recorded: RecordedHistory, functions: Mapping[str, IndexedFunction]
) -> ReplayReport:
    """Replay against the app's orchestrator of the recorded name, which must still exist."""
    function = functions.get(recorded.name)
    if function is None or function.trigger_type != ORCHESTRATION:
        report = ReplayReport(recorded.name, recorded.instance_id)
        report.mismatches.append(
            Mismatch(
                recorded.name,
                recorded.instance_id,
                "the whole history",
                f"an orchestrator function named '{recorded.name}'",
                "no such orchestrator in the app",
            )
        )
        return report
    return check_history(recorded, call_function(function))


# -- descriptions ---------------------------------------------------------------------


def _kind(e: dict[str, Any]) -> str:
    try:
        return EventType(e["EventType"]).name
    except ValueError:
        return f"EventType {e['EventType']}"


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _short(e: dict[str, Any]) -> str:
    task = e.get("TaskScheduledId", e.get("TimerId"))
    if task is not None:
        return f"{_kind(e)} #{task}"
    if e.get("Name"):
        return f"{_kind(e)} '{e['Name']}'"
    return _kind(e)


def describe_event(e: dict[str, Any]) -> str:
    """A scheduling event as the failure message shows it."""
    parts = [f"{_kind(e)} #{e.get('EventId')}"]
    if e.get("Name") is not None:
        parts.append(f"'{e['Name']}'")
    if e.get("InstanceId") is not None:
        parts.append(f"instance '{e['InstanceId']}'")
    if e.get("FireAt") is not None:
        parts.append(f"fire at {e['FireAt']}")
    if e.get("RetryOf") is not None:
        parts.append(f"retry of #{e['RetryOf']}")
    if e.get("Input") is not None:
        parts.append(f"input {_clip(e['Input'])}")
    return " ".join(parts)


def _json_value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _same_task(want: dict[str, Any], got: dict[str, Any]) -> bool:
    for name in COMPARED_FIELDS:
        a, b = want.get(name), got.get(name)
        if name == "Input":
            a, b = _json_value(a), _json_value(b)
        elif name == "FireAt" and a is not None and b is not None:
            a, b = parse_iso(str(a)), parse_iso(str(b))
        if a != b:
            return False
    return True


# An outcome: (kind, value) with kind None (still running), Completed, Failed, ContinuedAsNew.
Outcome = tuple[str | None, Any]


def _recorded_outcome(terminal: dict[str, Any] | None) -> Outcome:
    if terminal is None:
        return None, None
    if terminal["EventType"] == EventType.ContinueAsNew:
        return "ContinuedAsNew", _json_value(terminal.get("Input"))
    status = terminal.get("OrchestrationStatus", "Completed")
    if status == "Completed":
        return "Completed", _json_value(terminal.get("Result"))
    return str(status), terminal.get("Result")


def _decided_outcome(decision: Decision) -> Outcome:
    if decision.outcome == "Completed":
        return "Completed", decision.output
    if decision.outcome == "ContinuedAsNew":
        return "ContinuedAsNew", _json_value(decision.continue_input)
    if decision.outcome == "Failed":
        return "Failed", decision.error
    return None, None


def _same_outcome(want: Outcome, got: Outcome) -> bool:
    return want == got


def _describe_outcome(outcome: Outcome) -> str:
    kind, value = outcome
    if kind is None:
        return "the orchestration keeps running"
    if kind == "Completed":
        return f"the orchestration completes with output {_clip(value)}"
    if kind == "ContinuedAsNew":
        return f"the orchestration continues as new with input {_clip(value)}"
    return f"the orchestration ends {kind}: {_clip(value)}"
