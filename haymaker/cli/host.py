"""`haymaker up` / `haymaker down`: a devhost (and Azurite) for this app, in the background.

`up` starts `python -m devhost start APP_DIR` as a detached process (its own session, so
it outlives the CLI), waits until /admin/host/status says Running, and records the pid,
port and URL in APP_DIR/.devhost/haymaker-up.json; other commands read the URL from
there. devhost starts Azurite itself when development storage is configured and nothing
listens. `down` SIGTERMs the recorded process and removes the record; an Azurite devhost
started keeps running for other hosts (`devhost azurite stop` ends it).

App settings: local.settings.json if the app has one (devhost reads it); settings it
lacks come from local.settings.sample.json, so a fresh clone runs. On the virtual clock
the regional timers are disabled, as in `local-run`: time jumps would fire them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from devhost import azurite
from devhost.azurite_cli import stop_command
from haymaker.api_client import ApiError
from haymaker.cli.output import EXIT_OK, CliError, Interrupted, print_json, show
from haymaker.cli.target import UP_FILE, TargetError, resolve_target
from haymaker.local_run import (
    SCHEDULED_FUNCTIONS,
    VIRTUAL_IDLE_SETTLE,
    agents_go_on,
    host_environment,
    local_hub,
    resumed_runs,
)

SAMPLE_SETTINGS = "local.settings.sample.json"
DEFAULT_PORT = 7071
DEFAULT_CLOCK = "real"


def _alive(pid: int) -> bool:
    """Whether `pid` is a running devhost (not a recycled pid of something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return b"devhost" in cmdline and b"start" in cmdline


def _status(url: str) -> str | None:
    return _status_field(url, "state")


def _status_field(url: str, name: str, timeout: float = 1.0, pid: int | None = None) -> str | None:
    """A field of the host status at `url`; with `pid`, only when that process answers
    (not another that holds the port)."""
    try:
        with urllib.request.urlopen(f"{url}/admin/host/status", timeout=timeout) as response:
            status = json.load(response)
    except (OSError, ValueError):
        return None
    if pid is not None and status.get("processId") != pid:
        return None
    value = status.get(name)
    return None if value is None else str(value)


def _record(app_dir: Path) -> dict[str, object] | None:
    path = app_dir / UP_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _settings(app_dir: Path, port: int, clock: str) -> dict[str, str]:
    """What the host process gets on top of this environment: local-run's defaults, then
    the sample's settings, then local.settings.json's; the real environment wins over all."""
    env = host_environment(app_dir / ".haymaker", port)
    if clock == "real":
        for name in SCHEDULED_FUNCTIONS:
            env.pop(f"AzureWebJobs.{name}.Disabled", None)
    for name in (SAMPLE_SETTINGS, "local.settings.json"):
        path = app_dir / name
        if path.is_file():
            values = json.loads(path.read_text()).get("Values", {})
            env.update({str(k): str(v) for k, v in values.items()})
    return {k: v for k, v in env.items() if k not in os.environ}


def _same_host_or_refuse(record: dict[str, object], args: argparse.Namespace) -> None:
    """A running host answers for `up` only if it is what was asked for (port, clock, hub)."""
    asked = {"port": args.port, "clock": args.clock, "hub": args.hub}
    # A record from before the hub was recorded: `up` gave every host the folder's own.
    running = {**record, "hub": record.get("hub") or local_hub(Path(str(record["app_dir"])))}
    differs = [
        f"--{name} {value} (it runs with {running.get(name)})"
        for name, value in asked.items()
        if value is not None and str(value) != str(running.get(name))
    ]
    if differs:
        raise CliError(
            f"devhost already running at {record['url']} (pid {record['pid']}), not as asked: "
            + ", ".join(differs)
            + "; stop it with `haymaker down` first"
        )


def up(args: argparse.Namespace) -> int:
    app_dir = Path(args.app_dir).resolve()
    if not (app_dir / "function_app.py").is_file():
        raise CliError(f"{app_dir} has no function_app.py: pass the app folder with --app-dir")
    record = _record(app_dir)
    if record and _alive(int(str(record["pid"]))) and _status(str(record["url"])) == "Running":
        _same_host_or_refuse(record, args)
        if args.json:
            print_json({**record, "already_running": True})
        else:
            show(f"devhost already running at {record['url']} (pid {record['pid']})")
        return EXIT_OK
    port: int = args.port or DEFAULT_PORT
    clock: str = args.clock or DEFAULT_CLOCK
    url = f"http://127.0.0.1:{port}"
    if _status(url) is not None:
        raise CliError(f"something already answers at {url}: stop it or pass --port")
    log_path = app_dir / ".devhost" / "host.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "devhost", "start", str(app_dir)]
    command += ["--port", str(port), "--clock", clock]
    if clock == "virtual":
        command += ["--idle-settle", str(VIRTUAL_IDLE_SETTLE)]
    # The folder's own task hub unless told otherwise: what a host left unfinished here
    # (Ctrl-C in `./dev run`, a crash) resumes, and can be canceled.
    hub = args.hub or local_hub(app_dir)
    command += ["--hub", hub]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **_settings(app_dir, port, clock)},
            cwd=app_dir,
            start_new_session=True,
        )
    # The host runs in its own session, so a Ctrl-C at the terminal never reaches it: until
    # its record is written (what `down` finds it by), this command is the only one that
    # knows it, and stops it on every way out but success.
    previous_term = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _wait_until_running(process, url, log_path, args.timeout)
    except KeyboardInterrupt:
        _stop_group(process)
        message = f"interrupted: stopped the devhost it was starting (pid {process.pid})"
        raise Interrupted(message) from None
    except BaseException:  # a failure, the --timeout, a SIGTERM (`timeout 60 haymaker up`)
        _stop_group(process)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    record = {
        "pid": process.pid,
        "port": port,
        "url": url,
        "clock": clock,
        "hub": hub,
        "app_dir": str(app_dir),
        "log": str(log_path),
        "started_at": datetime.now(UTC).isoformat(),
    }
    (app_dir / UP_FILE).write_text(json.dumps(record, indent=2) + "\n")
    if args.json:
        print_json(record)
    else:
        show(
            f"devhost running at {url} ({clock} clock, pid {process.pid})",
            f"log: {log_path}; stop it with `haymaker down`",
        )
    return EXIT_OK


