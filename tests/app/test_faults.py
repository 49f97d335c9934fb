"""A run whose agents fail in the two ways a run must survive, on a host with test hooks.

HAYMAKER_AGENT_FAIL_AT=a01:deploy makes agent a01 fail right after its first deploy step;
HAYMAKER_LOCAL_FAIL_LAUNCH=a02 makes the local provider refuse to launch agent a02 after
its identity, secret and role were created. Both must be torn down and reported, and the
other three agents must finish normally.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from haymaker.naming import run_short, secret_name
from tests.app.helpers import App, app_host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faults_app(
    private_storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    with app_host(
        tmp_path_factory.mktemp("faults"),
        private_storage_connection_string,
        HAYMAKER_AGENT_FAIL_AT="a01:deploy",
        HAYMAKER_LOCAL_FAIL_LAUNCH="a02",
    ) as app:
        yield app


@pytest.fixture(scope="module")
def fault_run(faults_app: App) -> dict[str, Any]:
    """A 5-agent run on the faulty host, finished: {"run_id", "run", "report"}."""
    run_id = faults_app.start_run({"count": 5, "duration": "PT30M", "poll_interval": "PT15M"})
    run = faults_app.wait_for_run(run_id)
    return {"run_id": run_id, "run": run, "report": faults_app.report(run_id)}


def result_of(report: dict[str, Any], agent: str) -> dict[str, Any]:
    [result] = [r for r in report["agent_results"] if r["agent_id"] == agent]
    return dict(result)


def agent_of(run: dict[str, Any], agent: str) -> dict[str, Any]:
    [record] = [a for a in run["agents"] if a["agent_id"] == agent]
    return dict(record)


def test_the_run_completes_with_every_agent_torn_down(
    faults_app: App, fault_run: dict[str, Any]
) -> None:
    run, report = fault_run["run"], fault_run["report"]
    assert run["status"] == "completed", run
    assert (run["agents_torn_down"], run["left_behind"]) == (5, 0), run
    assert report["outcomes"] == {"finished": 3, "agent_failed": 1, "provision_failed": 1}
    assert (report["torn_down"], report["left_behind"], report["left"]) == (5, 0, [])
    assert all(result["clean"] for result in report["agent_results"]), report
    assert faults_app.leftovers(fault_run["run_id"]) == []


def test_a_failing_agent_is_torn_down_and_reported_agent_failed(
    faults_app: App, fault_run: dict[str, Any]
) -> None:
    run_id, run, report = fault_run["run_id"], fault_run["run"], fault_run["report"]
    result = result_of(report, "a01")
    assert (result["outcome"], result["clean"], result["left"]) == ("agent_failed", True, [])
    record = agent_of(run, "a01")
    assert (record["phase"], record["status"], record["left_behind"]) == (
        "failed",
        "agent_failed",
        0,
    )
    events = faults_app.events(run_id, agent="a01")
    [failed] = [e for e in events if e["type"] == "failed"]
    assert failed["phase"] == "deploy" and "HAYMAKER_AGENT_FAIL_AT" in failed["error"]
    assert not [e for e in events if e["type"] == "finished"]
    # The report says how far it got: the commands it ran, no operate round.
    commands = sum(1 for e in events if e["type"] == "command")
    assert commands >= 1 and (result["rounds"], result["commands"]) == (0, commands), result
    assert result["commands_failed"] == 0  # its commands went well: the agent failed after
    # It created something before failing, and teardown removed it.
    response = faults_app.get(f"runs/{run_id}/resources", agent="a01")
    resources = response.json()["resources"]
    assert resources and {r["action"] for r in resources} == {"removed"}, resources
    # The rest finished normally.
    for agent in ("a00", "a03", "a04"):
        assert result_of(report, agent)["outcome"] == "finished"
        assert agent_of(run, agent)["phase"] == "done"
        kinds = [e["type"] for e in faults_app.events(run_id, agent=agent)]
        assert kinds.count("started") == 1 and kinds.count("finished") == 1, (agent, kinds)


def test_a_launch_failure_after_provisioning_tears_the_identity_down(
    faults_app: App, fault_run: dict[str, Any]
) -> None:
    run_id, run, report = fault_run["run_id"], fault_run["run"], fault_run["report"]
    result = result_of(report, "a02")
    assert (result["outcome"], result["clean"], result["left"]) == ("provision_failed", True, [])
    assert "HAYMAKER_LOCAL_FAIL_LAUNCH" in result["error"]
    record = agent_of(run, "a02")
    assert (record["phase"], record["status"]) == ("failed", "provision_failed")
    assert "HAYMAKER_LOCAL_FAIL_LAUNCH" in record["error"]
    # Half-way: the identity had been created (the record has its principal) ...
    assert record["principal_id"] and record["display_name"].startswith("AzureHayMaker-")
    # ... and is gone now, with its role assignment and client secret; nothing launched.
    key = f"{run_short(run_id)}-a02"
    state = faults_app.state_dir
    assert not (state / "identities" / f"{key}.json").exists()
    assert not (state / "roles" / f"{key}.json").exists()
    assert secret_name(run_id, "a02") not in faults_app.provider()._secrets.list()
    assert not faults_app.agent_log(run_id, "a02").exists()
    assert faults_app.events(run_id, agent="a02") == []
    # It never ran: `-` for each count.
    assert (result["rounds"], result["commands"], result["commands_failed"]) == (None, None, None)
