"""Turn an orchestrator's returned actions into history events, as the Durable extension does.

Pure functions over history lists (one dict per event, DTFx field names), no I/O. The
engine calls `orchestrator_request` to build the JSON the Python SDK expects, runs the
registered handler with it, and hands the answer to `decide`, which says what to append
to history and what work to start.

Sequence numbers: the SDK numbers every scheduled task (activity, timer, sub-orchestration)
in the order its code creates them, and matches completions by that number (`EventId` of
the scheduling event). Actions come back as one list (schema V2+) holding everything ever
scheduled, so the first actions correspond to events already in history and the rest are
new. Retries (`call_activity_with_retry`) are one action for the SDK but a chain of
events here (attempt, timer, attempt, ...): follow-up events carry `RetryOf` so the chain
can be found again on replay.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


class ActionType(IntEnum):
    CallActivity = 0
    CallActivityWithRetry = 1
    CallSubOrchestrator = 2
    CallSubOrchestratorWithRetry = 3
    ContinueAsNew = 4
    CreateTimer = 5
    WaitForExternalEvent = 6
    CallEntity = 7
    CallHttp = 8
    SignalEntity = 9
    WhenAny = 11
    WhenAll = 12


SCHEDULING_EVENTS = {
    EventType.TaskScheduled,
    EventType.TimerCreated,
    EventType.SubOrchestrationInstanceCreated,
}
COMPLETION_EVENTS = {
    EventType.TaskCompleted: "TaskScheduledId",
    EventType.TaskFailed: "TaskScheduledId",
    EventType.SubOrchestrationInstanceCompleted: "TaskScheduledId",
    EventType.SubOrchestrationInstanceFailed: "TaskScheduledId",
    EventType.TimerFired: "TimerId",
}
FAILURE_EVENTS = {EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed}
ACTION_EVENT = {
    ActionType.CallActivity: EventType.TaskScheduled,
    ActionType.CallActivityWithRetry: EventType.TaskScheduled,
    ActionType.CallSubOrchestrator: EventType.SubOrchestrationInstanceCreated,
    ActionType.CallSubOrchestratorWithRetry: EventType.SubOrchestrationInstanceCreated,
    ActionType.CreateTimer: EventType.TimerCreated,
}
RETRY_ACTIONS = {ActionType.CallActivityWithRetry, ActionType.CallSubOrchestratorWithRetry}
UNSUPPORTED_ACTIONS = {
    ActionType.CallEntity: "durable entities",
    ActionType.SignalEntity: "durable entities",
    ActionType.CallHttp: "call_http",
}
OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
# The replay schema this host speaks (V3), as the extension advertises it.
UPPER_SCHEMA_VERSION = 2


def iso(moment: datetime) -> str:
    """DTFx's timestamp format: UTC with seven fractional digits trimmed to six."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event(kind: EventType, now: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """A history event with the common fields every event carries."""
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": iso(now),
        **{k: v for k, v in fields.items() if v is not None},
    }


def played_json(history_event: dict[str, Any]) -> str:
    """An event as it appears in every later replay (IsPlayed true): cacheable text."""
    return json.dumps({**history_event, "IsPlayed": True})


def orchestrator_request(
    instance_id: str,
    played: list[str],
    new_events: list[dict[str, Any]],
    orchestration_input: str | None,
    parent_instance_id: str | None,
) -> str:
    """The JSON body the extension sends to a Python orchestrator function.

    `played` is the earlier history, already serialized by `played_json` (the host
    keeps that text, so a long history is not encoded again on every replay);
    `new_events` are this episode's, sent with IsPlayed false.
    """
    fresh = [json.dumps({**e, "IsPlayed": False}) for e in new_events]
    envelope = json.dumps(
        {
            "input": orchestration_input,
            "instanceId": instance_id,
            "isReplaying": bool(played),
            "parentInstanceId": parent_instance_id,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION,
        }
    )
    return '{"history": [' + ", ".join(played + fresh) + "], " + envelope[1:]


@dataclass
class OrchestratorAnswer:
    """What the handler returned (or raised), decoded."""

    is_done: bool
    actions: list[dict[str, Any]]
    output: Any
    error: str | None
    custom_status: Any


