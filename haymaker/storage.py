"""The app's storage account, reached with a connection string or with an identity.

The Functions host reads its storage connection `AzureWebJobsStorage` in one of two
forms, and so does HayMaker (run records in Tables, agent events in Queues):

- `AzureWebJobsStorage`: a connection string (`AccountName=...;AccountKey=...`, or
  `UseDevelopmentStorage=true`). When set, it wins over everything below.
- identity-based: `AzureWebJobsStorage__accountName` (the public cloud's
  `https://<name>.{blob,queue,table}.core.windows.net`), or the service URIs
  `AzureWebJobsStorage__blobServiceUri`, `__queueServiceUri`, `__tableServiceUri` (a URI
  set for a service wins over the one the account name implies). HayMaker needs the queue
  and table services; blob is optional. `AzureWebJobsStorage__credential=managedidentity`
  signs in with the app's managed identity (`__clientId`: the client id of a user-assigned
  one, else the system-assigned one); without it, `DefaultAzureCredential` (with
  `__clientId` as its managed identity client id) serves local development.

`StorageAccount` holds one of the two and hands out SDK clients. It never shows a key:
`describe()` and `repr()` name the account and the mode only.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.policies import HTTPPolicy
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueClient, QueueServiceClient

STORAGE_SETTING = "AzureWebJobsStorage"
ACCOUNT_NAME_SETTING = f"{STORAGE_SETTING}__accountName"
SERVICE_URI_SETTINGS = {
    "blob": f"{STORAGE_SETTING}__blobServiceUri",
    "queue": f"{STORAGE_SETTING}__queueServiceUri",
    "table": f"{STORAGE_SETTING}__tableServiceUri",
}
CREDENTIAL_SETTING = f"{STORAGE_SETTING}__credential"
CLIENT_ID_SETTING = f"{STORAGE_SETTING}__clientId"
RESOURCE_ID_SETTING = f"{STORAGE_SETTING}__managedIdentityResourceId"
IDENTITY_SETTINGS = (
    ACCOUNT_NAME_SETTING,
    *SERVICE_URI_SETTINGS.values(),
    CREDENTIAL_SETTING,
    CLIENT_ID_SETTING,
    RESOURCE_ID_SETTING,
)
MANAGED_IDENTITY = "managedidentity"
REQUIRED_SERVICES = ("queue", "table")
ENDPOINT_SUFFIX = "core.windows.net"

BOTH_FORMS = (
    "the storage account connection string, or identity-based settings: "
    f"{ACCOUNT_NAME_SETTING}, or {SERVICE_URI_SETTINGS['queue']} and "
    f"{SERVICE_URI_SETTINGS['table']}, with optional {CREDENTIAL_SETTING}={MANAGED_IDENTITY} "
    f"and {CLIENT_ID_SETTING}"
)

# Every client handed out gives up on a service that stops answering within a minute or
# two, not the SDK defaults' many minutes (azure-core waits up to 300 s to connect and
# for each read, and the tables SDK tries 11 times). Not much sooner: an emulator on a
# loaded machine takes seconds to answer, and a retry only adds to its load. Callers that
# must answer sooner (the HTTP API) add a deadline of their own; these bound how long a
# hung call keeps its thread.
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 30
TABLE_RETRIES = 4
# The proxy settings `requests` reads from the environment (any case).
PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})

_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DEV_STORAGE = "usedevelopmentstorage=true"


@dataclass(frozen=True, repr=False)
class StorageAccount:
    """A storage account and how to sign in to it; build it with `from_connection_string`,
    `from_identity` or `read_storage`.

    Exactly one of `connection_string` (the secret) and the service URIs is in use. With an
    identity, one credential is made on first use and shared by every client handed out,
    so its token cache is too.
    """

    connection_string: str | None = None
    account_name: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    managed_identity: bool = False
    client_id: str | None = None
    given_credential: TokenCredential | None = field(default=None, compare=False)

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageAccount:
        """The account a connection string names (not checked here: `read_storage` checks)."""
        return cls(connection_string=connection_string)

    @classmethod
    def from_identity(
        cls,
        *,
        account_name: str | None = None,
        blob_service_uri: str | None = None,
        queue_service_uri: str | None = None,
        table_service_uri: str | None = None,
        managed_identity: bool = False,
        client_id: str | None = None,
        credential: TokenCredential | None = None,
    ) -> StorageAccount:
        """The account reached with an identity; a service URI not given comes from
        `account_name`. `credential`, if given, is used instead of one made from
        `managed_identity` and `client_id`."""
        uris = {"blob": blob_service_uri, "queue": queue_service_uri, "table": table_service_uri}
        for service, uri in uris.items():
            if uri is None and account_name:
                uris[service] = f"https://{account_name}.{service}.{ENDPOINT_SUFFIX}"
        missing = [service for service in REQUIRED_SERVICES if not uris[service]]
        if missing:
            raise ValueError(
                f"no {' or '.join(missing)} service URI: give account_name or the service URIs"
            )
        return cls(
            account_name=account_name or _account_from_uri(str(uris["queue"])),
            blob_service_uri=_strip(uris["blob"]),
            queue_service_uri=_strip(uris["queue"]),
            table_service_uri=_strip(uris["table"]),
            managed_identity=managed_identity,
            client_id=client_id,
            given_credential=credential,
        )

    # -- what it is ------------------------------------------------------------------------

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    @property
    def is_development_storage(self) -> bool:
        text = (self.connection_string or "").strip().rstrip(";").lower()
        return text == _DEV_STORAGE

    @property
    def queue_account_url(self) -> str:
        """The queue service URL (what agents send events to); never carries a key."""
        if self.queue_service_uri is not None:
            return self.queue_service_uri
        from azure.storage.queue import QueueServiceClient

        return QueueServiceClient.from_connection_string(self._connection()).url.rstrip("/")

    def describe(self) -> str:
        """The account and the way in, for logs and settings listings: never a key."""
        if not self.uses_identity:
            if self.is_development_storage:
                return "connection string: development storage (UseDevelopmentStorage=true)"
            account = _connection_values(self._connection()).get("accountname")
            named = f"account {account}" if account else "account not named"
            return f"connection string: {named} (secrets not shown)"
        if self.given_credential is not None:
            how = type(self.given_credential).__name__
        elif self.managed_identity:
            who = f"client id {self.client_id}" if self.client_id else "system-assigned"
            how = f"managed identity ({who})"
        else:
            suffix = f", managed identity client id {self.client_id}" if self.client_id else ""
            how = f"DefaultAzureCredential{suffix}"
        services = ", ".join(
            f"{service} {uri}"
            for service, uri in (
                ("blob", self.blob_service_uri),
                ("queue", self.queue_service_uri),
                ("table", self.table_service_uri),
            )
            if uri
        )
        return f"identity: account {self.account_name}, {how}; {services}"

    def __repr__(self) -> str:
        return f"StorageAccount({self.describe()})"

    # -- clients ---------------------------------------------------------------------------

    @functools.cached_property
    def credential(self) -> TokenCredential:
        """The identity's credential, made once; ValueError for a connection-string account."""
        if not self.uses_identity:
            raise ValueError("this storage account is reached with a connection string")
        if self.given_credential is not None:
            return self.given_credential
        if self.managed_identity:
            from azure.identity import ManagedIdentityCredential

            return ManagedIdentityCredential(client_id=self.client_id)
        from azure.identity import DefaultAzureCredential

        if self.client_id:
            return DefaultAzureCredential(managed_identity_client_id=self.client_id)
        return DefaultAzureCredential()

    def table_service(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        if self.table_service_uri is None:
            return TableServiceClient.from_connection_string(
                self._connection(), retry_total=TABLE_RETRIES, **_client_options()
            )
        return TableServiceClient(
            self.table_service_uri,
            credential=self.credential,
            retry_total=TABLE_RETRIES,
            **_client_options(),
        )

    def queue_service(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        if self.queue_service_uri is None:
            return QueueServiceClient.from_connection_string(
                self._connection(), **_client_options()
            )
        return QueueServiceClient(
            self.queue_service_uri,
            credential=self.credential,
            retry_policy=_retry("queue"),
            **_client_options(),
        )

    def queue(self, name: str) -> QueueClient:
        from azure.storage.queue import QueueClient

        if self.queue_service_uri is None:
            return QueueClient.from_connection_string(self._connection(), name, **_client_options())
        return QueueClient(
            self.queue_service_uri,
            name,
            credential=self.credential,
            retry_policy=_retry("queue"),
            **_client_options(),
        )

    def blob_service(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        if not self.uses_identity:
            return BlobServiceClient.from_connection_string(self._connection(), **_client_options())
        if self.blob_service_uri is None:
            raise ValueError(
                f"no blob service: set {SERVICE_URI_SETTINGS['blob']} or {ACCOUNT_NAME_SETTING}"
            )
        return BlobServiceClient(
            self.blob_service_uri,
            credential=self.credential,
            retry_policy=_retry("blob"),
            **_client_options(),
        )

    def close(self) -> None:
        """Close the credential this object made (a given one belongs to its giver)."""
        made = self.__dict__.pop("credential", None)
        if made is not None and made is not self.given_credential:
            made.close()  # type: ignore[attr-defined]

    def _connection(self) -> str:
        if self.connection_string is None:
            raise ValueError("this storage account is reached with an identity")
        return self.connection_string


def _client_options() -> dict[str, Any]:
    return {
        "connection_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        **_environment_options(os.environ),
    }


def _environment_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """What the clients take from the environment, read once.

    With the SDK's default `requests` reads the environment on every request, walking all
    of it twice for proxies: a quarter of a table read's CPU in a Functions host, whose
    environment holds every app setting. Unless a proxy is configured (then everything is
    left to `requests`, as before), the clients do not read it, and a CA bundle it names
    (REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, as `requests` picks) is passed to them.
    """
    if any(value and name.lower() in PROXY_VARIABLES for name, value in environ.items()):
        return {}
    bundle = environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    return {"use_env_settings": False, **({"connection_verify": bundle} if bundle else {})}


class _SignInFailureIsFinal:
    """Mixed into the queue and blob SDKs' default retry: a failed sign-in is final.

    Those SDKs retry every AzureError, so a credential that cannot get a token (no such
    identity, a wrong client id) would fail each call only after about a minute of
    back-off. The tables SDK already gives up at once: the request cannot succeed.
    """

    def increment(
        self, settings: Any, request: Any, response: Any = None, error: Any = None
    ) -> bool:
        # Imported here: reading the settings (the CLI's every start) needs no SDK.
        from azure.core.exceptions import ClientAuthenticationError

        if isinstance(error, ClientAuthenticationError):
            return False
        return bool(super().increment(settings, request, response, error))  # type: ignore[misc]


@functools.cache
def _retry_class(service: str) -> type[HTTPPolicy[Any, Any]]:
    if service == "queue":
        from azure.storage.queue import ExponentialRetry as QueueRetry

        class QueueSignInFailureIsFinal(_SignInFailureIsFinal, QueueRetry):
            pass

        return QueueSignInFailureIsFinal
    from azure.storage.blob import ExponentialRetry as BlobRetry

    class BlobSignInFailureIsFinal(_SignInFailureIsFinal, BlobRetry):
        pass

    return BlobSignInFailureIsFinal


def _retry(service: str) -> HTTPPolicy[Any, Any]:
    """A fresh retry policy for a queue or blob client (policies keep per-client state)."""
    return _retry_class(service)()


# -- reading the settings ----------------------------------------------------------------


def read_storage(environ: Mapping[str, str]) -> tuple[StorageAccount | None, list[str]]:
    """The storage account the settings describe, and every problem (`NAME: reason`).

    A setting that is present but empty counts as absent. The `__` settings are matched
    without regard to case, as the Functions host (.NET configuration) does.
    """
    connection_string = (environ.get(STORAGE_SETTING) or "").strip()
    if connection_string:
        if not looks_like_connection_string(connection_string):
            return None, [
                f"{STORAGE_SETTING}: is not a storage connection string (expected Key=Value "
                "pairs such as AccountName=...;AccountKey=...;EndpointSuffix=..., or "
                "UseDevelopmentStorage=true); its value is not shown because it is a secret"
            ]
        return StorageAccount.from_connection_string(connection_string), []
    values = _identity_values(environ)
    problems: list[str] = []
    account_name = values.get(ACCOUNT_NAME_SETTING)
    if account_name is not None and not _ACCOUNT_NAME.fullmatch(account_name):
        problems.append(
            f"{ACCOUNT_NAME_SETTING}: {account_name!r} is not a storage account name "
            "(3 to 24 lowercase letters and digits)"
        )
    uris: dict[str, str | None] = {}
    for service, name in SERVICE_URI_SETTINGS.items():
        uri = values.get(name)
        reason = _service_uri_problem(uri, service) if uri is not None else None
        if reason:
            problems.append(f"{name}: {reason}")
        uris[service] = uri
    if account_name is None and not any(uris.values()):
        return None, [f"{STORAGE_SETTING}: is required ({BOTH_FORMS})"]
    if account_name is None:
        problems.extend(
            f"{SERVICE_URI_SETTINGS[service]}: is required when the service URIs are given "
            f"without {ACCOUNT_NAME_SETTING} (HayMaker uses the queue and table services)"
            for service in REQUIRED_SERVICES
            if not uris[service]
        )
    credential = values.get(CREDENTIAL_SETTING)
    if credential is not None and credential.lower() != MANAGED_IDENTITY:
        problems.append(
            f"{CREDENTIAL_SETTING}: {credential!r} is not supported: the only value is "
            f"{MANAGED_IDENTITY} (or leave it unset to use DefaultAzureCredential)"
        )
    client_id = values.get(CLIENT_ID_SETTING)
    if client_id is not None and not _GUID.fullmatch(client_id):
        problems.append(
            f"{CLIENT_ID_SETTING}: {client_id!r} is not a GUID (the client id of the "
            "user-assigned managed identity)"
        )
    if values.get(RESOURCE_ID_SETTING) is not None:
        problems.append(
            f"{RESOURCE_ID_SETTING}: is not supported by HayMaker; name the user-assigned "
            f"identity by its client id in {CLIENT_ID_SETTING}"
        )
    if problems:
        return None, problems
    account = StorageAccount.from_identity(
        account_name=account_name,
        blob_service_uri=uris["blob"],
        queue_service_uri=uris["queue"],
        table_service_uri=uris["table"],
        managed_identity=credential is not None,
        client_id=client_id,
    )
    return account, []


def looks_like_connection_string(value: str) -> bool:
    """Key=Value pairs naming an account or endpoints (or development storage)."""
    pairs = [part.partition("=") for part in value.strip(";").split(";")]
    keys = {key.strip().lower() for key, sep, rest in pairs if sep and key.strip() and rest}
    if len(keys) != len(pairs):
        return False
    return (
        "usedevelopmentstorage" in keys
        or "accountname" in keys
        or any(key.endswith("endpoint") for key in keys)
    )


def _identity_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The non-empty identity settings, by their documented names, whatever their case."""
    canonical = {name.lower(): name for name in IDENTITY_SETTINGS}
    values: dict[str, str] = {}
    for key, value in environ.items():
        name = canonical.get(key.lower())
        if name is not None and value.strip():
            values[name] = value.strip()
    return values


def _service_uri_problem(uri: str, service: str) -> str | None:
    example = f"e.g. https://<account>.{service}.{ENDPOINT_SUFFIX}"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return f"{uri!r} is not a URL ({example})"
    if parts.query or parts.fragment or "@" in parts.netloc:
        # A SAS token or user info is a secret: say what is wrong without quoting it.
        return (
            f"has a query string, fragment or user info; give the bare service URI ({example}): "
            "an identity needs no SAS, and the value is not shown in case it holds one"
        )
    if parts.scheme != "https" or not parts.hostname:
        return (
            f"{uri!r} is not an https URL of the {service} service ({example}); "
            "tokens are only sent over https"
        )
    return None


def _strip(uri: str | None) -> str | None:
    return uri.rstrip("/") if uri else None


def _account_from_uri(uri: str) -> str | None:
    """`https://acct.queue.core.windows.net` -> acct; `https://127.0.0.1:10001/acct` -> acct."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if re.fullmatch(r"[\d.]+|localhost|\[[0-9a-fA-F:]+\]", host) or ":" in host:
        return parts.path.strip("/").split("/", 1)[0] or None
    return host.split(".", 1)[0] or None


def _connection_values(connection_string: str) -> dict[str, str]:
    pairs = (part.partition("=") for part in connection_string.split(";"))
    return {key.strip().lower(): value.strip() for key, sep, value in pairs if sep}
