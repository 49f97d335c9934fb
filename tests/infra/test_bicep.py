"""The Bicep itself, parsed with pycep: what the deployment creates and how it is wired.

Bicep cannot be compiled here (no bicep CLI, no Azure); a parser reads every file, and the
tests assert the properties that broke the upstream deployment or that the design needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from haymaker.bicep_model import parse_bicep
from haymaker.infra_checks import check_infra
from tests.infra.helpers import ROOT

INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


def parse(relative: str) -> dict[str, Any]:
    return parse_bicep((INFRA / relative).read_text(encoding="utf-8"))


def resource(model: dict[str, Any], symbol: str) -> dict[str, Any]:
    config = model["resources"][symbol]["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return dict(config)


def accessor(symbol: str, *chain: str) -> dict[str, Any]:
    """The parsed form of `symbol.a.b...` (pycep nests property access to the right)."""
    value: Any = chain[-1]
    for name in reversed(chain[:-1]):
        value = {
            "operator": {
                "type": "property_accessor",
                "operands": {"operand_1": name, "operand_2": value},
            }
        }
    return {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": symbol, "operand_2": value},
        }
    }


def test_there_are_bicep_files_in_the_azd_layout() -> None:
    names = {str(p.relative_to(INFRA)) for p in BICEP_FILES}
    assert "main.bicep" in names
    assert all(n == "main.bicep" or n.startswith(("app/", "core/")) for n in names), names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    model = parse_bicep(path.read_text(encoding="utf-8"))
    assert model.get("resources") or model.get("modules"), f"{path} declares nothing"


def test_every_infra_check_passes_on_this_repository() -> None:
    failed = [c for c in check_infra(ROOT) if not c["ok"]]
    assert failed == [], json.dumps(failed, indent=2)


def test_main_is_subscription_scoped_and_names_come_from_a_resource_token() -> None:
    main = parse("main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    token = main["variables"]["resourceToken"]["value"]["function"]
    assert token["type"] == "to_lower"
    assert token["parameters"]["string_to_change"]["function"]["type"] == "unique_string"
    text = (INFRA / "main.bicep").read_text()
    for prefix in ("id-haymaker-", "sthaymaker", "kv-hm-", "crhaymaker", "cae-haymaker-"):
        assert f"'{prefix}${{resourceToken}}'" in text, prefix


def test_function_app_is_azure_functions_on_container_apps_on_the_dedicated_profile() -> None:
    app = resource(parse("app/orchestrator.bicep"), "app")
    assert app["kind"] == "functionapp"
    assert app["identity"]["type"] == "UserAssigned"
    assert app["properties"]["workloadProfileName"] == "workloadProfileName"
    assert app["properties"]["configuration"]["activeRevisionsMode"] == "Multiple"
    main = parse("main.bicep")
    params = main["modules"]["orchestrator"]["config"]["config"]["params"]
    assert params["workloadProfileName"] == "orchestratorProfileName"
    assert main["variables"]["orchestratorProfileName"]["value"] == "orchestrator"
    assert main["parameters"]["orchestratorProfileType"]["default"] == "E16"
    maximum = main["parameters"]["orchestratorProfileMaximumCount"]
    assert maximum["default"] >= 2
    assert {"type": "min_value", "argument": 2} in maximum["decorators"]


def test_environment_has_a_consumption_profile_and_dedicated_profiles() -> None:
    environment = resource(parse("core/container-apps-environment.bicep"), "environment")
    profiles = environment["properties"]["workloadProfiles"]
    assert {"name": "Consumption", "workloadProfileType": "Consumption"} in profiles
    dedicated = [p for p in profiles if p["name"] != "Consumption"]
    assert [p["name"] for p in dedicated] == ["orchestratorProfileName", "agentProfileName"]
    assert dedicated[0]["maximumCount"] == "orchestratorProfileMaximumCount"


def test_storage_takes_no_shared_key_and_the_identity_gets_data_roles() -> None:
    model = parse("core/storage.bicep")
    assert resource(model, "storage")["properties"]["allowSharedKeyAccess"] is False
    roles = model["variables"]["roles"]["value"]
    assert set(roles) == {"blobDataOwner", "queueDataContributor", "tableDataContributor"}


def test_host_storage_settings_are_identity_based() -> None:
    settings = parse("app/orchestrator.bicep")["variables"]["runtimeSettings"]["value"]
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings


def test_every_haymaker_setting_of_the_sample_is_set_in_azure() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    main = parse("main.bicep")
    passed = main["modules"]["orchestrator"]["config"]["config"]["params"]["haymakerSettings"]
    wanted = {name for name in sample if name.startswith("HAYMAKER_")}
    assert wanted <= set(passed), wanted - set(passed)
    azure_only = {
        "HAYMAKER_AZURE_SUBSCRIPTION_ID",
        "HAYMAKER_AZURE_TENANT_ID",
        "HAYMAKER_KEY_VAULT_URL",
        "HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID",
        "HAYMAKER_AGENT_IMAGE",
        "HAYMAKER_LOCATION",
    }
    assert azure_only <= set(passed)
    assert passed["HAYMAKER_PROVIDER"] == "azure"


def test_application_insights_connection_string_is_the_components_output() -> None:
    monitoring = parse("core/monitoring.bicep")
    output = monitoring["outputs"]["applicationInsightsConnectionString"]["value"]
    assert output == accessor("applicationInsights", "properties", "ConnectionString")
    main = parse("main.bicep")
    params = main["modules"]["orchestrator"]["config"]["config"]["params"]
    wired = accessor("monitoring", "outputs", "applicationInsightsConnectionString")
    assert params["applicationInsightsConnectionString"] == wired
    assert main["outputs"]["APPLICATIONINSIGHTS_CONNECTION_STRING"]["value"] == wired
    settings = parse("app/orchestrator.bicep")["variables"]["runtimeSettings"]["value"]
    assert (
        settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "applicationInsightsConnectionString"
    )


def test_key_vault_is_in_rbac_mode() -> None:
    vault = resource(parse("core/keyvault.bicep"), "vault")
    assert vault["properties"]["enableRbacAuthorization"] is True


def test_subscription_roles_never_include_owner_or_user_access_administrator() -> None:
    model = parse("app/target-subscription-roles.bicep")
    assert model["globals"]["scope"]["value"] == "subscription"
    text = (INFRA / "app/target-subscription-roles.bicep").read_text()
    assert "8e3af657-a8ff-443c-a75c-2fe8c4bcb635" not in text  # Owner
    assert "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9" not in text  # User Access Administrator
    rbac_admin = resource(model, "constrainedRbacAdministrator")["properties"]
    assert rbac_admin["conditionVersion"] == "2.0"
    assert rbac_admin["condition"]


def test_no_image_parameter_defaults_to_an_image() -> None:
    for path in BICEP_FILES:
        model = parse_bicep(path.read_text(encoding="utf-8"))
        for name, param in model.get("parameters", {}).items():
            if "image" in name.lower():
                assert param.get("default") in (None, ""), f"{path}: {name}"


def test_dockerfile_is_on_the_official_functions_python_image() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert [ln for ln in lines if ln.startswith("FROM ")] == [
        "FROM mcr.microsoft.com/azure-functions/python:4-python3.11"
    ]
