"""`python -m agent`: read the contract, run the lifecycle, leave the exit code behind."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

if __name__ == "__main__":
    # The agent's storage clients are synchronous, yet the storage SDKs import aiohttp (for
    # an async transport) whenever it is installed, as it is beside the app: a fifth of a
    # local agent's start-up. Marked missing, it is skipped, as where it is not installed.
    sys.modules.setdefault("aiohttp", None)  # type: ignore[arg-type]
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from agent.actions import Actions
from agent.clock_participant import ClockParticipant, participant_name
from agent.contract import Contract, ContractError
from agent.event_buffer import CLOSE_PATIENCE_SECONDS, BufferedSender
from agent.lifecycle import Lifecycle
from agent.reporting import ReportingError, open_sender
from agent.scrub import Scrubber

# Seconds held events may take to go out when the agent is being stopped (SIGTERM): the
# local provider kills it 10 s after asking.
STOPPING_PATIENCE_SECONDS = 5.0


def stay_silent(contract: Contract) -> int:
    """The HAYMAKER_AGENT_SILENT hook: report nothing, wait to be killed (or the wall cap)."""
    print("silent test hook: reporting nothing", flush=True)
    started = time.monotonic()
    while (
        contract.max_wall_seconds is None or time.monotonic() - started < contract.max_wall_seconds
    ):
        time.sleep(0.5)
    return 1


def write_exit_file(path: Path, code: int) -> None:
    """Tell the provider how we ended: after a host restart it cannot wait() for us."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"exit_code": code}), encoding="utf-8")
    os.replace(tmp, path)


def mode_actions(contract: Contract, scrubber: Scrubber, env: Mapping[str, str]) -> Actions:
    """How this mode acts steps out. Imported here: the agent image has live mode only."""
    if contract.mode == "live":
        from agent.azure_cli import AzureCli
        from agent.live_actions import LiveActions

        return LiveActions(contract, AzureCli(scrubber, env))
    from agent.local_actions import LocalActions

    return LocalActions(contract, scrubber)


def unwind_on_sigterm() -> None:
    """Container Apps stops a job's replica with SIGTERM, and the local provider an agent
    process: unwind through the lifecycle's `finally` (sign out, remove the private config
    dir, send held events) instead of dying on the spot."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def run_agent(contract: Contract, env: Mapping[str, str]) -> int:
    scrubber = Scrubber.for_contract(contract)
    unwind_on_sigterm()
    try:
        sender = BufferedSender(open_sender(contract), contract.identity)
    except ReportingError as error:
        print(f"agent cannot report events: {scrubber.scrub(str(error))}", file=sys.stderr)
        return 1
    lifecycle = Lifecycle(contract, mode_actions(contract, scrubber, env), sender, scrubber)
    patience = CLOSE_PATIENCE_SECONDS
    try:
        return lifecycle.run()
    except SystemExit:
        patience = STOPPING_PATIENCE_SECONDS  # stopped: the grace period is short
        raise
    finally:
        sender.close(patience)


def main(env: Mapping[str, str]) -> int:
    try:
        contract = Contract.from_env(env)
    except ContractError as error:
        print(f"agent contract: {error}", file=sys.stderr)
        return 2
    code = 1
    try:
        if contract.silent:
            leave_host_clock(contract)  # it never waits on the clock: it must not hold it
            code = stay_silent(contract)
        else:
            code = run_agent(contract, env)
    finally:
        if contract.exit_file is not None:
            write_exit_file(contract.exit_file, code)
        # Only now: the host's clock must not jump to the deadline before the exit file
        # says this agent finished on its own.
        leave_host_clock(contract)
    return code


def leave_host_clock(contract: Contract) -> None:
    """No longer a participant of the host's clock (see agent/clock_participant.py)."""
    if contract.clock_url is None:
        return
    try:
        ClockParticipant(
            contract.clock_url, participant_name(contract.run_id, contract.agent_id)
        ).leave()
    except OSError as error:  # the host is gone: nothing holds its clock any more
        print(f"could not leave the host clock: {error}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(os.environ))
