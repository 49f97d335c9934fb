"""The `haymaker` command (also `python -m haymaker`)."""

from __future__ import annotations

import argparse
import sys

from haymaker.settings import RUN_SIZES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="haymaker",
        description="HayMaker keeps a cloud tenant looking lived-in: it runs agents that "
        "deploy, operate and clean up realistic workloads.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
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
    group.add_argument("--count", type=int, help="number of agents (1-50)")
    group.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="ID",
        help="a scenario id (repeatable)",
    )
    local.add_argument("--duration", default="PT8H", help="ISO 8601 run duration (default PT8H)")
    local.add_argument("--poll", default="PT15M", help="ISO 8601 poll interval (default PT15M)")
    local.add_argument(
        "--clock",
        choices=("virtual", "real"),
        default="virtual",
        help="host clock (default virtual)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "local-run":
        from haymaker.local_run import run_locally

        request: dict[str, object] = {"duration": args.duration, "poll_interval": args.poll}
        if args.scenarios:
            request["scenarios"] = args.scenarios
        elif args.count is not None:
            request["count"] = args.count
        else:
            request["size"] = args.size
        return run_locally(request, clock=args.clock)
    return 2


if __name__ == "__main__":
    sys.exit(main())
