"""The CLI run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.process import HostHandle, running_host

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def haymaker_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`python -m haymaker ARGS` in a child process: real exit codes, stdout and stderr."""

    def run(
        *args: str, cwd: Path = ROOT, timeout: float = 240, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "haymaker", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
            env={**_clean_env(), "PYTHONPATH": str(ROOT), **(env or {})},
            check=False,
        )

    return run


def _clean_env() -> dict[str, str]:
    import os

    skip = ("HAYMAKER_URL", "HAYMAKER_KEY", "HAYMAKER_MASTER_KEY", "HAYMAKER_PROFILE")
    return {k: v for k, v in os.environ.items() if k not in skip}


SCHEDULED = (
    "window_americas",
    "window_asia",
    "window_middle_east",
    "window_europe",
    "hourly_sweep",
)


def app_settings(state_dir: Path, port: int) -> dict[str, str]:
    """Everything the app reads, so no local.settings.json changes the test. Agents follow
    the host's clock (on `port`), as in `./dev run`."""
    return {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "HAYMAKER_PROVIDER": "local",
        "HAYMAKER_LOCAL_STATE_DIR": str(state_dir),
        "HAYMAKER_AGENT_TIME_SCALE": "2000",
        "HAYMAKER_AGENT_HOST_PATIENCE": "60",
        "HAYMAKER_AGENT_FAIL_AT": "",
        "HAYMAKER_AGENT_SILENT": "",
        "HAYMAKER_AGENT_CLOCK_URL": f"http://127.0.0.1:{port}/admin/host/clock",
        "HAYMAKER_LOCAL_FAIL_LAUNCH": "",
        **{f"AzureWebJobs.{name}.Disabled": "true" for name in SCHEDULED},
    }


@pytest.fixture(scope="session")
def host(
    private_storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostHandle]:
    """The app on devhost (virtual clock), one for every test module that asks for it.

    On the session's private Azurite: the sweep test runs a real sweep, which on the
    shared one would take what other sessions' tests are still using (objects of runs
    with no record look finished)."""
    folder = tmp_path_factory.mktemp("cli-host")
    with running_host(
        ROOT,
        clock="virtual",
        hub="cli" + uuid.uuid4().hex[:10],
        env=lambda port: {
            **app_settings(folder / "state", port),
            "AzureWebJobsStorage": private_storage_connection_string,
        },
        extra_args=["--idle-settle", "0.3"],
        log_path=folder / "host.log",
    ) as handle:
        yield handle


def into_closed_pipe(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python -m haymaker ARGS | head -c 0`: stdout's reader is gone before the first
    write, the harshest case of `| head -1`. stderr is captured."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "haymaker", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            timeout=240,
            env={**_clean_env(), "PYTHONPATH": str(ROOT)},
            check=False,
        )
    finally:
        os.close(write_end)
