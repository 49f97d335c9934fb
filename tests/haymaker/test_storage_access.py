"""Storage reached with a connection string or with an identity, as the Functions host reads
`AzureWebJobsStorage` and `AzureWebJobsStorage__*`.

The settings tests need nothing running. The identity tests run against a private Azurite
served over HTTPS with `--oauth basic` (it checks a bearer token's issuer, audience and
lifetime, not its signature), signing in with the managed identity of the fake Azure: its
tokens are JWT-shaped with `iss` https://sts.windows.net/<tenant>/ and `aud` the storage
resource, which is what Azurite checks. Azurite's certificate is signed by a CA of our own;
the CA bundle the SDKs trust holds that CA and the fake's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.data.tables import TableServiceClient
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.storage.queue import QueueServiceClient

from devhost import azurite
from devhost.process import running_host
from haymaker.events import (
    EventReceiver,
    EventSender,
    create_events_queue,
    delete_events_queue,
    events_queue_exists,
    events_queue_name,
    list_events_queues,
)
from haymaker.providers import _queue_account_url
from haymaker.records import RunRecords
from haymaker.run_request import new_run_id
from haymaker.settings import SettingsError, load_settings
from haymaker.storage import StorageAccount, read_storage
from tests.app.helpers import IDLE_SETTLE, App, host_env, new_hub
from tests.azure.helpers import PLATFORM_GROUP, azure_settings
from tests.fakeazure import FakeAzure
from tests.fakeazure.certs import write_certificates
from tests.fakeazure.environment import OTHER_CREDENTIAL_VARIABLES
from tests.fakeazure.identity import token_claims

ROOT = Path(__file__).resolve().parents[2]
KEY = "c2VjcmV0LWtleQ=="
SECRET = (
    f"DefaultEndpointsProtocol=https;AccountName=hmstore;AccountKey={KEY};"
    "EndpointSuffix=core.windows.net"
)
CLIENT_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
IDENTITY = {
    "AzureWebJobsStorage__accountName": "hmstore",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": CLIENT_ID,
}
SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
AZURE = {
    "HAYMAKER_PROVIDER": "azure",
    "HAYMAKER_AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
    "HAYMAKER_AZURE_TENANT_ID": "55555555-6666-7777-8888-999999999999",
    "HAYMAKER_KEY_VAULT_URL": "https://hm-vault.vault.azure.net/",
    "HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID": (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/haymaker"
        "/providers/Microsoft.App/managedEnvironments/haymaker-env"
    ),
    "HAYMAKER_AGENT_IMAGE": "hmacr.azurecr.io/haymaker-agent:1.4.2",
    "HAYMAKER_LOCATION": "westeurope",
    "HAYMAKER_AGENT_JOB_IDENTITY_ID": (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/haymaker"
        "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/haymaker-agents"
    ),
}


def problems_for(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return caught.value.problems


# --- settings ---------------------------------------------------------------------------


def test_the_connection_string_takes_precedence_over_identity_settings() -> None:
    settings = load_settings({"AzureWebJobsStorage": SECRET, **IDENTITY, **AZURE})
    assert settings.storage.connection_string == SECRET
    assert settings.storage.connection_string == SECRET
    assert not settings.storage.uses_identity
    assert settings.storage.queue_account_url == "https://hmstore.queue.core.windows.net"
    # Bad identity settings are not even read when the connection string is there.
    environ = {"AzureWebJobsStorage": SECRET, "AzureWebJobsStorage__credential": "secret"}
    assert load_settings(environ).storage.connection_string == SECRET


def test_an_account_name_gives_the_public_cloud_service_uris() -> None:
    settings = load_settings({**IDENTITY, **AZURE})
    storage = settings.storage
    assert storage.uses_identity
    assert storage.connection_string is None
    assert settings.storage.connection_string is None
    assert (storage.blob_service_uri, storage.queue_service_uri, storage.table_service_uri) == (
        "https://hmstore.blob.core.windows.net",
        "https://hmstore.queue.core.windows.net",
        "https://hmstore.table.core.windows.net",
    )
    assert storage.managed_identity and storage.client_id == CLIENT_ID
    # What the azure provider hands its agents as HAYMAKER_EVENTS_ACCOUNT_URL.
    assert _queue_account_url(storage) == "https://hmstore.queue.core.windows.net"
    assert storage.table_service().url.startswith("https://hmstore.table.core.windows.net")
    assert storage.queue("q1").url == "https://hmstore.queue.core.windows.net/q1"
    assert storage.blob_service().url.startswith("https://hmstore.blob.core.windows.net")


def test_explicit_service_uris_win_over_the_account_name_and_blob_is_optional() -> None:
    environ = {
        "AzureWebJobsStorage__accountName": "hmstore",
        "AzureWebJobsStorage__queueServiceUri": "https://queues.example.net/",
        **AZURE,
    }
    storage = load_settings(environ).storage
    assert storage.queue_service_uri == "https://queues.example.net"
    assert storage.table_service_uri == "https://hmstore.table.core.windows.net"

    only_uris = {
        "AzureWebJobsStorage__queueServiceUri": "https://127.0.0.1:10001/devstoreaccount1",
        "AzureWebJobsStorage__tableServiceUri": "https://127.0.0.1:10002/devstoreaccount1",
        **AZURE,
    }
    storage = load_settings(only_uris).storage
    assert storage.blob_service_uri is None
    assert storage.account_name == "devstoreaccount1"
    with pytest.raises(ValueError, match="AzureWebJobsStorage__blobServiceUri"):
        storage.blob_service()


def test_the_credential_follows_the_credential_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTHER_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    managed = load_settings({**IDENTITY, **AZURE}).storage
    assert isinstance(managed.credential, ManagedIdentityCredential)
    assert managed.credential is managed.credential  # made once, shared by every client
    default = {k: v for k, v in IDENTITY.items() if not k.endswith("__credential")}
    assert isinstance(
        load_settings({**default, **AZURE}).storage.credential, DefaultAzureCredential
    )
    with pytest.raises(ValueError, match="connection string"):
        _ = load_settings({"AzureWebJobsStorage": SECRET}).storage.credential


def test_identity_setting_names_are_matched_without_regard_to_case() -> None:
    environ = {"AZUREWEBJOBSSTORAGE__ACCOUNTNAME": "hmstore", **AZURE}
    assert load_settings(environ).storage.account_name == "hmstore"


def test_no_storage_at_all_is_one_problem_naming_both_forms() -> None:
    for environ in ({}, {"AzureWebJobsStorage": " ", "AzureWebJobsStorage__credential": "x"}):
        problems = [p for p in problems_for({**environ, **AZURE}) if "Storage" in p]
        assert len(problems) == 1, problems
        assert problems[0].startswith("AzureWebJobsStorage: is required (")
        for named in ("connection string", "__accountName", "__queueServiceUri", "__clientId"):
            assert named in problems[0]


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("AzureWebJobsStorage__accountName", "Hm_Store", "is not a storage account name"),
        ("AzureWebJobsStorage__credential", "clientsecret", "the only value is managedidentity"),
        ("AzureWebJobsStorage__clientId", "my-identity", "is not a GUID"),
        ("AzureWebJobsStorage__queueServiceUri", "http://hmstore.queue", "is not an https URL"),
        ("AzureWebJobsStorage__tableServiceUri", "not a url:x", "is not"),
        ("AzureWebJobsStorage__managedIdentityResourceId", "/subscriptions/x", "not supported"),
    ],
)
def test_each_bad_identity_setting_is_named(name: str, value: str, reason: str) -> None:
    problems = problems_for({**IDENTITY, **AZURE, name: value})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{name}: ")
    assert reason in problems[0]


def test_service_uris_without_an_account_need_the_queue_and_the_table() -> None:
    environ = {"AzureWebJobsStorage__blobServiceUri": "https://hmstore.blob.core.windows.net"}
    problems = problems_for({**environ, **AZURE})
    assert [p.split(":", 1)[0] for p in problems] == [
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
    ]
    assert all("is required when the service URIs are given" in p for p in problems)


def test_a_sas_in_a_service_uri_is_refused_and_not_quoted() -> None:
    signature = "sig=c2lnbmF0dXJlLXNlY3JldA%3D%3D"
    uri = f"https://hmstore.queue.core.windows.net/?sv=2024-01-01&{signature}"
    problems = problems_for({**IDENTITY, **AZURE, "AzureWebJobsStorage__queueServiceUri": uri})
    assert problems[0].startswith("AzureWebJobsStorage__queueServiceUri: has a query string")
    assert signature not in str(problems)


def test_the_local_provider_needs_a_connection_string() -> None:
    problems = problems_for(IDENTITY)
    assert len(problems) == 1, problems
    assert problems[0].startswith("AzureWebJobsStorage: is required as a connection string")
    assert "HAYMAKER_PROVIDER is local" in problems[0]


def test_redaction_shows_the_account_and_mode_never_a_key() -> None:
    settings = load_settings({"AzureWebJobsStorage": SECRET})
    shown = settings.redacted()["storage"]
    assert shown == "connection string: account hmstore (secrets not shown)"
    assert KEY not in repr(settings) and KEY not in str(settings.redacted())
    assert KEY not in repr(settings.storage) and KEY not in settings.storage.describe()
    dev = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert "development storage" in dev.redacted()["storage"]

    identity = load_settings({**IDENTITY, **AZURE}).redacted()["storage"]
    assert identity.startswith("identity: account hmstore, managed identity (client id ")
    assert "queue https://hmstore.queue.core.windows.net" in identity


def test_read_storage_returns_problems_instead_of_raising() -> None:
    storage, problems = read_storage({"AzureWebJobsStorage": "AccountKey=" + KEY + ";x"})
    assert storage is None
    assert problems[0].startswith("AzureWebJobsStorage: is not a storage connection string")
    assert KEY not in problems[0]


# --- identity against Azurite -----------------------------------------------------------


class Storage:
    """A private Azurite over HTTPS with OAuth, and the fake Azure whose identity signs in."""

    def __init__(self, fake: FakeAzure, ports: dict[str, int], bundle: Path) -> None:
        self.fake = fake
        self.bundle = bundle
        self.ports = ports
        self.uris = {
            f"AzureWebJobsStorage__{service}ServiceUri": (
                f"https://127.0.0.1:{port}/{azurite.DEV_ACCOUNT}"
            )
            for service, port in ports.items()
        }

    def settings(self) -> dict[str, str]:
        """Identity-only storage settings: the service URIs and the managed identity."""
        return {
            **self.uris,
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": self.fake.identity_client_id,
        }

    def use_identity(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The environment of an app with the fake's managed identity (and both CAs trusted)."""
        for name in OTHER_CREDENTIAL_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.fake.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(self.bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(self.bundle))

    def account(self) -> StorageAccount:
        storage, problems = read_storage(self.settings())
        assert storage is not None, problems
        return storage

    def key_connection_string(self) -> str:
        """The same account by its (public, emulator) key: for devhost's task hub, and for
        reading what the app wrote without going through the app's own code."""
        plain = azurite.dev_connection_string(ports=self.ports)
        return plain.replace("http://", "https://").replace("Protocol=http;", "Protocol=https;")