def read_answer(returned: Any = None, raised: BaseException | None = None) -> OrchestratorAnswer:
    """Decode the handler's JSON answer, or the state carried in its exception message."""
    if raised is not None:
        message = str(raised)
        state: dict[str, Any] = {}
        if OUT_OF_PROC_MARKER in message:
            message, _, state_json = message.partition(OUT_OF_PROC_MARKER)
            state = json.loads(state_json)
        else:
            message = f"{type(raised).__name__}: {message}"
        return OrchestratorAnswer(
            is_done=True,
            actions=flatten(state.get("actions", [])),
            output=None,
            error=message or type(raised).__name__,
            custom_status=state.get("customStatus"),
        )
    state = json.loads(returned) if isinstance(returned, (str, bytes)) else returned
    return OrchestratorAnswer(
        is_done=bool(state.get("isDone")),
        actions=flatten(state.get("actions", [])),
        output=state.get("output"),
        error=state.get("error"),
        custom_status=state.get("customStatus"),
    )


def flatten(actions: list[Any]) -> list[dict[str, Any]]:
    """Atomic actions in scheduling order: V1 lists of lists and V2 compound trees alike."""
    flat: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                visit(child)
        elif node.get("actionType") in (ActionType.WhenAll, ActionType.WhenAny):
            for child in node.get("compoundActions", []):
                visit(child)
        else:
            flat.append(node)

    visit(actions)
    return flat


@dataclass
class ActivityWork:
    event_id: int
    name: str
    input: str | None


@dataclass
class TimerWork:
    event_id: int
    fire_at: datetime


@dataclass
class SubOrchestrationWork:
    event_id: int
    name: str
    instance_id: str
    input: str | None


@dataclass
class Decision:
    """What one episode appends to history and sets in motion."""

    events: list[dict[str, Any]] = field(default_factory=list)
    activities: list[ActivityWork] = field(default_factory=list)
    timers: list[TimerWork] = field(default_factory=list)
    cancelled_timers: set[int] = field(default_factory=set)
    sub_orchestrations: list[SubOrchestrationWork] = field(default_factory=list)
    # One of: None (still running), "Completed", "Failed", "ContinuedAsNew".
    outcome: str | None = None
    output: Any = None
    error: str | None = None
    continue_input: str | None = None
    custom_status: Any = None

    def closing_events(self, now: datetime) -> list[dict[str, Any]]:
        """The event that ends the execution when the episode ended it (none otherwise)."""
        if self.outcome in ("Completed", "Failed"):
            result = json.dumps(self.output) if self.outcome == "Completed" else self.error
            return [
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus=self.outcome,
                    Result=result,
                )
            ]
        if self.outcome == "ContinuedAsNew":
            return [event(EventType.ContinueAsNew, now, Input=self.continue_input)]
        return []


