"""One agent's life: started, deploy, operate until the deadline, cleanup, finished.

The flow is the same in both modes; how a step is acted out is the mode's `Actions`
(agent.local_actions, agent.live_actions). Every step is printed and reported as a
`command` event with its exit code and duration; `creates`/`deletes` steps that succeed
report `resource_created`/`resource_deleted`.

What a failing command means depends on the phase: in deploy it fails the agent; in
operate it is reported as an `error` and the agent carries on (being lived-in: one failed
upload is no reason to stop) unless MAX_FAILED_ROUNDS rounds in a row failed entirely; in
cleanup every step is still attempted, then the agent fails. Where the mode asks for it
(live), a failure in deploy or operate is followed by a best-effort cleanup before the
`failed` event.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from agent.actions import EFFECTS, Actions, Created, Outcome, Step
from agent.contract import Contract
from agent.operate_plan import OperatePlan
from agent.operate_window import OperateWindow
from agent.passwords import new_password
from agent.scrub import Scrubber
from haymaker.naming import name_prefix, name_stamp

# Real seconds a command may run: at most this, and no longer than the time left before
# the deadline, but never less than the floor (cleanup runs close to the deadline).
COMMAND_TIMEOUT = 20 * 60.0
MIN_COMMAND_TIMEOUT = 120.0
MAX_FAILED_ROUNDS = 3
# Local mode has no subscription; resource ids there only need the right shape.
LOCAL_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"


class EventSink(Protocol):
    """Where events go (agent.event_buffer.BufferedSender; haymaker.events.EventSender)."""

    def send(self, event: Mapping[str, Any]) -> Any: ...


class AgentTestFailure(RuntimeError):
    """Raised on purpose by the HAYMAKER_AGENT_FAIL_AT test hook."""


class StepFailed(RuntimeError):
    """A command failed where that fails the agent."""


class Lifecycle:
    """Runs the scenario of `contract`, reporting through `sender`, acting through `actions`."""

    def __init__(
        self, contract: Contract, actions: Actions, sender: EventSink, scrubber: Scrubber
    ) -> None:
        self._contract = contract
        self._actions = actions
        self._sender = sender
        self._scrubber = scrubber
        self._created: Created = {}
        # The phase every event is stamped with (deploy, operate, cleanup), so events can be
        # read by phase; None before the first one.
        self._phase: str | None = None
        self._window = OperateWindow(contract)
        self._cut_short: str | None = None
        # What the agent did, told with each heartbeat and its last event (`finished` or
        # `failed`), so the run's records can say it without reading every event.
        self._rounds = 0
        self._commands = 0
        self._commands_failed = 0
        # A server's admin password, when a scenario needs one: made here, never told.
        password = new_password()
        scrubber.hide(password)
        self._placeholders = {
            "resource_group": contract.resource_group,
            "prefix": name_prefix(contract.run_id, contract.agent_id),
            "location": contract.location,
            "tags": " ".join(f"{key}={value}" for key, value in contract.tags.items()),
            "run_id": contract.run_id,
            "agent_id": contract.agent_id,
            "password": password,
            "subscription_id": (
                contract.principal.subscription_id if contract.principal else LOCAL_SUBSCRIPTION_ID
            ),
        }
        self._plan = OperatePlan(contract.scenario["operate"], contract.run_id, contract.agent_id)

    def run(self) -> int:
        """0 when the scenario ran to the end; 1 after reporting `failed`."""
        phase = "start"
        try:
            try:
                self._actions.prepare()
                print(self._window.begin(), flush=True)
                self._report("started", scenario_id=self._contract.scenario_id)
                for phase in ("deploy", "operate", "cleanup"):
                    self._phase = phase
                    with self._phase_batch(phase):
                        self._report("phase", phase=phase)
                        if phase == "deploy":
                            self._deploy()
                        elif phase == "operate":
                            self._operate()
                        else:
                            self._cleanup()
                self._finish()
                return 0
            except Exception as error:  # noqa: BLE001 - any failure is reported, then exit 1
                return self._fail(phase, error)
        finally:
            self._actions.close()

    def _finish(self) -> None:
        """`finished`, saying so when the scenario was cut short (the outcome follows it)."""
        done = self._counts()
        if self._cut_short is None:
            self._report("finished", **done)
            return
        print(f"scenario cut short: {self._cut_short}", file=sys.stderr, flush=True)
        self._report("finished", cut_short=self._cut_short, **done)

    def _fail(self, phase: str, error: Exception) -> int:
        message = self._scrub(f"{type(error).__name__}: {error}")
        print(f"agent failed during {phase}: {message}", file=sys.stderr, flush=True)
        try:
            if self._actions.cleans_up_after_failure and phase in ("deploy", "operate"):
                problems = self._clean_up_after_failure()
                if problems:
                    message += f" (cleanup afterwards: {len(problems)} problems)"
            self._report(
                "failed",
                error=message,
                phase=phase,
                **self._counts(),
            )
        except Exception as send_error:  # noqa: BLE001 - nothing more to tell anyone
            print(f"could not report the failure: {type(send_error).__name__}", file=sys.stderr)
        return 1

    # --- phases -------------------------------------------------------------------------

    def _deploy(self) -> None:
        for index, raw in enumerate(self._contract.scenario["deploy"]):
            outcome = self._run_step("deploy", raw)
            if not outcome.ok:
                raise StepFailed(_failure(_step_name(raw), outcome))
            if index == 0:
                self._fail_if_asked("deploy")
        self._fail_if_asked("deploy")

    def _operate(self) -> None:
        """Operate rounds (at least one), a heartbeat after each, until the window closes.

        Where the sender can hold events, the rounds' events go out together: before each
        wait that passes a report moment (see OperateWindow.pause), else after each round.
        """
        failed_in_a_row = 0
        while True:
            outcome = self._operate_round()
            if outcome is not None:  # an idle round neither breaks nor adds to a failing run
                failed_in_a_row = failed_in_a_row + 1 if outcome else 0
            self._rounds += 1
            self._report("heartbeat", **self._counts())
            self._fail_if_asked("operate")
            if failed_in_a_row >= MAX_FAILED_ROUNDS:
                raise StepFailed(f"{failed_in_a_row} operate rounds in a row failed entirely")
            stop = self._window.pause(before_report=self._send_held)
            if stop is not None:
                self._cut_short = stop.cut_short
                return

    def _phase_batch(self, phase: str) -> contextlib.AbstractContextManager[Any]:
        """Where the sender can batch them, a phase's events are held and go out together
        (at the phase's end, and whenever `_send_held` is called): operate's always (see
        _operate), deploy's and cleanup's when the agent reports at report moments (a local
        run: the monitors read them at the next poll either way)."""
        batch = getattr(self._sender, "batch", None)
        if batch is None or (phase != "operate" and self._contract.report_every is None):
            return contextlib.nullcontext()
        return batch()  # type: ignore[no-any-return]

    def _send_held(self) -> None:
        flush = getattr(self._sender, "flush", None)
        if flush is not None:
            flush()

    def _operate_round(self) -> bool | None:
        """One round of the operate plan: True when every action failed, None when the plan
        drew an idle round (no actions).

        Each action's `{round}`, `{stamp}` and `{n}` are filled here: the round's number,
        the run clock's time at the action (the round's start plus the thinking before it)
        and the plan's draw, so what a round writes differs from the rounds before.
        """
        actions = self._plan.next_round()
        if not actions:
            return None
        round_number = self._rounds + 1
        at = self._window.round_began()
        failures = 0
        for index, action in enumerate(actions):
            name = _step_name(action.step)
            values = {"round": str(round_number), "stamp": name_stamp(at), "n": str(action.n)}
            outcome = self._run_step("operate", action.step, values)
            if not outcome.ok:
                failures += 1
                self._report_error("operate", name, _failure(name, outcome))
            if index == 0:
                self._fail_if_asked("operate")
            at += timedelta(seconds=action.think_seconds)
            if index < len(actions) - 1:
                self._think(action.think_seconds)
        return failures == len(actions)

    def _think(self, seconds: float) -> None:
        """A person's pause between two actions, never past the end of operating."""
        pause = min(seconds / self._contract.time_scale, self._window.end() - time.monotonic())
        if pause > 0:
            time.sleep(pause)

    def _cleanup(self) -> None:
        """Every cleanup step, then the leftovers; fails afterwards if anything went wrong."""
        problems: list[str] = []
        for index, raw in enumerate(self._contract.scenario["cleanup"]):
            outcome = self._run_step("cleanup", raw)
            if not outcome.ok:
                problems.append(_failure(_step_name(raw), outcome))
                self._report_error("cleanup", _step_name(raw), problems[-1])
            if index == 0:
                self._fail_if_asked("cleanup")
        self._fail_if_asked("cleanup")
        problems += self._remove_leftovers()
        if problems:
            raise StepFailed("cleanup failed: " + "; ".join(problems))

    def _clean_up_after_failure(self) -> list[str]:
        """After a failure: the cleanup steps for what was created, then the leftovers."""
        self._phase = "cleanup"
        self._report("phase", phase="cleanup")
        problems: list[str] = []
        for raw in self._contract.scenario["cleanup"]:
            deletes = raw.get("deletes")
            if deletes is None or self._key(deletes) not in self._created:
                continue  # nothing of it was created
            outcome = self._run_step("cleanup", raw)
            if not outcome.ok:
                problems.append(_failure(_step_name(raw), outcome))
                self._report_error("cleanup", _step_name(raw), problems[-1])
        return problems + self._remove_leftovers()

    def _remove_leftovers(self) -> list[str]:
        problems = self._actions.remove_leftovers(self._created, self._execute, self._report)
        for problem in problems:
            self._report_error("cleanup", "leftovers", problem)
        self._created.clear()
        return problems

    # --- steps --------------------------------------------------------------------------

    def _run_step(
        self, phase: str, raw: Mapping[str, Any], values: Mapping[str, str] | None = None
    ) -> Outcome:
        """A scenario step: placeholders filled (`values`: an operate action's own), acted
        out, its resource effect reported."""
        effect = next((name for name in EFFECTS if raw.get(name) is not None), None)
        resource = None
        if effect is not None:
            ref = raw[effect]
            resource = self._actions.resolve(ref, self._fill(str(ref["name"])))
        command = self._actions.command(self._fill(str(raw["command"]), values))
        step = Step(phase, _step_name(raw), command, effect, resource)
        outcome = self._execute(step)
        if outcome.ok and resource is not None:
            key = (resource["kind"], resource["name"])
            if effect == "creates":
                self._created[key] = resource
                self._report("resource_created", **resource)
            elif effect == "deletes":
                self._created.pop(key, None)
                self._report("resource_deleted", **resource)
        return outcome

    def _execute(self, step: Step) -> Outcome:
        """Run one command: printed, timed, reported as a `command` event."""
        shlex.split(step.command)  # a command the CLI could not parse is a scenario bug: fail here
        print(f"$ {self._scrub(step.command)}", flush=True)
        started = time.monotonic()
        outcome = self._actions.run(step, self._command_timeout())
        self._commands += 1
        self._commands_failed += 0 if outcome.ok else 1
        self._report(
            "command",
            phase=step.phase,
            step=step.name,
            command=step.command,
            exit_code=outcome.exit_code,
            duration_s=round(time.monotonic() - started, 3),
            **({"acted_out": True} if self._actions.acts_out_locally else {}),
        )
        return outcome

    def _counts(self) -> dict[str, int]:
        """Operate rounds so far, commands run and how many of them failed."""
        return {
            "rounds": self._rounds,
            "commands": self._commands,
            "commands_failed": self._commands_failed,
        }

    def _command_timeout(self) -> float:
        left = self._window.deadline_left()
        if left is None:
            return COMMAND_TIMEOUT
        return min(COMMAND_TIMEOUT, max(MIN_COMMAND_TIMEOUT, left))

    def _key(self, ref: Mapping[str, Any]) -> tuple[str, str]:
        return str(ref["kind"]), self._fill(str(ref["name"]))

    # --- time, hooks, reporting ---------------------------------------------------------

    def _fail_if_asked(self, phase: str) -> None:
        if self._contract.fail_at == phase:
            raise AgentTestFailure(f"HAYMAKER_AGENT_FAIL_AT={phase}: failing on purpose")

    def _fill(self, template: str, values: Mapping[str, str] | None = None) -> str:
        """Fill placeholders the way the catalog documents: str.format, `{{` for a brace."""
        return template.format(**self._placeholders, **(values or {}))

    def _scrub(self, text: str) -> str:
        return self._scrubber.scrub(text)

    def _report_error(self, phase: str, step: str, message: str) -> None:
        self._report("error", message=message, phase=phase, step=step)

    def _report(self, event_type: str, /, **fields: Any) -> None:
        contract = self._contract
        event = {key: self._scrub(v) if isinstance(v, str) else v for key, v in fields.items()}
        if self._phase is not None:
            event.setdefault("phase", self._phase)
        event.update(
            type=event_type,
            run_id=contract.run_id,
            agent_id=contract.agent_id,
            scenario_id=contract.scenario_id,
        )
        self._sender.send(event)


def _step_name(raw: Mapping[str, Any]) -> str:
    return str(raw.get("name", ""))


def _failure(step: str, outcome: Outcome) -> str:
    detail = f": {outcome.error}" if outcome.error else ""
    return f"step {step!r} exited with {outcome.exit_code}{detail}"
