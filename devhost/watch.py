"""`devhost start --watch`: run the host as a child and restart it when the app changes.

The supervisor polls the app folder's files (modification time and size; no extra
dependency, and it works on every file system) and, once a burst of changes has settled,
stops the host with SIGTERM (a clean stop: recorded work is stored) and starts it again on
the same port. Storage is not touched: Azurite outlives hosts, so orchestrations in flight
resume on the new host as after any restart. Folders that change without being the app's
source are not watched: devhost's own state, virtualenvs, caches, node_modules and VCS
folders.

Ctrl-C reaches the supervisor and the host alike (one process group); the host stops
quietly and so does the supervisor. SIGTERM to the supervisor is passed on to the host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

IGNORED_FOLDERS = frozenset(
    {
        ".devhost",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".git",
        ".hg",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".haymaker",
    }
)
POLL_SECONDS = 0.5
# Editors save in several steps (temporary file, rename); restart once they are done.
SETTLE_SECONDS = 0.3
STOP_TIMEOUT_SECONDS = 30.0

Snapshot = dict[str, tuple[int, int]]


def snapshot(app_dir: Path) -> Snapshot:
    """Every watched file under `app_dir`: its modification time and size."""
    files: Snapshot = {}
    for folder, subfolders, names in os.walk(app_dir):
        # `.venv-*`: more virtualenvs beside the app's (a project's tool environments).
        subfolders[:] = [
            name
            for name in subfolders
            if name not in IGNORED_FOLDERS and not name.startswith(".venv-")
        ]
        for name in names:
            if name.endswith((".pyc", ".swp", "~")):
                continue
            path = os.path.join(folder, name)
            try:
                status = os.stat(path)
            except OSError:
                continue  # deleted while we walked; the next snapshot says so
            files[path] = (status.st_mtime_ns, status.st_size)
    return files


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """Files added, removed or modified between two snapshots."""
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


class Supervisor:
    def __init__(self, app_dir: Path, host_argv: list[str]):
        self.app_dir = app_dir.resolve()
        self.command = [sys.executable, "-m", "devhost", *host_argv]
        self.host: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.restarts = 0
        self.exit_code = 0

    def _stop_requested(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._stop_requested)
        signal.signal(signal.SIGTERM, self._stop_requested)
        print(f"Watching {self.app_dir} for changes (--watch)", flush=True)
        files = snapshot(self.app_dir)
        self._start_host()
        while not self.stopping:
            time.sleep(POLL_SECONDS)
            current = snapshot(self.app_dir)
            changed = changes(files, current)
            if not changed:
                self._report_exit()
                continue
            while not self.stopping:  # wait for the burst of saves to end
                time.sleep(SETTLE_SECONDS)
                settled = snapshot(self.app_dir)
                if settled == current:
                    break
                changed = sorted({*changed, *changes(current, settled)})
                current = settled
            files = current
            if self.stopping:
                break
            shown = ", ".join(os.path.relpath(path, self.app_dir) for path in changed[:3])
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            print(f"Changed: {shown}{more}; restarting the host", flush=True)
            self._stop_host()
            self.restarts += 1
            self._start_host()
        self._stop_host()
        return self.exit_code

    def _start_host(self) -> None:
        self.host = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)

    def _report_exit(self) -> None:
        """A host that exited by itself after an edit is restarted by the next change; one
        that never started (a port in use, bad settings) ends the watch with its code."""
        if self.host is not None and self.host.poll() is not None:
            if self.restarts == 0:
                self.exit_code = self.host.returncode
                self.stopping = True
                return
            print(
                f"The host exited with code {self.host.returncode}; "
                "waiting for a change to start it again",
                flush=True,
            )
            self.host = None

    def _stop_host(self) -> None:
        host, self.host = self.host, None
        if host is None or host.poll() is not None:
            return
        # After Ctrl-C the host got SIGINT with us (one process group); SIGTERM is the
        # same clean stop and harmless twice.
        host.send_signal(signal.SIGTERM)
        try:
            host.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            host.kill()
            host.wait()


def supervise(app_dir: Path, argv: list[str]) -> int:
    """Run `devhost ARGV` (ARGV without --watch) and restart it on every change."""
    return Supervisor(app_dir, [arg for arg in argv if arg != "--watch"]).run()
