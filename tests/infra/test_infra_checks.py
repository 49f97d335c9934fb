"""haymaker.infra_checks catches each way the deployment files can go wrong.

Each test breaks one thing in a scratch copy of the deployment files and asserts that the
check named for it fails, and says where; the unbroken copy passes every check.
"""

from __future__ import annotations

import json
from pathlib import Path

from haymaker.infra_checks import check_infra, image_reference_problem
from tests.infra.helpers import edit, failures

ENV_MODULE = "infra/core/container-apps-environment.bicep"
MAIN = "infra/main.bicep"


def test_an_unbroken_copy_passes_and_every_result_has_the_doctor_shape(repo: Path) -> None:
    results = check_infra(repo)
    assert failures(repo) == {}
    assert all(set(r) == {"check", "ok", "message", "fix"} for r in results)
    assert {r["check"] for r in results} >= {
        "workload-profile-capacity",
        "immutable-image-references",
        "identity-based-storage-settings",
    }


def test_a_tree_without_infra_fails_with_one_clear_item(tmp_path: Path) -> None:
    [result] = check_infra(tmp_path)
    assert result["check"] == "infra-present" and not result["ok"] and result["fix"]


def test_maximum_count_of_one_in_a_parameter_file_fails(repo: Path) -> None:
    path = repo / "infra/env/dev.parameters.json"
    data = json.loads(path.read_text())
    data["parameters"]["orchestratorProfileMaximumCount"]["value"] = 1
    path.write_text(json.dumps(data))
    message = failures(repo)["workload-profile-capacity"]["message"]
    assert "maximumCount 1" in message and "dev.parameters.json" in message


def test_maximum_count_default_of_one_fails(repo: Path) -> None:
    edit(
        repo / MAIN,
        "param orchestratorProfileMaximumCount int = 2",
        "param orchestratorProfileMaximumCount int = 1",
    )
    assert "maximumCount 1" in failures(repo)["workload-profile-capacity"]["message"]


def test_maximum_count_without_min_value_guard_fails(repo: Path) -> None:
    edit(
        repo / MAIN,
        "@minValue(2)\nparam orchestratorProfileMaximumCount",
        "param orchestratorProfileMaximumCount",
    )
    assert "lacks @minValue(2)" in failures(repo)["workload-profile-capacity"]["message"]


def test_literal_maximum_count_of_one_fails(repo: Path) -> None:
    edit(repo / ENV_MODULE, "maximumCount: orchestratorProfileMaximumCount", "maximumCount: 1")
    assert "maximumCount 1" in failures(repo)["workload-profile-capacity"]["message"]


def test_function_app_on_a_profile_that_does_not_exist_fails(repo: Path) -> None:
    edit(
        repo / MAIN,
        "var orchestratorProfileName = 'orchestrator'",
        "var orchestratorProfileName = 'orchestrator'\nvar elsewhere = 'E99'",
    )
    edit(
        repo / MAIN,
        "workloadProfileName: orchestratorProfileName",
        "workloadProfileName: elsewhere",
    )
    assert "is not defined" in failures(repo)["workload-profile-capacity"]["message"]


def test_shared_key_access_fails(repo: Path) -> None:
    edit(
        repo / "infra/core/storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAccess: true",
    )
    assert (
        "allowSharedKeyAccess is True" in failures(repo)["storage-shared-keys-disabled"]["message"]
    )


def test_missing_identity_setting_fails(repo: Path) -> None:
    edit(
        repo / "infra/app/orchestrator.bicep",
        "  AzureWebJobsStorage__credential: 'managedidentity'\n",
        "",
    )
    message = failures(repo)["identity-based-storage-settings"]["message"]
    assert "AzureWebJobsStorage__credential" in message


def test_connection_string_setting_fails(repo: Path) -> None:
    edit(
        repo / "infra/app/orchestrator.bicep",
        "  FUNCTIONS_WORKER_RUNTIME: 'python'\n",
        "  FUNCTIONS_WORKER_RUNTIME: 'python'\n"
        "  AzureWebJobsStorage: 'AccountName=x;AccountKey=${storageAccountName}'\n",
    )
    assert (
        "sets AzureWebJobsStorage" in failures(repo)["identity-based-storage-settings"]["message"]
    )


def test_reading_account_keys_in_the_deploy_script_fails(repo: Path) -> None:
    edit(
        repo / "scripts/deploy.sh",
        "step_check() {\n",
        "step_check() {\n  az storage account keys list -n x -o tsv\n",
    )
    assert "scripts/deploy.sh" in failures(repo)["identity-based-storage-settings"]["message"]


def test_latest_image_default_fails(repo: Path) -> None:
    edit(
        repo / MAIN,
        "param functionAppImage string = ''",
        "param functionAppImage string = 'cr.azurecr.io/haymaker:latest'",
    )
    message = failures(repo)["immutable-image-references"]["message"]
    assert "functionAppImage" in message and ":latest" in message


def test_untagged_image_in_a_parameter_file_fails(repo: Path) -> None:
    path = repo / "infra/env/prod.parameters.json"
    data = json.loads(path.read_text())
    data["parameters"]["functionAppImage"] = {"value": "cr.azurecr.io/haymaker"}
    path.write_text(json.dumps(data))
    message = failures(repo)["immutable-image-references"]["message"]
    assert "prod.parameters.json" in message and "no tag" in message


def test_latest_base_image_fails(repo: Path) -> None:
    edit(repo / "Dockerfile", "python:4-python3.11", "python:latest")
    assert "Dockerfile" in failures(repo)["immutable-image-references"]["message"]


