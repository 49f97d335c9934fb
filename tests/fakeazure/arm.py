"""Azure Resource Manager: routing, resource groups, generic resources and providers.

Role assignments live in authorization.py and Container Apps jobs in containerapps.py; this
module routes to them. Like ARM, fixed path segments match case-insensitively
(`resourcegroups` = `resourceGroups`), names are case-insensitive, and ids come back in
canonical casing (`/subscriptions/{s}/resourceGroups/{rg}/providers/...`).
Every ARM request needs a bearer token for https://management.azure.com and an api-version.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from . import catalog
from .armbase import (
    group_not_found,
    require_supported_api_version,
    resource_not_found,
    scope_locked,
    tag_predicate,
    without_empty_tags,
)
from .authorization import RoleAssignments
from .containerapps import ContainerApps
from .faults import FAIL_LRO, Faults
from .identity import ARM_AUDIENCES, Tokens
from .odata import parse_filter
from .operations import Operations
from .state import State
from .wire import JSON, ApiError, Request, Response, Route, Service, page, page_size

_AUTH_ERRORS = {
    "missing": (
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing.",
    ),
    "malformed": ("InvalidAuthenticationToken", "The access token is invalid."),
    "unknown": ("InvalidAuthenticationToken", "The access token is invalid."),
    "audience": (
        "InvalidAuthenticationTokenAudience",
        "The access token has been obtained for wrong audience or resource. It should exactly "
        "match with one of the allowed audiences 'https://management.core.windows.net/',"
        "'https://management.azure.com/'.",
    ),
}


class Arm(Service):
    """The ARM endpoint of the fake (the clients' `base_url`)."""

    name = "arm"

    def __init__(self, state: State, tokens: Tokens, faults: Faults) -> None:
        self.state = state
        self.tokens = tokens
        self.faults = faults
        self.operations = Operations(state)
        self.role_assignments = RoleAssignments(state, faults)
        self.container_apps = ContainerApps(state, faults, self.operations)

    # -- protocol --------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        problem = self.tokens.check(request, ARM_AUDIENCES, own_url=True)
        if problem is None:
            return None
        code, message = _AUTH_ERRORS[problem]
        return self.error(ApiError(401, code, message))

    def precheck(self, request: Request) -> Response | None:
        if request.param("api-version"):
            return None
        return self.error(
            ApiError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        )

    def route(self, request: Request) -> Route | None:
        segments = request.segments
        if len(segments) < 2 or segments[0].lower() != "subscriptions":
            return None
        subscription, rest = segments[1], segments[2:]
        route = self._route(request, rest)
        if route is None or subscription.lower() == self.state.subscription_id.lower():
            return route
        return Route(route.op, lambda _r: self._subscription_not_found(subscription))

    def _route(self, request: Request, rest: list[str]) -> Route | None:
        method = request.method
        lower = [part.lower() for part in rest]
        assignment = self.role_assignments.route(request, self.state.subscription_scope, rest)
        if assignment is not None:
            return assignment
        operation = self.operations.route(request, rest)
        if operation is not None:
            return operation
        if lower == ["resourcegroups"] and method == "GET":
            return Route("arm.resource_groups.list", self._list_groups)
        if lower == ["resources"] and method == "GET":
            return Route("arm.resources.list", lambda r: self._list_resources(r, None))
        if len(rest) == 2 and lower[0] == "providers" and method == "GET":
            return Route("arm.providers.get", lambda r: self._provider(rest[1]))
        if not lower or lower[0] != "resourcegroups" or len(rest) < 2:
            return None
        group = rest[1]
        if len(rest) == 2:
            return self._group_route(method, group)
        if lower[2:] == ["resources"] and method == "GET":
            return Route("arm.resources.list", lambda r: self._list_resources(r, group))
        if lower[2:] == ["providers", "microsoft.app", "jobs"] and method == "GET":
            return Route("arm.jobs.list", lambda r: self.container_apps.list_jobs(r, group))
        if len(rest) >= 6 and lower[2] == "providers":
            if lower[3:5] == ["microsoft.app", "jobs"]:
                return self.container_apps.route(request, group, rest[5:])
            if len(rest) % 2 == 0:
                return self._generic_route(method, group, rest[3], rest[4:])
        return None

    # -- resource groups -------------------------------------------------------------------

    def _group_route(self, method: str, group: str) -> Route | None:
        handlers: dict[str, tuple[str, Callable[[Request], Response]]] = {
            "PUT": ("arm.resource_groups.put", lambda r: self._put_group(r, group)),
            "GET": ("arm.resource_groups.get", lambda r: self._get_group(group)),
            "HEAD": ("arm.resource_groups.head", lambda r: self._head_group(group)),
            "DELETE": ("arm.resource_groups.delete", lambda r: self._delete_group(r, group)),
        }
        if method not in handlers:
            return None
        op, handler = handlers[method]
        return Route(op, handler)

    def _put_group(self, request: Request, name: str) -> Response:
        body = request.json()
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ApiError(400, "LocationRequired", "The location property is required.")
        tags = body.get("tags") or {}
        with self.state.lock:
            existing = self.state.resource_group(name)
            if existing is not None:
                if _region(existing["location"]) != _region(location):
                    raise ApiError(
                        409,
                        "InvalidResourceGroupLocation",
                        f"Invalid resource group location '{location}'. The Resource group "
                        f"already exists in location '{existing['location']}'.",
                    )
                existing["tags"] = dict(tags)
                return Response.json(200, without_empty_tags(copy.deepcopy(existing)))
            group = new_group(self.state, name, location, tags)
            return Response.json(201, without_empty_tags(copy.deepcopy(group)))

    def _get_group(self, name: str) -> Response:
        with self.state.lock:
            group = self.state.resource_group(name)
            if group is None:
                raise group_not_found(name)
            return Response.json(200, without_empty_tags(copy.deepcopy(group)))

    def _head_group(self, name: str) -> Response:
        with self.state.lock:
            return Response.empty(204 if self.state.resource_group(name) else 404)

    def _delete_group(self, request: Request, name: str) -> Response:
        with self.state.lock:
            group = self.state.resource_group(name)
            if group is None:
                raise group_not_found(name)
            locked = self.state.lock_blocking_delete(group["id"])
            if locked is not None:
                raise scope_locked(group["id"], locked)
            error = None
            if self.faults.take(FAIL_LRO, "arm.resource_groups.delete", request.path):
                error = {
                    "code": "ResourceGroupDeletionBlocked",
                    "message": f"Deletion of resource group '{group['name']}' failed "
                    "(fail_lro fault).",
                }
            else:
                self.state.delete_tree(group["id"])
                del self.state.resource_groups[name.lower()]
        headers = self.operations.start(request, error=error, location_only=True)
        return Response.empty(202, headers)

    def _list_groups(self, request: Request) -> Response:
        matches = tag_predicate(parse_filter(request.param("$filter")))
        with self.state.lock:
            groups = [g for g in self.state.resource_groups.values() if matches(g)]
            groups = sorted(groups, key=lambda g: str(g["name"]).lower())
            items = [without_empty_tags(copy.deepcopy(g)) for g in groups]
            size = page_size(request, self.state.page_size)
        chunk, next_link = page(request, items, size)
        return _listing(chunk, next_link)

    # -- generic resources -----------------------------------------------------------------

    def _list_resources(self, request: Request, group_name: str | None) -> Response:
        matches = tag_predicate(parse_filter(request.param("$filter")), allow_type=True)
        with self.state.lock:
            prefix = None
            if group_name is not None:
                group = self.state.resource_group(group_name)
                if group is None:
                    raise group_not_found(group_name)
                prefix = group["id"]
            items = [
                without_empty_tags(r) for r in self.state.listed_resources(prefix) if matches(r)
            ]
            size = page_size(request, self.state.page_size)
        chunk, next_link = page(request, items, size)
        return _listing(chunk, next_link)

    def _generic_route(
        self, method: str, group: str, namespace: str, type_and_names: list[str]
    ) -> Route | None:
        types = type_and_names[0::2]
        names = type_and_names[1::2]
        resource_type = "/".join([namespace, *types])

        def target(request: Request) -> JSON:
            return self._find_resource(request, group, resource_type, names)

        if method == "GET":
            return Route(
                "arm.resources.get", lambda r: Response.json(200, _with_properties(target(r)))
            )
        if method == "HEAD":
            return Route("arm.resources.head", lambda r: self._head_resource(r, target))
        if method == "DELETE":
            return Route("arm.resources.delete", lambda r: self._delete_resource(target(r)))
        return None

    def _find_resource(
        self, request: Request, group_name: str, resource_type: str, names: list[str]
    ) -> JSON:
        with self.state.lock:
            group = self.state.resource_group(group_name)
            if group is None:
                raise group_not_found(group_name)
            canonical = catalog.canonical_type(resource_type)
            if canonical is None:
                raise ApiError(
                    400,
                    "NoRegisteredProviderFound",
                    f"No registered resource provider found for type '{resource_type}'.",
                )
            require_supported_api_version(request, canonical, group["location"])
            resource_id = "/" + "/".join(request.segments)
            found = self.state.resources.get(resource_id.lower())
            if found is None:
                raise resource_not_found(canonical, "/".join(names), group["name"])
            return copy.deepcopy(found)

    @staticmethod
    def _head_resource(request: Request, target: Callable[[Request], JSON]) -> Response:
        try:
            target(request)
        except ApiError as error:
            if error.status == 404:
                return Response.empty(404)
            raise
        return Response.empty(204)

    def _delete_resource(self, resource: JSON) -> Response:
        with self.state.lock:
            locked = self.state.lock_blocking_delete(resource["id"])
            if locked is not None:
                raise scope_locked(resource["id"], locked)
            self.state.delete_tree(resource["id"])
        return Response.empty(200)

    # -- providers and subscriptions -------------------------------------------------------

    def _provider(self, namespace: str) -> Response:
        canonical = catalog.canonical_namespace(namespace)
        if canonical is None:
            raise ApiError(
                404,
                "InvalidResourceNamespace",
                f"The resource namespace '{namespace}' is invalid.",
            )
        return Response.json(200, catalog.provider_json(self.state.subscription_id, canonical))

    @staticmethod
    def _subscription_not_found(subscription: str) -> Response:
        raise ApiError(
            404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found."
        )


def new_group(state: State, name: str, location: str, tags: dict[str, str]) -> JSON:
    """Store a new resource group (caller holds the lock); return its JSON."""
    group: JSON = {
        "id": state.resource_group_id(name),
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "tags": dict(tags),
        "properties": {"provisioningState": "Succeeded"},
    }
    state.resource_groups[name.lower()] = group
    return group


def _region(location: str) -> str:
    return location.replace(" ", "").lower()


def _with_properties(resource: JSON) -> JSON:
    return without_empty_tags({**resource, "properties": {"provisioningState": "Succeeded"}})


def _listing(items: list[JSON], next_link: str | None) -> Response:
    body: JSON = {"value": items}
    if next_link:
        body["nextLink"] = next_link
    return Response.json(200, body)
