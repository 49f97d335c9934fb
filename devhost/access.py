"""Who may call what: the host's key checks, with 401s that say which key opens the door.

The Functions host answers a missing or wrong key with an empty 401. Locally that leaves a
developer guessing, so devhost's 401 names the key the route needs, where devhost keeps
it (APP_DIR/.devhost/keys.json) and that `--no-auth` switches keys off.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .keys import HostKeys, authorize, authorize_system, provided_key
from .management import RPC_PREFIX, WEBHOOK_PREFIX
from .participants import PREFIX as PARTICIPANTS_PREFIX

LOOPBACK = ("127.0.0.1", "::1")
# Admin routes anyone may read, as on the Functions host (health probes use them).
OPEN_ADMIN_ROUTES = ("/admin/host/status", "/admin/host/clock")

_HOW = "pass it as ?code=KEY or the x-functions-key header"


def unauthorized(needed: str, where: str, keys_path: Path) -> web.Response:
    """401 naming the key (`needed`), its place in the keys file (`where`) and --no-auth."""
    message = (
        f"This route needs {needed}: {_HOW}. devhost keeps its keys in {keys_path} "
        f"({where}); start devhost with --no-auth to call routes without keys."
    )
    return web.json_response(
        {"error": {"code": "Unauthorized", "message": message, "field": "code"}}, status=401
    )


class AccessGuard:
    def __init__(self, keys: HostKeys, keys_path: Path, no_auth: bool):
        self.keys = keys
        self.keys_path = keys_path
        self.no_auth = no_auth

    def check_host_route(self, request: web.Request) -> web.Response | None:
        """The refusal for a management, RPC or admin request, or None to let it through."""
        path = request.path
        key = provided_key(request.query, request.headers)
        if path.startswith(RPC_PREFIX + "/"):
            # The SDK's client binding calls this without keys, as in Azure, where the
            # port is reachable from the worker only.
            if request.remote not in LOOPBACK:
                return web.json_response(
                    {"Message": "The RPC endpoint is loopback only."}, status=403
                )
            return None
        if path.startswith(PARTICIPANTS_PREFIX + "/") and request.remote in LOOPBACK:
            return None  # processes beside the host follow its clock, with no key
        if self.no_auth:
            return None
        if path.startswith(WEBHOOK_PREFIX + "/") and not authorize_system(key, self.keys):
            return unauthorized(
                "the Durable Functions system key (or the master key)",
                'systemKeys "durabletask_extension", or "masterKey"',
                self.keys_path,
            )
        if (
            path.startswith("/admin/")
            and path not in OPEN_ADMIN_ROUTES
            and not authorize("admin", key, self.keys)
        ):
            return unauthorized("the master key", '"masterKey"', self.keys_path)
        return None

    def check_function(self, auth_level: str, request: web.Request) -> web.Response | None:
        """The refusal for an HTTP trigger of `auth_level`, or None to let it through."""
        if self.no_auth or authorize(
            auth_level, provided_key(request.query, request.headers), self.keys
        ):
            return None
        if auth_level.lower() == "admin":
            return unauthorized("the master key", '"masterKey"', self.keys_path)
        return unauthorized(
            "a function key (or the master key)",
            'functionKeys "default", or "masterKey"',
            self.keys_path,
        )