def test_latest_in_the_workflow_fails(repo: Path) -> None:
    edit(
        repo / ".github/workflows/deploy.yml",
        "      - uses: actions/checkout@v4\n",
        "      - uses: actions/checkout@v4\n"
        "      - run: docker pull x.azurecr.io/haymaker:latest\n",
    )
    assert "deploy.yml" in failures(repo)["immutable-image-references"]["message"]


def test_image_reference_rules() -> None:
    assert image_reference_problem("cr.azurecr.io/haymaker:3f2a1b9c") is None
    assert image_reference_problem("cr.azurecr.io/haymaker@sha256:" + "a" * 64) is None
    assert image_reference_problem("localhost:5000/haymaker") == "no tag (means :latest)"
    assert image_reference_problem("cr.azurecr.io/haymaker:latest") == "the :latest tag"


def test_role_assignment_not_named_by_guid_fails(repo: Path) -> None:
    edit(
        repo / "infra/core/keyvault.bicep",
        "name: guid(vault.id, principalId, keyVaultSecretsOfficer)",
        "name: 'secrets-officer'",
    )
    assert "keyvault.bicep:secretsOfficer" in failures(repo)["role-assignments"]["message"]


def test_owner_at_subscription_scope_fails(repo: Path) -> None:
    path = repo / "infra/app/target-subscription-roles.bicep"
    path.write_text(
        path.read_text()
        + """
// Owner
var owner = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635'

resource ownerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, owner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', owner)
    principalId: principalId
  }
}
"""
    )
    assert "assigns Owner" in failures(repo)["role-assignments"]["message"]


def test_unconditioned_rbac_administrator_at_subscription_fails(repo: Path) -> None:
    edit(
        repo / "infra/app/target-subscription-roles.bicep",
        "    condition: '${writeCondition} AND ${deleteCondition}'\n",
        "",
    )
    assert "without condition" in failures(repo)["role-assignments"]["message"]


def test_custom_role_that_can_assign_roles_fails(repo: Path) -> None:
    edit(
        repo / "infra/app/agent-jobs-role.bicep",
        "          'Microsoft.App/jobs/*'\n",
        "          'Microsoft.App/jobs/*'\n          'Microsoft.Authorization/*'\n",
    )
    assert "Microsoft.Authorization/*" in failures(repo)["role-assignments"]["message"]


def test_role_id_without_comment_fails(repo: Path) -> None:
    edit(repo / "infra/core/registry.bicep", "// AcrPull: pull images, nothing else.\n", "")
    assert "registry.bicep" in failures(repo)["role-ids-commented"]["message"]


def test_undocumented_and_unused_parameters_fail(repo: Path) -> None:
    edit(
        repo / "infra/core/identity.bicep",
        "param tags object\n",
        "param tags object\n\nparam forgotten string = 'x'\n",
    )
    found = failures(repo)
    assert "parameter forgotten" in found["parameters-documented"]["message"]
    assert "forgotten is never used" in found["parameters-used"]["message"]


def test_module_pointing_at_a_missing_file_fails(repo: Path) -> None:
    edit(repo / MAIN, "module registry 'core/registry.bicep'", "module registry 'core/acr.bicep'")
    assert "core/acr.bicep does not exist" in failures(repo)["modules-resolve"]["message"]


def test_module_given_an_unknown_parameter_fails(repo: Path) -> None:
    edit(
        repo / MAIN,
        "    name: 'id-haymaker-${resourceToken}'\n",
        "    name: 'id-haymaker-${resourceToken}'\n    color: 'blue'\n",
    )
    assert "unknown parameter color" in failures(repo)["modules-resolve"]["message"]


def test_missing_module_output_fails(repo: Path) -> None:
    edit(
        repo / MAIN,
        "storageAccountName: storage.outputs.name",
        "storageAccountName: storage.outputs.accountName",
    )
    assert (
        "storage.outputs.accountName missing" in failures(repo)["module-outputs-exist"]["message"]
    )


def test_output_that_returns_a_name_for_a_connection_string_fails(repo: Path) -> None:
    edit(
        repo / MAIN,
        "string = monitoring.outputs.applicationInsightsConnectionString",
        "string = monitoring.outputs.applicationInsightsName",
    )
    message = failures(repo)["outputs-return-what-they-say"]["message"]
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in message


def test_parameter_file_naming_an_unknown_parameter_fails(repo: Path) -> None:
    path = repo / "infra/env/staging.parameters.json"
    data = json.loads(path.read_text())
    data["parameters"]["orchestratorMaxCount"] = {"value": 2}
    path.write_text(json.dumps(data))
    assert "unknown parameter orchestratorMaxCount" in failures(repo)["parameter-files"]["message"]


def test_missing_environment_parameter_file_fails(repo: Path) -> None:
    (repo / "infra/env/prod.parameters.json").unlink()
    found = failures(repo)
    assert "prod.parameters.json is missing" in found["parameter-files"]["message"]
    assert "environment prod" in found["referenced-files-exist"]["message"]


def test_missing_dockerfile_is_reported_where_it_is_referenced(repo: Path) -> None:
    (repo / "Dockerfile").unlink()
    message = failures(repo)["referenced-files-exist"]["message"]
    assert "docker path ./Dockerfile" in message
    assert "scripts/deploy.sh references Dockerfile" in message


def test_workflow_naming_a_missing_script_fails(repo: Path) -> None:
    edit(
        repo / ".github/workflows/deploy.yml",
        "run: scripts/deploy.sh check",
        "run: scripts/predeploy.sh check",
    )
    assert "scripts/predeploy.sh" in failures(repo)["referenced-files-exist"]["message"]


def test_a_bicep_syntax_error_is_reported_with_its_file(repo: Path) -> None:
    edit(repo / "infra/core/identity.bicep", "resource identity", "resource identity identity")
    assert "identity.bicep" in failures(repo)["bicep-parses"]["message"]
