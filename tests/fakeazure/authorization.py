"""Microsoft.Authorization role assignments, as AuthorizationManagementClient uses them
(azure-mgmt-authorization 4.0, api-version 2022-04-01).

A role assignment is an extension resource: `{scope}/providers/Microsoft.Authorization/
roleAssignments/{name}`, where scope is the subscription, a resource group or a resource.
Behaviors HayMaker must cope with, reproduced here:

- principalId must be the object id of a service principal in the directory (the fake Graph),
  else 400 PrincipalNotFound — also right after creating one (replication delay), see
  `Faults.principal_not_found`.
- PUT is idempotent for the same name and properties (201 again); the same principal, role and
  scope under another name is 409 RoleAssignmentExists; changing a name's properties is 400.
- DELETE answers 200 with the assignment, or 204 if there is none.
- Assignments outlive their principal (Azure shows them as "Identity not found") until deleted;
  deleting a scope (resource group, resource) deletes the assignments on it.
"""

from __future__ import annotations

import copy
import re
import uuid

from .armbase import group_not_found, scope_locked
from .faults import PRINCIPAL_NOT_FOUND, Faults
from .odata import parse_filter
from .state import State, under
from .wire import JSON, ApiError, Request, Response, Route, page, page_size, sorted_by

_SEGMENTS = ["providers", "microsoft.authorization", "roleassignments"]
_ROLE_DEFINITION = re.compile(
    r"^(/subscriptions/[^/]+)?/providers/Microsoft\.Authorization/roleDefinitions/[0-9a-f-]{36}$",
    re.IGNORECASE,
)


