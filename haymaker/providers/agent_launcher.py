"""Local agents forked from one warm process instead of each started as `python -m agent`.

A local agent spent about 0.2 s of CPU to start, nearly all of it the interpreter's start
and the imports of the agent's modules, against a few hundredths for what it then does in
a short run; a 50-agent run paid that 50 times, on the cores the host and Azurite need.
The launcher (`python -m haymaker.providers.agent_launcher`, one per host process, started
at the first launch) imports those modules once, then forks an agent for each request:
the child starts its own session, moves to the agent's folder, takes the agent's
environment and log file, and runs `agent.__main__.main` as `python -m agent` would.

Requests are JSON lines on the launcher's stdin (`{"cwd", "env", "log"}`; the environment
holds the storage connection string, so it never goes on a command line), answered by one
line each on its stdout (`{"pid"}` or `{"error"}`). The launcher is single-threaded, so a
fork copies nothing half-done; it ends when its stdin closes (its host stopped or died),
and the agents it forked go on, as agents started any other way do: each is in a session
of its own, and tells how it ended in its exit file (haymaker/providers/local_process.py).
The launcher reaps each agent as it ends (so its CPU time counts in the launcher's, as
`time ./dev run` reads it), and the host waits for the launcher when it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

COMMAND = [sys.executable, "-m", "haymaker.providers.agent_launcher"]


class LaunchError(RuntimeError):
    pass


class AgentLauncher:
    """The host's side: start agents through the launcher, started when first needed."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self._cwd = cwd
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # activities launch from several threads
        atexit.register(self.close)

    def start(self, cwd: Path, env: Mapping[str, str], log: Path) -> int:
        """Fork an agent running in `cwd` with exactly `env`, its output appended to `log`;
        returns its pid."""
        request = json.dumps({"cwd": str(cwd), "env": dict(env), "log": str(log)}).encode()
        with self._lock:
            process = self._running()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(request + b"\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except OSError as error:
                raise LaunchError(f"the agent launcher stopped: {error}") from error
            if not line:
                raise LaunchError(f"the agent launcher exited (code {process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise LaunchError(f"the agent launcher could not start the agent: {reply['error']}")
        return int(reply["pid"])

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                COMMAND,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # Out of the host's process group: Ctrl-C in the host's terminal must not
                # stop it first. It ends when the host closes its stdin (or dies).
                start_new_session=True,
            )
        return self._process

    def close(self) -> int | None:
        """Close the launcher's stdin and wait for it to end (the agents it forked go on);
        its exit code, or None if it never started."""
        with self._lock:
            if self._process is None:
                return None
            assert self._process.stdin is not None
            if not self._process.stdin.closed:
                self._process.stdin.close()
            return self._process.wait(timeout=10)


# --- the launcher process -------------------------------------------------------------


def _serve() -> None:
    # An agent's own storage clients are synchronous; see agent/__main__.py.
    sys.modules.setdefault("aiohttp", None)  # type: ignore[arg-type]
    # The agent's modules, and what a local agent imports later on: once, for every child.
    for module in ("agent.__main__", "agent.local_actions"):
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, _reap)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while line := requests.readline():
        try:
            request = json.loads(line)
            reply: dict[str, Any] = {"pid": _fork_agent(request, requests, replies)}
        except Exception as error:  # reported to the host, which fails that launch
            reply = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()


def _reap(signum: int, frame: object) -> None:
    """Wait for every agent that has ended (its exit code is in its exit file)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _fork_agent(request: Mapping[str, Any], *pipes: IO[bytes]) -> int:
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        pid = os.fork()
        if pid == 0:  # the agent: never returns
            _run_agent(request, log, pipes)
    finally:
        os.close(log)
    return pid


def _run_agent(request: Mapping[str, Any], log: int, pipes: tuple[IO[bytes], ...]) -> None:
    code = 1
    try:
        os.setsid()
        # As a new interpreter has them (the launcher's reaping is not the agent's).
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for pipe in pipes:
            pipe.close()  # the host's requests and replies are the launcher's, not ours
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        # Unbuffered, as `python -u`: an agent's log is read while it runs.
        sys.stdout = _unbuffered(1)
        sys.stderr = _unbuffered(2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from agent.__main__ import main

        code = main(os.environ)
    except SystemExit as stop:  # as the interpreter reads it: None is 0, a message is 1
        code = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)  # not the launcher's exit handlers


def _unbuffered(fd: int) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.FileIO(fd, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        write_through=True,
    )


if __name__ == "__main__":
    _serve()
