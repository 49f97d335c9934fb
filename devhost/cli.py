"""`python -m devhost start APP_DIR`: run a Python v2 Durable Functions app locally."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import __version__, azurite_cli, watch, writer
from .appconfig import AppConfigError
from .cors import CorsError, CorsPolicy
from .indexer import HTTP, IndexingError, format_indexing_error
from .keys import mask_key
from .server import Host, HostOptions

DEFAULT_PORT = 7071


class _HostFormatter(logging.Formatter):
    """Core Tools' style: `[2026-11-26T11:30:00.123Z] message`."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        text = mask_key(super().format(record))
        return f"[{stamp}] {text}"


def configure_logging(level: str, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_HostFormatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("DEBUG" if verbose else level.upper())
    # The Azure SDKs log every storage request at INFO: far too much for a host log.
    logging.getLogger("azure").setLevel(logging.INFO if verbose else logging.WARNING)


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
        # As it was called: `devhost` (the installed command) or `python -m devhost`.
        prog="devhost" if Path(sys.argv[0]).name == "devhost" else "python -m devhost",
        description="A local host for Python v2-model Azure (Durable) Functions apps, "
        "with state in Azure Storage (Azurite by default).",
    )
    parser.add_argument("--version", action="version", version=f"devhost {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser(
        "start",
        help="index APP_DIR/function_app.py and serve it until SIGINT/SIGTERM",
        description="Index APP_DIR/function_app.py as the Python worker does, start Azurite "
        "if development storage is configured and nothing listens, and serve the app's HTTP "
        "triggers, timers, orchestrations and the Durable management API.",
    )
    start.add_argument(
        "app_dir",
        type=Path,
        nargs="?",
        default=Path("."),
        metavar="APP_DIR",
        help="folder with function_app.py and host.json (default: the current folder)",
    )
    start.add_argument(
        "--port",
        "-p",
        type=int,
        help="HTTP port (default: local.settings.json Host.LocalHttpPort, else 7071)",
    )
    start.add_argument(
        "--cors",
        metavar="ORIGINS",
        help="comma-separated CORS origins, no spaces, or * for any "
        "(default: local.settings.json Host.CORS)",
    )
    start.add_argument(
        "--cors-credentials",
        action="store_true",
        default=None,
        help="allow cross-origin requests with credentials (cookies, Authorization) "
        "(default: local.settings.json Host.CORSCredentials)",
    )
    start.add_argument(
        "--functions",
        nargs="+",
        metavar="NAME",
        help="load only these functions (an orchestration needs its activities listed too)",
    )
    start.add_argument(
        "--watch",
        action="store_true",
        help="restart the host when a file under APP_DIR changes (not .devhost/, .venv/, "
        "__pycache__/, node_modules/); storage and orchestrations carry over",
    )
    start.add_argument(
        "--verbose",
        action="store_true",
        help="also log the host's own debug lines and the Azure SDKs' storage requests",
    )
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
    azurite_cli.add_command(commands)
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


def bind_listener(address: str, port: int) -> socket.socket:
    """The HTTP listening socket, bound now so a port in use is the first thing reported."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As aiohttp binds: a restarted host may reuse a port whose old connections linger.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(128)
    except BaseException:
        listener.close()
        raise
    listener.setblocking(False)
    return listener


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C before the host installed its own handler (while indexing): stop quietly.
        return 0


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "azurite":
        return azurite_cli.run(args)
    if args.clock_start is not None and args.clock != "virtual":
        parser.error("--clock-start needs --clock virtual")
    if args.watch:
        return watch.supervise(args.app_dir, sys.argv[1:] if argv is None else argv)
    configure_logging(args.log_level, args.verbose)
    options = HostOptions(
        app_dir=args.app_dir,
        bind=args.bind,
        clock=args.clock,
        hub=args.hub,
        no_auth=args.no_auth,
        idle_settle=args.idle_settle,
        clock_start=args.clock_start,
        functions=args.functions,
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
    assert host.config is not None
    # Now: the app's modules are loaded, and there is no thread or event loop yet.
    writer.fork_spare()
    settings = host.config.host_section
    # As `func start`: a flag wins over local.settings.json Host, which wins over the default.
    port = args.port or settings.local_http_port or DEFAULT_PORT
    credentials = (
        args.cors_credentials if args.cors_credentials is not None else settings.cors_credentials
    )
    try:
        options.cors = CorsPolicy.parse(
            args.cors if args.cors is not None else settings.cors, credentials
        )
    except CorsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    try:
        options.listener = bind_listener(args.bind, port)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            print(f"cannot listen on {args.bind}:{port}: {error.strerror}", file=sys.stderr)
            return 1
        origin = "" if args.port else " (set by local.settings.json Host.LocalHttpPort)"
        print(f"port {port}{origin} is in use; pass --port", file=sys.stderr)
        return 1
    host.set_port(port)
    print_functions(host)
    return asyncio.run(serve(host))
