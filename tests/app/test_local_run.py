"""`./dev run`: the main job on devhost's virtual clock, with agents that cooperate with it.

Agents join the host's clock before they start, wait on it between rounds and leave after
their exit file: the clock jumps whenever every agent waits, and never under one at work.
So eight hours pass in seconds, and every agent reaches its own cleanup before the
deadline (outcome `finished`), however loaded the machine is; an agent the clock ran away
from would be stopped at the deadline by teardown (outcome `deadline`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.app.helpers import APP_DIR

pytestmark = pytest.mark.slow


def test_a_local_run_ends_with_every_agent_finishing_on_its_own(
    private_storage_connection_string: str,
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HAYMAKER_", "AzureWebJobs"))
    }
    # An Azurite of its own, as `./dev bench --main-job` uses: the shared one, grown by
    # every test session's queues and tables, answers a queue read in tens of ms.
    env["AzureWebJobsStorage"] = private_storage_connection_string
    done = subprocess.run(
        [sys.executable, "-m", "haymaker", "local-run", "--count", "3", "--duration", "PT1H"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"^Report for run \S+: completed$", output, re.MULTILINE), output
    # agent, scenario, outcome, operate rounds, commands, failed commands, torn down
    row = r"^\s+a\d\d\s+\S+\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+yes\s*$"
    rows = re.findall(row, output, re.M)
    assert [outcome for outcome, *_ in rows] == ["finished"] * 3, output
    assert all(int(rounds) >= 1 and int(commands) > int(rounds) for _, rounds, commands, _ in rows)
    assert [failed for *_, failed in rows] == ["0"] * 3, output
    assert "OK: every agent torn down, nothing left." in output
