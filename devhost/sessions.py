"""Orchestrator sessions: keep a running orchestrator between episodes (extended sessions).

Without a session every episode replays the whole history through the SDK: it builds the
request JSON, decodes every event into a `HistoryEvent`, re-runs the generator from the
top and feeds it every completion again, so a sequence of n steps costs O(n²). The
Durable extension's *extended sessions* keep the orchestrator in memory instead; this
module does the same with the Python SDK's own objects.

A session is the SDK's `Orchestrator` (its `TaskOrchestrationExecutor`, the
`DurableOrchestrationContext` and the suspended user generator) exactly as the SDK's
handler left it after an episode. The next episode's new events go through the
executor's own `process_event`, the loop body of `TaskOrchestrationExecutor.execute`.
While the orchestrator runs on, the answer holds only the actions the SDK added in the
episode, each encoded as `get_orchestrator_state_str()` encodes it (that method encodes
every action scheduled so far, on every call), and the session's `replay.Replayer`, which
takes in the events appended to history, decides the episode from them; an answer that
ends the orchestration is the SDK's own `get_orchestrator_state_str()`, decided against
the whole history. So the SDK still decides everything the orchestrator does; a session
only skips re-running what the generator already ran and re-reading what was decided.

A session is used only when it has seen exactly the history the engine holds
(`position == len(history)`); anything else (a restart, an eviction, a suspend/resume
recorded without calling the orchestrator, continue-as-new, a failure) replays in full
and opens a new session. With `DEVHOST_SESSION_CHECK=1` every resumed episode is also
replayed in full and the two decisions (what the episode adds to history, the work it
starts, the outcome) must be equal, or the orchestration fails with a message saying so:
the test suite's proof that sessions change nothing.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.durable_functions.models.actions.Action import Action
from azure.durable_functions.models.actions.CompoundAction import CompoundAction
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.ReplaySchema import ReplaySchema
from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.durable_functions.orchestrator import Orchestrator
from azure.functions import meta
from azure.functions.durable_functions import OrchestrationTriggerConverter

from .replay import Decision, OrchestratorAnswer, Replayer, decide, flatten, read_answer

CHECK_ENV = "DEVHOST_SESSION_CHECK"
# Sessions kept at once; the least recently used is dropped (it replays in full next time).
DEFAULT_LIMIT = 2000


class SessionDiverged(Exception):
    """A resumed episode answered differently from a full replay (check mode only)."""


class Session:
    """One instance's orchestrator, suspended between episodes, and what `decide` knows."""

    def __init__(self, orchestrator: Orchestrator, replayer: Replayer):
        self._orchestrator = orchestrator
        self._replayer = replayer
        # How many of the SDK's (top-level) actions earlier episodes have read.
        self._seen = 0
        # Timers the orchestrator scheduled that have neither fired nor been cancelled:
        # the only earlier actions that can still change (a timer's cancel()).
        self._timers: dict[int, Action] = {}
        # How many events of the engine's history the session has seen (see `record`).
        self.position = -1

    @staticmethod
    def supported(handler: Any) -> bool:
        """A handler the SDK's `Orchestrator.create` built (the v1 and v2 models both do)."""
        return callable(getattr(handler, "orchestrator_function", None))

    @classmethod
    def open(
        cls,
        handler: Any,
        body: str,
        instance_id: str,
        history: Callable[[], list[dict[str, Any]]],
        now: datetime,
    ) -> tuple[Session | None, OrchestratorAnswer, Decision]:
        """A full replay, as `handler` does it, keeping the SDK's objects afterwards.

        The same steps as the SDK's `Orchestrator.create(...).handle`: decode the context,
        give it the declared input type, run a new `Orchestrator` on it. `history()` is the
        whole history with this episode's events, which the answer is decided against.
        """
        context = DurableOrchestrationContext.from_json(body)
        context._input_expected_type = getattr(handler, "_df_input_type", None)
        orchestrator = Orchestrator(handler.orchestrator_function)
        try:
            answer = read_answer(returned=orchestrator.handle(context))
        except Exception as error:  # the SDK reports orchestrator failures by raising
            answer = read_answer(raised=error)
            return None, answer, decide(instance_id, history(), answer, now)
        replayer = Replayer(instance_id, history(), now)
        decision = replayer.decide(answer)
        executor = orchestrator.task_orchestration_executor
        running = decision.outcome is None and hasattr(executor, "generator")
        if not running or context._replay_schema is ReplaySchema.V1:
            return None, answer, decision
        session = cls(orchestrator, replayer)
        session._read(context._action_payload_v2)
        return session, answer, decision

    def _read(self, payload: list[Action]) -> None:
        """Take note of the SDK's actions added since the last episode, now decided."""
        added = _flat_actions(payload[self._seen :])
        self._seen = len(payload)
        replayer = self._replayer
        for index, event_id, _ in replayer.bound:
            action = added[index]
            if isinstance(action, CreateTimerAction) and not (
                event_id in replayer.cancelled or event_id in replayer.outcomes
            ):
                self._timers[event_id] = action

    def resume(
        self,
        new_events: list[dict[str, Any]],
        history: Callable[[], list[dict[str, Any]]],
        now: datetime,
    ) -> tuple[OrchestratorAnswer, Decision]:
        """Feed only this episode's events to the suspended orchestrator, and decide.

        The events pass through JSON as in a full replay, so the SDK sees the same values.
        While the orchestrator runs on, the answer holds only the actions it added (the
        SDK's own serialization of each), decided from what is new (`Replayer.resume`);
        once it has finished or failed, the answer is the SDK's whole state and is decided
        against `history()` as a full replay is.
        """
        executor = self._orchestrator.task_orchestration_executor
        context = executor.context
        events = [_history_event(e, played=False) for e in new_events]
        context.histories.extend(events)
        executor._is_processing_new_events = True
        for history_event in events:
            executor.process_event(history_event)
            if executor.has_execution_completed:
                break
        replayer = self._replayer
        if not executor.has_execution_completed:
            payload = context._action_payload_v2
            try:
                # As get_orchestrator_state_str() encodes them, but only the new ones.
                actions = flatten(
                    json.loads(df_dumps([a.to_json() for a in payload[self._seen :]]))
                )
                custom = context.custom_status
                answer = OrchestratorAnswer(
                    is_done=False,
                    actions=actions,
                    output=None,
                    error=None,
                    custom_status=json.loads(df_dumps(custom)) if custom else None,
                )
            except Exception:  # what the SDK's own encoding makes of it, below
                pass
            else:
                cancelled = {
                    event_id
                    for event_id, timer in self._timers.items()
                    if timer.to_json().get("isCanceled")
                }
                decision = replayer.resume(new_events, answer, cancelled, now)
                self._timers = {
                    event_id: timer
                    for event_id, timer in self._timers.items()
                    if event_id not in cancelled and event_id not in replayer.outcomes
                }
                self._read(payload)
                return answer, decision
        try:
            answer = read_answer(returned=executor.get_orchestrator_state_str())
        except Exception as error:
            answer = read_answer(raised=error)
        decision = decide(replayer.instance_id, history(), answer, now)
        # The engine stopped the timers cancelled in earlier episodes already.
        decision.cancelled_timers -= replayer.cancelled
        self.position = -1  # the session ends here
        return answer, decision

    @property
    def cancelled(self) -> set[int]:
        """The timers cancelled in episodes decided so far."""
        return set(self._replayer.cancelled)

    def record(self, fed: int, appended: list[dict[str, Any]], position: int) -> None:
        """After the episode: what the engine appended to history, as a full replay sees it.

        `appended` starts with the `fed` events the orchestrator was given; they and the
        rest (what the episode scheduled, OrchestratorCompleted) read as played from now.
        """
        histories = self._orchestrator.task_orchestration_executor.context.histories
        for history_event in histories[len(histories) - fed :]:
            history_event._is_played = True
        histories.extend(_history_event(e, played=True) for e in appended[fed:])
        self._replayer.absorb(appended[fed:])
        # A session that lost count of history is not used again.
        self.position = position if self._replayer.length == position else -1


