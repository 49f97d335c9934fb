"""Key Vault secrets, with soft-delete, as azure-keyvault-secrets' SecretClient uses them.

The vault URL is `{fake.url}/`. Since 127.0.0.1 is not under vault.azure.net, clients must be
built with `verify_challenge_resource=False`.

Challenge authentication: SecretClient first sends each new vault's first request without a
token (and without its body); the fake answers 401 with `WWW-Authenticate: Bearer
authorization="https://login.microsoftonline.com/{tenant}", resource="https://vault.azure.net"`,
the client gets a token for https://vault.azure.net (via managed identity) and resends.

Soft-delete as in a vault with purge protection off: DELETE moves the secret to the deleted
collection (recoveryLevel "Recoverable+Purgeable", 90 days); its name cannot be reused (409)
until it is purged. `begin_delete_secret(...).wait()` polls GET /deletedsecrets/{name}.
Values are never recorded in the request log.
"""

from __future__ import annotations

import copy
import re
import uuid

from .identity import VAULT_AUDIENCES, Tokens
from .state import State
from .wire import JSON, ApiError, Request, Response, Route, Service, page, page_size, sorted_by

_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
_RECOVERABLE_DAYS = 90
_AUTH_MESSAGES = {
    "missing": "AKV10000: Request is missing a Bearer or PoP token.",
    "malformed": "AKV10000: Request is missing a Bearer or PoP token.",
    "unknown": "AKV10032: Invalid issuer or token.",
    "audience": "AKV10022: Invalid audience.",
}


