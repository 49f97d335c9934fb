"""Agent processes of the local provider: start detached, recognize after a restart, stop.

A host may crash and re-run the activity that launched an agent, so a launch is recorded
in a pid file (`<key>.json`: pid, start time, run id) under a per-agent lock, and a
later launch of the same key starts nothing: the agent runs once, whether it still runs
or has ended by then. Whether it runs is not told by its pid alone (pids are reused), so
the record also keeps the process's start time from /proc. The agent writes its exit code
to `<key>.exit.json` itself: it is the launcher's child, not the host's, so the host
cannot wait() for it (nor could it after a restart). POSIX only (fork, sessions, process
groups, flock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from haymaker.providers.agent_launcher import AgentLauncher
from haymaker.providers.base import AgentStatus


def read_record(path: Path) -> dict[str, Any] | None:
    """A JSON state file as a dict, or None when it does not exist."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


def write_record(path: Path, data: Mapping[str, Any]) -> None:
    """Write a JSON state file atomically (temp file + rename), readable by us only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


class AgentProcesses:
    """The agent processes recorded in one folder, each under a key (`<run short>-<agent>`),
    forked from `launcher` (see agent_launcher.py)."""

    def __init__(self, folder: Path, launcher: AgentLauncher) -> None:
        self._folder = folder
        self._launcher = launcher

    def _path(self, key: str, suffix: str) -> Path:
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self._folder / f"{key}{suffix}"

    def log_path(self, key: str) -> Path:
        return self._path(key, ".log")

    def launch(self, key: str, cwd: Path, env: Mapping[str, str], run_id: str) -> tuple[int, bool]:
        """Start an agent (`python -m agent`, forked from the launcher) in `cwd` with `env`,
        in a new session, unless `key` was started before: (pid, already_launched).

        A key is started once. A re-run activity (the host crashed before it recorded the
        launch) gets the recorded pid back whether that process still runs or has ended:
        an agent that ran its scenario to the end is not started again to run it twice,
        and one that crashed stays failed, as `status` says. The check and the start
        happen under a per-key file lock, so two concurrent tries (a re-run activity
        racing the first) still start one process. The child learns where to leave its
        exit code from HAYMAKER_EXIT_FILE.
        """
        record_path = self._path(key, ".json")
        with _locked(self._path(key, ".lock")):
            record = read_record(record_path)
            if record is not None:
                return int(record["pid"]), True
            exit_file = self._path(key, ".exit.json")
            exit_file.unlink(missing_ok=True)
            env = {**env, "HAYMAKER_EXIT_FILE": str(exit_file.resolve())}
            pid = self._launcher.start(cwd, env, self.log_path(key))
            started = _start_time(pid)
            write_record(record_path, {"pid": pid, "started": started, "run_id": run_id})
        return pid, False

    def running(self, key: str) -> bool:
        record = read_record(self._path(key, ".json"))
        return record is not None and _alive(record)

    def status(self, key: str) -> AgentStatus:
        """running / succeeded / failed (with the exit code when known) / missing."""
        record = read_record(self._path(key, ".json"))
        if record is None:
            return {"state": "missing"}
        # The exit file is the agent's last act (launch removes an old one): once it is
        # there the agent has ended, even if its process is still on its way out.
        written = read_record(self._path(key, ".exit.json"))
        if written is None and _alive(record):
            return {"state": "running"}
        if written is None:
            return {"state": "failed"}  # gone without saying how: killed or crashed
        code = int(written["exit_code"])
        return {"state": "succeeded" if code == 0 else "failed", "exit_code": code}

    def stop(self, key: str) -> bool:
        """SIGTERM the process group, SIGKILL after 10 s; True when it was running."""
        record = read_record(self._path(key, ".json"))
        if record is None or not _alive(record):
            return False
        pid = int(record["pid"])
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)  # the session leader's pid is its group id
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if not _alive(record):
                    return True
                time.sleep(0.05)
        raise RuntimeError(f"agent process {pid} survived SIGKILL")

    def live(self) -> Iterator[tuple[str, str]]:
        """(key, run id) of every recorded process that still runs."""
        if not self._folder.is_dir():
            return
        for path in sorted(self._folder.glob("*.json")):
            record = None if path.name.endswith(".exit.json") else read_record(path)
            if record is not None and _alive(record):
                yield path.stem, str(record.get("run_id"))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else fields[19]


def _alive(record: Mapping[str, Any]) -> bool:
    """Whether the recorded process still runs and is the one that was started."""
    pid = int(record["pid"])
    if record.get("started") is not None:
        return _start_time(pid) == record["started"]
    if sys.platform.startswith("linux"):
        return False  # recorded without a start time: it had already exited at launch
    try:  # no /proc (macOS): the pid alone has to do
        os.kill(pid, 0)
    except OSError:
        return False
    return True
