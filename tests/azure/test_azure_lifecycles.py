"""Whole agent lifecycles with the azure provider, on devhost, against the fake Azure.

One host for the module; each test sets the faults it is about (cleared after it) and
starts its own run. A clean run leaves the fake exactly as it found it: the test
compares the fake's whole state with the snapshot taken before any run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from haymaker.naming import (
    application_unique_name,
    iso_utc,
    parse_iso_utc,
    resource_group_name,
    run_short,
    tags_for,
)
from tests.app.helpers import App, leaks, stored_texts
from tests.azure.helpers import (
    HostClock,
    agent_result,
    azure_host,
    durable_waits,
    provider_here,
)
from tests.fakeazure import FakeAzure

pytestmark = pytest.mark.slow

ALWAYS = 10**6
SCENARIO = "compute-linux-vm"


@pytest.fixture(scope="module")
def app(
    private_storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_azure: FakeAzure,
    host_clock: HostClock,
) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("azure-app")
    with azure_host(folder, private_storage_connection_string, fake_azure, host_clock) as app:
        yield app


@pytest.fixture(scope="module")
def baseline(fake_azure: FakeAzure, app: App) -> dict[str, Any]:
    """The fake's state before this module's first run."""
    return dict(fake_azure.snapshot())


def run_once(app: App, count: int = 1, **body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Start a run of `count` agents on SCENARIO, wait for it; (run id, run, report)."""
    run_id = app.start_run({"scenarios": [SCENARIO] * count, "duration": "PT1H", **body})
    run = app.wait_for_run(run_id, timeout=120)
    return run_id, run, app.report(run_id)


def test_a_run_provisions_launches_and_leaves_azure_as_it_was(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any], host_clock: HostClock
) -> None:
    """Identity, secret, group, role and job exist while the agents run; afterwards the
    fake's state is exactly what it was before the run."""
    run_id = app.start_run({"scenarios": [SCENARIO] * 2, "duration": "PT1H"})
    deadline = parse_iso_utc(app.wait_for_phase(run_id, "monitoring", 2)["deadline"])
    short = run_short(run_id)
    during = fake_azure.snapshot()
    names = {a["uniqueName"] for a in fake_azure.applications()}
    assert {application_unique_name(run_id, f"a0{i}") for i in range(2)} <= names
    groups = {g["name"]: g for g in fake_azure.resource_groups()}
    group = groups[resource_group_name(run_id, "a00", SCENARIO)]
    assert group["tags"] == {
        "azurehaymaker-managed": "true",
        "azurehaymaker-run": run_id,
        "azurehaymaker-agent": "a00",
        "azurehaymaker-scenario": SCENARIO,
    }
    mine = [r for r in fake_azure.role_assignments() if short in r["properties"]["scope"]]
    assert len(mine) == 2
    for assignment in mine:
        properties = assignment["properties"]
        assert properties["scope"].split("/resourceGroups/")[1].startswith(f"haymaker-{short}")
        assert properties["roleDefinitionId"].endswith("b24988ac-6180-42a0-ab88-20f7382dd24c")
        assert properties["principalType"] == "ServicePrincipal"
    [job] = [j for j in fake_azure.jobs() if j["name"] == f"hm-{short}-a00"]
    assert job["tags"] == group["tags"]
    configuration = job["properties"]["configuration"]
    assert configuration["triggerType"] == "Manual" and configuration["replicaRetryLimit"] == 0
    [secret_ref] = configuration["secrets"]
    assert secret_ref["keyVaultUrl"].endswith(f"/secrets/haymaker-{short}-a00")
    env = {e["name"]: e for e in job["properties"]["template"]["containers"][0]["env"]}
    assert env["AZURE_CLIENT_SECRET"] == {
        "name": "AZURE_CLIENT_SECRET",
        "secretRef": secret_ref["name"],
    }
    assert env["HAYMAKER_AGENT_MODE"]["value"] == "live"
    assert len(during["secrets"]) >= len(baseline["secrets"]) + 2

    # The client secret ends one hour after the run's deadline, in Graph and in Key Vault.
    secret_end = deadline + timedelta(hours=1)
    [application] = [
        a for a in fake_azure.applications() if a["uniqueName"] == f"haymaker-{short}-a00"
    ]
    [password] = application["passwordCredentials"]
    assert parse_iso_utc(password["endDateTime"]) == secret_end, password
    [stored] = [s for s in fake_azure.secrets() if f"/secrets/haymaker-{short}-a00/" in s["id"]]
    assert stored["attributes"]["exp"] == int(secret_end.timestamp()), stored["attributes"]
    # The replica may run until the deadline plus 30 minutes, counted from the launch: at
    # the latest the job PUT's arrival by the host's clock, at the earliest by the wall
    # clock the activity read, which the virtual clock is `ahead` of (never behind).
    [put] = [
        r for r in fake_azure.requests if r.op == "arm.jobs.put" and r.path.endswith(job["name"])
    ]
    until_deadline = deadline.timestamp() - put.time
    ahead = host_clock() - time.time()
    replica_timeout = configuration["replicaTimeout"]
    assert (
        until_deadline + 30 * 60 - 1 <= replica_timeout <= until_deadline + 30 * 60 + ahead + 30
    ), (replica_timeout, until_deadline, ahead)

    run = app.wait_for_run(run_id, timeout=120)
    report = app.report(run_id)
    assert run["status"] == "completed", run
    assert report["outcomes"] == {"finished": 2}, report
    assert (report["torn_down"], report["left"]) == (2, [])
    removed = app.get(f"runs/{run_id}/resources").json()["resources"]
    assert any(r["kind"] == "Microsoft.Resources/resourceGroups" for r in removed), removed
    assert fake_azure.snapshot() == baseline