class KeyVault(Service):
    """The Key Vault endpoint of the fake (one vault, at the fake's root URL)."""

    name = "keyvault"
    throttle_code = "Throttled"

    def __init__(self, state: State, tokens: Tokens) -> None:
        self.state = state
        self.tokens = tokens

    # -- protocol --------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        problem = self.tokens.check(request, VAULT_AUDIENCES)
        if problem is None:
            return None
        challenge = (
            f'Bearer authorization="https://login.microsoftonline.com/{self.state.tenant_id}", '
            'resource="https://vault.azure.net"'
        )
        return self.error(
            ApiError(
                401,
                "Unauthorized",
                _AUTH_MESSAGES[problem],
                headers={"WWW-Authenticate": challenge},
            )
        )

    def precheck(self, request: Request) -> Response | None:
        if request.param("api-version"):
            return None
        return self.error(ApiError(400, "BadParameter", "The api-version parameter is missing."))

    def route(self, request: Request) -> Route | None:
        segments = request.segments
        if not segments:
            return None
        collection, rest, method = segments[0].lower(), segments[1:], request.method
        if collection == "secrets":
            if not rest and method == "GET":
                return Route("keyvault.secrets.list", self._list)
            if len(rest) == 1 and method == "PUT":
                return Route("keyvault.secrets.put", lambda r: self._set(r, rest[0]))
            if len(rest) == 1 and method == "DELETE":
                return Route("keyvault.secrets.delete", lambda r: self._delete(r, rest[0]))
            if len(rest) in (1, 2) and method == "GET" and rest[-1].lower() != "versions":
                version = rest[1] if len(rest) == 2 else None
                return Route("keyvault.secrets.get", lambda r: self._get(rest[0], version))
        if collection == "deletedsecrets":
            if not rest and method == "GET":
                return Route("keyvault.deleted_secrets.list", self._list_deleted)
            if len(rest) == 1 and method == "GET":
                return Route("keyvault.deleted_secrets.get", lambda r: self._get_deleted(rest[0]))
            if len(rest) == 1 and method == "DELETE":
                return Route("keyvault.deleted_secrets.purge", lambda r: self._purge(rest[0]))
        return None

    # -- secrets ---------------------------------------------------------------------------

    def _set(self, request: Request, name: str) -> Response:
        _check_name(name)
        body = request.json()
        value = body.get("value")
        if not isinstance(value, str):
            raise ApiError(400, "BadParameter", "Property value is required and must be a string.")
        wanted = body.get("attributes") or {}
        now = int(self.state.clock())
        with self.state.lock:
            if name.lower() in self.state.deleted_secrets:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, and its name "
                    "cannot be reused; in this state, the secret can only be recovered or purged.",
                )
            versions = self.state.secrets.setdefault(name.lower(), [])
            stored_name = _name_of(versions[0]) if versions else name
            attributes: JSON = {
                "enabled": wanted.get("enabled", True),
                "created": now,
                "updated": now,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": _RECOVERABLE_DAYS,
            }
            for field in ("exp", "nbf"):
                if wanted.get(field) is not None:
                    attributes[field] = wanted[field]
            bundle: JSON = {
                "value": value,
                "id": f"{request.base_url}/secrets/{stored_name}/{uuid.uuid4().hex}",
                "attributes": attributes,
            }
            if body.get("contentType") is not None:
                bundle["contentType"] = body["contentType"]
            if body.get("tags"):
                bundle["tags"] = dict(body["tags"])
            versions.append(bundle)
            return Response.json(200, copy.deepcopy(bundle))

    def _get(self, name: str, version: str | None) -> Response:
        with self.state.lock:
            versions = self.state.secrets.get(name.lower()) or []
            if version is None:
                bundle = versions[-1] if versions else None
            else:
                bundle = next((v for v in versions if _version_of(v) == version.lower()), None)
            if bundle is None:
                shown = name if version is None else f"{name}/{version}"
                raise _secret_not_found(shown)
            if not bundle["attributes"]["enabled"]:
                raise ApiError(
                    403, "Forbidden", "Operation get is not allowed on a disabled secret."
                )
            return Response.json(200, copy.deepcopy(bundle))

    def _delete(self, request: Request, name: str) -> Response:
        with self.state.lock:
            versions = self.state.secrets.pop(name.lower(), None)
            if not versions:
                raise _secret_not_found(name)
            latest = versions[-1]
            deleted_at = int(self.state.clock())
            deleted: JSON = {
                **copy.deepcopy(latest),
                "recoveryId": f"{request.base_url}/deletedsecrets/{_name_of(latest)}",
                "deletedDate": deleted_at,
                "scheduledPurgeDate": deleted_at + _RECOVERABLE_DAYS * 24 * 3600,
            }
            self.state.deleted_secrets[name.lower()] = deleted
            return Response.json(200, _without_value(deleted))

    def _list(self, request: Request) -> Response:
        with self.state.lock:
            items = [_item(versions[-1]) for versions in self.state.secrets.values()]
            size = page_size(request, self.state.page_size, param="maxresults")
        return _listing(request, sorted_by(items, "id"), size)

    # -- deleted secrets -------------------------------------------------------------------

    def _get_deleted(self, name: str) -> Response:
        with self.state.lock:
            deleted = self.state.deleted_secrets.get(name.lower())
            if deleted is None:
                raise _secret_not_found(name, deleted=True)
            return Response.json(200, _without_value(deleted))

    def _purge(self, name: str) -> Response:
        with self.state.lock:
            if self.state.deleted_secrets.pop(name.lower(), None) is None:
                raise _secret_not_found(name, deleted=True)
        return Response.empty(204)

    def _list_deleted(self, request: Request) -> Response:
        with self.state.lock:
            items = [
                {
                    **_item(deleted),
                    "recoveryId": deleted["recoveryId"],
                    "deletedDate": deleted["deletedDate"],
                    "scheduledPurgeDate": deleted["scheduledPurgeDate"],
                }
                for deleted in self.state.deleted_secrets.values()
            ]
            size = page_size(request, self.state.page_size, param="maxresults")
        return _listing(request, sorted_by(items, "id"), size)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ApiError(400, "BadParameter", f"The request URI contains an invalid name: {name}")


def _name_of(bundle: JSON) -> str:
    return str(bundle["id"]).split("/secrets/", 1)[1].split("/")[0]


def _version_of(bundle: JSON) -> str:
    return str(bundle["id"]).rsplit("/", 1)[1].lower()


def _item(bundle: JSON) -> JSON:
    """A SecretItem: the properties without the value, id without the version."""
    item: JSON = {
        "id": str(bundle["id"]).rsplit("/", 1)[0],
        "attributes": copy.deepcopy(bundle["attributes"]),
    }
    for field in ("contentType", "tags"):
        if field in bundle:
            item[field] = copy.deepcopy(bundle[field])
    return item


def _without_value(bundle: JSON) -> JSON:
    return {k: copy.deepcopy(v) for k, v in bundle.items() if k != "value"}


def _listing(request: Request, items: list[JSON], size: int) -> Response:
    chunk, next_link = page(request, items, size)
    return Response.json(200, {"value": chunk, "nextLink": next_link})


def _secret_not_found(name: str, *, deleted: bool = False) -> ApiError:
    if deleted:
        return ApiError(404, "SecretNotFound", f"Deleted Secret not found: {name}")
    return ApiError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted "
        "this secret you may be able to recover it using the correct recovery command. For help "
        "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )
