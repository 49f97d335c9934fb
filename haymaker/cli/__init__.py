"""The `haymaker` command (also `python -m haymaker`): a client of HayMaker's HTTP API.

Exit codes: 0 ok; 1 a failure found (an API error, an unhealthy app, a failed doctor
check, a run that left something behind); 2 usage (bad arguments or target settings).
Errors are one line on stderr: what failed and what to do.
"""

from __future__ import annotations

import argparse
import importlib
import ssl
import sys
import urllib.error
from collections.abc import Callable
from typing import Any

from haymaker.api_client import ApiError
from haymaker.cli.output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Interrupted,
    discard_output,
    error_line,
)
from haymaker.cli.parser import build_parser, iso, usage_problem
from haymaker.cli.target import Target, TargetError, resolve_target

Handler = Callable[[argparse.Namespace, Target], int]
LocalHandler = Callable[[argparse.Namespace], int]

# Each command's handler as "module:function" under haymaker.cli, imported only when that
# command runs: a command then loads what it uses and not what every other one does
# (the doctor, the dashboard, the catalog checks).
REMOTE: dict[str, str] = {
    "run start": "runs:start",
    "run status": "runs:status",
    "run list": "runs:list_runs",
    "run agents": "runs:agents",
    "run resources": "runs:resources",
    "run logs": "logs:logs",
    "run report": "runs:report",
    "run cancel": "runs:cancel",
    "scenarios list": "scenarios:list_scenarios",
    "scenarios show": "scenarios:show_scenario",
    "orch status": "orch:status",
    "orch health": "orch:health",
    "sweep": "sweep:sweep",
    "metrics": "metrics:metrics",
    "dashboard": "dashboard:dashboard",
}
LOCAL: dict[str, str] = {
    "up": "host:up",
    "down": "host:down",
    "doctor": "doctor:doctor",
    "scenarios validate": "scenarios:validate",
}


def _handler(where: str) -> Any:
    module, function = where.split(":")
    return getattr(importlib.import_module(f"haymaker.cli.{module}"), function)


def _local_run(args: argparse.Namespace) -> int:
    from haymaker.local_run import run_locally

    request: dict[str, object] = {"duration": iso(args.duration), "poll_interval": iso(args.poll)}
    if args.scenarios:
        request["scenarios"] = args.scenarios
    elif args.count is not None:
        request["count"] = args.count
    else:
        request["size"] = args.size
    return run_locally(request, clock=args.clock)


def _key_hint(error: ApiError) -> str:
    if error.status != 401:
        return ""
    if error.key_option == "--master-key":
        return (
            ": check the host's master key (--master-key, HAYMAKER_MASTER_KEY, "
            "or .devhost/keys.json locally)"
        )
    return ": check the function key (--key, HAYMAKER_KEY, or .devhost/keys.json locally)"


def _dispatch(args: argparse.Namespace) -> int:
    command = " ".join(part for part in (args.command, getattr(args, "action", None)) if part)
    if command == "local-run":
        try:
            return _local_run(args)
        except ApiError as error:
            raise CliError(f"the local run stopped following its run: {error}") from None
    if command in LOCAL:
        local: LocalHandler = _handler(LOCAL[command])
        return local(args)
    target = resolve_target(args.url, args.key, args.master_key, args.profile)
    try:
        remote: Handler = _handler(REMOTE[command])
        return remote(args, target)
    except ApiError as error:
        raise CliError(f"{command} failed: {error}{_key_hint(error)}") from None
    except urllib.error.URLError as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ssl.SSLError) and reason.reason == "WRONG_VERSION_NUMBER":
            plain = "http://" + target.url.removeprefix("https://")
            raise CliError(
                f"{target.url} answers plain HTTP, not HTTPS (a local devhost does): "
                f"use --url {plain}"
            ) from None
        raise CliError(
            f"cannot reach HayMaker at {target.url} ({reason}): start it with `haymaker up` "
            "or pass --url"
        ) from None
    except (ConnectionError, TimeoutError) as error:
        raise CliError(f"{command}: lost the connection to {target.url} ({error})") from None


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The arguments, or a usage error (exit 2) in the words and usage of the command
    typed: an unknown option after `run start` shows `run start`'s usage."""
    args, unknown = build_parser().parse_known_args(argv)
    command: argparse.ArgumentParser = args.leaf_parser
    if unknown:
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    problem = usage_problem(args)
    if problem:
        command.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(argv)
    except BrokenPipeError:  # `haymaker --help | head -1`
        discard_output()
        return EXIT_OK
    try:
        return _dispatch(args)
    except TargetError as error:
        error_line(str(error))
        return EXIT_USAGE
    except CliError as error:
        error_line(str(error))
        return error.code
    except Interrupted as interrupted:
        if str(interrupted):
            sys.stderr.write(f"haymaker: {interrupted}\n")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        error_line("interrupted")
        return EXIT_INTERRUPTED
    except OSError as error:
        error_line(f"{error}")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