def _wait_until_running(
    process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while (state := _status_field(url, "state", pid=process.pid)) != "Running":
        if state == "Standby":  # another devhost runs this task hub: this one would wait
            # Asked before it is stopped: a stopped standby answers nothing.
            holder = _status_field(url, "standbyFor", timeout=10) or "another devhost"
            raise CliError(
                f"this app's task hub is already run by {holder}: stop that host, or pass --hub"
            )
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            raise CliError(
                f"devhost exited with code {process.returncode}: {tail[0]} (log: {log_path})"
            )
        if time.monotonic() > deadline:
            raise CliError(f"devhost did not become ready in {timeout:.0f}s (log: {log_path})")
        time.sleep(0.2)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_group(process: subprocess.Popen[bytes], patience: float = 10.0) -> None:
    """Stop a host that never got its record: SIGTERM its process group (devhost and the
    worker it started), SIGKILL what is left after `patience` seconds. A second Ctrl-C
    meanwhile is ignored, so it cannot leave the host half stopped."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=patience)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def unfinished_runs(url: str, app_dir: Path) -> list[str]:
    """The runs the host at `url` holds unfinished (pending or running), asked before it
    stops; none when it does not answer."""
    try:
        target = resolve_target(url=url, cwd=app_dir)
        return [str(run["run_id"]) for run in resumed_runs(target.api)]
    except (ApiError, OSError, TargetError, KeyError, TypeError):
        return []


def say_unfinished(run_ids: list[str]) -> str:
    """What stopping the host means for its unfinished runs (as `./dev run`'s Ctrl-C says)."""
    first = run_ids[0]
    return "\n".join(
        [
            f"Unfinished: {', '.join(run_ids)}.",
            "  " + agents_go_on("Their"),
            "  `haymaker up` in this folder resumes them on the same task hub, where they find"
            " it again. To end them instead:",
            f"  `haymaker up`, then `haymaker run cancel {first}`"
            + (" (and the others)." if len(run_ids) > 1 else "."),
        ]
    )


def down(args: argparse.Namespace) -> int:
    app_dir = Path(args.app_dir).resolve()
    record = _record(app_dir)
    if record is None:
        if args.json:
            print_json({"stopped": False, "app_dir": str(app_dir)})
        else:
            show(f"nothing to stop: no devhost started by `haymaker up` in {app_dir}")
        return EXIT_OK
    pid = int(str(record["pid"]))
    unfinished: list[str] = []
    if _alive(pid):
        unfinished = unfinished_runs(str(record["url"]), app_dir)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    (app_dir / UP_FILE).unlink(missing_ok=True)
    azurite_left = azurite.recorded_pid(azurite.shared_location(azurite.PORTS)) is not None
    if args.json:
        print_json(
            {"stopped": True, "pid": pid, "url": record["url"], "unfinished_runs": unfinished}
        )
        return EXIT_OK
    show(f"devhost at {record['url']} stopped (pid {pid})")
    if unfinished:
        show(say_unfinished(unfinished))
    if azurite_left:
        show(
            "the Azurite devhost started keeps running for other hosts: "
            f"`{stop_command(azurite.PORTS)}` stops it"
        )
    return EXIT_OK
