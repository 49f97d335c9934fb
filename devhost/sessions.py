"""Orchestrator sessions: keep a running orchestrator between episodes (extended sessions).

Without a session every episode replays the whole history through the SDK: it builds the
request JSON, decodes every event into a `HistoryEvent`, re-runs the generator from the
top and feeds it every completion again, so a sequence of n steps costs O(n²). The
Durable extension's *extended sessions* keep the orchestrator in memory instead; this
module does the same with the Python SDK's own objects.

A session is the SDK's `Orchestrator` (its `TaskOrchestrationExecutor`, the
`DurableOrchestrationContext` and the suspended user generator) exactly as the SDK's
handler left it after an episode. The next episode's new events go through the
executor's own `process_event`, the loop body of `TaskOrchestrationExecutor.execute`,
and the answer is the executor's own `get_orchestrator_state_str()`. So the SDK still
decides everything the orchestrator does; a session only skips re-running what the
generator already ran.

A session is used only when it has seen exactly the history the engine holds
(`position == len(history)`); anything else (a restart, an eviction, a suspend/resume
recorded without calling the orchestrator, continue-as-new, a failure) replays in full
and opens a new session. With `DEVHOST_SESSION_CHECK=1` every resumed episode is also
replayed in full and the two answers must be equal, or the orchestration fails with a
message saying so: the test suite's proof that sessions change nothing.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.orchestrator import Orchestrator
from azure.functions import meta
from azure.functions.durable_functions import OrchestrationTriggerConverter

from .replay import OrchestratorAnswer, read_answer

CHECK_ENV = "DEVHOST_SESSION_CHECK"
# Sessions kept at once; the least recently used is dropped (it replays in full next time).
DEFAULT_LIMIT = 2000


class SessionDiverged(Exception):
    """A resumed episode answered differently from a full replay (check mode only)."""


class Session:
    """One instance's orchestrator, suspended between episodes."""

    def __init__(self, orchestrator: Orchestrator):
        self._orchestrator = orchestrator
        # How many events of the engine's history the session has seen (see `record`).
        self.position = -1

    @staticmethod
    def supported(handler: Any) -> bool:
        """A handler the SDK's `Orchestrator.create` built (the v1 and v2 models both do)."""
        return callable(getattr(handler, "orchestrator_function", None))

    @classmethod
    def open(cls, handler: Any, body: str) -> tuple[Session | None, OrchestratorAnswer]:
        """A full replay, as `handler` does it, keeping the SDK's objects afterwards.

        The same steps as the SDK's `Orchestrator.create(...).handle`: decode the context,
        give it the declared input type, run a new `Orchestrator` on it.
        """
        context = DurableOrchestrationContext.from_json(body)
        context._input_expected_type = getattr(handler, "_df_input_type", None)
        orchestrator = Orchestrator(handler.orchestrator_function)
        try:
            answer = read_answer(returned=orchestrator.handle(context))
        except Exception as error:  # the SDK reports orchestrator failures by raising
            return None, read_answer(raised=error)
        executor = orchestrator.task_orchestration_executor
        if answer.is_done or not hasattr(executor, "generator"):
            return None, answer
        return cls(orchestrator), answer

    def resume(self, new_events: list[dict[str, Any]]) -> OrchestratorAnswer:
        """Feed only this episode's events to the suspended orchestrator.

        The events pass through JSON as in a full replay, so the SDK sees the same values.
        """
        executor = self._orchestrator.task_orchestration_executor
        events = [_history_event(e, played=False) for e in new_events]
        executor.context.histories.extend(events)
        executor._is_processing_new_events = True
        for history_event in events:
            executor.process_event(history_event)
            if executor.has_execution_completed:
                break
        try:
            return read_answer(returned=executor.get_orchestrator_state_str())
        except Exception as error:
            return read_answer(raised=error)

    def record(self, fed: int, appended: list[dict[str, Any]], position: int) -> None:
        """After the episode: what the engine appended to history, as a full replay sees it.

        `appended` starts with the `fed` events the orchestrator was given; they and the
        rest (what the episode scheduled, OrchestratorCompleted) read as played from now.
        """
        histories = self._orchestrator.task_orchestration_executor.context.histories
        for history_event in histories[len(histories) - fed :]:
            history_event._is_played = True
        histories.extend(_history_event(e, played=True) for e in appended[fed:])
        self.position = position


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
        body: Callable[[], str],
        new_events: list[dict[str, Any]],
    ) -> tuple[Session | None, OrchestratorAnswer]:
        """One episode: resumed when `session` is given, else a full replay of `body()`.

        `body` builds the full request only when it is needed. Handlers that the SDK's
        `Orchestrator.create` did not build are called as the worker calls them.
        """
        if session is not None:
            answer = session.resume(new_events)
            self.resumed += 1
            if self.check:
                _, replayed = Session.open(handler, body())
                if replayed != answer:
                    raise SessionDiverged(
                        "devhost's orchestrator session answered differently from a full "
                        f"replay: session {answer}, replay {replayed}"
                    )
            return (None if answer.is_done else session), answer
        self.replayed += 1
        if Session.supported(handler):
            return Session.open(handler, body())
        return None, call_handler(handler, param, body())


def call_handler(handler: Any, param: str, body: str) -> OrchestratorAnswer:
    """Call an orchestrator handler with the request as the Python worker passes it."""
    context = OrchestrationTriggerConverter.decode(meta.Datum(body, "json"), trigger_metadata=None)
    try:
        return read_answer(returned=handler(**{param: context}))
    except Exception as error:  # the SDK reports orchestrator failures by raising
        return read_answer(raised=error)


def _history_event(data: dict[str, Any], played: bool) -> HistoryEvent:
    """The SDK's event for `data`, through JSON as the full request would carry it."""
    return HistoryEvent(**json.loads(json.dumps({**data, "IsPlayed": played})))