class Sessions:
    """The engine's sessions by instance id, least recently used dropped past `limit`."""

    def __init__(self, limit: int = DEFAULT_LIMIT, check: bool | None = None):
        self.limit = limit
        self.check = os.environ.get(CHECK_ENV) == "1" if check is None else check
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.resumed = 0
        self.replayed = 0

    def take(self, instance_id: str, position: int) -> Session | None:
        """The instance's session if it has seen exactly `position` events of history."""
        session = self._sessions.pop(instance_id, None)
        return session if session is not None and session.position == position else None

    def keep(self, instance_id: str, session: Session) -> None:
        self._sessions[instance_id] = session
        while len(self._sessions) > self.limit:
            self._sessions.popitem(last=False)

    def drop(self, instance_id: str) -> None:
        self._sessions.pop(instance_id, None)

    def run(
        self,
        handler: Any,
        param: str,
        session: Session | None,
        episode: EpisodeInput,
    ) -> tuple[Session | None, OrchestratorAnswer, Decision]:
        """One episode: resumed when `session` is given, else a full replay; decided.

        `episode.body()` builds the full request only when it is needed. Handlers that the
        SDK's `Orchestrator.create` did not build are called as the worker calls them.
        """
        if session is not None:
            cancelled_before = session.cancelled
            answer, decision = session.resume(episode.new_events, episode.history, episode.now)
            self.resumed += 1
            if self.check:
                _, _, replayed = Session.open(
                    handler, episode.body(), episode.instance_id, episode.history, episode.now
                )
                # A session's decision names only the timers cancelled since the last one.
                replayed.cancelled_timers -= cancelled_before
                if replayed != decision:
                    raise SessionDiverged(
                        "devhost's orchestrator session decided differently from a full "
                        f"replay: session {decision}, replay {replayed}"
                    )
            return (
                (session if session.position >= 0 and decision.outcome is None else None),
                answer,
                decision,
            )
        self.replayed += 1
        if Session.supported(handler):
            return Session.open(
                handler, episode.body(), episode.instance_id, episode.history, episode.now
            )
        answer = call_handler(handler, param, episode.body())
        return None, answer, decide(episode.instance_id, episode.history(), answer, episode.now)