@pytest.fixture(scope="module")
def oauth_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    folder = tmp_path_factory.mktemp("oauth-azurite")
    certs = write_certificates(folder)
    with FakeAzure() as fake:
        bundle = folder / "ca-bundle.pem"
        bundle.write_bytes(Path(fake.ca_bundle).read_bytes() + certs.ca_bundle.read_bytes())
        extra = ["--oauth", "basic", "--cert", str(certs.cert), "--key", str(certs.key)]
        process = azurite.start_on_free_ports(folder / "data", ROOT, extra_args=extra)
        try:
            yield Storage(fake, process.ports, bundle)
        finally:
            process.stop()
        assert fake.internal_errors == []


@pytest.fixture
def storage(oauth_storage: Storage, monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageAccount]:
    oauth_storage.use_identity(monkeypatch)
    account = oauth_storage.account()
    yield account
    account.close()


def _token_requests(fake: FakeAzure) -> list[str]:
    return [r.query.get("resource", "") for r in fake.requests if r.op == "msi.token"]


def test_run_records_work_over_the_managed_identity(
    storage: StorageAccount, oauth_storage: Storage, unique_name: str
) -> None:
    records = RunRecords(storage, "I" + unique_name)
    created = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert records.create_run("run-1", {"size": "small"}, ["s1"], created) is True
    run = records.get_run("run-1")
    assert run is not None and run["status"] == "pending" and run["scenario_ids"] == ["s1"]
    records.update_run("run-1", status="running")
    assert [r["run_id"] for r in records.list_runs(limit=5)[0]] == ["run-1"]
    # Signed in with a token for storage from the managed identity, no key anywhere.
    assert "https://storage.azure.com" in _token_requests(oauth_storage.fake)
    assert storage.connection_string is None


