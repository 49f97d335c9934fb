"""Shared fixtures: one Azurite for the whole test session (started unless running), and
copies of the app to break or to run with a changed host.json."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost import azurite

ROOT = Path(__file__).resolve().parent.parent

# The tests talk only to servers on this machine: Azurite over HTTP, and the fake Azure over
# HTTPS with a CA of its own (those tests name it in SSL_CERT_FILE themselves). Yet every
# process that imports aiohttp (each host: about 90 in a run) builds
# a verified TLS context at import, and OpenSSL parses the system's CA bundle for it:
# 0.06-0.15 s of CPU each, for about 150 certificates never used. A bundle of no
# certificate costs nothing, and a test that reached a real server by mistake would fail.
# The processes the tests start inherit it.
os.environ["SSL_CERT_FILE"] = os.devnull


@pytest.fixture(scope="session", autouse=True)
def devhost_started_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An Azurite that a host under test starts is shared and outlives that host, by design:
    keep its data in the session's temporary folder and stop it when the session ends."""
    previous = os.environ.get(azurite.HOME_SETTING)
    os.environ[azurite.HOME_SETTING] = str(tmp_path_factory.mktemp("azurite-home"))
    try:
        yield
    finally:
        azurite.stop_shared(azurite.PORTS)
        if previous is None:
            os.environ.pop(azurite.HOME_SETTING, None)
        else:
            os.environ[azurite.HOME_SETTING] = previous


_SESSION_AZURITE = pytest.StashKey[tuple[azurite.AzuriteProcess, Path]]()


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (-n) the workers share one Azurite on the default ports: the
    controller starts it before they run (unless one listens) and stops it after them, so
    no worker stops an Azurite that another still uses."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        location = Path(tempfile.mkdtemp(prefix="haymaker-tests-azurite-"))
        config.stash[_SESSION_AZURITE] = (azurite.ensure_running(location, ROOT), location)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection loaded (the test modules, the app, the SDKs) lives as long as the
    worker: frozen, the collector never scans it again. Each full collection in a run of
    many tests otherwise walks every object of every imported module (as in devhost's
    host, see devhost/__main__.py)."""
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    started = config.stash.get(_SESSION_AZURITE, None)
    if started is not None:
        process, location = started
        process.stop()
        shutil.rmtree(location, ignore_errors=True)


@pytest.fixture(scope="session")
def storage_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string to Azurite; Azurite is started for the session if needed (an
    xdist worker finds the one its controller started)."""
    proc = azurite.ensure_running(tmp_path_factory.mktemp("azurite"), search_from=ROOT)
    try:
        yield azurite.dev_connection_string()
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def private_storage_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Azurite of the session's own, on free ports: for tests that cut storage off, and
    whose objects must not meet the sweeps that other test sessions run on the shared one."""
    proc = azurite.start_on_free_ports(tmp_path_factory.mktemp("private-azurite"), ROOT)
    try:
        yield proc.connection_string()
    finally:
        proc.stop()


@pytest.fixture
def unique_name() -> str:
    """A short unique alphanumeric name for tables, queues, containers and task hubs."""
    return "t" + uuid.uuid4().hex[:12]


# What never belongs to an app copy: VCS, environments, caches, local state, the tests.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-azcli",
    ".venv-bench",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".devhost",
    ".haymaker",
    "tests",
)


@pytest.fixture(scope="session")
def app_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the repo's app files, taken once per session."""
    template = tmp_path_factory.mktemp("template") / "app"
    shutil.copytree(ROOT, template, ignore=NOT_COPIED)
    return template


@pytest.fixture
def app_copy(app_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the app for one test to break."""
    copy = tmp_path / "app"
    shutil.copytree(app_template, copy)
    return copy
