"""ARM conventions shared by the fake's resource providers: errors, api-versions, tag filters."""

from __future__ import annotations

from collections.abc import Callable

from . import catalog
from .odata import Term
from .wire import JSON, ApiError, Request


def group_not_found(name: str) -> ApiError:
    return ApiError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def resource_not_found(resource_type: str, name: str, group: str) -> ApiError:
    return ApiError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def scope_locked(target: str, scope: str) -> ApiError:
    return ApiError(
        409,
        "ScopeLocked",
        f"The scope '{target}' cannot perform delete operation because following scope(s) are "
        f"locked: '{scope}'. Please remove the lock and try again.",
    )


def require_supported_api_version(request: Request, resource_type: str, location: str) -> None:
    """Reject an api-version the type does not support, as ARM does (400
    NoRegisteredProviderFound)."""
    versions = catalog.api_versions(resource_type) or []
    sent = request.param("api-version") or ""
    if sent.lower() in (v.lower() for v in versions):
        return
    namespace, _, type_name = resource_type.partition("/")
    raise ApiError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location}' and API version "
        f"'{sent}' for type '{type_name}'. The supported api-versions are "
        f"'{', '.join(versions)}'. The supported locations are 'eastus, eastus2, westus2, "
        "westeurope, northeurope'.",
    )


def tag_predicate(terms: list[Term], *, allow_type: bool = False) -> Callable[[JSON], bool]:
    """The `$filter` of resource/group listings: `tagName eq 'k' [and tagValue eq 'v']`
    (tag names compare case-insensitively, values exactly), or `resourceType eq 'T'`."""
    tag_name = tag_value = resource_type = None
    for term in terms:
        name = term.name.lower()
        if term.kind == "eq" and name == "tagname":
            tag_name = term.args[0]
        elif term.kind == "eq" and name == "tagvalue":
            tag_value = term.args[0]
        elif term.kind == "eq" and name == "resourcetype" and allow_type:
            resource_type = term.args[0]
        else:
            raise ApiError(
                400,
                "InvalidFilterInQueryString",
                f"Invalid $filter: the fake does not support '{term.name}' here.",
            )
    if tag_value is not None and tag_name is None:
        raise ApiError(400, "InvalidFilterInQueryString", "tagValue requires tagName.")

    def matches(item: JSON) -> bool:
        if resource_type is not None and str(item.get("type", "")).lower() != (
            resource_type.lower()
        ):
            return False
        if tag_name is None:
            return True
        tags = item.get("tags") or {}
        for key, value in tags.items():
            if key.lower() == tag_name.lower():
                return tag_value is None or value == tag_value
        return False

    return matches


def without_empty_tags(item: JSON) -> JSON:
    """ARM leaves `tags` out of a resource that has none; so does the fake."""
    if not item.get("tags"):
        return {k: v for k, v in item.items() if k != "tags"}
    return item