class RoleAssignments:
    """Role assignment routes and state changes (part of the ARM service)."""

    def __init__(self, state: State, faults: Faults) -> None:
        self.state = state
        self.faults = faults

    def route(self, request: Request, subscription_scope: str, rest: list[str]) -> Route | None:
        """Route `/subscriptions/{s}/{rest}` if it addresses role assignments."""
        lower = [part.lower() for part in rest]
        index = next(
            (i for i in range(len(lower) - 2, -1, -1) if lower[i : i + 3] == _SEGMENTS), None
        )
        if index is None or len(rest) > index + 4:
            return None
        scope = "/".join([subscription_scope, *rest[:index]])
        method = request.method
        if len(rest) == index + 3:
            if method != "GET":
                return None
            return Route("arm.role_assignments.list", lambda r: self._list(r, scope))
        name = rest[index + 3]
        if method == "PUT":
            return Route("arm.role_assignments.put", lambda r: self._put(r, scope, name))
        if method == "GET":
            return Route("arm.role_assignments.get", lambda r: self._get(scope, name))
        if method == "DELETE":
            return Route("arm.role_assignments.delete", lambda r: self._delete(scope, name))
        return None

    def _put(self, request: Request, scope: str, name: str) -> Response:
        body = request.json()
        with self.state.lock:
            canonical = self._existing_scope(scope)
            if not _is_guid(name):
                raise ApiError(
                    400,
                    "InvalidRoleAssignmentId",
                    f"The role assignment ID '{name}' is not valid. The role assignment ID must "
                    "be a GUID.",
                )
            properties = body.get("properties")
            if not isinstance(properties, dict):
                raise ApiError(400, "InvalidRequestContent", "The 'properties' object is required.")
            role = str(properties.get("roleDefinitionId") or "")
            principal = str(properties.get("principalId") or "")
            if not _ROLE_DEFINITION.match(role):
                raise ApiError(
                    400, "InvalidRoleDefinitionId", f"The role definition ID '{role}' is not valid."
                )
            service_principal = self.state.service_principals.get(principal.lower())
            if (
                self.faults.take(PRINCIPAL_NOT_FOUND, "arm.role_assignments.put", request.path)
                or service_principal is None
            ):
                raise ApiError(
                    400,
                    "PrincipalNotFound",
                    f"Principal {principal.replace('-', '')} does not exist in the directory "
                    f"{self.state.tenant_id}. Check that you have the correct principal ID. If you "
                    "are creating this principal and then immediately assigning a role, this "
                    "error might be related to a replication delay. In this case, set the role "
                    "assignment principalType property to a value, such as ServicePrincipal, "
                    "User, or Group. See https://aka.ms/docs-principaltype",
                )
            assignment_id = f"{canonical}/providers/Microsoft.Authorization/roleAssignments/{name}"
            existing = self.state.role_assignments.get(assignment_id.lower())
            if existing is not None:
                if not _same_grant(existing["properties"], role, principal, canonical):
                    raise ApiError(
                        400,
                        "RoleAssignmentUpdateNotPermitted",
                        "Tenant ID, application ID, principal ID, and scope are not allowed to be "
                        "updated.",
                    )
                return Response.json(201, copy.deepcopy(existing))
            for other in self.state.role_assignments.values():
                if _same_grant(other["properties"], role, principal, canonical):
                    raise ApiError(
                        409,
                        "RoleAssignmentExists",
                        "The role assignment already exists. The ID of the existing role "
                        f"assignment is {str(other['name']).replace('-', '')}.",
                    )
            now = self.state.now()
            assignment: JSON = {
                "id": assignment_id,
                "name": name,
                "type": "Microsoft.Authorization/roleAssignments",
                "properties": {
                    "scope": canonical,
                    "roleDefinitionId": role,
                    "principalId": principal,
                    "principalType": properties.get("principalType") or "ServicePrincipal",
                    "createdOn": now,
                    "updatedOn": now,
                },
            }
            if properties.get("description"):
                assignment["properties"]["description"] = properties["description"]
            self.state.role_assignments[assignment_id.lower()] = assignment
            return Response.json(201, copy.deepcopy(assignment))

    def _get(self, scope: str, name: str) -> Response:
        with self.state.lock:
            found = self.state.role_assignments.get(_assignment_key(scope, name))
            if found is None:
                raise ApiError(
                    404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found."
                )
            return Response.json(200, copy.deepcopy(found))

    def _delete(self, scope: str, name: str) -> Response:
        with self.state.lock:
            key = _assignment_key(scope, name)
            found = self.state.role_assignments.get(key)
            if found is None:
                return Response.empty(204)
            locked = self.state.lock_blocking_delete(found["id"])
            if locked is not None:
                raise scope_locked(found["id"], locked)
            del self.state.role_assignments[key]
            return Response.json(200, copy.deepcopy(found))

    def _list(self, request: Request, scope: str) -> Response:
        """No filter: assignments at, above and below the scope. `atScope()`: at or above.
        `principalId eq '{id}'` / `assignedTo('{id}')`: only that principal's."""
        at_or_above_only = False
        principal: str | None = None
        for term in parse_filter(request.param("$filter")):
            name = term.name.lower()
            if term.kind == "call" and name == "atscope" and not term.args:
                at_or_above_only = True
            elif (term.kind == "eq" and name == "principalid") or (
                term.kind == "call" and name == "assignedto" and len(term.args) == 1
            ):
                principal = term.args[0]
            else:
                raise ApiError(
                    400, "InvalidFilterInQueryString", f"Unsupported $filter term '{term.name}'."
                )
        with self.state.lock:
            canonical = self._existing_scope(scope)
            found = []
            for assignment in self.state.role_assignments.values():
                assigned_at = assignment["properties"]["scope"]
                above = under(canonical, assigned_at)
                if not (above or (not at_or_above_only and under(assigned_at, canonical))):
                    continue
                if principal is not None and (
                    assignment["properties"]["principalId"].lower() != principal.lower()
                ):
                    continue
                found.append(copy.deepcopy(assignment))
            size = page_size(request, self.state.page_size)
        chunk, next_link = page(request, sorted_by(found, "id"), size)
        body: JSON = {"value": chunk}
        if next_link:
            body["nextLink"] = next_link
        return Response.json(200, body)

    def _existing_scope(self, scope: str) -> str:
        """The canonical id of `scope`, or the 404 ARM gives for a scope that does not exist."""
        canonical = self.state.canonical_scope(scope)
        if canonical is not None:
            return canonical
        parts = scope.strip("/").split("/")
        is_group_scope = len(parts) >= 4 and parts[2].lower() == "resourcegroups"
        if is_group_scope and self.state.resource_group(parts[3]) is None:
            raise group_not_found(parts[3])
        raise ApiError(404, "ResourceNotFound", f"The scope '{scope}' does not exist.")


def _assignment_key(scope: str, name: str) -> str:
    return f"/{scope.strip('/')}/providers/Microsoft.Authorization/roleAssignments/{name}".lower()


def _same_grant(properties: JSON, role: str, principal: str, scope: str) -> bool:
    return (
        str(properties["roleDefinitionId"]).lower() == role.lower()
        and str(properties["principalId"]).lower() == principal.lower()
        and str(properties["scope"]).lower() == scope.lower()
    )


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
