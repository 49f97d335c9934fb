"""Microsoft Graph v1.0: applications (with password credentials) and service principals.

Served under `{fake.url}/v1.0/...`; needs a bearer token for https://graph.microsoft.com.
Behaviors HayMaker relies on, reproduced here:

- `PATCH /applications(uniqueName='u')` with `Prefer: create-if-missing` is an upsert:
  201 with the new application, or 204 (no body) if it existed and was updated. Without the
  header a missing application is 404.
- `addPassword` returns the secret once (`secretText`); the application keeps only the
  credential's metadata. Every secretText starts with `FakeAzure.canary_prefix`, so tests can
  search logs, records and state for leaked secrets (`FakeAzure.issued_secrets` lists them).
- `POST /servicePrincipals` for an appId without application is 400; the Graph error has code
  `Request_BadRequest` and the detail code `NoBackingApplicationObject` (in `error.details`),
  as real Graph answers — also right after creating the application (replication delay), see
  `Faults.no_backing_application`.
- Deleting an application deletes its service principal.
Errors have Graph's shape: `{"error": {"code", "message", "innerError": {...}}}`.
"""

from __future__ import annotations

import copy
import datetime
import re
import secrets
import string
import uuid

from .faults import NO_BACKING_APPLICATION, Faults
from .identity import GRAPH_AUDIENCES, Tokens
from .odata import Term, parse_filter
from .state import State
from .wire import JSON, ApiError, Request, Response, Route, Service, iso_time, page, page_size

_ENTITY = re.compile(r"^(applications|servicePrincipals)(?:\((\w+)='(.*)'\))?$", re.IGNORECASE)
_READ_ONLY = frozenset(
    {"id", "appId", "uniqueName", "createdDateTime", "deletedDateTime", "passwordCredentials"}
)
_SECRET_ALPHABET = string.ascii_letters + string.digits + "~._-"
_CREDENTIAL_LIFETIME = datetime.timedelta(days=730)
_AUTH_MESSAGES = {
    "missing": "Access token is empty.",
    "malformed": "Access token validation failure. Invalid token.",
    "unknown": "Access token validation failure. Invalid token.",
    "audience": "Access token validation failure. Invalid audience.",
}
_FILTERABLE = {
    "applications": ("id", "appId", "uniqueName", "displayName"),
    "servicePrincipals": ("id", "appId", "displayName"),
}

Key = tuple[str, str]
"""How a request addresses an object: ("id" | "uniqueName" | "appId", value)."""


class Graph(Service):
    """The Microsoft Graph endpoint of the fake."""

    name = "graph"

    def __init__(self, state: State, tokens: Tokens, faults: Faults) -> None:
        self.state = state
        self.tokens = tokens
        self.faults = faults

    # -- protocol --------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        problem = self.tokens.check(request, GRAPH_AUDIENCES, own_url=True)
        if problem is None:
            return None
        return self.error(ApiError(401, "InvalidAuthenticationToken", _AUTH_MESSAGES[problem]))

    def error(self, error: ApiError) -> Response:
        body: JSON = {"code": error.code, "message": error.message}
        if error.details:
            body["details"] = error.details
        body["innerError"] = {
            "date": iso_time(self.state.clock()),
            "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4()),
        }
        return Response.json(error.status, {"error": body}, error.headers)

    def route(self, request: Request) -> Route | None:
        segments = request.segments
        if len(segments) < 2 or segments[0] != "v1.0":
            return None
        entity = _ENTITY.match(segments[1])
        if entity is None:
            return None
        collection = "applications" if entity.group(1).lower() == "applications" else "sps"
        rest = segments[2:]
        key: Key | None = None
        if entity.group(2):
            key = (entity.group(2), entity.group(3).replace("''", "'"))
        elif rest:
            key, rest = ("id", rest[0]), rest[1:]
        if collection == "applications":
            return self._application_route(request.method, key, rest)
        return self._service_principal_route(request.method, key, rest)

    def _application_route(self, method: str, key: Key | None, rest: list[str]) -> Route | None:
        if key is None:
            if method == "GET" and not rest:
                return Route("graph.applications.list", self._list_applications)
            return None
        if rest == ["addPassword"] and method == "POST":
            return Route("graph.applications.add_password", lambda r: self._add_password(r, key))
        if rest:
            return None
        if method == "PATCH":
            return Route("graph.applications.patch", lambda r: self._patch_application(r, key))
        if method == "GET":
            return Route("graph.applications.get", lambda r: self._get_application(r, key))
        if method == "DELETE":
            return Route("graph.applications.delete", lambda r: self._delete_application(key))
        return None

    def _service_principal_route(
        self, method: str, key: Key | None, rest: list[str]
    ) -> Route | None:
        if rest:
            return None
        if key is None:
            if method == "POST":
                return Route("graph.service_principals.post", self._create_service_principal)
            if method == "GET":
                return Route("graph.service_principals.list", self._list_service_principals)
            return None
        if method == "GET":
            return Route(
                "graph.service_principals.get", lambda r: self._get_service_principal(r, key)
            )
        if method == "DELETE":
            return Route(
                "graph.service_principals.delete", lambda r: self._delete_service_principal(key)
            )
        return None

    # -- applications ----------------------------------------------------------------------

    def _patch_application(self, request: Request, key: Key) -> Response:
        body = request.json()
        with self.state.lock:
            app = self._find_application(key)
            if app is not None:
                _update(app, body)
                return Response.empty(204)
            prefer = (request.header("Prefer") or "").lower()
            if key[0].lower() != "uniquename" or "create-if-missing" not in prefer:
                raise _not_found(key)
            if not body.get("displayName"):
                raise ApiError(400, "Request_BadRequest", "The displayName property is required.")
            app = {
                "id": str(uuid.uuid4()),
                "appId": str(uuid.uuid4()),
                "uniqueName": key[1],
                "displayName": None,
                "notes": None,
                "tags": [],
                "passwordCredentials": [],
                "signInAudience": "AzureADMyOrg",
                "createdDateTime": self.state.now(),
            }
            _update(app, body)
            self.state.applications[app["id"].lower()] = app
            return Response.json(201, self._entity(request, "applications", app))

    def _get_application(self, request: Request, key: Key) -> Response:
        with self.state.lock:
            app = self._find_application(key)
            if app is None:
                raise _not_found(key)
            return Response.json(200, self._entity(request, "applications", app))

    def _delete_application(self, key: Key) -> Response:
        with self.state.lock:
            app = self._find_application(key)
            if app is None:
                raise _not_found(key)
            del self.state.applications[app["id"].lower()]
            for sp_id, sp in list(self.state.service_principals.items()):
                if sp["appId"] == app["appId"]:
                    del self.state.service_principals[sp_id]
        return Response.empty(204)

    def _add_password(self, request: Request, key: Key) -> Response:
        wanted = request.json().get("passwordCredential") or {}
        with self.state.lock:
            app = self._find_application(key)
            if app is None:
                raise _not_found(key)
            start = wanted.get("startDateTime") or self.state.now()
            end = wanted.get("endDateTime") or iso_time(
                self.state.clock() + _CREDENTIAL_LIFETIME.total_seconds()
            )
            secret = self.state.canary_prefix + "".join(
                secrets.choice(_SECRET_ALPHABET) for _ in range(30)
            )
            credential: JSON = {
                "customKeyIdentifier": None,
                "displayName": wanted.get("displayName"),
                "endDateTime": end,
                "hint": secret[:3],
                "keyId": str(uuid.uuid4()),
                "startDateTime": start,
            }
            # Graph keeps the credential's metadata only; secretText reads back as null.
            app["passwordCredentials"].append(dict(credential, secretText=None))
            self.state.issued_secrets.append(secret)
            context = f"{request.base_url}/v1.0/$metadata#microsoft.graph.passwordCredential"
            return Response.json(
                200, {"@odata.context": context, **credential, "secretText": secret}
            )

    def _list_applications(self, request: Request) -> Response:
        return self._list(request, "applications")

    def _find_application(self, key: Key) -> JSON | None:
        return _find(self.state.applications, key)

    # -- service principals ----------------------------------------------------------------

    def _create_service_principal(self, request: Request) -> Response:
        app_id = str(request.json().get("appId") or "")
        if not app_id:
            raise ApiError(400, "Request_BadRequest", "The appId property is required.")
        with self.state.lock:
            app = _find(self.state.applications, ("appId", app_id))
            if (
                self.faults.take(NO_BACKING_APPLICATION, "graph.service_principals.post")
                or app is None
            ):
                message = (
                    f"The appId '{app_id}' of the service principal does not reference a valid "
                    "application object."
                )
                raise ApiError(
                    400,
                    "Request_BadRequest",
                    message,
                    details=[
                        {
                            "code": "NoBackingApplicationObject",
                            "message": message,
                            "target": "appId",
                        }
                    ],
                )
            if _find(self.state.service_principals, ("appId", app_id)) is not None:
                raise ApiError(
                    409,
                    "Request_MultipleObjectsWithSameKeyValue",
                    "Another object with the same value for property appId already exists.",
                )
            sp: JSON = {
                "id": str(uuid.uuid4()),
                "appId": app["appId"],
                "displayName": app.get("displayName"),
                "appDisplayName": app.get("displayName"),
                "servicePrincipalType": "Application",
                "accountEnabled": True,
                "appOwnerOrganizationId": self.state.tenant_id,
                "servicePrincipalNames": [app["appId"]],
                "tags": [],
            }
            self.state.service_principals[sp["id"].lower()] = sp
            return Response.json(201, self._entity(request, "servicePrincipals", sp))

    def _get_service_principal(self, request: Request, key: Key) -> Response:
        with self.state.lock:
            sp = _find(self.state.service_principals, key)
            if sp is None:
                raise _not_found(key)
            return Response.json(200, self._entity(request, "servicePrincipals", sp))

    def _delete_service_principal(self, key: Key) -> Response:
        with self.state.lock:
            sp = _find(self.state.service_principals, key)
            if sp is None:
                raise _not_found(key)
            del self.state.service_principals[sp["id"].lower()]
        return Response.empty(204)

    def _list_service_principals(self, request: Request) -> Response:
        return self._list(request, "servicePrincipals")

    # -- shared ----------------------------------------------------------------------------

    def _list(self, request: Request, collection: str) -> Response:
        terms = parse_filter(request.param("$filter"), code="Request_UnsupportedQuery")
        size = page_size(request, self.state.page_size)
        with self.state.lock:
            store = (
                self.state.applications
                if collection == "applications"
                else self.state.service_principals
            )
            found = [
                copy.deepcopy(item)
                for item in store.values()
                if all(_matches(item, term, _FILTERABLE[collection]) for term in terms)
            ]
        found.sort(key=lambda item: (str(item.get("displayName") or "").lower(), item["id"]))
        chunk, next_link = page(request, found, size)
        body: JSON = {
            "@odata.context": f"{request.base_url}/v1.0/$metadata#{collection}",
            "value": chunk,
        }
        if next_link:
            body["@odata.nextLink"] = next_link
        return Response.json(200, body)

    @staticmethod
    def _entity(request: Request, collection: str, item: JSON) -> JSON:
        context = f"{request.base_url}/v1.0/$metadata#{collection}/$entity"
        return {"@odata.context": context, **copy.deepcopy(item)}