def test_throttled_creates_and_deletes_wait_as_long_as_azure_asks(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any]
) -> None:
    """A short Retry-After is slept through in the call; a long one (90 s) is waited out
    on a durable timer. Either way no request comes before the time Azure gave."""
    first = len(fake_azure.requests)
    faults = fake_azure.faults
    faults.throttle("arm.resource_groups.put", times=1, retry_after=2)
    faults.throttle("graph.applications.patch", times=1, retry_after=90)
    faults.throttle("arm.resource_groups.delete", times=1, retry_after=90)
    faults.throttle("keyvault.secrets.delete", times=1, retry_after=3)
    run_id, run, report = run_once(app)
    assert run["status"] == "completed", run
    assert report["outcomes"] == {"finished": 1}, report
    throttled = [r for r in fake_azure.requests[first:] if r.status == 429]
    assert len(throttled) == 4, throttled
    assert fake_azure.early_requests == []
    # The two long waits were durable timers (the short ones were slept in the call).
    waits = durable_waits(app, f"{run_id}:a00")
    assert [(name, seconds >= 90) for name, seconds, _ in waits] == [
        ("provision_identity", True),
        ("remove_resources", True),
    ], waits
    assert fake_azure.snapshot() == baseline


def test_transient_refusals_are_waited_out_on_durable_timers(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any]
) -> None:
    """A principal created before Graph sees its application; a job refused while another
    operation runs on it. Each refusal is waited out on a durable timer, then retried."""
    first = len(fake_azure.requests)
    faults = fake_azure.faults
    faults.no_backing_application(times=2)
    faults.another_operation("arm.jobs.put", times=1)
    run_id, run, report = run_once(app)
    assert report["outcomes"] == {"finished": 1}, report
    sent = fake_azure.requests[first:]
    assert [r.status for r in sent if r.op == "graph.service_principals.post"] == [400, 400, 201]
    puts = [r for r in sent if r.op == "arm.jobs.put"]
    assert [r.status for r in puts][:2] == [409, 201], puts
    waits = durable_waits(app, f"{run_id}:a00")
    assert [(name, reason.rsplit(": ", 1)[-1]) for name, _, reason in waits] == [
        ("provision_identity", "NoBackingApplicationObject"),
        ("provision_identity", "NoBackingApplicationObject"),
        ("launch_agent", "RetryableErrorDueToAnotherOperation"),
    ], waits
    # The job's retry came when the timer let it, by the host's clock.
    assert puts[1].time - puts[0].time >= waits[-1][1]
    assert fake_azure.snapshot() == baseline


def test_a_principal_that_shows_up_late_is_waited_for(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any]
) -> None:
    first = len(fake_azure.requests)
    fake_azure.faults.principal_not_found(times=3)
    _, run, report = run_once(app)
    assert report["outcomes"] == {"finished": 1}, report
    refused = [r for r in fake_azure.requests[first:] if r.op == "arm.role_assignments.put"]
    assert [r.status for r in refused][:4] == [400, 400, 400, 201]
    assert fake_azure.snapshot() == baseline


def test_a_principal_that_never_shows_up_rolls_provisioning_back(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any]
) -> None:
    fake_azure.faults.principal_not_found(times=ALWAYS)
    run_id, run, report = run_once(app)
    assert run["status"] == "completed", run
    result = agent_result(report, "a00")
    assert result["outcome"] == "provision_failed" and result["clean"], result
    assert "PrincipalNotFound" in (result["error"] or ""), result
    assert fake_azure.snapshot() == baseline, "identity, secret or group left after rollback"
    assert not [j for j in fake_azure.jobs() if run_short(run_id) in j["name"]]


def test_a_job_definition_that_fails_to_provision_fails_the_agent_cleanly(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any]
) -> None:
    fake_azure.faults.fail_lro("arm.jobs.put", times=ALWAYS)
    _, run, report = run_once(app)
    result = agent_result(report, "a00")
    assert result["outcome"] == "provision_failed" and result["clean"], result
    assert fake_azure.snapshot() == baseline


