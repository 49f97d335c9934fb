"""Local agents forked from one launcher: each with its own environment, folder, log and
session, as `python -m agent` would run; the launcher ends when its host closes it."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from haymaker.providers.agent_launcher import AgentLauncher
from haymaker.providers.local import PROJECT_ROOT
from tests.processes import still_running


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def silent_contract(folder: Path) -> dict[str, str]:
    """A whole contract, for an agent that reports nothing and waits to be stopped."""
    return {
        "PATH": os.environ["PATH"],
        "HAYMAKER_RUN_ID": "run-1",
        "HAYMAKER_AGENT_ID": "a00",
        "HAYMAKER_SCENARIO": json.dumps({"id": "s", "deploy": [], "operate": [], "cleanup": []}),
        "HAYMAKER_DEADLINE": "2099-01-01T00:00:00Z",
        "HAYMAKER_RESOURCE_GROUP": "rg",
        "HAYMAKER_TAGS": "{}",
        "HAYMAKER_EVENTS_QUEUE": "q",
        "HAYMAKER_SECRET_REF": "haymaker-x",
        "HAYMAKER_STATE_DIR": str(folder),
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "HAYMAKER_AGENT_SILENT": "1",
        "HAYMAKER_AGENT_MAX_WALL_SECONDS": "60",
    }


def test_each_agent_gets_its_own_environment_log_and_session(tmp_path: Path) -> None:
    # The launcher's own environment (here a whole contract) is none of its agents'.
    launcher = AgentLauncher(PROJECT_ROOT, silent_contract(tmp_path))
    silent_log, broken_log = tmp_path / "a00.log", tmp_path / "a01.log"
    silent = launcher.start(tmp_path, silent_contract(tmp_path), silent_log)
    wait_for("the silent agent's first line", lambda: "silent test hook" in silent_log.read_text())
    # Its own session: the provider stops an agent by signalling its process group.
    assert os.getsid(silent) == silent
    # The next agent has only its own environment: no contract, so it says so and exits.
    broken = launcher.start(tmp_path, {"PATH": os.environ["PATH"]}, broken_log)
    assert broken != silent
    wait_for("the broken agent to end", lambda: not still_running(broken))
    assert broken_log.read_text().startswith("agent contract: "), broken_log.read_text()
    os.killpg(silent, signal.SIGTERM)
    wait_for("the silent agent to stop", lambda: not still_running(silent))
    # Closed by its host, the launcher ends.
    assert launcher.close() == 0