def test_the_events_queue_works_over_the_managed_identity(
    storage: StorageAccount, unique_name: str
) -> None:
    run_id = new_run_id(datetime.now(UTC), unique_name[1:7])
    queue = create_events_queue(storage, run_id)
    assert queue == events_queue_name(run_id)
    assert create_events_queue(storage, run_id) == queue  # idempotent
    assert events_queue_exists(storage, queue)
    assert list_events_queues(storage)[queue] == run_id
    sender = EventSender(storage, queue)
    sent = sender.send({"type": "started", "run_id": run_id, "agent_id": "a00", "scenario_id": "x"})
    # The agent's way in: the queue account URL and its own identity.
    agent = EventSender.from_account_url(storage.queue_account_url, queue, storage.credential)
    agent.send({"type": "heartbeat", "run_id": run_id, "agent_id": "a00"})
    receiver = EventReceiver(storage, queue)
    events = receiver.receive()
    assert [e["type"] for e in events] == ["started", "heartbeat"]
    assert events[0]["id"] == sent["id"]
    assert receiver.acknowledge(events) == 2
    assert receiver.receive() == []
    delete_events_queue(storage, run_id)
    assert not events_queue_exists(storage, queue)


class StaticToken:
    """A credential that always answers with one token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(datetime.now(UTC).timestamp()) + 3600)


def test_a_token_for_another_audience_is_refused_clearly(
    storage: StorageAccount, unique_name: str
) -> None:
    arm = ManagedIdentityCredential().get_token("https://management.azure.com/.default").token
    assert token_claims(arm)["aud"] == "https://management.azure.com"

    def signing_in_with(credential: TokenCredential) -> StorageAccount:
        return StorageAccount.from_identity(
            table_service_uri=storage.table_service_uri,
            queue_service_uri=storage.queue_service_uri,
            credential=credential,
        )

    wrong = signing_in_with(StaticToken(arm))
    assert wrong.describe().startswith("identity: account devstoreaccount1, StaticToken;")
    with pytest.raises(HttpResponseError) as caught:
        RunRecords(wrong, "W" + unique_name).get_run("run-1")
    assert caught.value.status_code in (401, 403)
    assert "Invalid token audience" in str(caught.value)
    with pytest.raises(HttpResponseError) as caught:
        create_events_queue(wrong, new_run_id(datetime.now(UTC), unique_name[1:7]))
    assert "Invalid token audience" in str(caught.value)

    forged = signing_in_with(StaticToken("not-a-jwt"))
    with pytest.raises(HttpResponseError, match="Bearer is not supported"):
        RunRecords(forged, "F" + unique_name).get_run("run-1")


def test_an_identity_that_cannot_sign_in_says_so(
    oauth_storage: Storage, monkeypatch: pytest.MonkeyPatch, unique_name: str
) -> None:
    oauth_storage.use_identity(monkeypatch)
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-identity-header")
    storage = oauth_storage.account()
    with pytest.raises(ClientAuthenticationError, match="X-IDENTITY-HEADER header is not valid"):
        RunRecords(storage, "N" + unique_name).get_run("run-1")
    # At once, after one token request: the queue SDK's retry would otherwise ask again
    # and again, backing off for about a minute.
    fake = oauth_storage.fake
    before = len(_token_requests(fake))
    with pytest.raises(ClientAuthenticationError, match="managed identity"):
        EventReceiver(storage, "haymaker-events-none").receive()
    assert len(_token_requests(fake)) == before + 1
    with pytest.raises(ClientAuthenticationError, match="X-IDENTITY-HEADER header is not valid"):
        delete_events_queue(storage, new_run_id(datetime.now(UTC), unique_name[1:7]))
    assert len(_token_requests(fake)) == before + 2


def test_the_app_runs_on_identity_only_storage_through_a_host(
    oauth_storage: Storage, app_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed shape, on devhost: the azure provider, no AzureWebJobsStorage, the
    app's storage by identity only. devhost keeps its task hub in the same Azurite by the
    account key, in the setting host.json's storageProvider.connectionName names."""
    oauth_storage.use_identity(monkeypatch)  # the host inherits this environment
    fake = oauth_storage.fake
    fake.add_resource_group(PLATFORM_GROUP)
    fake.lro_in_progress_polls = 0
    host_json = json.loads((app_copy / "host.json").read_text())
    host_json["extensions"]["durableTask"]["storageProvider"]["connectionName"] = "HubStorage"
    (app_copy / "host.json").write_text(json.dumps(host_json))
    by_key = oauth_storage.key_connection_string()
    env = {
        **host_env(tmp_path / "state"),
        **azure_settings(fake),
        **oauth_storage.settings(),
        "AzureWebJobsStorage": "",
        "HubStorage": by_key,
        "REQUESTS_CA_BUNDLE": str(oauth_storage.bundle),
        "SSL_CERT_FILE": str(oauth_storage.bundle),
    }
    tokens_before = _token_requests(fake).count("https://storage.azure.com")
    hub = new_hub()
    with running_host(
        app_copy,
        clock="virtual",
        hub=hub,
        env=env,
        extra_args=["--idle-settle", IDLE_SETTLE],
        log_path=tmp_path / "host.log",
    ) as host:
        app = App(host=host, state_dir=tmp_path / "state", connection=by_key, hub=hub)
        health = app.get("health", deep="true").json()
        assert health["ok"] is True, health
        [check] = [c for c in health["checks"] if c["name"] == "storage"]
        assert check["detail"].startswith("identity: account devstoreaccount1, managed identity")

        run_id = app.start_run(
            {"scenarios": ["compute-linux-vm"], "duration": "PT1H", "poll_interval": "PT10M"}
        )
        app.wait_for_phase(run_id, "monitoring", 1)
        queues = QueueServiceClient.from_connection_string(by_key)
        listed = [q.name for q in queues.list_queues(name_starts_with="haymaker-events-")]
        assert events_queue_name(run_id) in listed
        run = app.wait_for_run(run_id, timeout=120)
        assert run["status"] == "completed", run
        assert app.report(run_id)["outcomes"] == {"finished": 1}

    # What the app wrote is in that account, read here by key; the host signed in for it.
    runs = TableServiceClient.from_connection_string(by_key).get_table_client("HayMakerRuns")
    rows = list(runs.query_entities("run_id eq @run", parameters={"run": run_id}))
    assert [row.get("status") for row in rows if "status" in row] == ["completed"], rows
    listed = [q.name for q in queues.list_queues(name_starts_with="haymaker-events-")]
    assert events_queue_name(run_id) not in listed
    assert _token_requests(fake).count("https://storage.azure.com") > tokens_before


def test_a_proxy_in_the_environment_is_still_used(
    storage_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clients read the environment once, not on every request (haymaker/storage.py);
    a proxy it names still carries their requests. Here one that does not answer: the
    same read that works without it fails."""
    from azure.core.exceptions import ServiceRequestError

    from devhost.process import free_port

    def list_tables() -> None:
        account = StorageAccount.from_connection_string(storage_connection_string)
        service = account.table_service()
        next(iter(service.list_tables()), None)

    list_tables()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ServiceRequestError):
        list_tables()
