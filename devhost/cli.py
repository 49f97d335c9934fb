"""`python -m devhost start APP_DIR`: run a Python v2 Durable Functions app locally."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from .appconfig import AppConfigError
from .indexer import HTTP, IndexingError, format_indexing_error
from .keys import mask_key
from .server import Host, HostOptions


class _HostFormatter(logging.Formatter):
    """Core Tools' style: `[2026-11-26T11:30:00.123Z] message`."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        text = mask_key(super().format(record))
        return f"[{stamp}] {text}"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_HostFormatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The Azure SDKs log every storage request at INFO: far too much for a host log.
    logging.getLogger("azure").setLevel(logging.WARNING)


def _utc_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2031-03-04T05:50:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="A local host for Python v2-model Azure (Durable) Functions apps, "
        "with state in Azure Storage (Azurite by default).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser(
        "start",
        help="index APP_DIR/function_app.py and serve it until SIGINT/SIGTERM",
        description="Index APP_DIR/function_app.py as the Python worker does, start Azurite "
        "if development storage is configured and nothing listens, and serve the app's HTTP "
        "triggers, timers, orchestrations and the Durable management API.",
    )
    start.add_argument(
        "app_dir", type=Path, metavar="APP_DIR", help="folder with function_app.py and host.json"
    )
    start.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071)")
    start.add_argument(
        "--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    start.add_argument(
        "--clock",
        choices=("real", "virtual"),
        default="real",
        help="virtual: when nothing is runnable, jump to the next durable timer (default real)",
    )
    start.add_argument(
        "--clock-start",
        type=_utc_time,
        metavar="TIME",
        help="virtual clock: start at this UTC time (ISO 8601, e.g. 2031-03-04T05:50:00Z) "
        "instead of now, to watch what a schedule does at a given hour; a hub that already "
        "showed a later time resumes there",
    )
    start.add_argument("--hub", help="task hub name (default: host.json durableTask.hubName)")
    start.add_argument(
        "--no-auth",
        action="store_true",
        help="do not enforce authLevel or keys (Core Tools' local behaviour)",
    )
    start.add_argument(
        "--idle-settle",
        type=float,
        default=0.02,
        help="virtual clock: seconds the host must be idle before time jumps (default 0.02)",
    )
    start.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


def print_functions(host: Host) -> None:
    print("Found the following functions:", flush=True)
    for function in host.functions:
        if function.disabled:
            print(f"        {function.name}: {function.trigger_type} (disabled)", flush=True)
        elif function.trigger_type == HTTP:
            methods = ",".join(function.methods) or "ALL"
            prefix = host.config.route_prefix if host.config else "api"
            url = f"{host.base_url}/{prefix + '/' if prefix else ''}{function.route}"
            print(f"        {function.name}: [{methods}] {url}", flush=True)
        else:
            print(f"        {function.name}: {function.trigger_type}", flush=True)


async def serve(host: Host) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
    except Exception as error:
        logging.getLogger("devhost").error("Host failed to start: %s", error)
        await host.stop()
        return 1
    print(f"Host running at {host.base_url} (Ctrl+C to stop)", flush=True)
    await stop.wait()
    logging.getLogger("devhost").info("Stopping host")
    await host.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.clock_start is not None and args.clock != "virtual":
        parser.error("--clock-start needs --clock virtual")
    configure_logging(args.log_level)
    options = HostOptions(
        app_dir=args.app_dir,
        port=args.port,
        bind=args.bind,
        clock=args.clock,
        hub=args.hub,
        no_auth=args.no_auth,
        idle_settle=args.idle_settle,
        clock_start=args.clock_start,
    )
    host = Host(options)
    try:
        host.index()
    except IndexingError as error:
        print(format_indexing_error(error), file=sys.stderr)
        print("0 functions found: the host does not start with a partial list.", file=sys.stderr)
        return 1
    except AppConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    print_functions(host)
    return asyncio.run(serve(host))
