"""kill -9 the host while agents are monitoring, start it again: the run ends as usual.

The durable state is in storage and the agents are processes of their own, so after the
restart the run picks up where it was: no agent launched a second time, every agent torn
down, nothing left. The agents follow the host's clock, as in `./dev run`: while the host
is away they estimate its time and keep working, so none fails because of the restart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from haymaker.naming import run_short
from tests.app.helpers import app_host

pytestmark = pytest.mark.slow


def test_kill_9_mid_run_then_restart_completes_without_relaunching(
    private_storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    with app_host(tmp_path, private_storage_connection_string, hub=unique_name) as app:
        run_id = app.start_run({"count": 3})
        app.wait_for_phase(run_id, "monitoring", 3)
        agents = [f"a{i:02d}" for i in range(3)]
        pid_files = {a: app.state_dir / "agents" / f"{run_short(run_id)}-{a}.json" for a in agents}
        launched = {a: path.read_text() for a, path in pid_files.items()}

        app.host.kill()  # returns once the host process is gone
        assert app.host.process is not None and app.host.process.poll() is not None
        app.host.restart()

        run = app.wait_for_run(run_id)
        assert app.host.log().count("Host started") == 2
        assert run["status"] == "completed", run
        assert (run["agents_torn_down"], run["left_behind"]) == (3, 0), run
        report = app.report(run_id)
        assert report["outcomes"] == {"finished": 3}, report
        assert (report["torn_down"], report["left"]) == (3, [])
        # Each agent was launched exactly once: one pid record, one process start, one
        # `started` event.
        events = app.events(run_id)
        for agent in agents:
            assert pid_files[agent].read_text() == launched[agent], agent
            log = app.agent_log(run_id, agent).read_text()
            assert log.count("loaded credential") == 1, (agent, log)
            kinds = [e["type"] for e in events if e["agent_id"] == agent]
            assert kinds.count("started") == 1 and kinds.count("finished") == 1, (agent, kinds)
        assert app.leftovers(run_id) == []
