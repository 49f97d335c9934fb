"""CORS for a local host, as Core Tools serves it (`--cors`, local.settings.json `Host.CORS`).

Core Tools hands the origins to ASP.NET Core's CORS middleware with any header and any
method allowed: a preflight (OPTIONS with Access-Control-Request-Method) is answered by
the middleware itself, 204 with the Access-Control-Allow-* headers, and never reaches a
function; other requests from an allowed origin get Access-Control-Allow-Origin added.
Without a CORS setting nothing is added and an OPTIONS request goes to the functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


class CorsError(ValueError):
    """A CORS origin list that cannot be used; the message names the bad origin."""


@dataclass(frozen=True)
class CorsPolicy:
    origins: tuple[str, ...]
    credentials: bool = False

    @classmethod
    def parse(cls, text: str | None, credentials: bool = False) -> CorsPolicy | None:
        """A comma-separated origin list (`*` for any), as `--cors` takes it; None if empty."""
        origins = tuple(origin.strip().rstrip("/") for origin in (text or "").split(","))
        origins = tuple(origin for origin in origins if origin)
        if not origins:
            return None
        for origin in origins:
            if origin != "*" and "://" not in origin:
                raise CorsError(
                    f"CORS origin {origin!r} needs a scheme, e.g. http://localhost:3000 (or * "
                    "for any origin)"
                )
        return cls(origins, credentials)

    def allowed_origin(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, if allowed."""
        if "*" in self.origins:
            # Browsers refuse `*` on a request with credentials, so then the origin is
            # echoed, which is what allowing credentials for any origin means.
            return origin if self.credentials else "*"
        return origin if origin.rstrip("/").lower() in map(str.lower, self.origins) else None

    def headers(self, origin: str) -> dict[str, str]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed}
        if allowed != "*":
            headers["Vary"] = "Origin"
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def middleware(self) -> Middleware:
        @web.middleware
        async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
            origin = request.headers.get("Origin")
            if origin is None:
                return await handler(request)
            requested = request.headers.get("Access-Control-Request-Method")
            if request.method == "OPTIONS" and requested:
                headers = self.headers(origin)
                if headers:
                    headers["Access-Control-Allow-Methods"] = requested
                    asked = request.headers.get("Access-Control-Request-Headers")
                    if asked:
                        headers["Access-Control-Allow-Headers"] = asked
                return web.Response(status=204, headers=headers)
            response = await handler(request)
            response.headers.update(self.headers(origin))
            return response

        return cors
