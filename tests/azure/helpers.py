"""The app with HAYMAKER_PROVIDER=azure on devhost, pointed at the fake Azure.

The host's real SDK clients reach the fake over HTTPS: ARM, Graph and Key Vault at the
fake's address, tokens from its managed-identity endpoint, its certificate trusted
through REQUESTS_CA_BUNDLE. The fake measures time by the host's clock, so a durable
timer's wait on the virtual clock counts as the time it stands for.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devhost.testing import HostHandle
from haymaker.naming import parse_iso_utc
from haymaker.providers import azure_provider
from haymaker.providers.base import Provider
from haymaker.settings import load_settings
from tests.app.helpers import IDLE_SETTLE, App, app_host
from tests.fakeazure import FakeAzure

# The group holding the agents' Container Apps jobs (and, in Azure, the environment).
PLATFORM_GROUP = "haymaker-platform"
DEV_STORAGE = "UseDevelopmentStorage=true"


class HostClock:
    """The host's clock (devhost's /admin/host/clock) once a host runs; ours before."""

    def __init__(self) -> None:
        self.host: HostHandle | None = None

    def __call__(self) -> float:
        host = self.host
        if host is None or host.process is None or host.process.poll() is not None:
            return time.time()
        try:
            with urllib.request.urlopen(f"{host.base_url}/admin/host/clock", timeout=5) as reply:
                return parse_iso_utc(json.load(reply)["now"]).timestamp()
        except OSError:
            return time.time()  # restarting: real time never runs ahead of the host's


def azure_settings(fake: FakeAzure) -> dict[str, str]:
    """App settings that select the azure provider and point it at `fake`."""
    sub = fake.subscription_id
    group = f"/subscriptions/{sub}/resourceGroups/{PLATFORM_GROUP}/providers"
    return {
        "HAYMAKER_PROVIDER": "azure",
        "HAYMAKER_AZURE_SUBSCRIPTION_ID": sub,
        "HAYMAKER_AZURE_TENANT_ID": fake.tenant_id,
        "HAYMAKER_KEY_VAULT_URL": fake.url,
        # The fake vault is at 127.0.0.1, not under vault.azure.net.
        "HAYMAKER_KEY_VAULT_VERIFY_CHALLENGE": "false",
        "HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID": (
            f"{group}/Microsoft.App/managedEnvironments/haymaker-env"
        ),
        "HAYMAKER_AGENT_IMAGE": "hmacr.azurecr.io/haymaker-agent:1.0.0",
        "HAYMAKER_LOCATION": "eastus",
        "HAYMAKER_AGENT_JOB_IDENTITY_ID": (
            f"{group}/Microsoft.ManagedIdentity/userAssignedIdentities/haymaker-agents"
        ),
        "HAYMAKER_AGENT_JOB_IDENTITY_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        "HAYMAKER_AZURE_ARM_ENDPOINT": fake.url,
        "HAYMAKER_AZURE_GRAPH_ENDPOINT": fake.url,
        **fake.env(),
    }


def provider_here(fake: FakeAzure, monkeypatch: pytest.MonkeyPatch) -> Provider:
    """The azure provider in the test process, with the settings and credential the
    host has: for making leftovers the way a host that died would have left them."""
    settings = azure_settings(fake)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return azure_provider(load_settings({**settings, "AzureWebJobsStorage": DEV_STORAGE}))


@contextmanager
def azure_host(
    folder: Path,
    connection: str,
    fake: FakeAzure,
    clock: HostClock,
    hub: str | None = None,
    **settings: str,
) -> Iterator[App]:
    """The app on devhost (virtual clock) with the azure provider on `fake`."""
    # Polls every 10 minutes: a fake execution reads Running twice before it succeeds, so
    # a one-hour run's monitor must look more than twice before its deadline.
    settings = {"HAYMAKER_POLL_INTERVAL": "PT10M", **settings}
    with app_host(
        folder, connection, hub, IDLE_SETTLE, (), **{**azure_settings(fake), **settings}
    ) as app:
        clock.host = app.host
        try:
            yield app
        finally:
            clock.host = None


def durable_waits(app: App, instance_id: str) -> list[tuple[str, float, str]]:
    """Each wait an orchestration took on an activity's request, in order, as
    (activity, seconds, reason): a `retry_later` result, then a durable timer that was
    created for at least that long and fired, then the same activity called again."""
    response = app.instance_status(instance_id, history=True)
    assert response.status_code == 200, response.text
    history = response.json()["historyEvents"]
    waits = []
    for index, event in enumerate(history):
        result = event.get("Result") if event["EventType"] == "TaskCompleted" else None
        later = result.get("retry_later") if isinstance(result, dict) else None
        if later is None:
            continue
        name = event["FunctionName"]
        rest = history[index + 1 :]
        created = rest[0]
        assert created["EventType"] == "TimerCreated", (name, rest[:3])
        fired = [e for e in rest if e["EventType"] == "TimerFired"]
        assert fired and fired[0]["FireAt"] == created["FireAt"], (name, rest[:5])
        after = rest[rest.index(fired[0]) + 1 :]
        assert any(e.get("FunctionName") == name for e in after), f"{name} was not called again"
        seconds = (
            parse_iso_utc(created["FireAt"]) - parse_iso_utc(created["Timestamp"])
        ).total_seconds()
        assert seconds >= later["seconds"], (name, seconds, later)
        waits.append((name, seconds, str(later["reason"])))
    return waits


def agent_result(report: dict[str, Any], agent: str) -> dict[str, Any]:
    """One agent's entry in a run report."""
    [result] = [r for r in report["agent_results"] if r["agent_id"] == agent]
    return dict(result)
