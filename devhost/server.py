"""The host: indexes the app, opens storage, serves HTTP, and runs its task hub while it
holds the hub's lease (standing by while another host holds it)."""

from __future__ import annotations

import inspect
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web

from .access import AccessGuard
from .appconfig import AppConfig, AppConfigError, apply_to_environ, load_app_config
from .clock import Clock
from .cors import CorsPolicy
from .engine import Engine
from .execution_log import Execution
from .hub import HubWork, Leadership
from .indexer import HTTP, IndexedFunction, index_app, is_disabled, require_served
from .invoke import InvocationContext
from .keys import HostKeys, load_or_create_keys
from .lease import ACQUIRE_SECONDS, Holder, HubLease
from .management import RPC_PREFIX, WEBHOOK_PREFIX, ManagementApi, UrlBuilder
from .participants import Participants
from .queues import QueueTriggers
from .routing import Router
from .storage import HostStorage, open_storage
from .storage_deadline import bounded_by_storage
from .store import Store

log = logging.getLogger("devhost")
# What a host that is not running its hub still answers (who runs it, what it serves).
STANDBY_PATHS = ("/admin/host/status", "/admin/functions")


@dataclass
class HostOptions:
    app_dir: Path
    port: int = 7071
    bind: str = "127.0.0.1"
    clock: str = "real"
    hub: str | None = None
    no_auth: bool = False
    idle_settle: float = 0.02
    # Virtual clock only: the time it starts at (else now).
    clock_start: datetime | None = None
    cors: CorsPolicy | None = None
    # Load only these functions (`--functions`), as Core Tools does; None: all.
    functions: list[str] | None = None
    # A socket already bound to bind:port (the CLI binds it before listing functions,
    # so a port in use is reported before anything else).
    listener: socket.socket | None = None


def to_aiohttp(result: Any) -> web.Response:
    """What an HTTP function returned, as the worker turns it into a response."""
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items()}
        if not any(k.lower() == "content-type" for k in headers):
            mimetype = result.mimetype or "text/plain"
            headers["Content-Type"] = f"{mimetype}; charset={result.charset or 'utf-8'}"
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, bytes):
        return web.Response(status=200, body=result)
    return web.Response(status=200, text=str(result), content_type="text/plain")