@dataclass
class EpisodeInput:
    """What an episode gives the orchestrator: its new events, and on demand the whole
    history (with those events) and the full request body."""

    instance_id: str
    new_events: list[dict[str, Any]]
    history: Callable[[], list[dict[str, Any]]]
    body: Callable[[], str]
    now: datetime


def call_handler(handler: Any, param: str, body: str) -> OrchestratorAnswer:
    """Call an orchestrator handler with the request as the Python worker passes it."""
    context = OrchestrationTriggerConverter.decode(meta.Datum(body, "json"), trigger_metadata=None)
    try:
        return read_answer(returned=handler(**{param: context}))
    except Exception as error:  # the SDK reports orchestrator failures by raising
        return read_answer(raised=error)


# Values that come out of a JSON round trip as they went in (exact types: an IntEnum or a
# str subclass would not).
_JSON_SAME = frozenset({str, int, float, bool, type(None)})


def _history_event(data: dict[str, Any], played: bool) -> HistoryEvent:
    """The SDK's event for `data`, as the full request's JSON would carry it.

    An event whose fields are all plain strings, numbers, booleans or nulls (every event
    devhost writes: payloads are JSON text) is what the round trip would give, so it is
    not made; anything else goes through JSON."""
    fields = {**data, "IsPlayed": played}
    if not all(type(value) in _JSON_SAME for value in fields.values()):
        fields = json.loads(json.dumps(fields))
    return HistoryEvent(**fields)


def _flat_actions(actions: list[Action]) -> list[Action]:
    """The SDK's atomic actions in the order `replay.flatten` lists their JSON."""
    flat: list[Action] = []
    for action in actions:
        if isinstance(action, CompoundAction):
            flat.extend(_flat_actions(action.compound_tasks))
        else:
            flat.append(action)
    return flat
