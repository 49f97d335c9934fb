"""The few Microsoft Graph calls HayMaker makes, on azure-core's pipeline (no Graph SDK).

Applications are addressed by `uniqueName`, which makes creating one idempotent: a
retried activity finds the application it made before instead of making a second.
Responses of `addPassword` carry a client secret: this module returns it to the one
caller that stores it in Key Vault and never logs a response body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    HeadersPolicy,
    RequestIdPolicy,
    UserAgentPolicy,
)
from azure.core.rest import HttpRequest, HttpResponse

from haymaker.providers.azure.pipeline import BoundedRetryPolicy

API = "/v1.0"


class GraphError(HttpResponseError):
    """A Graph error; `pipeline.error_code` reads its code from the response body."""


class GraphClient:
    """Applications, service principals and passwords, by the Graph REST API."""

    def __init__(self, endpoint: str, credential: TokenCredential) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            base_url=self._endpoint,
            policies=[
                RequestIdPolicy(),
                HeadersPolicy(),
                UserAgentPolicy(sdk_moniker="haymaker-graph"),
                BoundedRetryPolicy(),
                BearerTokenCredentialPolicy(credential, f"{self._endpoint}/.default"),
            ],
        )

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        url = path if path.startswith("https://") else f"{self._endpoint}{API}{path}"
        request = HttpRequest(method, url, json=body, headers=headers or {})
        response = self._client.send_request(request)
        if response.status_code == 404:
            raise ResourceNotFoundError(message=_message(response), response=response)
        if response.status_code >= 400:
            raise GraphError(message=_message(response), response=response)
        return response

    # --- applications -----------------------------------------------------------------

    def ensure_application(
        self, unique_name: str, display_name: str, tags: list[str], notes: str
    ) -> dict[str, Any]:
        """Create the application unless it exists (then refresh its fields); return it."""
        body = {"displayName": display_name, "tags": tags, "notes": notes}
        self._send(
            "PATCH",
            _by_unique_name(unique_name),
            body,
            {"Prefer": "create-if-missing"},
        )
        application = self.get_application(unique_name)
        if application is None:
            raise GraphError(message=f"application {unique_name} vanished right after creation")
        return application

    def get_application(self, unique_name: str) -> dict[str, Any] | None:
        try:
            return dict(self._send("GET", _by_unique_name(unique_name)).json())
        except ResourceNotFoundError:
            return None

    def delete_application(self, unique_name: str) -> bool:
        """Delete the application (Graph deletes its service principal with it)."""
        try:
            self._send("DELETE", _by_unique_name(unique_name))
        except ResourceNotFoundError:
            return False
        return True

    def list_applications(self, display_name_prefix: str) -> Iterator[dict[str, Any]]:
        """Applications whose display name starts with the prefix, following page links."""
        prefix = display_name_prefix.replace("'", "''")  # OData doubles quotes in literals
        odata_filter = quote(f"startswith(displayName,'{prefix}')")
        url: str | None = f"/applications?$filter={odata_filter}&$top=100"
        while url:
            page = self._send("GET", url).json()
            yield from page.get("value", [])
            url = page.get("@odata.nextLink")

    def add_password(self, application_id: str, display_name: str, end: str) -> dict[str, Any]:
        """A new client secret; the result's `secretText` is the only copy of it."""
        body = {"passwordCredential": {"displayName": display_name, "endDateTime": end}}
        return dict(self._send("POST", f"/applications/{application_id}/addPassword", body).json())

    # --- service principals -----------------------------------------------------------

    def ensure_service_principal(self, app_id: str) -> dict[str, Any]:
        """The application's service principal, created if missing."""
        existing = self.get_service_principal(app_id)
        if existing is not None:
            return existing
        try:
            return dict(self._send("POST", "/servicePrincipals", {"appId": app_id}).json())
        except GraphError as error:
            if error.status_code != 409:
                raise
        found = self.get_service_principal(app_id)  # created meanwhile by a twin call
        if found is None:
            raise GraphError(message=f"service principal of {app_id} conflicts but is not found")
        return found

    def get_service_principal(self, app_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._send("GET", f"/servicePrincipals(appId='{quote(app_id)}')").json())
        except ResourceNotFoundError:
            return None

    def ping(self) -> None:
        self._send("GET", "/applications?$top=1&$select=id")


def _by_unique_name(unique_name: str) -> str:
    return f"/applications(uniqueName='{quote(unique_name)}')"


def _error_body(response: HttpResponse) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _message(response: HttpResponse) -> str:
    error = _error_body(response)
    text = str(error.get("message") or response.reason or "").strip()
    code = str(error.get("code") or response.status_code)
    return f"({code}) {text}"
