"""Running the Azure CLI for one agent: its own config dir, no secrets in its environment,
a timeout on every command, scrubbed and truncated output.

The sign-in keeps the client secret out of every process's arguments: `--password=@-`
makes the CLI read the value from standard input (the CLI expands `@<file>` and `@-` in
any argument before parsing; `=` keeps a secret starting with `-` from being taken for an
option). The secret is not in the environment of any `az` process either.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from agent.actions import Outcome
from agent.contract import ServicePrincipal
from agent.scrub import Scrubber

# Exit codes for what never got an exit code from the CLI (the `timeout` and shell spelling).
TIMED_OUT = 124
NOT_FOUND = 127
# Printed per stream: the end of the output is where the CLI says what went wrong.
MAX_PRINTED_CHARS = 4000
# Kept in an Outcome's error (and so in events).
MAX_ERROR_CHARS = 400
# Never handed to an `az` process: the client secret, and the storage account key.
WITHHELD_VARIABLES = ("AZURE_CLIENT_SECRET", "AzureWebJobsStorage")
# Settings for every `az` process (config `[core]` keys as AZURE_CORE_* variables).
CLI_SETTINGS = {
    "AZURE_CORE_COLLECT_TELEMETRY": "false",
    "AZURE_CORE_NO_COLOR": "true",
    "AZURE_CORE_SURVEY_MESSAGE": "false",
    "AZURE_CORE_LOGIN_EXPERIENCE_V2": "false",
}


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float

    def outcome(self) -> Outcome:
        return Outcome(self.exit_code, self.stdout, "" if self.exit_code == 0 else self.reason())

    def reason(self) -> str:
        """The last thing the CLI said (where it says what went wrong), cut short."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        text = lines[-1] if lines else self.stdout.strip()[-MAX_ERROR_CHARS:]
        return text[:MAX_ERROR_CHARS]


class AzureCli:
    """Runs `az` commands for one agent. `close()` removes its config dir (its sign-in)."""

    def __init__(self, scrubber: Scrubber, env: Mapping[str, str], executable: str = "az") -> None:
        self._scrubber = scrubber
        self._executable = executable
        # Private to this agent: its sign-in (tokens, the cached service principal secret)
        # lives here and nowhere else, and goes with it.
        self.config_dir = Path(tempfile.mkdtemp(prefix="haymaker-az-"))
        self._env = cli_environment(env, self.config_dir)

    def run(
        self, argv: Sequence[str], timeout: float, stdin: str | None = None, echo: bool = False
    ) -> CliResult:
        """Run one command (no shell), print its output scrubbed; never raises for a failure.

        `echo` prints the command first (the lifecycle prints scenario steps itself).
        """
        argv = list(argv)
        if echo:
            print(f"$ {self._scrubber.scrub(shlex.join(argv))}", flush=True)
        if argv and argv[0] == "az":
            argv[0] = self._executable
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
                text=True,
                encoding="utf-8",
                errors="replace",
                # Its own process group: a timeout kills the CLI's children too.
                start_new_session=True,
            )
        except OSError as error:
            message = f"cannot run {argv[0]}: {error.strerror or error}"
            return self._done(NOT_FOUND, "", message, started)
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
            code = process.returncode
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = _leftover_output(process)
            stderr += f"\ntimed out after {timeout:.0f}s: stopped"
            code = TIMED_OUT
        except BaseException:  # the agent is being stopped: take the command with it
            _kill_group(process)
            raise
        return self._done(code, stdout, stderr, started)

    def login(self, principal: ServicePrincipal, timeout: float) -> CliResult:
        """Sign in as the agent's service principal, the secret on standard input."""
        argv = [
            "az",
            "login",
            "--service-principal",
            "--username",
            principal.client_id,
            "--password=@-",
            "--tenant",
            principal.tenant_id,
            "--allow-no-subscriptions",
            "--output",
            "none",
        ]
        return self.run(argv, timeout, stdin=principal.client_secret, echo=True)

    def close(self) -> None:
        shutil.rmtree(self.config_dir, ignore_errors=True)

    def _done(self, code: int, stdout: str, stderr: str, started: float) -> CliResult:
        result = CliResult(
            exit_code=code,
            stdout=self._scrubber.scrub(stdout),
            stderr=self._scrubber.scrub(stderr),
            duration_s=round(time.monotonic() - started, 3),
        )
        _print_tail(result.stdout, sys.stdout)
        _print_tail(result.stderr, sys.stderr)
        if code != 0:
            print(f"  (exit code {code})", flush=True)
        return result


def cli_environment(env: Mapping[str, str], config_dir: Path) -> dict[str, str]:
    """The environment of every `az` process: ours, minus the secrets, plus its settings."""
    child = {key: value for key, value in env.items() if key not in WITHHELD_VARIABLES}
    child.update(CLI_SETTINGS)
    child["AZURE_CONFIG_DIR"] = str(config_dir)
    # Extensions default to <config dir>/cliextensions: keep using the ones installed in
    # the usual place (the image installs them under AZURE_EXTENSION_DIR).
    default_extensions = Path.home() / ".azure" / "cliextensions"
    if "AZURE_EXTENSION_DIR" not in child and default_extensions.is_dir():
        child["AZURE_EXTENSION_DIR"] = str(default_extensions)
    # The CLI brings its own Python packages: keep this agent's virtualenv (and its
    # python3) off its PATH so the two never mix.
    if sys.prefix != sys.base_prefix:
        venv_bin = str(Path(sys.prefix) / "bin")
        path = child.get("PATH", os.defpath).split(os.pathsep)
        child["PATH"] = os.pathsep.join(entry for entry in path if entry != venv_bin)
    return child


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _leftover_output(process: subprocess.Popen[str]) -> tuple[str, str]:
    """What a killed command had written (unless something it started holds its pipes)."""
    try:
        stdout, stderr = process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        return "", ""
    return stdout or "", stderr or ""


def _print_tail(text: str, stream: TextIO) -> None:
    text = text.rstrip()
    if not text:
        return
    if len(text) > MAX_PRINTED_CHARS:
        text = f"[... {len(text) - MAX_PRINTED_CHARS} chars cut ...]\n" + text[-MAX_PRINTED_CHARS:]
    print(text, file=stream, flush=True)
