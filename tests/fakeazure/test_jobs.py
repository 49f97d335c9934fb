"""Container Apps jobs through the real ContainerAppsAPIClient, and the simulated agent."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.appcontainers import ContainerAppsAPIClient
from azure.mgmt.appcontainers import models as m

from tests.fakeazure import FakeAzure

STORAGE = "Microsoft.Storage/storageAccounts"


def _job(target_group: str = "target", tags: dict[str, str] | None = None) -> m.Job:
    """A job like HayMaker's: the agent learns its group and tags from the environment."""
    return m.Job(
        location="eastus",
        tags={"haymaker": "agent"},
        properties=m.JobProperties(
            environment_id="/subscriptions/s/resourceGroups/hm/providers/Microsoft.App/"
            "managedEnvironments/env",
            configuration=m.JobConfiguration(
                trigger_type="Manual",
                replica_timeout=600,
                secrets=[
                    m.Secret(name="client-secret", value="CANARY-job-secret"),
                    m.Secret(name="tags", value=json.dumps(tags or {"haymaker-run": "r1"})),
                ],
            ),
            template=m.JobTemplate(
                containers=[
                    m.Container(
                        name="agent",
                        image="haymaker/agent:1",
                        env=[
                            m.EnvironmentVar(name="HAYMAKER_RESOURCE_GROUP", value=target_group),
                            m.EnvironmentVar(name="HAYMAKER_TAGS", secret_ref="tags"),
                            m.EnvironmentVar(
                                name="AZURE_CLIENT_SECRET", secret_ref="client-secret"
                            ),
                        ],
                    )
                ]
            ),
        ),
    )


@pytest.fixture
def groups(fake: FakeAzure) -> None:
    fake.add_resource_group("hm")
    fake.add_resource_group("target")


def _ops(fake: FakeAzure) -> list[tuple[str, int | None]]:
    return [(r.op, r.status) for r in fake.requests if r.op.startswith("arm.")]


@pytest.mark.usefixtures("groups")
def test_create_job_polls_the_operation_then_gets_the_job(
    fake: FakeAzure, apps: ContainerAppsAPIClient
) -> None:
    job = apps.jobs.begin_create_or_update("hm", "agent-1", _job()).result()
    assert job.id == (
        f"/subscriptions/{fake.subscription_id}/resourceGroups/hm/providers/Microsoft.App/jobs/"
        "agent-1"
    )
    assert job["properties"]["provisioningState"] == "Succeeded"
    assert _ops(fake) == [
        ("arm.jobs.put", 201),
        ("arm.operations.get", 200),  # InProgress
        ("arm.operations.get", 200),  # Succeeded
        ("arm.jobs.get", 200),
    ]
    secrets = apps.jobs.get("hm", "agent-1")["properties"]["configuration"]["secrets"]
    assert secrets == [{"name": "client-secret"}, {"name": "tags"}]
    assert "CANARY-job-secret" not in json.dumps(fake.jobs())
    assert [r["type"] for r in fake.resources()] == ["Microsoft.App/jobs"]


@pytest.mark.usefixtures("groups")
def test_failed_create_raises_and_leaves_a_failed_job(
    fake: FakeAzure, apps: ContainerAppsAPIClient
) -> None:
    fake.faults.fail_lro("arm.jobs.put")
    with pytest.raises(HttpResponseError) as failed:
        apps.jobs.begin_create_or_update("hm", "agent-1", _job()).result()
    assert "ContainerAppOperationError" in str(failed.value)
    assert apps.jobs.get("hm", "agent-1")["properties"]["provisioningState"] == "Failed"


def test_job_needs_its_resource_group(fake: FakeAzure, apps: ContainerAppsAPIClient) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        apps.jobs.begin_create_or_update("nowhere", "agent-1", _job())
    assert missing.value.error is not None
    assert missing.value.error.code == "ResourceGroupNotFound"