def _find(store: dict[str, JSON], key: Key) -> JSON | None:
    field, value = key
    if field.lower() == "id":
        return store.get(value.lower())
    for item in store.values():
        stored = item.get({"appid": "appId", "uniquename": "uniqueName"}.get(field.lower(), field))
        if isinstance(stored, str) and stored.lower() == value.lower():
            return item
    return None


def _update(app: JSON, body: JSON) -> None:
    for name, value in body.items():
        if name not in _READ_ONLY and not name.startswith("@odata"):
            app[name] = copy.deepcopy(value)


def _matches(item: JSON, term: Term, filterable: tuple[str, ...]) -> bool:
    """Graph string comparisons in $filter are case-insensitive."""
    if term.kind == "eq":
        field, wanted = term.name, term.args[0]
    elif term.kind == "call" and term.name.lower() == "startswith" and len(term.args) == 2:
        field, wanted = term.args
    else:
        raise ApiError(400, "Request_UnsupportedQuery", f"Unsupported query: '{term.name}'.")
    canonical = next((f for f in filterable if f.lower() == field.lower()), None)
    if canonical is None:
        raise ApiError(
            400,
            "Request_UnsupportedQuery",
            f"Unsupported or invalid query filter clause specified for property '{field}'.",
        )
    value = str(item.get(canonical) or "").lower()
    if term.kind == "eq":
        return value == wanted.lower()
    return value.startswith(wanted.lower())


def _not_found(key: Key) -> ApiError:
    return ApiError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key[1]}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )
