"""App settings: sensible defaults, every problem at once, the storage secret never shown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from haymaker.settings import (
    REGIONS,
    RUN_SIZES,
    AzureSettings,
    SettingsError,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = (
    "DefaultEndpointsProtocol=https;AccountName=hmstore;AccountKey=c2VjcmV0LWtleQ==;"
    "EndpointSuffix=core.windows.net"
)
AZURE = {
    "HAYMAKER_PROVIDER": "azure",
    "HAYMAKER_AZURE_SUBSCRIPTION_ID": "00000000-1111-2222-3333-444444444444",
    "HAYMAKER_AZURE_TENANT_ID": "55555555-6666-7777-8888-999999999999",
    "HAYMAKER_KEY_VAULT_URL": "https://hm-vault.vault.azure.net/",
    "HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID": (
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/haymaker"
        "/providers/Microsoft.App/managedEnvironments/haymaker-env"
    ),
    "HAYMAKER_AGENT_IMAGE": "hmacr.azurecr.io/haymaker-agent:1.4.2",
    "HAYMAKER_LOCATION": "westeurope",
    "HAYMAKER_AGENT_JOB_IDENTITY_ID": (
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/haymaker"
        "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/haymaker-agents"
    ),
}


def problems_for(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return caught.value.problems


def test_only_the_storage_connection_string_is_needed_for_a_local_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert settings.provider == "local"
    assert settings.run_size == "small"
    assert settings.run_agent_count == 5
    assert settings.run_duration == timedelta(hours=8)
    assert settings.poll_interval == timedelta(minutes=15)
    assert settings.max_parallel_agents == 50
    assert settings.schedules() == {
        "americas": "0 0 0 * * *",
        "asia": "0 0 6 * * *",
        "middle_east": "0 0 12 * * *",
        "europe": "0 0 18 * * *",
    }
    assert settings.sweep_schedule == "0 30 * * * *"
    assert settings.scenarios_dir == ROOT / "scenarios"
    assert settings.local_state_dir == tmp_path / ".haymaker"
    assert settings.azure is None


def test_sizes_and_regions_are_the_documented_ones() -> None:
    assert RUN_SIZES == {"small": 5, "medium": 15, "large": 30}
    assert REGIONS == ("americas", "asia", "middle_east", "europe")


def test_a_run_size_may_be_a_number_of_agents() -> None:
    base = {"AzureWebJobsStorage": SECRET}
    settings = load_settings({**base, "HAYMAKER_RUN_SIZE": "3"})
    assert settings.run_agent_count == 3
    assert settings.default_run_shape() == (None, 3)
    assert load_settings({**base, "HAYMAKER_RUN_SIZE": "medium"}).default_run_shape() == (
        "medium",
        None,
    )
    for wrong in ("0", "51", "-2", "3.5"):
        assert problems_for({**base, "HAYMAKER_RUN_SIZE": wrong}) == [
            f"HAYMAKER_RUN_SIZE: '{wrong}' is not one of small, medium, large or a number of "
            "agents (1 to 50)"
        ]


def test_explicit_values_are_used(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage": SECRET,
            "HAYMAKER_RUN_SIZE": "large",
            "HAYMAKER_RUN_DURATION": "PT2H",
            "HAYMAKER_POLL_INTERVAL": "PT30S",
            "HAYMAKER_MAX_PARALLEL_AGENTS": "50",
            "HAYMAKER_SCHEDULE_ASIA": "0 15 7 * * 1-5",
            "HAYMAKER_SCENARIOS_DIR": str(tmp_path),
            "HAYMAKER_LOCAL_STATE_DIR": str(tmp_path / "state"),
        }
    )
    assert settings.run_agent_count == 30
    assert settings.run_duration == timedelta(hours=2)
    assert settings.poll_interval == timedelta(seconds=30)
    assert settings.max_parallel_agents == 50
    assert settings.schedule_asia == "0 15 7 * * 1-5"
    assert settings.scenarios_dir == tmp_path
    assert settings.local_state_dir == tmp_path / "state"
    assert settings.storage.connection_string == SECRET


def test_every_problem_is_reported_at_once_naming_each_setting() -> None:
    problems = problems_for(
        {
            "AzureWebJobsStorage": "not a connection string",
            "HAYMAKER_PROVIDER": "gcp",
            "HAYMAKER_RUN_SIZE": "huge",
            "HAYMAKER_RUN_DURATION": "PT25H",
            "HAYMAKER_POLL_INTERVAL": "15m",
            "HAYMAKER_MAX_PARALLEL_AGENTS": "0",
            "HAYMAKER_SCHEDULE_AMERICAS": "0 0 25 * * *",
            "HAYMAKER_SWEEP_SCHEDULE": "hourly",
            "HAYMAKER_SCENARIOS_DIR": "/no/such/folder",
        }
    )
    named = [problem.split(":", 1)[0] for problem in problems]
    assert named == [
        "HAYMAKER_PROVIDER",
        "HAYMAKER_RUN_SIZE",
        "HAYMAKER_RUN_DURATION",
        "HAYMAKER_POLL_INTERVAL",
        "HAYMAKER_MAX_PARALLEL_AGENTS",
        "HAYMAKER_SCHEDULE_AMERICAS",
        "HAYMAKER_SWEEP_SCHEDULE",
        "AzureWebJobsStorage",
        "HAYMAKER_SCENARIOS_DIR",
    ]


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HAYMAKER_RUN_SIZE": "huge", "HAYMAKER_MAX_PARALLEL_AGENTS": "ten"})
    message = str(caught.value)
    assert "3 problem(s)" in message
    assert "HAYMAKER_RUN_SIZE: 'huge' is not one of small, medium, large" in message
    assert "HAYMAKER_MAX_PARALLEL_AGENTS: 'ten' is not a whole number" in message
    assert "AzureWebJobsStorage: is required" in message


def test_an_empty_setting_counts_as_missing() -> None:
    assert problems_for({"AzureWebJobsStorage": "  ", "AzureWebJobsStorage__accountName": ""}) == [
        "AzureWebJobsStorage: is required (the storage account connection string, or "
        "identity-based settings: AzureWebJobsStorage__accountName, or "
        "AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__tableServiceUri, with "
        "optional AzureWebJobsStorage__credential=managedidentity and "
        "AzureWebJobsStorage__clientId)"
    ]


def test_poll_interval_must_be_shorter_than_the_run() -> None:
    problems = problems_for(
        {
            "AzureWebJobsStorage": SECRET,
            "HAYMAKER_RUN_DURATION": "PT10M",
            "HAYMAKER_POLL_INTERVAL": "PT10M",
        }
    )
    assert problems == [
        "HAYMAKER_POLL_INTERVAL: PT10M must be shorter than HAYMAKER_RUN_DURATION (PT10M)"
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HAYMAKER_RUN_DURATION", "PT4M"),
        ("HAYMAKER_POLL_INTERVAL", "PT5S"),
        ("HAYMAKER_POLL_INTERVAL", "PT2H"),
        ("HAYMAKER_MAX_PARALLEL_AGENTS", "51"),
    ],
)
def test_values_outside_their_range_are_refused(name: str, value: str) -> None:
    problems = problems_for({"AzureWebJobsStorage": SECRET, name: value})
    assert any(p.startswith(f"{name}: ") and "out of range" in p for p in problems), problems


def test_schedules_are_checked_as_ncrontab() -> None:
    problems = problems_for(
        {"AzureWebJobsStorage": SECRET, "HAYMAKER_SCHEDULE_EUROPE": "0 0 31 2 *"}
    )
    assert len(problems) == 1
    assert problems[0].startswith("HAYMAKER_SCHEDULE_EUROPE: ")


def test_the_storage_secret_never_appears_in_errors_or_repr() -> None:
    secret = "AccountName=hmstore;AccountKey" + "=c2VjcmV0LWtleQ;broken"
    with pytest.raises(SettingsError) as caught:
        load_settings({"AzureWebJobsStorage": secret, "HAYMAKER_RUN_SIZE": "huge"})
    assert "c2VjcmV0LWtleQ" not in str(caught.value)
    assert "AzureWebJobsStorage" in str(caught.value)

    settings = load_settings({"AzureWebJobsStorage": SECRET})
    assert "c2VjcmV0LWtleQ" not in repr(settings)
    assert "c2VjcmV0LWtleQ" not in str(settings)
    assert (
        settings.redacted()["storage"] == "connection string: account hmstore (secrets not shown)"
    )
    assert "c2VjcmV0LWtleQ" not in str(settings.redacted())


def test_the_azure_provider_needs_its_own_settings_each_named() -> None:
    problems = problems_for({"AzureWebJobsStorage": SECRET, "HAYMAKER_PROVIDER": "azure"})
    assert [p.split(":", 1)[0] for p in problems] == [
        name for name in AZURE if name != "HAYMAKER_PROVIDER"
    ]
    assert all("required when HAYMAKER_PROVIDER is azure" in p for p in problems)


def test_a_complete_azure_configuration_loads() -> None:
    settings = load_settings({"AzureWebJobsStorage": SECRET, **AZURE})
    assert settings.azure == AzureSettings(
        subscription_id=AZURE["HAYMAKER_AZURE_SUBSCRIPTION_ID"],
        tenant_id=AZURE["HAYMAKER_AZURE_TENANT_ID"],
        key_vault_url="https://hm-vault.vault.azure.net",
        container_apps_environment_id=AZURE["HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID"],
        agent_image=AZURE["HAYMAKER_AGENT_IMAGE"],
        location="westeurope",
        agent_job_identity_id=AZURE["HAYMAKER_AGENT_JOB_IDENTITY_ID"],
        # The jobs go to the environment's group unless told otherwise.
        agent_jobs_resource_group="haymaker",
    )
    assert settings.redacted()["azure.location"] == "westeurope"
    assert settings.azure.arm_endpoint == "https://management.azure.com"
    assert settings.azure.verify_key_vault_challenge is True


def test_azure_endpoints_can_point_elsewhere_but_only_over_https() -> None:
    overrides = {
        "HAYMAKER_AZURE_ARM_ENDPOINT": "https://management.usgovcloudapi.net/",
        "HAYMAKER_AZURE_GRAPH_ENDPOINT": "https://127.0.0.1:8443",
        "HAYMAKER_KEY_VAULT_VERIFY_CHALLENGE": "false",
    }
    azure = load_settings({"AzureWebJobsStorage": SECRET, **AZURE, **overrides}).azure
    assert azure is not None
    assert azure.arm_endpoint == "https://management.usgovcloudapi.net"
    assert azure.graph_endpoint == "https://127.0.0.1:8443"
    assert azure.verify_key_vault_challenge is False
    plain = {"HAYMAKER_AZURE_ARM_ENDPOINT": "http://management.azure.com"}
    assert [
        p.split(":", 1)[0] for p in problems_for({"AzureWebJobsStorage": SECRET, **AZURE, **plain})
    ] == ["HAYMAKER_AZURE_ARM_ENDPOINT"]


@pytest.mark.parametrize(
    ("image", "accepted"),
    [
        ("hmacr.azurecr.io/haymaker-agent:1.4.2", True),
        ("hmacr.azurecr.io/haymaker-agent@sha256:" + "a" * 64, True),
        ("registry.local:5000/haymaker-agent:2026.11", True),
        ("hmacr.azurecr.io/haymaker-agent:latest", False),
        ("hmacr.azurecr.io/haymaker-agent", False),
        ("registry.local:5000/haymaker-agent", False),
    ],
)
def test_the_agent_image_must_be_pinned(image: str, accepted: bool) -> None:
    environ = {"AzureWebJobsStorage": SECRET, **AZURE, "HAYMAKER_AGENT_IMAGE": image}
    if accepted:
        assert load_settings(environ).azure is not None
    else:
        assert [p.split(":", 1)[0] for p in problems_for(environ)] == ["HAYMAKER_AGENT_IMAGE"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HAYMAKER_AZURE_SUBSCRIPTION_ID", "my-subscription"),
        ("HAYMAKER_AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
        ("HAYMAKER_KEY_VAULT_URL", "hm-vault"),
        ("HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID", "haymaker-env"),
        ("HAYMAKER_LOCATION", "West Europe"),
    ],
)
def test_azure_values_of_the_wrong_shape_are_refused(name: str, value: str) -> None:
    problems = problems_for({"AzureWebJobsStorage": SECRET, **AZURE, name: value})
    assert [p.split(":", 1)[0] for p in problems] == [name]


def test_the_run_cost_budget_is_an_optional_positive_amount() -> None:
    base = {"AzureWebJobsStorage": SECRET}
    assert load_settings(base).max_run_cost_usd is None
    assert load_settings({**base, "HAYMAKER_MAX_RUN_COST_USD": "12.50"}).max_run_cost_usd == 12.5
    for bad in ("ten", "-5", "0", "1e3"):
        problems = problems_for({**base, "HAYMAKER_MAX_RUN_COST_USD": bad})
        assert problems == [
            f"HAYMAKER_MAX_RUN_COST_USD: {bad!r} is not a positive amount (e.g. 25 or 12.50)"
        ]
