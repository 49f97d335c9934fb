"""The argument parser: every subcommand, its options and their help."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
from datetime import timedelta
from typing import Any

from haymaker.durations import DurationRange, format_duration, parse_duration
from haymaker.run_request import RUN_ID_RULE, is_run_id
from haymaker.settings import (
    MAX_AGENTS_PER_RUN,
    POLL_INTERVAL_RANGE,
    REGIONS,
    RUN_DURATION_RANGE,
    RUN_SIZES,
)
from haymaker.suggest import did_you_mean

EPILOG = (
    "Target: --url/--key, else HAYMAKER_URL/HAYMAKER_KEY, else ~/.config/haymaker/config.toml, "
    "else the local devhost (http://127.0.0.1:7071, keys from ./.devhost/keys.json). "
    "Exit codes: 0 ok, 1 failure found, 2 usage."
)


class Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped command or choice, and no empty values
    (`--duration ""` would otherwise mean "the default" to the API, or ask for nothing)."""

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        if arg_string == "" and not isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(action, "must not be empty")
        return super()._get_value(action, arg_string)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(choice) for choice in choices]
            raise argparse.ArgumentError(
                action,
                f"invalid choice: {value!r}{did_you_mean(str(value), names)} "
                f"(choose from {', '.join(names)})",
            )


def run_id(value: str) -> str:
    """A RUN_ID argument, refused before any request if no run can have it (a '/' or '?'
    would change the request's path, and a non-ASCII one cannot go into a URL at all)."""
    if not is_run_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a run id ({RUN_ID_RULE}; `haymaker run list` shows the runs)"
        )
    return value


def whole_number(low: int, high: int | None = None) -> Any:
    """An argument type: a whole number from `low` (to `high`), refused before any request."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}; got {value}")
        return value

    return parse


# Years, months and weeks: ISO 8601, but with no fixed length (see haymaker/durations.py).
_CALENDAR_UNITS = re.compile(r"P(?:\d+[YMW])|P.*\d[YW]")


def duration(allowed: DurationRange | None = None) -> Any:
    """An argument type: an ISO 8601 duration the API accepts (within `allowed`), refused
    before any request with the API's words."""

    def parse(text: str) -> timedelta:
        if _CALENDAR_UNITS.match(text):
            raise argparse.ArgumentTypeError(
                f"{text!r}: years, months and weeks are not supported (they have no fixed "
                "length); use days and hours, e.g. P7D or PT36H"
            )
        try:
            value = parse_duration(text, "")
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix(": ")) from None
        if allowed is not None and value not in allowed:
            raise argparse.ArgumentTypeError(f"must be {allowed}; got {text!r}")
        if value <= timedelta(0):
            raise argparse.ArgumentTypeError(f"must be longer than nothing; got {text!r}")
        return value

    return parse


def iso(value: timedelta | None) -> str | None:
    """A parsed duration as the API reads it (None stays None: the API's default)."""
    return None if value is None else format_duration(value)


