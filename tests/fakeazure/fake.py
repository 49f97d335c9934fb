"""`FakeAzure`: the Azure services HayMaker uses, served by one local HTTPS server.

Point the real SDK clients at it and they run their real code paths (LRO polling, paging,
429 retries, Key Vault challenge auth) over real HTTPS::

    with FakeAzure() as fake:
        monkeypatch.setenv(...)  # each of fake.env(): managed identity and CA bundle
        credential = DefaultAzureCredential()
        arm = ResourceManagementClient(credential, fake.subscription_id, base_url=fake.url,
                                       polling_interval=0)  # see operations.py
        vault = SecretClient(fake.url + "/", credential, verify_challenge_resource=False)
        graph = PipelineClient(fake.url, policies=[... BearerTokenCredentialPolicy(
                    credential, "https://graph.microsoft.com/.default") ...])

See faults.py for the op names and the fault switchboard, and the service modules (arm.py,
authorization.py, containerapps.py, graph.py, keyvault.py) for the behaviors reproduced.
"""

from __future__ import annotations

import copy
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from . import catalog
from .arm import Arm, new_group
from .certs import CertFiles, write_certificates
from .containerapps import redacted
from .faults import Faults
from .graph import Graph
from .identity import ManagedIdentity, Tokens
from .keyvault import KeyVault
from .records import RequestRecord
from .server import Dispatcher, TlsServer
from .state import State
from .wire import JSON, sorted_by

DEFAULT_SUBSCRIPTION_ID = "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
DEFAULT_TENANT_ID = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"