def test_a_job_whose_execution_fails_to_start_counts_as_failed(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any]
) -> None:
    """The job provisions (Succeeded) but its container never starts."""
    fake_azure.faults.fail_execution_start(times=1)
    _, run, report = run_once(app)
    result = agent_result(report, "a00")
    assert result["outcome"] == "agent_failed" and result["clean"], result
    assert fake_azure.snapshot() == baseline


def test_a_locked_group_is_reported_and_the_run_still_finishes(
    app: App, fake_azure: FakeAzure, baseline: dict[str, Any]
) -> None:
    """A lock on the agent's group keeps the group and the role assignment on it: each
    refused delete is sent once, recorded as left with the lock's message, and the rest
    of teardown (application, secret) goes on. Once unlocked, the sweep takes the rest."""
    run_id = app.start_run({"scenarios": [SCENARIO], "duration": "PT1H"})
    app.wait_for_phase(run_id, "monitoring", 1)
    group = resource_group_name(run_id, "a00", SCENARIO)
    scope = f"/subscriptions/{fake_azure.subscription_id}/resourceGroups/{group}"
    [assignment] = [
        r["id"] for r in fake_azure.role_assignments() if r["properties"]["scope"] == scope
    ]
    fake_azure.lock(scope)
    first = len(fake_azure.requests)
    try:
        run = app.wait_for_run(run_id, timeout=120)
        report = app.report(run_id)
        assert run["status"] == "completed", run
        result = agent_result(report, "a00")
        assert not result["clean"] and "ScopeLocked" in (result["error"] or ""), result
        sent = fake_azure.requests[first:]
        refused = [
            (r.op, r.status)
            for r in sent
            if r.op in ("arm.resource_groups.delete", "arm.role_assignments.delete")
        ]
        assert sorted(refused) == [
            ("arm.resource_groups.delete", 409),
            ("arm.role_assignments.delete", 409),
        ], f"a delete refused by a lock is sent once, never retried: {refused}"
        rows = app.get(f"runs/{run_id}/resources").json()["resources"]
        left = {r["name"]: r for r in rows if r["action"] == "left"}
        assert all(name.startswith(scope) for name in left), rows  # the group and its content
        for kept in (scope, assignment):
            assert "ScopeLocked" in left[kept]["reason"], rows
        # The identity and its secret did not wait for the lock.
        assert application_unique_name(run_id, "a00") not in {
            a["uniqueName"] for a in fake_azure.applications()
        }
        assert f"haymaker-{run_short(run_id)}-a00" not in {
            s["id"].rsplit("/", 2)[-2] for s in fake_azure.secrets()
        }
    finally:
        fake_azure.unlock(scope)
    # Once the lock is gone, the sweep takes what the run left.
    sweep = app.post("sweeps", {})
    assert sweep.status_code == 202, sweep.text
    status = app.wait_for_instance(sweep.json()["id"])
    assert status["output"]["failed"] == [], status
    assert fake_azure.snapshot() == baseline


def test_the_sweep_removes_what_a_dead_run_left(
    app: App,
    fake_azure: FakeAzure,
    baseline: dict[str, Any],
    host_clock: HostClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Leftovers of a run nobody runs any more (made here with the provider itself, as a
    host that died mid-provisioning would have left them) are found and removed."""
    provider = provider_here(fake_azure, monkeypatch)
    dead_run = f"dead-{tmp_path.name}"
    expires = "2099-01-01T00:00:00.000Z"
    identity = provider.create_identity(dead_run, "a00", SCENARIO, expires)
    provider.grant_roles(dead_run, "a00", resource_group_name(dead_run, "a00", SCENARIO))
    provider.launch_agent(
        dead_run,
        "a00",
        {"id": SCENARIO},
        iso_utc(datetime.fromtimestamp(host_clock(), UTC) + timedelta(hours=1)),
        identity["secret_ref"],
        "haymaker-events-dead",
        tags_for(dead_run, "a00", SCENARIO),
    )
    assert fake_azure.snapshot() != baseline
    dry = app.post("sweeps", {"dry_run": True})
    found = app.wait_for_instance(dry.json()["id"])["output"]
    kinds = sorted(o["kind"] for o in found["orphans"])
    assert kinds == ["identity", "job", "resource", "resource_group", "role_assignment", "secret"]
    sweep = app.post("sweeps", {})
    status = app.wait_for_instance(sweep.json()["id"])
    assert status["output"]["failed"] == [], status
    assert fake_azure.snapshot() == baseline


def test_no_client_secret_reaches_state_records_or_logs(app: App, fake_azure: FakeAzure) -> None:
    """Canary: every client secret the fake Graph issued to this module's runs is searched
    for everywhere the app keeps or shows things."""
    since = datetime.now(UTC) - timedelta(hours=1)
    run_id, _, _ = run_once(app, count=2)
    issued = list(fake_azure.issued_secrets)
    assert len(issued) >= 2
    places = stored_texts(app, app.connection, since)
    # Positive control: the secrets' references do travel through history.
    assert f"/secrets/haymaker-{run_short(run_id)}-a00" in places[f"{app.hub}History table"]
    assert leaks(issued, places) == []
