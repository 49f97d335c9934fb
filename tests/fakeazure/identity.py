"""Managed identity (App Service flavor) and bearer-token checks.

With IDENTITY_ENDPOINT and IDENTITY_HEADER set, azure-identity's ManagedIdentityCredential
(and so DefaultAzureCredential) asks `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R`
with header `X-IDENTITY-HEADER`, via MSAL. The fake remembers which resource (audience) each
token was issued for, so a token for ARM is refused by Graph or Key Vault, as in Azure. ARM
and Graph also accept tokens for the fake's own URL: a client that derives its scope from
its endpoint (`f"{endpoint}/.default"`, right for public and sovereign clouds) asks for
that audience when pointed at the fake.

Tokens are shaped like Entra ID's access tokens: unsigned JWTs (base64url header, payload
and a random "signature") whose claims are `aud` (the resource as requested), `iss`
(`https://sts.windows.net/<tenant>/`), `tid`, `oid` (the identity's object id), `appid`
(its client id), `iat`, `nbf`, `exp` and a unique `uti`. Azurite's `--oauth basic` reads
exactly these claims (issuer prefix, audience, lifetime; not the signature), so the same
managed identity signs the app in to an Azurite served over HTTPS.

Tokens do not expire in the fake: SDKs judge expiry by the real clock, and a test's virtual
clock may run far ahead of it. `expires_on` is 24 hours ahead of the later of both clocks.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable

from .wire import Request, Response, Route, Service

ARM_AUDIENCES = frozenset({"https://management.azure.com", "https://management.core.windows.net"})
GRAPH_AUDIENCES = frozenset({"https://graph.microsoft.com"})
VAULT_AUDIENCES = frozenset({"https://vault.azure.net"})

_TOKEN_LIFETIME = 24 * 3600
# Azurite checks `nbf` against the real clock: back-date it a little for clock skew.
_NOT_BEFORE_SKEW = 300
DEFAULT_TENANT_ID = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"


def _audience(resource: str) -> str:
    resource = resource.strip()
    if resource.endswith("/.default"):
        resource = resource[: -len("/.default")]
    return resource.rstrip("/").lower()


def _segment(data: dict[str, object]) -> str:
    text = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def token_claims(token: str) -> dict[str, object]:
    """The payload of a token the fake issued (for tests that look inside one)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


class Tokens:
    """The tokens the fake issued, and the audience of each."""

    def __init__(self, tenant_id: str = DEFAULT_TENANT_ID) -> None:
        self.tenant_id = tenant_id
        self._lock = threading.Lock()
        self._audiences: dict[str, str] = {}

    def issue(
        self,
        resource: str,
        *,
        expires_on: int | None = None,
        object_id: str | None = None,
        client_id: str | None = None,
    ) -> str:
        """A JWT-shaped token for `resource` (its `aud` claim), valid until `expires_on`."""
        now = int(time.time())
        audience = resource.strip()
        if audience.endswith("/.default"):
            audience = audience[: -len("/.default")]
        subject = object_id or str(uuid.uuid4())
        claims: dict[str, object] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "tid": self.tenant_id,
            "oid": subject,
            "sub": subject,
            "iat": now - _NOT_BEFORE_SKEW,
            "nbf": now - _NOT_BEFORE_SKEW,
            "exp": expires_on or now + _TOKEN_LIFETIME,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if client_id:
            claims["appid"] = client_id
        header = _segment({"alg": "none", "typ": "JWT"})
        token = f"{header}.{_segment(claims)}.{secrets.token_urlsafe(32)}"
        with self._lock:
            self._audiences[token] = _audience(resource)
        return token

    def check(
        self, request: Request, audiences: frozenset[str], *, own_url: bool = False
    ) -> str | None:
        """None if the request carries a token issued for one of `audiences` (or, with
        `own_url`, for the fake's own URL, as clients that derive their scope from the
        endpoint they were given ask for), else why not."""
        header = request.header("Authorization")
        if not header:
            return "missing"
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "malformed"
        with self._lock:
            audience = self._audiences.get(token.strip())
        if audience is None:
            return "unknown"
        if audience not in audiences and not (own_url and audience == _audience(request.base_url)):
            return "audience"
        return None


class ManagedIdentity(Service):
    """The App Service managed identity endpoint: `GET /msi/token`."""

    name = "msi"
    path = "/msi/token"

    def __init__(self, tokens: Tokens, clock: Callable[[], float]) -> None:
        self.tokens = tokens
        self.clock = clock
        self.header_secret = secrets.token_hex(16)
        self.client_id = str(uuid.uuid4())
        self.object_id = str(uuid.uuid4())

    def route(self, request: Request) -> Route | None:
        if request.path.rstrip("/") != self.path:
            return None
        return Route("msi.token", self._token)

    def _token(self, request: Request) -> Response:
        if request.method != "GET":
            return self._failure(405, f"{request.method} is not supported.")
        sent = request.header("X-IDENTITY-HEADER")
        if sent is None:
            return self._failure(400, "The X-IDENTITY-HEADER header is missing.")
        if sent != self.header_secret:
            return self._failure(401, "The X-IDENTITY-HEADER header is not valid.")
        if request.param("api-version") != "2019-08-01":
            return self._failure(400, "api-version must be 2019-08-01.")
        resource = request.param("resource")
        if not resource:
            return self._failure(400, "The resource parameter is missing.")
        expires_on = int(max(self.clock(), time.time())) + _TOKEN_LIFETIME
        return Response.json(
            200,
            {
                "access_token": self.tokens.issue(
                    resource,
                    expires_on=expires_on,
                    object_id=self.object_id,
                    client_id=self.client_id,
                ),
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": self.client_id,
            },
        )

    @staticmethod
    def _failure(status: int, message: str) -> Response:
        return Response.json(status, {"statusCode": status, "message": message})
