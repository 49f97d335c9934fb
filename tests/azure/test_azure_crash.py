"""kill -9 between creating the agent's application and storing its secret, then restart.

The fake holds the Key Vault write open, so the crash lands exactly there: the
application (and its password) exist, the vault has nothing yet. After the restart the
provisioning activity runs again: it must find the application by its unique name
instead of making a second, and the run must end with nothing left in Azure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from haymaker.naming import application_unique_name
from tests.azure.helpers import HostClock, agent_result, azure_host
from tests.fakeazure import FakeAzure

pytestmark = pytest.mark.slow


def test_a_crash_before_the_secret_is_stored_leaves_one_application_and_nothing_after(
    private_storage_connection_string: str,
    tmp_path: Path,
    unique_name: str,
    fake_azure: FakeAzure,
    host_clock: HostClock,
) -> None:
    baseline = fake_azure.snapshot()
    with azure_host(
        tmp_path, private_storage_connection_string, fake_azure, host_clock, hub=unique_name
    ) as app:
        release = fake_azure.faults.hang("keyvault.secrets.put")
        run_id = app.start_run({"scenarios": ["web-apps-storefront"], "duration": "PT1H"})
        fake_azure.faults.wait_hanging("keyvault.secrets.put", timeout=60)
        unique = application_unique_name(run_id, "a00")
        assert [a["uniqueName"] for a in fake_azure.applications()] == [unique]
        assert fake_azure.snapshot()["secrets"] == baseline["secrets"]

        app.host.kill()  # returns once the host is gone, and its connections with it
        release.set()
        app.host.restart()

        run = app.wait_for_run(run_id, timeout=120)
        report = app.report(run_id)
        assert app.host.log().count("Host started") == 2
        assert run["status"] == "completed", run
        result = agent_result(report, "a00")
        assert result["outcome"] == "finished" and result["clean"], result
        created = [
            r for r in fake_azure.requests if r.op == "graph.applications.patch" and r.status == 201
        ]
        assert len(created) == 1, "the rerun made a second application"
        # The held vault write died with the host: the crash came before the secret.
        puts = [r for r in fake_azure.requests if r.op == "keyvault.secrets.put"]
        assert puts[0].dropped and puts[0].status is None, puts
        assert fake_azure.snapshot() == baseline