class Host:
    def __init__(self, options: HostOptions):
        self.options = options
        self.app_dir = options.app_dir.resolve()
        self.config: AppConfig | None = None
        self.functions: list[IndexedFunction] = []
        self.keys: HostKeys | None = None
        self.store: Store | None = None
        # Who runs the hub, this host (its work) or another; made by start().
        self.leadership: Leadership | None = None
        self.runner: web.AppRunner | None = None
        self.storage: HostStorage | None = None
        self.queues: QueueTriggers | None = None
        # Outside processes that follow the clock; each term's clock is theirs.
        self.participants = Participants()
        self.connection = ""
        self.router = Router()
        self.started_at = time.monotonic()
        self.state = "Default"
        self.requests_in_flight = 0
        self.base_url = f"http://{options.bind}:{options.port}"

    @property
    def work(self) -> HubWork | None:
        return self.leadership.work if self.leadership is not None else None

    @property
    def engine(self) -> Engine | None:
        return self.work.engine if self.work is not None else None

    @property
    def clock(self) -> Clock | None:
        return self.work.clock if self.work is not None else None

    @property
    def holder(self) -> Holder | None:
        """Who runs the hub while this host stands by (None while this host runs it)."""
        return self.leadership.holder if self.leadership is not None else None

    def set_port(self, port: int) -> None:
        """The port chosen after indexing (a flag, local.settings.json Host, or 7071)."""
        self.options.port = port
        self.base_url = f"http://{self.options.bind}:{port}"

    # -- lifecycle -------------------------------------------------------------------

    def index(self) -> list[IndexedFunction]:
        """Load settings and index function_app.py; raises on any problem."""
        self.config = load_app_config(self.app_dir, hub_override=self.options.hub)
        apply_to_environ(self.config)
        self.functions = index_app(self.app_dir)
        if self.options.functions is not None:
            self.functions = _only(self.functions, self.options.functions)
        require_served(self.functions)
        # Built now so a queue name or connection setting that is not set stops the start.
        self.queues = QueueTriggers(self.functions, self.config.settings, self.config.host_json)
        for function in self.functions:
            function.disabled = is_disabled(function.name, self.config.settings)
            if function.trigger_type == HTTP and not function.disabled:
                self.router.add(function.route, function)
        return self.functions

    async def start(self) -> None:
        """Serve HTTP, then run the hub if its lease is free; else stand by for it."""
        assert self.config is not None, "index() first"
        setting = self.config.storage_setting
        self.storage = open_storage(
            setting, self.config.settings.get(setting), search_from=self.app_dir
        )
        for line in self.storage.describe():
            print(line, flush=True)
        self.connection = self.storage.connection_string
        keys_path = self.app_dir / ".devhost" / "keys.json"
        self.keys = load_or_create_keys(keys_path)
        self.access = AccessGuard(self.keys, keys_path, self.options.no_auth)
        self.store = Store(self.connection, self.config.hub_name)
        await self.store.open()
        lease = HubLease(
            self.connection,
            self.config.hub_name,
            Holder.this_process(self.base_url, str(self.app_dir)),
        )
        await lease.open()
        system_key = (
            None if self.options.no_auth else self.keys.system_keys["durabletask_extension"]
        )
        self.urls = UrlBuilder(self.base_url, self.config.hub_name, system_key)
        self.rpc_base_url = f"http://127.0.0.1:{self.options.port}{RPC_PREFIX}/"
        self.client_binding = self.urls.client_binding(self.rpc_base_url)

        # CORS first: Core Tools answers a preflight before any key check or route.
        cors = [self.options.cors.middleware()] if self.options.cors else []
        app = web.Application(
            client_max_size=64 * 1024 * 1024, middlewares=[*cors, self._auth, bounded_by_storage]
        )
        for prefix, rpc in ((WEBHOOK_PREFIX, False), (RPC_PREFIX, True)):
            app.add_routes(ManagementApi(self._engine, self.store, self.urls, rpc).routes(prefix))
        app.add_routes(self.participants.routes())
        app.add_routes(
            [
                web.get("/admin/host/status", self.host_status),
                web.get("/admin/host/clock", self.host_clock),
                web.get("/admin/functions", self.list_functions),
                # Any path, also one with a newline in it (`.` alone stops at one).
                web.route("*", "/{tail:(?s:.*)}", self.http_trigger),
            ]
        )
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        if self.options.listener is not None:
            await web.SockSite(self.runner, self.options.listener).start()
        else:
            await web.TCPSite(self.runner, self.options.bind, self.options.port).start()
        self.leadership = Leadership(lease, self._new_work, self._set_state)
        await self.leadership.begin()

    def _engine(self) -> Engine:
        assert self.engine is not None, "only a host that holds its hub's lease serves this"
        return self.engine

    def _new_work(self) -> HubWork:
        assert self.config is not None and self.store is not None and self.queues is not None
        return HubWork(
            options=self.options,
            config=self.config,
            functions=self.functions,
            store=self.store,
            connection=self.connection,
            client_binding=self.client_binding,
            invoke=self._invoke,
            pressure=lambda: self.requests_in_flight,
            queues=self.queues,
            participants=self.participants,
        )

    def _set_state(self, state: str) -> None:
        if state == "Running" and self.config is not None:
            log.info(
                "Host started: %s (hub %s, %s clock)",
                self.base_url,
                self.config.hub_name,
                self.options.clock,
            )
        if self.state != "Stopping":
            self.state = state

    async def stop(self) -> None:
        self.state = "Stopping"
        if self.leadership is not None:
            await self.leadership.end()
        if self.queues is not None:
            await self.queues.close()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.store is not None:
            await self.store.close()
        self.state = "Stopped"

    # -- auth --------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        # Requests that may deliver messages to orchestrations (raised events, calls to
        # the app's HTTP functions) tell the engine that more may follow. Management
        # calls do not: a start that waits for completion would otherwise slow the very
        # orchestration it waits for.
        path = request.path
        delivers = request.method != "GET" and (
            "/raiseEvent/" in path or not path.startswith((WEBHOOK_PREFIX, RPC_PREFIX, "/admin/"))
        )
        self.requests_in_flight += delivers
        try:
            return await self._authorized(request, handler)
        finally:
            self.requests_in_flight -= delivers

    async def _authorized(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.state == "Default" and not request.path.startswith((RPC_PREFIX, "/admin/host/")):
            # Listening, but unfinished orchestrations are not loaded yet: a raised event
            # would be refused (410) and a status could be stale. The Functions host too
            # answers 503 until it runs. (The RPC endpoint serves the app's own functions,
            # which start only after loading.)
            return web.json_response(
                {"Message": "The host is starting; try again in a moment."},
                status=503,
                headers={"Retry-After": "1"},
            )
        refusal = self.access.check_host_route(request)
        if refusal is not None:
            return refusal
        if self.state != "Running" and request.path not in STANDBY_PATHS:
            return self._not_running()
        return await handler(request)

    def _not_running(self) -> web.Response:
        """503 from a host that is not running its hub (yet, or any more), saying why."""
        if self.state == "Standby" and self.holder is not None:
            hub = self.config.hub_name if self.config else ""
            message = (
                f"This host stands by: task hub {hub} is run by {self.holder.describe()}. "
                "Send requests there, or retry: this host takes the hub over when that host stops."
            )
        else:
            message = f"The host is not running its task hub (state {self.state}); retry shortly."
        return web.json_response(
            {"Message": message}, status=503, headers={"Retry-After": str(ACQUIRE_SECONDS * 2)}
        )

    # -- admin -------------------------------------------------------------------------

    async def host_status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "id": f"devhost-{self.config.hub_name.lower() if self.config else ''}",
                "state": self.state,
                "version": "devhost",
                "processUptime": int((time.monotonic() - self.started_at) * 1000),
                # Not in the Functions host's answer: which process answers on this port, so
                # whoever started a host knows it is not another one that took the port.
                "processId": os.getpid(),
                "functionCount": len(self.functions),
                **({"standbyFor": self.holder.describe()} if self.holder else {}),
            }
        )

    async def host_clock(self, request: web.Request) -> web.Response:
        assert self.clock is not None
        return web.json_response(
            {
                "now": self.clock.now().isoformat(),
                "virtual": self.clock.virtual,
                "jumps": self.clock.jumps,
                "participants": self.participants.counts(),
            }
        )

    async def list_functions(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "name": f.name,
                    "trigger": f.trigger_type,
                    "route": f.route if f.trigger_type == HTTP else None,
                    "methods": f.methods if f.trigger_type == HTTP else None,
                    "authLevel": f.auth_level if f.trigger_type == HTTP else None,
                    "bindings": f.bindings,
                }
                for f in self.functions
            ]
        )

    # -- functions ---------------------------------------------------------------------

    async def _invoke(
        self, function: IndexedFunction, kwargs: dict[str, Any], invocation: str
    ) -> Any:
        """Call a non-durable function with its client binding and context, if it takes them."""
        if function.durable_client_param:
            kwargs[function.durable_client_param] = self.client_binding
        try:
            if "context" in inspect.signature(function.user_function).parameters:
                context = InvocationContext(function.name, str(self.app_dir))
                context.invocation_id = invocation
                kwargs["context"] = context
        except (TypeError, ValueError):
            pass
        assert self.engine is not None
        return await self.engine.call_user_function(function.user_function, kwargs)

    async def http_trigger(self, request: web.Request) -> web.StreamResponse:
        assert self.config is not None and self.keys is not None
        prefix = self.config.route_prefix
        path = request.path.lstrip("/")
        if prefix:
            if not (path == prefix or path.startswith(prefix + "/")):
                return web.json_response(
                    {"Message": f"No route matches {request.path}"}, status=404
                )
            path = path[len(prefix) :]
        candidates = self.router.match(path)
        if not candidates:
            return web.json_response({"Message": f"No function matches {request.path}"}, status=404)
        allowed = [
            (route, params)
            for route, params in candidates
            if not route.target.methods or request.method in route.target.methods
        ]
        if not allowed:
            methods = sorted({m for route, _ in candidates for m in route.target.methods})
            return web.json_response(
                {"Message": f"{request.method} is not allowed on {request.path}"},
                status=405,
                headers={"Allow": ", ".join(methods)},
            )
        route, route_params = allowed[0]
        function: IndexedFunction = route.target
        refusal = self.access.check_function(function.auth_level, request)
        if refusal is not None:
            return refusal
        body = await request.read()
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=route_params,
            body=body,
        )
        execution = Execution(
            function.name, "This function was programmatically called via the host APIs."
        )
        try:
            with execution:
                result = await self._invoke(
                    function, {str(function.trigger["name"]): http_request}, execution.invocation
                )
            response = to_aiohttp(result)
        except Exception:
            response = web.Response(status=500)
        return response


def _only(functions: list[IndexedFunction], names: list[str]) -> list[IndexedFunction]:
    """The functions `--functions` names, in the app's order; unknown names are an error."""
    known = {function.name for function in functions}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise AppConfigError(
            f"--functions names {', '.join(unknown)}, which the app does not define; "
            f"it defines: {', '.join(sorted(known))}"
        )
    return [function for function in functions if function.name in names]
