"""The agent program: its contract, its phases and its test hooks, run as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from agent.contract import Contract, ContractError
from haymaker.naming import (
    local_resource_name,
    name_prefix,
    resource_group_name,
)
from haymaker.providers.local import PROJECT_ROOT
from tests.app.helpers import stored_objects_of
from tests.haymaker.agents import SCENARIO, Agent, wait_for


def test_agent_runs_every_phase_and_cleans_up_after_itself(
    start_agent: Callable[..., Agent], storage_connection_string: str
) -> None:
    agent = start_agent(seconds=3)
    assert agent.exited() == {"state": "succeeded", "exit_code": 0}
    wait_for(lambda: "finished" in agent.drain(), what="finished")
    types = [event["type"] for event in agent.events]
    assert types[0] == "started" and types[-1] == "finished"
    phases = [event["phase"] for event in agent.events if event["type"] == "phase"]
    assert phases == ["deploy", "operate", "cleanup"]
    assert types.count("resource_created") == 2 and types.count("resource_deleted") == 2
    assert types.count("heartbeat") >= 1
    commands = [event for event in agent.events if event["type"] == "command"]
    assert all(event["exit_code"] == 0 and event["duration_s"] >= 0 for event in commands)
    assert {event["step"] for event in commands} >= {"Create the site", "Write a setting"}

    created = next(event for event in agent.events if event["type"] == "resource_created")
    prefix = name_prefix(agent.run_id, "a00")
    assert created["kind"] == "web_app" and created["name"] == f"{prefix}-site"
    assert created["local_name"] == local_resource_name(
        "blob_container", agent.run_id, "a00", f"{prefix}-site"
    )
    assert agent.provider.list_tagged_resources(agent.run_id) == []
    assert stored_objects_of(storage_connection_string, agent.run_id) == []

    log = agent.log.read_text()
    group = resource_group_name(agent.run_id, "a00", SCENARIO["id"])
    assert f"--resource-group {group} --location westeurope" in log
    assert f"--tags azurehaymaker-managed=true azurehaymaker-run={agent.run_id}" in log
    assert "--query '{name: name}'" in log  # literal braces survive placeholder filling


def test_time_scale_compresses_a_long_deadline(start_agent: Callable[..., Agent]) -> None:
    """An hour of scenario time at 1200x: the agent plans under 3 s of real time for it
    (the deadline less its cleanup reserve), instead of an hour or its 60 s wall cap."""
    agent = start_agent(seconds=3600, HAYMAKER_AGENT_TIME_SCALE="1200")
    assert agent.exited()["state"] == "succeeded"
    log = agent.log.read_text()
    planned = re.search(r"operating for up to ([0-9.]+)s of real time", log)
    assert planned is not None and 2.0 < float(planned[1]) < 3.0, log


@pytest.mark.parametrize("phase", ["operate", "cleanup"])
def test_fail_at_hook_fails_in_that_phase(start_agent: Callable[..., Agent], phase: str) -> None:
    agent = start_agent(seconds=2, HAYMAKER_AGENT_FAIL_AT=f"a00:{phase}")
    assert agent.exited() == {"state": "failed", "exit_code": 1}
    wait_for(lambda: "failed" in agent.drain(), what="failed")
    failed = agent.events[-1]
    assert failed["type"] == "failed" and failed["phase"] == phase
    assert "finished" not in [event["type"] for event in agent.events]


def test_an_agent_without_its_credential_reports_failed(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent(seconds=5, provision=False)
    assert agent.exited() == {"state": "failed", "exit_code": 1}
    wait_for(lambda: "failed" in agent.drain(), what="failed")
    assert "no credential" in agent.events[-1]["error"]


def test_silent_agent_never_reports_and_runs_until_stopped(
    start_agent: Callable[..., Agent],
) -> None:
    agent = start_agent(seconds=1, HAYMAKER_AGENT_SILENT="1")
    # A twin without the hook, started later with the same time to its deadline: once it
    # has run its whole scenario, the silent agent is past its own deadline too.
    twin = start_agent(seconds=1)
    assert twin.exited()["state"] == "succeeded"
    assert agent.status() == {"state": "running"}
    assert agent.drain() == []
    stopped = agent.provider.stop_agent(agent.run_id, "a00")
    assert stopped["was_running"] and stopped["state"] == "failed"


def test_agent_without_a_contract_says_what_is_missing() -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "agent"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "HAYMAKER_RUN_ID" in done.stderr and "AzureWebJobsStorage" in done.stderr


def _env(**overrides: str) -> dict[str, str]:
    env = {
        "HAYMAKER_RUN_ID": "run-1",
        "HAYMAKER_AGENT_ID": "a02",
        "HAYMAKER_SCENARIO": '{"id": "s", "deploy": [], "operate": [], "cleanup": []}',
        "HAYMAKER_DEADLINE": "2026-11-26T14:00:00Z",
        "HAYMAKER_RESOURCE_GROUP": "rg",
        "HAYMAKER_TAGS": "{}",
        "HAYMAKER_EVENTS_QUEUE": "q",
        "HAYMAKER_SECRET_REF": "haymaker-x",
        "HAYMAKER_STATE_DIR": "/tmp/x",
        "AzureWebJobsStorage": "AccountKey=very-secret",
    }
    return {**env, **overrides}


def test_contract_hooks_target_single_agents_and_keep_the_key_out_of_repr() -> None:
    contract = Contract.from_env(_env(HAYMAKER_AGENT_FAIL_AT="a01:deploy,a02:cleanup"))
    assert contract.fail_at == "cleanup" and not contract.silent
    assert Contract.from_env(_env(HAYMAKER_AGENT_FAIL_AT="operate")).fail_at == "operate"
    assert Contract.from_env(_env(HAYMAKER_AGENT_SILENT="a01,a02")).silent
    assert not Contract.from_env(_env(HAYMAKER_AGENT_SILENT="a01")).silent
    assert "very-secret" not in repr(contract)
    for bad in (
        {"HAYMAKER_AGENT_FAIL_AT": "lunch"},
        {"HAYMAKER_AGENT_TIME_SCALE": "0"},
        {"HAYMAKER_DEADLINE": "soon"},
        {"HAYMAKER_SCENARIO": '{"id": "s"}'},
    ):
        with pytest.raises(ContractError):
            Contract.from_env(_env(**bad))
