"""Tagged ARM resources: find them by tag, delete them with the right API version.

ARM filters lists by one tag at a time, so listing asks for the run's tag and narrows to
the agent here. A generic delete needs an API version the resource type supports; it is
read from the resource provider once per type and remembered.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient

RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
JOB_TYPE = "Microsoft.App/jobs"
_PROVIDER_PART = re.compile(r"/providers/(?P<namespace>[^/]+)/(?P<rest>.+)$", re.IGNORECASE)
_GROUP_PART = re.compile(r"^/subscriptions/[^/]+/resourceGroups/(?P<group>[^/]+)", re.IGNORECASE)


@dataclass(frozen=True)
class TaggedResource:
    id: str
    type: str
    tags: dict[str, str]

    @property
    def resource_group(self) -> str | None:
        match = _GROUP_PART.match(self.id)
        return match["group"] if match else None

    def as_item(self) -> dict[str, str]:
        return {"kind": self.type, "name": self.id}


def tag_filter(name: str, value: str) -> str:
    """ARM's `$filter` for one tag (quotes doubled, as OData wants)."""
    return f"tagName eq '{name}' and tagValue eq '{value.replace(chr(39), chr(39) * 2)}'"


class TaggedResources:
    """Resource groups and resources of a subscription, found and removed by tag."""

    def __init__(self, client: ResourceManagementClient) -> None:
        self._client = client
        self._api_versions: dict[str, str] = {}
        self._lock = threading.Lock()

    def find(self, tag: str, value: str) -> Iterator[TaggedResource]:
        """Every resource group and resource carrying `tag=value`."""
        query = tag_filter(tag, value)
        for group in self._client.resource_groups.list(filter=query):
            yield TaggedResource(str(group.id), RESOURCE_GROUP_TYPE, dict(group.tags or {}))
        for resource in self._client.resources.list(filter=query):
            yield TaggedResource(str(resource.id), str(resource.type), dict(resource.tags or {}))

    def delete(self, resource: TaggedResource) -> bool:
        """Delete one resource or group and wait for it; False when it was already gone."""
        try:
            if resource.type == RESOURCE_GROUP_TYPE:
                group = resource.resource_group or resource.id.rsplit("/", 1)[-1]
                self._client.resource_groups.begin_delete(group).result()
            else:
                version = self.api_version(resource.id)
                self._client.resources.begin_delete_by_id(resource.id, api_version=version).result()
        except ResourceNotFoundError:
            return False
        return True

    def group_exists(self, name: str) -> bool:
        return bool(self._client.resource_groups.check_existence(name))

    def api_version(self, resource_id: str) -> str:
        """The newest stable API version of the resource's type (preview if none is stable)."""
        match = _PROVIDER_PART.search(resource_id)
        if match is None:
            raise ValueError(f"{resource_id!r} is not a provider resource id")
        namespace = match["namespace"]
        segments = match["rest"].split("/")
        type_name = "/".join(segments[0::2])
        key = f"{namespace}/{type_name}".lower()
        with self._lock:
            if key in self._api_versions:
                return self._api_versions[key]
        provider = self._client.providers.get(namespace)
        for resource_type in provider.resource_types or []:
            if str(resource_type.resource_type).lower() == type_name.lower():
                versions = sorted(resource_type.api_versions or [], reverse=True)
                stable = [v for v in versions if "preview" not in v]
                if stable or versions:
                    with self._lock:
                        self._api_versions[key] = (stable or versions)[0]
                    return (stable or versions)[0]
        raise LookupError(f"{namespace} offers no API version for {type_name}")