def _encode(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def _action_name(action: dict[str, Any]) -> str | None:
    return action.get("functionName")


def _child_instance_id(instance_id: str, event_id: int, action: dict[str, Any]) -> str:
    """Sub-orchestrations without an explicit id get one derived from the parent and task."""
    return action.get("instanceId") or f"{instance_id}:{event_id:04X}"


class NonDeterminismError(Exception):
    pass


class Replayer:
    """What `decide` knows of an execution's history, and the episode being decided.

    Built from the whole history for a full replay (`decide`). An orchestrator session
    keeps its replayer between episodes: `absorb` adds the events each episode appends,
    and `resume` decides the next episode from what is new only (the new events and the
    actions the orchestrator added), so a step costs the same at event 10 as at 10,000.
    """

    def __init__(self, instance_id: str, history: list[dict[str, Any]], now: datetime):
        self.instance_id = instance_id
        self.now = now
        self.decision = Decision()
        self.scheduled: dict[int, dict[str, Any]] = {}
        self.outcomes: dict[int, tuple[int, dict[str, Any]]] = {}
        # Scheduling events of the orchestrator's own actions (not retry follow-ups), by id.
        self.primary_ids: list[int] = []
        # Each retried call's follow-up events (RetryOf), by the id of its first attempt.
        self.retries: dict[int, list[int]] = {}
        self.next_id = 0
        # How many events of history the replayer has seen.
        self.length = 0
        self.absorb(history)
        self.cursor = 0
        # Retry follow-ups, ordered by the history index of the event that caused them.
        self.followups: list[tuple[int, dict[str, Any]]] = []
        # Each primary action of the episode with the task id it has: (index in the
        # episode's actions, event id, action).
        self.bound: list[tuple[int, int, dict[str, Any]]] = []
        # Kept between resumed episodes: retried calls by first attempt, cancelled timers.
        self.retry_actions: dict[int, dict[str, Any]] = {}
        self.cancelled: set[int] = set()

    def absorb(self, events: list[dict[str, Any]]) -> None:
        """Take in events appended to the history."""
        for e in events:
            kind = e["EventType"]
            if kind in SCHEDULING_EVENTS:
                event_id = e["EventId"]
                if event_id in self.scheduled:  # never in devhost's histories; kept exact
                    self.scheduled[event_id] = e
                    self._reindex()
                else:
                    self.scheduled[event_id] = e
                    self._index(event_id, e)
                    self.next_id = max(self.next_id, event_id + 1)
            elif kind in COMPLETION_EVENTS:
                self.outcomes.setdefault(e[COMPLETION_EVENTS[EventType(kind)]], (self.length, e))
            self.length += 1

    def _index(self, event_id: int, e: dict[str, Any]) -> None:
        if "RetryOf" not in e:
            if self.primary_ids and event_id < self.primary_ids[-1]:
                bisect.insort(self.primary_ids, event_id)
            else:
                self.primary_ids.append(event_id)
        elif e["RetryOf"] is not None:
            self.retries.setdefault(e["RetryOf"], []).append(event_id)

    def _reindex(self) -> None:
        self.primary_ids, self.retries = [], {}
        for event_id in sorted(self.scheduled):
            self._index(event_id, self.scheduled[event_id])

    def allocate(self) -> int:
        event_id = self.next_id
        self.next_id += 1
        return event_id

    def schedule(self, action: dict[str, Any], event_id: int, retry_of: int | None) -> None:
        kind = ActionType(action["actionType"])
        if kind in (ActionType.CallActivity, ActionType.CallActivityWithRetry):
            self.decision.events.append(
                event(
                    EventType.TaskScheduled,
                    self.now,
                    event_id,
                    Name=action["functionName"],
                    Input=_encode(action.get("input")),
                    RetryOf=retry_of,
                )
            )
            self.decision.activities.append(
                ActivityWork(event_id, action["functionName"], _encode(action.get("input")))
            )
        elif kind in (ActionType.CallSubOrchestrator, ActionType.CallSubOrchestratorWithRetry):
            # A retried sub-orchestration runs again under the same instance id.
            base_id = retry_of if retry_of is not None else event_id
            child = _child_instance_id(self.instance_id, base_id, action)
            self.decision.events.append(
                event(
                    EventType.SubOrchestrationInstanceCreated,
                    self.now,
                    event_id,
                    Name=action["functionName"],
                    InstanceId=child,
                    Input=_encode(action.get("input")),
                    RetryOf=retry_of,
                )
            )
            self.decision.sub_orchestrations.append(
                SubOrchestrationWork(
                    event_id, action["functionName"], child, _encode(action.get("input"))
                )
            )
        elif kind == ActionType.CreateTimer:
            fire_at = parse_iso(action["fireAt"])
            self.decision.events.append(
                event(
                    EventType.TimerCreated,
                    self.now,
                    event_id,
                    FireAt=iso(fire_at),
                    RetryOf=retry_of,
                )
            )
            if action.get("isCanceled"):
                self.decision.cancelled_timers.add(event_id)
            else:
                self.decision.timers.append(TimerWork(event_id, fire_at))

    def retry_timer(self, retry_of: int, delay: timedelta) -> dict[str, Any]:
        return {
            "actionType": ActionType.CreateTimer,
            "fireAt": iso(self.now + delay),
        }

    def replay_retry_chain(self, action: dict[str, Any], base_id: int) -> None:
        """Find where a retried call stands and add the timer or attempt that comes next."""
        options = action.get("retryOptions") or {}
        max_attempts = int(options.get("maxNumberOfAttempts", 1))
        delay = timedelta(milliseconds=int(options.get("firstRetryIntervalInMilliseconds", 0)))
        chain = sorted([base_id, *self.retries.get(base_id, [])])
        last_id = chain[-1]
        last = self.scheduled[last_id]
        attempts = sum(1 for i in chain if self.scheduled[i]["EventType"] != EventType.TimerCreated)
        outcome = self.outcomes.get(last_id)
        if outcome is None:
            return
        index, result = outcome
        if last["EventType"] == EventType.TimerCreated:
            if attempts < max_attempts:
                self.followups.append((index, {"action": action, "retry_of": base_id}))
        elif result["EventType"] in FAILURE_EVENTS:
            self.followups.append(
                (index, {"action": self.retry_timer(base_id, delay), "retry_of": base_id})
            )

    def kind_of(self, action: dict[str, Any]) -> ActionType:
        kind = ActionType(action["actionType"])
        if kind in UNSUPPORTED_ACTIONS:
            raise NonDeterminismError(
                f"{UNSUPPORTED_ACTIONS[kind]} ({kind.name}) is not supported by devhost"
            )
        return kind

    def replay(self, actions: list[dict[str, Any]]) -> None:
        """Match every action with history (a full replay), then schedule the new ones."""
        new_primary: list[tuple[int, dict[str, Any]]] = []
        for index, action in enumerate(actions):
            kind = self.kind_of(action)
            if kind not in ACTION_EVENT:
                continue
            if self.cursor < len(self.primary_ids):
                event_id = self.primary_ids[self.cursor]
                self.cursor += 1
                self.check_matches(action, self.scheduled[event_id])
                self.bound.append((index, event_id, action))
                if kind == ActionType.CreateTimer and action.get("isCanceled"):
                    self.decision.cancelled_timers.add(event_id)
                if kind in RETRY_ACTIONS:
                    self.replay_retry_chain(action, event_id)
            else:
                new_primary.append((index, action))
        self.schedule_new(new_primary)

    def schedule_new(self, new_primary: list[tuple[int, dict[str, Any]]]) -> None:
        """Retry follow-ups first, in the order of their causes, then the new actions."""
        for _, followup in sorted(self.followups, key=lambda pair: pair[0]):
            self.schedule(followup["action"], self.allocate(), followup["retry_of"])
        for index, action in new_primary:
            event_id = self.allocate()
            self.schedule(action, event_id, None)
            self.bound.append((index, event_id, action))
        for _, event_id, action in self.bound:
            if ActionType(action["actionType"]) in RETRY_ACTIONS:
                self.retry_actions[event_id] = action

    def decide(self, answer: OrchestratorAnswer) -> Decision:
        """Everything the episode adds, given all of the orchestrator's actions."""
        decision = self.decision
        decision.custom_status = answer.custom_status
        if answer.error is not None:
            decision.outcome, decision.error = "Failed", answer.error
            return decision
        try:
            self.replay(answer.actions)
        except NonDeterminismError as error:
            return Decision(outcome="Failed", error=str(error), custom_status=answer.custom_status)
        self.cancelled = set(decision.cancelled_timers)
        return self.conclude(answer)

    def resume(
        self,
        events: list[dict[str, Any]],
        answer: OrchestratorAnswer,
        cancelled: set[int],
        now: datetime,
    ) -> Decision:
        """Decide an episode of a session from what is new since the last one.

        `events` are the episode's incoming events, `answer.actions` only the actions the
        orchestrator added in it: the earlier ones were matched with history before and do
        not change, except that a timer may be cancelled (`cancelled`: earlier timers
        cancelled since). The same decision as `decide` on the whole history and every
        action, except that `cancelled_timers` holds only the timers cancelled since the
        last episode (the engine stopped the others then).
        """
        first = self.length
        self.absorb(events)
        self.now, self.decision, self.followups, self.bound = now, Decision(), [], []
        decision = self.decision
        decision.custom_status = answer.custom_status
        decision.cancelled_timers = set(cancelled) - self.cancelled
        if answer.error is not None:
            decision.outcome, decision.error = "Failed", answer.error
            return decision
        try:
            # A retried call moves on once the last task of its chain has its result, which
            # only a new event can bring.
            for base in self.retries_moved(events, first):
                self.replay_retry_chain(self.retry_actions[base], base)
            new_primary: list[tuple[int, dict[str, Any]]] = []
            for index, action in enumerate(answer.actions):
                if self.kind_of(action) in ACTION_EVENT:
                    new_primary.append((index, action))
            self.schedule_new(new_primary)
        except NonDeterminismError as error:
            return Decision(outcome="Failed", error=str(error), custom_status=answer.custom_status)
        self.cancelled |= decision.cancelled_timers
        return self.conclude(answer)

    def retries_moved(self, events: list[dict[str, Any]], first: int) -> list[int]:
        """The retried calls (by first attempt) whose tasks got a result in `events`."""
        moved: list[int] = []
        for index, e in enumerate(events, first):
            kind = e["EventType"]
            if kind not in COMPLETION_EVENTS:
                continue
            task = e[COMPLETION_EVENTS[EventType(kind)]]
            if self.outcomes[task][0] != index:
                continue  # a second result for a task: replay reads only the first
            scheduled = self.scheduled.get(task, {})
            base = scheduled.get("RetryOf", task)
            if base in self.retry_actions and base not in moved:
                moved.append(base)
        return moved

    def conclude(self, answer: OrchestratorAnswer) -> Decision:
        """The outcome: continued as new, completed, or still running."""
        decision = self.decision
        continue_as_new = next(
            (a for a in answer.actions if a.get("actionType") == ActionType.ContinueAsNew), None
        )
        if continue_as_new is not None:
            decision.outcome = "ContinuedAsNew"
            decision.continue_input = _encode(continue_as_new.get("input"))
        elif answer.is_done:
            decision.outcome, decision.output = "Completed", answer.output
        if decision.outcome is not None:
            # Work scheduled in the episode that ends the orchestration is never started, so
            # history does not claim it was.
            decision.events = [
                e for e in decision.events if e["EventType"] not in SCHEDULING_EVENTS
            ]
            decision.activities, decision.timers, decision.sub_orchestrations = [], [], []
        return decision

    def check_matches(self, action: dict[str, Any], scheduled: dict[str, Any]) -> None:
        expected = ACTION_EVENT[ActionType(action["actionType"])]
        name = _action_name(action)
        if scheduled["EventType"] != expected or (
            name is not None and scheduled.get("Name") not in (None, name)
        ):
            raise NonDeterminismError(
                "Non-deterministic workflow detected: the orchestrator now schedules "
                f"{ActionType(action['actionType']).name} {name or ''} as task "
                f"{scheduled['EventId']}, but its history has "
                f"{EventType(scheduled['EventType']).name} {scheduled.get('Name') or ''}"
                " there. A code change altered the order of yields of a running "
                "orchestration."
            )


def decide(
    instance_id: str,
    history: list[dict[str, Any]],
    answer: OrchestratorAnswer,
    now: datetime,
) -> Decision:
    """Everything one episode adds, given the full history and the orchestrator's answer."""
    return Replayer(instance_id, history, now).decide(answer)


def pending_work(
    instance_id: str, history: list[dict[str, Any]]
) -> tuple[list[ActivityWork], list[TimerWork], list[SubOrchestrationWork]]:
    """Scheduled work with no completion in history: what a restarted host must resume."""
    completed = {
        e[COMPLETION_EVENTS[EventType(e["EventType"])]]
        for e in history
        if e["EventType"] in COMPLETION_EVENTS
    }
    activities, timers, subs = [], [], []
    for e in history:
        if e["EventType"] not in SCHEDULING_EVENTS or e["EventId"] in completed:
            continue
        if e["EventType"] == EventType.TaskScheduled:
            activities.append(ActivityWork(e["EventId"], e["Name"], e.get("Input")))
        elif e["EventType"] == EventType.TimerCreated:
            timers.append(TimerWork(e["EventId"], parse_iso(e["FireAt"])))
        elif e["EventType"] == EventType.SubOrchestrationInstanceCreated:
            subs.append(
                SubOrchestrationWork(e["EventId"], e["Name"], e["InstanceId"], e.get("Input"))
            )
    return activities, timers, subs
