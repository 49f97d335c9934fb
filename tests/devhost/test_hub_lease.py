"""The task hub's lease: a holder elsewhere is waited out, and a host that cannot renew
stops running the hub, then takes it again when storage is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.lease import LEASE_SECONDS, Holder, HubLease
from devhost.testing import HostHandle, HostStartError
from tests.devhost.helpers import app_host, wait_for_status, wait_until
from tests.storage_proxy import StorageProxy, running_proxy

pytestmark = pytest.mark.slow


def test_a_holder_on_another_machine_is_waited_out_until_its_lease_lapses(
    storage_connection_string: str, unique_name: str
) -> None:
    """Its process cannot be checked from here, so only the lapse of its lease frees the hub."""

    async def scenario() -> tuple[list[str], str]:
        elsewhere = Holder("another-machine", 4321, "http://10.0.0.9:7071", "/app", "earlier")
        theirs = HubLease(storage_connection_string, unique_name, elsewhere)
        ours = HubLease(
            storage_connection_string, unique_name, Holder.this_process("http://here", "/app")
        )
        await theirs.open()
        await ours.open()
        assert await theirs.try_acquire() is None  # and then it never renews: it died
        taken_at = time.monotonic()
        refusals = []
        while (holder := await ours.try_acquire()) is not None:
            refusals.append(holder.describe())
            await asyncio.sleep(1)
        waited = time.monotonic() - taken_at
        try:
            await theirs._act("renew")
            late_renewal = "renewed"
        except Exception as error:  # the hub is someone else's now
            late_renewal = type(error).__name__
        await ours.release()
        await ours.close()
        await theirs.close()
        print(f"\nthe lease lapsed and was taken after {waited:.1f}s (lease {LEASE_SECONDS}s)")
        return refusals, late_renewal

    refusals, late_renewal = asyncio.run(scenario())
    assert refusals, "the hub was taken while its holder's lease still ran"
    assert all("devhost pid 4321 on another-machine" in refusal for refusal in refusals)
    assert late_renewal != "renewed"


@pytest.fixture
def proxied_host(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> Iterator[tuple[HostHandle, StorageProxy]]:
    with running_proxy() as proxy:
        env = {"AzureWebJobsStorage": proxy.connection_string}
        with app_host("durable_app", tmp_path, hub=unique_name, env=env) as host:
            yield host, proxy


def test_a_host_that_cannot_renew_stops_the_hub_and_takes_it_again(
    proxied_host: tuple[HostHandle, StorageProxy],
) -> None:
    host, proxy = proxied_host
    assert host.hub is not None
    params = {"code": host.system_key}
    started = requests.post(
        f"{host.management}/orchestrators/approval_orchestrator", params=params, timeout=30
    )
    assert started.status_code == 202, started.text
    payload = started.json()

    hung_at = time.monotonic()
    proxy.set("blob", "hang")  # the lease cannot be renewed: the host must stop working
    wait_until(
        lambda: host_state(host) == "Standby",
        timeout=60,
        message=lambda: f"the host to stand by\n{host.log()[-2000:]}",
    )
    # Its last renewal came before the hang, so the lease may lapse LEASE_SECONDS after
    # the hang began, and another host take the hub: by then this one must have stopped
    # (it used to wait out a hung renewal, then the storage SDK's 15 s retry: 40 s).
    stopped_after = time.monotonic() - hung_at
    assert stopped_after < LEASE_SECONDS, f"stopped {stopped_after:.1f} s after the hang"
    assert "Lost the lease" in host.log()
    refused = requests.get(f"{host.management}/instances", params=params, timeout=30)
    assert refused.status_code == 503 and refused.headers["Retry-After"], refused.text

    proxy.set("blob", "pass")
    wait_until(
        lambda: host_state(host) == "Running",
        timeout=60,
        message=lambda: f"the host to take the hub again\n{host.log()[-2000:]}",
    )
    # The orchestration it dropped from memory is resumed from storage and goes on.
    raised = requests.post(
        payload["sendEventPostUri"].replace("{eventName}", "approval"), json=True, timeout=30
    )
    assert raised.status_code == 202, raised.text
    assert wait_for_status(payload["statusQueryGetUri"], timeout=60)["runtimeStatus"] == (
        "Completed"
    )


def host_state(host: HostHandle) -> str:
    return str(requests.get(f"{host.base_url}/admin/host/status", timeout=10).json()["state"])


def test_a_start_on_a_hub_another_host_runs_fails_at_once_naming_it(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    """`./dev run` beside a `haymaker up` on one app: its host stood by, and the start
    waited its whole minute, then printed the log the two hosts share (6 MB). Now a start
    that was not asked to stand by fails as soon as the host stands by, naming who runs
    the hub."""
    env = {"AzureWebJobsStorage": storage_connection_string}
    with app_host("durable_app", tmp_path / "first", hub=unique_name, env=env) as first:
        assert first.process is not None
        asked = time.monotonic()
        with (
            pytest.raises(HostStartError) as refused,
            app_host("durable_app", tmp_path / "second", hub=unique_name, env=env),
        ):
            pass
        assert time.monotonic() - asked < 30, "it waited out the start's timeout"
        message = str(refused.value)
        assert f"this task hub ({unique_name}) is run by devhost pid {first.process.pid}" in message


def test_a_failed_start_shows_the_end_of_its_own_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "host.log"
    log.write_text("".join(f"an earlier host's line {i}\n" for i in range(1000)))
    handle = HostHandle(tmp_path, 7071, None, "real", {}, [], log, log_start=log.stat().st_size)
    with open(log, "a") as more:
        more.writelines(f"this start's line {i}\n" for i in range(100))
    tail = handle.log_tail(lines=40).splitlines()
    assert tail[0] == f"... (60 earlier lines in {log})"
    assert tail[1:] == [f"this start's line {i}" for i in range(60, 100)]