@pytest.mark.usefixtures("groups")
def test_execution_runs_the_simulated_agent(fake: FakeAzure, apps: ContainerAppsAPIClient) -> None:
    apps.jobs.begin_create_or_update("hm", "agent-1", _job(tags={"haymaker-run": "r7"})).result()

    started = apps.jobs.begin_start("hm", "agent-1").result()
    name = started["name"]
    assert name.startswith("agent-1-") and len(name) == len("agent-1-") + 7
    assert started.id is not None and started.id.endswith(f"/jobs/agent-1/executions/{name}")

    created = [r for r in fake.resources() if r["type"] == STORAGE]
    assert len(created) == 1
    assert created[0]["name"].startswith("hm") and len(created[0]["name"]) == 12
    assert created[0]["tags"] == {"haymaker-run": "r7"}
    assert "/resourceGroups/target/" in created[0]["id"]

    statuses = [apps.job_execution("hm", "agent-1", name).status for _ in range(2)]
    assert statuses == ["Running", "Running"]
    assert [e.status for e in apps.jobs_executions.list("hm", "agent-1")] == ["Succeeded"]
    execution = apps.job_execution("hm", "agent-1", name)
    assert execution["properties"]["endTime"]
    assert execution["properties"]["template"]["containers"][0]["image"] == "haymaker/agent:1"


@pytest.mark.usefixtures("groups")
def test_execution_reads_are_configurable_and_counted_per_execution(
    fake: FakeAzure, apps: ContainerAppsAPIClient
) -> None:
    fake.execution_reads = 1
    apps.jobs.begin_create_or_update("hm", "agent-1", _job()).result()
    first = apps.jobs.begin_start("hm", "agent-1").result()["name"]
    assert [e.status for e in apps.jobs_executions.list("hm", "agent-1")] == ["Running"]
    second = apps.jobs.begin_start("hm", "agent-1").result()["name"]
    listed = {e.name: e.status for e in apps.jobs_executions.list("hm", "agent-1")}
    assert listed == {first: "Succeeded", second: "Running"}


@pytest.mark.usefixtures("groups")
def test_agent_skips_a_missing_target_group(fake: FakeAzure, apps: ContainerAppsAPIClient) -> None:
    apps.jobs.begin_create_or_update("hm", "agent-1", _job(target_group="gone")).result()
    apps.jobs.begin_start("hm", "agent-1").result()
    assert [r["type"] for r in fake.resources()] == ["Microsoft.App/jobs"]


@pytest.mark.usefixtures("groups")
def test_failed_execution_start(fake: FakeAzure, apps: ContainerAppsAPIClient) -> None:
    apps.jobs.begin_create_or_update("hm", "agent-1", _job()).result()
    fake.faults.fail_execution_start()
    name = apps.jobs.begin_start("hm", "agent-1").result()["name"]
    assert apps.job_execution("hm", "agent-1", name).status == "Failed"
    assert apps.jobs.get("hm", "agent-1")["properties"]["provisioningState"] == "Succeeded"
    assert [r["type"] for r in fake.resources()] == ["Microsoft.App/jobs"]


@pytest.mark.usefixtures("groups")
def test_stop_execution(fake: FakeAzure, apps: ContainerAppsAPIClient) -> None:
    apps.jobs.begin_create_or_update("hm", "agent-1", _job()).result()
    name = apps.jobs.begin_start("hm", "agent-1").result()["name"]
    assert apps.jobs.begin_stop_execution("hm", "agent-1", name).result() is None
    assert apps.job_execution("hm", "agent-1", name).status == "Stopped"
    with pytest.raises(ResourceNotFoundError):
        apps.job_execution("hm", "agent-1", "agent-1-nothere")


@pytest.mark.usefixtures("groups")
def test_delete_job_removes_it_and_its_executions(
    fake: FakeAzure, apps: ContainerAppsAPIClient
) -> None:
    apps.jobs.begin_create_or_update("hm", "agent-1", _job()).result()
    apps.jobs.begin_start("hm", "agent-1").result()
    assert len(fake.jobs()[0]["executions"]) == 1
    apps.jobs.begin_delete("hm", "agent-1").result()
    assert fake.jobs() == []
    with pytest.raises(ResourceNotFoundError):
        apps.jobs.get("hm", "agent-1")
    with pytest.raises(ResourceNotFoundError):
        apps.jobs.begin_delete("hm", "agent-1")


@pytest.mark.usefixtures("groups")
def test_jobs_of_a_group_are_listed_page_by_page(
    fake: FakeAzure, apps: ContainerAppsAPIClient
) -> None:
    fake.page_size = 2
    for index in range(3):
        apps.jobs.begin_create_or_update("hm", f"job-{index}", _job()).result()
    listed = [job.name for job in apps.jobs.list_by_resource_group("hm")]
    assert listed == ["job-0", "job-1", "job-2"]
    assert [j.name for j in apps.jobs.list_by_resource_group("target")] == []
    with pytest.raises(ResourceNotFoundError):
        list(apps.jobs.list_by_resource_group("missing"))
