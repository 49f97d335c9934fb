"""Which storage a host uses: Azurite on the ports the connection string names, shared by
every host that names them and outliving the host that started it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost import azurite
from devhost.process import free_port, free_service_ports
from devhost.testing import HostHandle, running_host
from tests.devhost.helpers import new_hub, wait_for_status

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "devhost" / "examples" / "samples" / "hello"


@pytest.fixture
def custom_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Three free ports for an Azurite a host starts, its data under tmp_path (hosts inherit
    the setting); stopped afterwards whatever happened."""
    monkeypatch.setenv(azurite.HOME_SETTING, str(tmp_path / "azurite-home"))
    ports = free_service_ports(azurite.PORTS)
    yield ports
    azurite.stop_shared(ports)


def sample_copy(destination: Path) -> Path:
    target = destination / "hello"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns(".devhost", "__pycache__"))
    return target


def host_env(ports: dict[str, int]) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.dev_connection_string(ports=ports)}


def greet(host: HostHandle, cities: list[str]) -> dict[str, object]:
    """Run the sample's orchestration to its end; the final status body."""
    started = requests.post(
        f"{host.api}/orchestrators/hello_cities",
        params={"code": host.function_key},
        json=cities,
        timeout=30,
    )
    assert started.status_code == 202, started.text
    return wait_for_status(started.json()["statusQueryGetUri"], timeout=60)


def test_a_custom_port_connection_string_gets_azurite_on_those_ports(
    custom_ports: dict[str, int], tmp_path: Path
) -> None:
    assert not azurite.is_running(custom_ports)
    env = host_env(custom_ports)
    with running_host(sample_copy(tmp_path), hub=new_hub(), env=env) as host:
        status = greet(host, ["Oslo"])
        log = host.log()

    blob = f"http://127.0.0.1:{custom_ports['blob']}/devstoreaccount1"
    assert status["runtimeStatus"] == "Completed"
    assert f"Storage (AzureWebJobsStorage): Azurite at blob {blob}" in log
    data = tmp_path / "azurite-home" / "-".join(str(p) for p in custom_ports.values())
    assert f"started by this host (pid {azurite.recorded_pid(data)}), data in {data}" in log
    assert (data / "__azurite_db_table__.json").exists()
    # Stopping the host leaves the Azurite it started for others.
    assert azurite.is_running(custom_ports)


def test_a_host_stopping_leaves_storage_to_the_others_until_azurite_is_stopped(
    custom_ports: dict[str, int], tmp_path: Path
) -> None:
    env = host_env(custom_ports)
    hosts = [
        HostHandle(
            app_dir=sample_copy(tmp_path / name),
            port=free_port(),
            hub=new_hub(),
            clock="real",
            env=env,
            extra_args=[],
            log_path=tmp_path / f"{name}.log",
        )
        for name in ("starter", "other")
    ]
    starter, other = hosts
    try:
        starter.start()
        other.start()
        assert greet(starter, ["Lima"])["runtimeStatus"] == "Completed"
        assert starter.stop() == 0

        # The host that started Azurite is gone; the other one still has its storage.
        status = greet(other, ["Quito", "Bogota"])
    finally:
        for host in hosts:
            host.stop()
    assert "started by this host" in starter.log()
    assert "started earlier by devhost" in other.log()
    assert status["output"] == ["Hello Quito!", "Hello Bogota!"]

    # The way to stop it is the one the starter's log gives, pasted into a shell.
    hint = re.search(r"`([^`]*azurite stop[^`]*)` ends it", starter.log())
    assert hint, starter.log()
    stop = subprocess.run(
        hint.group(1),
        shell=True,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert stop.stdout.startswith("stopped Azurite")
    assert not azurite.is_running(custom_ports)


def test_an_azurite_whose_free_port_was_taken_first_starts_on_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (a parallel test worker) can be handed the same free port and bind
    it first: the Azurite is started again on other ports, not left failing."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = {**free_service_ports(azurite.PORTS), "blob": holder.getsockname()[1]}
        handed_out = iter([taken])
        monkeypatch.setattr(
            azurite,
            "free_service_ports",
            lambda services: next(handed_out, None) or free_service_ports(services),
        )

        process = azurite.start_on_free_ports(tmp_path / "azurite", ROOT)
        try:
            assert process.ports["blob"] != taken["blob"]
            assert azurite.is_running(process.ports)
            assert process.connection_string() == azurite.dev_connection_string(ports=process.ports)
        finally:
            process.stop()