def seconds(text: str) -> float:
    """An argument type: a number of seconds, more than none."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds; got {text}")
    return value


def _common(json_help: str = "print JSON instead of tables") -> Parser:
    common = Parser(add_help=False)
    common.add_argument("--json", action="store_true", help=json_help)
    return common


def _api() -> Parser:
    api = _common()
    api.add_argument(
        "--show-keys",
        action="store_true",
        help="print status URLs with their key (masked as code=*** otherwise; "
        "the key opens the task hub's management API)",
    )
    return api


def _target() -> Parser:
    target = Parser(add_help=False)
    group = target.add_argument_group("target")
    group.add_argument("--url", help="the function app's base URL (HAYMAKER_URL)")
    group.add_argument("--key", help="a function key (HAYMAKER_KEY)")
    group.add_argument("--master-key", help="the host master key, for orch status")
    group.add_argument("--profile", help="a [profiles.NAME] table of the profile file")
    return target


def _run_commands(commands: argparse._SubParsersAction, api: list[Parser]) -> None:
    run = commands.add_parser("run", help="start, follow and inspect runs")
    actions = run.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser(
        "start", parents=api, help="start a run; prints its id and status URL"
    )
    size = start.add_mutually_exclusive_group()
    size.add_argument(
        "--size", choices=sorted(RUN_SIZES), default="small", help="default small (5 agents)"
    )
    size.add_argument(
        "--count",
        type=whole_number(1, MAX_AGENTS_PER_RUN),
        metavar="N",
        help=f"number of agents (1-{MAX_AGENTS_PER_RUN})",
    )
    size.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="ID",
        help="a scenario id (repeatable)",
    )
    start.add_argument(
        "--duration",
        type=duration(RUN_DURATION_RANGE),
        help=f"ISO 8601 run duration, {RUN_DURATION_RANGE}, e.g. PT2H (default: the app's "
        "HAYMAKER_RUN_DURATION, PT8H unless set)",
    )
    start.add_argument(
        "--poll",
        type=duration(POLL_INTERVAL_RANGE),
        help=f"ISO 8601 poll interval, {POLL_INTERVAL_RANGE} and shorter than the duration, "
        "e.g. PT5M (default: the app's HAYMAKER_POLL_INTERVAL, PT15M unless set, a quarter "
        "of a shorter run)",
    )
    start.add_argument("--region", choices=REGIONS)
    start.add_argument("--run-id", help="an id of your own (starting it twice starts one run)")
    start.add_argument(
        "--wait", action="store_true", help="follow the run to its end and print the report"
    )
    start.add_argument(
        "--dry-run",
        action="store_true",
        help="show the plan and its estimated cost (against HAYMAKER_MAX_RUN_COST_USD), "
        "start nothing",
    )
    start.add_argument("--interval", type=seconds, default=1.0, help=argparse.SUPPRESS)

    status = actions.add_parser("status", parents=api, help="a run's agents and phases")
    status.add_argument("run_id", metavar="RUN_ID", type=run_id)
    status.add_argument(
        "--watch", action="store_true", help="live progress bars until the run ends"
    )
    status.add_argument(
        "--interval",
        type=seconds,
        default=1.0,
        help="seconds between polls with --watch (default 1)",
    )

    listing = actions.add_parser("list", parents=api, help="runs, newest first")
    listing.add_argument(
        "--status", choices=("pending", "running", "completed", "cut_short", "failed", "canceled")
    )
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument(
        "--limit",
        type=whole_number(1),
        default=20,
        metavar="N",
        help="how many runs to show (default 20); stderr says when there are more",
    )
    shown.add_argument("--all", action="store_true", help="every run")

    for name, text in (("agents", "a run's agents"), ("cancel", "tear every agent down now")):
        actions.add_parser(name, parents=api, help=text).add_argument(
            "run_id", metavar="RUN_ID", type=run_id
        )
    resources = actions.add_parser("resources", parents=api, help="resources created and removed")
    resources.add_argument("run_id", metavar="RUN_ID", type=run_id)
    resources.add_argument("--agent", metavar="A")

    logs = actions.add_parser(
        "logs",
        parents=api,
        help="agent events, oldest first",
        description="One line per agent event: time, agent, phase, type, and what happened "
        "(the command with its exit code and duration, the resource, the error). "
        "--json prints JSON Lines: one event object a line.",
    )
    logs.add_argument("run_id", metavar="RUN_ID", type=run_id)
    logs.add_argument("--agent", metavar="A", help="one agent's events (e.g. a01)")
    logs.add_argument(
        "--phase", choices=("deploy", "operate", "cleanup"), help="events of one agent phase"
    )
    logs.add_argument(
        "--since",
        metavar="WHEN",
        help="events at or after a time (ISO 8601, e.g. 2026-11-26T12:00:00Z) or within "
        "a duration back from now (e.g. PT10M)",
    )
    logs.add_argument("--follow", action="store_true", help="keep printing until the run ends")
    logs.add_argument("--interval", type=seconds, default=1.0, help=argparse.SUPPRESS)

    report = actions.add_parser("report", parents=api, help="the final report")
    report.add_argument("run_id", metavar="RUN_ID", type=run_id)
    report.add_argument(
        "--format",
        choices=("table", "json", "markdown"),
        help="default table (--json is --format json)",
    )


def usage_problem(args: argparse.Namespace) -> str | None:
    """What the options asked together cannot mean, checked before any request."""
    duration, poll = getattr(args, "duration", None), getattr(args, "poll", None)
    if isinstance(duration, timedelta) and isinstance(poll, timedelta) and poll >= duration:
        return f"argument --poll: {iso(poll)} must be shorter than --duration {iso(duration)}"
    if getattr(args, "json", False) and getattr(args, "format", None) in ("table", "markdown"):
        return f"argument --json: not allowed with --format {args.format}"
    if getattr(args, "dry_run", False) and getattr(args, "wait", False):
        return "argument --wait: not allowed with --dry-run (a dry run starts nothing to wait for)"
    return None


def _mark_leaves(parser: argparse.ArgumentParser) -> None:
    """Give each command's own parser to its namespace (`leaf_parser`), so a usage error
    found after parsing shows that command's usage, not the top level's."""
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        parser.set_defaults(leaf_parser=parser)
    for action in subcommands:
        for sub in set(action.choices.values()):
            _mark_leaves(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="haymaker",
        description="HayMaker keeps a cloud tenant looking lived-in: it runs agents that "
        "deploy, operate and clean up realistic workloads.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"haymaker {_installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    api = [_api(), _target()]
    _local_run_parser(commands)

    up = commands.add_parser(
        "up", parents=[_common()], help="start devhost (and Azurite) on this app, in the background"
    )
    up.add_argument(
        "--clock",
        choices=("virtual", "real"),
        help="host clock (default real); virtual jumps to the next timer when idle, so an "
        "8-hour run takes seconds",
    )
    up.add_argument("--port", type=whole_number(1, 65535), help="default 7071")
    up.add_argument(
        "--hub",
        help="task hub name (default: the app folder's own, as `./dev run` uses: runs left "
        "unfinished there resume)",
    )
    up.add_argument("--app-dir", default=".", help="the app folder (default .)")
    up.add_argument(
        "--timeout",
        type=seconds,
        default=90.0,
        help="seconds to wait for the host to answer (default 90)",
    )
    down = commands.add_parser(
        "down", parents=[_common()], help="stop the devhost `haymaker up` started"
    )
    down.add_argument("--app-dir", default=".", help="the app folder (default .)")
    down.add_argument("--timeout", type=seconds, default=20.0, help=argparse.SUPPRESS)

    _run_commands(commands, api)

    catalog = commands.add_parser("scenarios", help="the scenario catalog")
    actions = catalog.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", parents=api, help="every scenario the app serves")
    show = actions.add_parser("show", parents=api, help="one scenario")
    show.add_argument("scenario_id", metavar="ID")
    validate = actions.add_parser(
        "validate", parents=[_common()], help="check scenario files locally"
    )
    validate.add_argument(
        "path",
        nargs="?",
        default="scenarios",
        metavar="PATH",
        help="a file or folder (default scenarios)",
    )

    orch = commands.add_parser("orch", help="is the function app up and complete")
    actions = orch.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status", parents=api, help="host state, functions discovered vs expected, last runs"
    )
    status.add_argument(
        "--app-dir", default=".", help="where expected_functions.json is (default .)"
    )
    status.add_argument(
        "--runs",
        type=whole_number(1),
        default=5,
        metavar="N",
        help="how many recent runs to show (default 5)",
    )
    health = actions.add_parser("health", parents=api, help="storage, provider and catalog checks")
    health.add_argument("--deep", action="store_true", help="also call the provider")

    sweep = commands.add_parser("sweep", parents=api, help="remove what finished runs left behind")
    sweep.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    sweep.add_argument(
        "--timeout", type=seconds, default=300.0, help="seconds to wait for the sweep (default 300)"
    )
    sweep.add_argument("--interval", type=seconds, default=0.5, help=argparse.SUPPRESS)

    metrics = commands.add_parser(
        "metrics",
        parents=api,
        help="runs, agents, durations, resources, failures and cost over a window",
        description="Figures computed from the run records of runs created in the window: "
        "runs by status, agents by outcome per scenario, provisioning and teardown durations "
        "(p50/p95), resources created, removed and left, failures by step, estimated cost.",
    )
    metrics.add_argument(
        "--since",
        type=duration(),
        default="P7D",
        metavar="DURATION",
        help="ISO 8601 window back from now, up to P366D (default P7D)",
    )

    dashboard = commands.add_parser(
        "dashboard",
        parents=api,
        help="print (or open) the web dashboard's address",
        description="The dashboard is served by the app at /api/dashboard. The address "
        "printed carries the function key once; the page keeps it in the browser's session "
        "storage and removes it from the address bar.",
    )
    dashboard.add_argument("--open", action="store_true", help="open it in a browser")

    doctor = commands.add_parser(
        "doctor",
        parents=[_common()],
        help="preflight checks before a deploy",
        description="Check the app for what breaks deployments: merge markers, function "
        "discovery, host.json, requirements, Python version, settings, secrets, infra and "
        "the deployment package. One line per check; exit 1 if any fails.",
    )
    doctor.add_argument("app_dir", nargs="?", default=".", metavar="APP_DIR")
    _mark_leaves(parser)
    parser.set_defaults(leaf_parser=parser)
    return parser


def _local_run_parser(commands: argparse._SubParsersAction) -> None:
    local = commands.add_parser(
        "local-run",
        help="run HayMaker end to end on this machine (devhost, Azurite, local agents)",
        description="Start Azurite and devhost on this app with the virtual clock, run one "
        "HayMaker run with live progress, print its report, and check that nothing tagged "
        "for it is left. Exits 0 only if every agent was torn down and nothing is left.",
    )
    group = local.add_mutually_exclusive_group()
    group.add_argument(
        "--size",
        choices=sorted(RUN_SIZES),
        default="small",
        help="run size (default small: 5 agents)",
    )
    group.add_argument(
        "--count",
        type=whole_number(1, MAX_AGENTS_PER_RUN),
        metavar="N",
        help=f"number of agents (1-{MAX_AGENTS_PER_RUN})",
    )
    group.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="ID",
        help="a scenario id (repeatable)",
    )
    local.add_argument(
        "--duration",
        type=duration(RUN_DURATION_RANGE),
        default="PT8H",
        help=f"ISO 8601 run duration, {RUN_DURATION_RANGE} (default PT8H)",
    )
    local.add_argument(
        "--poll",
        type=duration(POLL_INTERVAL_RANGE),
        default="PT15M",
        help=f"ISO 8601 poll interval, {POLL_INTERVAL_RANGE} (default PT15M)",
    )
    local.add_argument(
        "--clock",
        choices=("virtual", "real"),
        default="virtual",
        help="host clock (default virtual)",
    )


def _installed_version() -> str:
    """The installed package's version (pyproject.toml), or "unknown" outside an install."""
    try:
        return importlib.metadata.version("haymaker")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