class FakeAzure:
    """ARM, Microsoft Graph, Key Vault and managed identity, faked on `https://127.0.0.1:PORT`.

    `clock` (seconds) times everything time-dependent: request records, throttle windows,
    created/updated stamps. Pass a virtual host clock to keep them consistent with the host.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        tenant_id: str = DEFAULT_TENANT_ID,
    ) -> None:
        self._state = State(clock, subscription_id, tenant_id)
        self._tokens = Tokens(tenant_id)
        self.faults = Faults(clock)
        self._identity = ManagedIdentity(self._tokens, clock)
        self._dispatcher = Dispatcher(
            [
                self._identity,
                Arm(self._state, self._tokens, self.faults),
                Graph(self._state, self._tokens, self.faults),
                KeyVault(self._state, self._tokens),
            ],
            self.faults,
            clock,
        )
        self._directory: Path | None = None
        self._certs: CertFiles | None = None
        self._server: TlsServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAzure:
        """Make certificates, bind a free port and serve in background threads."""
        if self._server is not None or self._stopped:
            raise RuntimeError("a FakeAzure starts once")
        self._directory = Path(tempfile.mkdtemp(prefix="fakeazure-"))
        self._certs = write_certificates(self._directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._certs.cert, self._certs.key)
        self._server = TlsServer(context, self._dispatcher)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how fast stop() takes effect
            name="fakeazure",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: hung requests are released (and dropped), connections cut."""
        if self._server is None:
            return
        self.faults.release_all()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._server = self._thread = None
        self._stopped = True

    def __enter__(self) -> FakeAzure:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- how to reach it -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`https://127.0.0.1:PORT`: the ARM endpoint and Graph root; the vault is `url + "/"`."""
        if self._server is None:
            raise RuntimeError("FakeAzure is not started")
        return self._server.base_url

    @property
    def ca_bundle(self) -> str:
        """The PEM file of the CA that signed the server certificate (only that CA)."""
        if self._certs is None:
            raise RuntimeError("FakeAzure is not started")
        return str(self._certs.ca_bundle)

    @property
    def identity_endpoint(self) -> str:
        return f"{self.url}{ManagedIdentity.path}"

    @property
    def identity_header(self) -> str:
        return self._identity.header_secret

    @property
    def identity_client_id(self) -> str:
        """The client id of the managed identity, as the token endpoint reports it."""
        return self._identity.client_id

    @property
    def subscription_id(self) -> str:
        return self._state.subscription_id

    @property
    def tenant_id(self) -> str:
        return self._state.tenant_id

    def env(self) -> dict[str, str]:
        """The environment a process needs to use the fake (managed identity + CA trust)."""
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "SSL_CERT_FILE": self.ca_bundle,
        }

    # -- knobs -----------------------------------------------------------------------------

    @property
    def page_size(self) -> int:
        """Items per page of every listing (ARM, Graph, Key Vault); default 100."""
        return self._state.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self._state.page_size = value

    @property
    def execution_reads(self) -> int:
        """HTTP reads for which a job execution stays Running before it Succeeds; default 2."""
        return self._state.execution_reads

    @execution_reads.setter
    def execution_reads(self, value: int) -> None:
        self._state.execution_reads = value

    @property
    def lro_in_progress_polls(self) -> int:
        """Polls for which a new long-running operation reports InProgress; default 1. Set 0
        to spare clients with a long polling_interval the wait (see operations.py)."""
        return self._state.lro_in_progress_polls

    @lro_in_progress_polls.setter
    def lro_in_progress_polls(self, value: int) -> None:
        self._state.lro_in_progress_polls = value

    @property
    def canary_prefix(self) -> str:
        """The start of every Graph secretText, to search for leaks."""
        return self._state.canary_prefix

    def lock(self, scope: str) -> None:
        """Put a CanNotDelete lock on an ARM scope: deletes at, under (or, for cascading
        deletes, above) it answer 409 ScopeLocked."""
        with self._state.lock:
            self._state.locks[scope.lower().rstrip("/")] = scope.rstrip("/")

    def unlock(self, scope: str) -> None:
        with self._state.lock:
            self._state.locks.pop(scope.lower().rstrip("/"), None)

    # -- logs ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received, in arrival order (bodies are never recorded)."""
        return self._dispatcher.records

    @property
    def early_requests(self) -> list[RequestRecord]:
        """Requests that retried before a throttle's Retry-After had passed (see faults.py)."""
        return self.faults.early_requests

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs in the fake itself (answered 500 FakeAzureInternalError)."""
        return self._dispatcher.internal_errors

    @property
    def issued_secrets(self) -> list[str]:
        """Every secretText Graph's addPassword has returned."""
        with self._state.lock:
            return list(self._state.issued_secrets)

    # -- seeding ---------------------------------------------------------------------------

    def add_resource_group(
        self, name: str, tags: dict[str, str] | None = None, location: str = "eastus"
    ) -> str:
        """Create (or retag) a resource group; return its id."""
        with self._state.lock:
            existing = self._state.resource_group(name)
            if existing is not None:
                existing["tags"] = dict(tags or {})
                return str(existing["id"])
            return str(new_group(self._state, name, location, tags or {})["id"])

    def add_resource(
        self,
        resource_group: str,
        type: str,
        name: str,
        tags: dict[str, str] | None = None,
        location: str = "eastus",
    ) -> str:
        """Create a plain resource (e.g. `Microsoft.Storage/storageAccounts`); return its id."""
        resource_type = catalog.canonical_type(type)
        if resource_type is None:
            known = [f"{ns}/{t}" for ns, types in catalog.PROVIDERS.items() for t in types]
            raise ValueError(f"unknown resource type {type!r}; the fake knows {known}")
        with self._state.lock:
            group = self._state.resource_group(resource_group)
            if group is None:
                raise ValueError(f"resource group {resource_group!r} does not exist")
            return self._state.add_generic_resource(
                group, resource_type, name, tags or {}, location
            )

    # -- inspection ------------------------------------------------------------------------
    # Readers return deep copies of the stored JSON in a stable order (`tags` always present,
    # even where the API leaves an empty one out).

    def snapshot(self) -> JSON:
        """A deep, JSON-able copy of all persistent state (groups, resources, jobs with
        executions, role assignments, applications, service principals, secrets with all
        versions and values, deleted secrets). Logs, operations and locks are left out."""
        with self._state.lock:
            return self._state.snapshot()

    def resource_groups(self) -> list[JSON]:
        with self._state.lock:
            return sorted_by(copy.deepcopy(list(self._state.resource_groups.values())), "id")

    def resources(self) -> list[JSON]:
        """What GET /subscriptions/{s}/resources lists: plain resources and jobs."""
        with self._state.lock:
            return self._state.listed_resources()

    def jobs(self) -> list[JSON]:
        """Jobs as GET returns them (no secret values), each with an `executions` list."""
        with self._state.lock:
            jobs = []
            for job in self._state.jobs.values():
                shown = redacted(job.body)
                shown["executions"] = [copy.deepcopy(e.body) for e in job.executions.values()]
                jobs.append(shown)
            return sorted_by(jobs, "id")

    def role_assignments(self) -> list[JSON]:
        with self._state.lock:
            return sorted_by(copy.deepcopy(list(self._state.role_assignments.values())), "id")

    def applications(self) -> list[JSON]:
        with self._state.lock:
            return sorted_by(copy.deepcopy(list(self._state.applications.values())), "id")

    def service_principals(self) -> list[JSON]:
        with self._state.lock:
            return sorted_by(copy.deepcopy(list(self._state.service_principals.values())), "id")

    def secrets(self) -> list[JSON]:
        """The current version of each secret (a SecretBundle, with its value)."""
        with self._state.lock:
            current = [copy.deepcopy(versions[-1]) for versions in self._state.secrets.values()]
            return sorted_by(current, "id")

    def deleted_secrets(self) -> list[JSON]:
        """Soft-deleted secrets (DeletedSecretBundles, with the value kept for recovery)."""
        with self._state.lock:
            return sorted_by(copy.deepcopy(list(self._state.deleted_secrets.values())), "id")
