"""Offline checks of the deployment files: infra/*.bicep, their parameter files, azure.yaml,
the Dockerfile, the deploy workflow and script.

Bicep cannot be compiled here, so each `.bicep` file is parsed with pycep (a Bicep parser)
and the properties that broke the upstream deployment are asserted on the parsed files:
the workload profile the function app's revisions run on can hold two revisions
(`maximumCount >= 2`), storage takes no shared keys and the host reaches it through
identity-based `AzureWebJobsStorage__*` settings, and no image reference moves (`:latest`).
Plus the hygiene a reviewer would otherwise check by eye: role assignments, parameters,
module paths and outputs, and the files the deploy entry points name.

`check_infra(repo_root)` returns one dict per check: `{"check", "ok", "message", "fix"}`;
`haymaker doctor` shows the same items.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from haymaker.bicep_model import (
    GUID,
    BicepFile,
    BicepTree,
    function_type,
    identifiers,
    output_references,
    settings_in,
    strings,
)

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
ENVIRONMENTS = ("dev", "staging", "prod")
STORAGE_SETTINGS = {
    "AzureWebJobsStorage__accountName": None,
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": None,
}
# Output name endings and what their value must mention to return what the name says.
OUTPUT_SUFFIXES = {
    "connectionstring": ("connectionstring",),
    "principalid": ("principalid",),
    "clientid": ("clientid",),
    "name": ("name",),
    "id": ("id",),
    "uri": ("uri", "fqdn"),
    "endpoint": ("uri", "endpoint", "loginserver", "fqdn"),
}
WORKFLOW = Path(".github/workflows/deploy.yml")
DEPLOY_SCRIPT = Path("scripts/deploy.sh")
PATH_TOKEN = re.compile(
    r"(?<![\w$/.-])((?:infra|scripts|haymaker|tests|\.github)/[\w./-]*\w|Dockerfile|"
    r"expected_functions\.json|azure\.yaml|requirements\.txt|host\.json)(?![\w$/-])"
)

Check = dict[str, Any]
# What each check established when it passes (the doctor prints it).
PASSED = {
    "bicep-parses": "every infra/**/*.bicep file parses",
    "workload-profile-capacity": "the function app's workload profile has maximumCount >= 2 "
    "in every default and parameter file, guarded by @minValue(2)",
    "storage-shared-keys-disabled": "every storage account has allowSharedKeyAccess: false",
    "identity-based-storage-settings": "AzureWebJobsStorage__accountName/__credential/"
    "__clientId set; no connection string or account key anywhere",
    "immutable-image-references": "no :latest or untagged image in Bicep, parameter files, "
    "Dockerfile, workflow or deploy script; no default image",
    "role-assignments": "assignments named guid(...), no Owner or User Access Administrator, "
    "RBAC Administrator only with a condition",
    "role-ids-commented": "every role id carries a comment naming the role",
    "parameters-documented": "every parameter has @description",
    "parameters-used": "every parameter is used",
    "modules-resolve": "every module file exists and gets exactly its parameters",
    "module-outputs-exist": "every module output referenced is declared",
    "outputs-return-what-they-say": "every output's value matches its name",
    "parameter-files": "main.parameters.json and dev/staging/prod parameter files match main.bicep",
    "referenced-files-exist": "azure.yaml, the workflow and the deploy script name existing files",
}


def check_infra(repo_root: Path) -> list[Check]:
    """Every deployment check, in a stable order; each is `{check, ok, message, fix}`."""
    root = Path(repo_root)
    if not (root / "infra").is_dir():
        return [
            _result("infra-present", [f"no infra/ folder in {root}"], "Add infra/ (azd layout).")
        ]
    try:
        import pycep  # noqa: F401 - the Bicep parser is a dev dependency
    except ModuleNotFoundError:
        return [
            _result(
                "bicep-parser",
                ["pycep-parser is not installed"],
                "pip install -e '.[dev]' (pycep-parser parses the Bicep files)",
            )
        ]
    return Infra(root).run()


def _result(name: str, problems: list[str], fix: str) -> Check:
    return {
        "check": name,
        "ok": not problems,
        "message": "; ".join(problems) if problems else PASSED.get(name, "ok"),
        "fix": fix if problems else "",
    }


def image_reference_problem(reference: str) -> str | None:
    """Why an image reference may move under a deployment, or None if it is pinned."""
    name, _, digest = reference.partition("@")
    if digest:
        return None if re.fullmatch(r"sha256:[0-9a-f]{64}", digest) else "malformed digest"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return "no tag (means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return "the :latest tag"
    return None


class Infra(BicepTree):
    """The deployment checks over the parsed tree."""

    def run(self) -> list[Check]:
        checks = [
            ("bicep-parses", self.bicep_parses, "Fix the syntax the parser names."),
            (
                "workload-profile-capacity",
                self.workload_profile_capacity,
                "Give the function app's dedicated workload profile maximumCount >= 2 "
                "(a parameter with @minValue(2)), so a new revision can start beside the old.",
            ),
            (
                "storage-shared-keys-disabled",
                self.storage_shared_keys,
                "Set allowSharedKeyAccess: false on every storage account.",
            ),
            (
                "identity-based-storage-settings",
                self.identity_storage_settings,
                "Set AzureWebJobsStorage__accountName, __credential=managedidentity and "
                "__clientId on the function app; remove connection strings and account keys.",
            ),
            (
                "immutable-image-references",
                self.immutable_images,
                "Reference images by a tag that never moves (the git sha) or a digest; "
                "never :latest or an untagged name, and no default image parameter.",
            ),
            (
                "role-assignments",
                self.role_assignments,
                "Name assignments guid(scope, principal, role); assign at resource group or "
                "resource scope; never Owner or User Access Administrator; condition any "
                "RBAC Administrator assignment.",
            ),
            (
                "role-ids-commented",
                self.role_ids_commented,
                "Put a // comment naming the role on (or just above) each role id.",
            ),
            (
                "parameters-documented",
                self.parameters_documented,
                "Add @description(...) to each parameter.",
            ),
            ("parameters-used", self.parameters_used, "Use each parameter or remove it."),
            (
                "modules-resolve",
                self.modules_resolve,
                "Point each module at an existing file and pass exactly its parameters.",
            ),
            (
                "module-outputs-exist",
                self.module_outputs_exist,
                "Reference only outputs the module declares.",
            ),
            (
                "outputs-return-what-they-say",
                self.outputs_match_names,
                "Make each output's value the thing its name promises.",
            ),
            (
                "parameter-files",
                self.parameter_files,
                "Keep infra/main.parameters.json and infra/env/{dev,staging,prod}."
                "parameters.json in step with infra/main.bicep.",
            ),
            (
                "referenced-files-exist",
                self.referenced_files,
                "Create the missing files or fix the references.",
            ),
        ]
        return [_result(name, probe(), fix) for name, probe, fix in checks]

    # --- checks ---------------------------------------------------------------------

    def bicep_parses(self) -> list[str]:
        if not self.files and not self.parse_errors:
            return ["no .bicep files under infra/"]
        return list(self.parse_errors)

    def workload_profile_capacity(self) -> list[str]:
        apps = list(self.function_apps())
        if not apps:
            return ["no function app (Microsoft.App/containerApps of kind functionapp) found"]
        problems = []
        for bicep, symbol, config in apps:
            where = f"{self.rel(bicep.path)}:{symbol}"
            profile_expr = config.get("properties", {}).get("workloadProfileName")
            if profile_expr is None:
                problems.append(f"{where} sets no workloadProfileName (runs on Consumption)")
                continue
            names = {str(v) for v, _ in self.resolve(bicep, profile_expr)}
            profiles = [
                (env_file, profile)
                for env_file, profile in self.workload_profiles()
                if names & {str(v) for v, _ in self.resolve(env_file, profile.get("name"))}
            ]
            if not profiles:
                problems.append(f"{where}: workload profile {sorted(names)} is not defined")
            for env_file, profile in profiles:
                problems += self._capacity_problems(env_file, profile, where)
        return problems

    def _capacity_problems(
        self, env_file: BicepFile, profile: dict[str, Any], where: str
    ) -> list[str]:
        traversed: list[tuple[BicepFile, str]] = []
        values = self.resolve(env_file, profile.get("maximumCount"), traversed)
        problems = [
            f"{where}: maximumCount {value} ({source}) < 2"
            for value, source in values
            if not isinstance(value, int) or value < 2
        ]
        if not values:
            problems.append(f"{where}: the profile has no maximumCount")
        for bicep, param in traversed:
            minimum = bicep.decorator(param, "min_value")
            if minimum is None or minimum < 2:
                problems.append(
                    f"{self.rel(bicep.path)}: parameter {param} (maximumCount) lacks @minValue(2)"
                )
        return problems

    def storage_shared_keys(self) -> list[str]:
        problems = []
        accounts = 0
        for bicep in self.files.values():
            for symbol, resource in bicep.resources():
                if resource["type"] != "Microsoft.Storage/storageAccounts" or resource["existing"]:
                    continue
                accounts += 1
                value = resource["config"].get("properties", {}).get("allowSharedKeyAccess")
                if value is not False:
                    problems.append(
                        f"{self.rel(bicep.path)}:{symbol} allowSharedKeyAccess is {value!r}"
                    )
        return problems if accounts else ["no storage account defined"]

    def identity_storage_settings(self) -> list[str]:
        problems = []
        apps = list(self.function_apps())
        for bicep, symbol, _ in apps:
            settings = settings_in(bicep.model)
            for name, expected in STORAGE_SETTINGS.items():
                if name not in settings:
                    problems.append(f"{self.rel(bicep.path)}:{symbol} does not set {name}")
                elif expected is not None and settings[name] != expected:
                    problems.append(f"{name} is {settings[name]!r}, not {expected!r}")
        for bicep in self.files.values():
            for name in settings_in(bicep.model):
                if name.lower() == "azurewebjobsstorage":
                    problems.append(f"{self.rel(bicep.path)} sets AzureWebJobsStorage")
            if re.search(r"\blistKeys\(", bicep.text):
                problems.append(f"{self.rel(bicep.path)} reads account keys (listKeys)")
        for path in self.deploy_text_files():
            text = path.read_text(encoding="utf-8")
            if re.search(
                r"AzureWebJobsStorage\s*[=:]|AccountKey=|listKeys|storage account keys", text
            ):
                problems.append(f"{self.rel(path)} sets a storage connection string or key")
        return problems

    def immutable_images(self) -> list[str]:
        problems = []
        for bicep in self.files.values():
            for name in bicep.params:
                default = bicep.default(name)
                if "image" in name.lower() and isinstance(default, str) and default:
                    problems.append(
                        f"{self.rel(bicep.path)}: parameter {name} has a default image {default!r}"
                    )
            body = {key: value for key, value in bicep.model.items() if key != "metadata"}
            for text in strings(body):
                if re.search(r":latest\b", text):
                    problems.append(f"{self.rel(bicep.path)} references {text!r}")
        for path, parameters in self.parameter_file_values().items():
            for name, value in parameters.items():
                if not isinstance(value, str) or not value or value.startswith("${"):
                    continue
                problem = image_reference_problem(value) if "image" in name.lower() else None
                if problem or re.search(r":latest\b", value):
                    problems.append(
                        f"{self.rel(path)}: {name} = {value!r} ({problem or ':latest'})"
                    )
        dockerfile = self.root / "Dockerfile"
        if dockerfile.exists():
            for line in dockerfile.read_text(encoding="utf-8").splitlines():
                if line.strip().upper().startswith("FROM "):
                    image = line.split()[1]
                    problem = image_reference_problem(image)
                    if problem:
                        problems.append(f"Dockerfile: FROM {image} ({problem})")
        for path in self.deploy_text_files():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r":latest\b", line):
                    problems.append(f"{self.rel(path)}:{number} uses :latest")
        return problems

    def role_assignments(self) -> list[str]:
        problems = []
        for bicep in self.files.values():
            for symbol, resource in bicep.resources():
                where = f"{self.rel(bicep.path)}:{symbol}"
                config = resource["config"]
                if resource["type"] == "Microsoft.Authorization/roleDefinitions":
                    problems += self._custom_role_problems(where, config)
                if resource["type"] != "Microsoft.Authorization/roleAssignments":
                    continue
                if function_type(config.get("name")) != "guid":
                    problems.append(f"{where} is not named guid(scope, principal, role)")
                properties = config.get("properties", {})
                roles = self.guids_in(bicep, properties.get("roleDefinitionId"), resource)
                if roles & {OWNER, USER_ACCESS_ADMINISTRATOR}:
                    problems.append(f"{where} assigns Owner or User Access Administrator")
                at_subscription = bicep.scope != "resourceGroup" and "scope" not in config
                if (
                    at_subscription
                    and RBAC_ADMINISTRATOR in roles
                    and not properties.get("condition")
                ):
                    problems.append(
                        f"{where}: RBAC Administrator at subscription without condition"
                    )
                scope = config.get("scope")
                resources = bicep.model.get("resources", {})
                if (
                    bicep.scope == "resourceGroup"
                    and isinstance(scope, str)
                    and scope not in resources
                ):
                    problems.append(f"{where} is scoped to {scope!r}")
        return problems

    @staticmethod
    def _custom_role_problems(where: str, config: dict[str, Any]) -> list[str]:
        problems = []
        for permission in config.get("properties", {}).get("permissions", []):
            for action in permission.get("actions", []):
                if action in ("*", "*/write") or action.lower().startswith(
                    ("microsoft.authorization/*", "microsoft.authorization/roleassignments/write")
                ):
                    problems.append(f"{where} custom role grants {action!r}")
        return problems

    def role_ids_commented(self) -> list[str]:
        problems = []
        for bicep in self.files.values():
            lines = bicep.text.splitlines()
            for number, line in enumerate(lines):
                if not re.search(r"'" + GUID.pattern + "'", line) or "//" in line:
                    continue
                previous = lines[number - 1].strip() if number else ""
                if not previous.startswith("//"):
                    problems.append(f"{self.rel(bicep.path)}:{number + 1} role id without comment")
        return problems

    def parameters_documented(self) -> list[str]:
        return [
            f"{self.rel(bicep.path)}: parameter {name}"
            for bicep in self.files.values()
            for name in bicep.params
            if not bicep.decorator(name, "description")
        ]

    def parameters_used(self) -> list[str]:
        problems = []
        for bicep in self.files.values():
            body = {key: value for key, value in bicep.model.items() if key != "parameters"}
            used = identifiers(body)
            for param in bicep.params.values():
                used |= identifiers(param.get("default"))
            problems += [
                f"{self.rel(bicep.path)}: parameter {name} is never used"
                for name in bicep.params
                if name not in used
            ]
        return problems

    def modules_resolve(self) -> list[str]:
        problems = []
        for bicep in self.files.values():
            for symbol, path, config in bicep.modules():
                if path is None:
                    continue
                where = f"{self.rel(bicep.path)}:{symbol}"
                module = self.files.get(path.resolve())
                if module is None:
                    problems.append(f"{where}: {self.rel(path)} does not exist or does not parse")
                    continue
                passed = set(config.get("params", {}))
                declared = set(module.params)
                required = {name for name in declared if module.default(name) is None}
                problems += [f"{where} passes unknown parameter {n}" for n in passed - declared]
                problems += [f"{where} omits required parameter {n}" for n in required - passed]
        return problems

    def module_outputs_exist(self) -> list[str]:
        problems = []
        for bicep in self.files.values():
            modules = {symbol: path for symbol, path, _ in bicep.modules() if path is not None}
            for symbol, output in output_references(bicep.model):
                module = self.files.get(modules[symbol].resolve()) if symbol in modules else None
                if module is not None and output not in module.outputs:
                    problems.append(f"{self.rel(bicep.path)}: {symbol}.outputs.{output} missing")
        return problems

    def outputs_match_names(self) -> list[str]:
        problems = []
        for bicep in self.files.values():
            for name, output in bicep.outputs.items():
                words = json.dumps(output["value"]).lower()
                key = name.replace("_", "").lower()
                for suffix, wanted in OUTPUT_SUFFIXES.items():
                    if key.endswith(suffix):
                        if not any(word in words for word in wanted):
                            problems.append(
                                f"{self.rel(bicep.path)}: output {name} does not return a {suffix}"
                            )
                        break
        return problems

    def parameter_files(self) -> list[str]:
        main = self.files.get((self.root / "infra/main.bicep").resolve())
        if main is None:
            return ["infra/main.bicep is missing"]
        if main.scope != "subscription":
            return ["infra/main.bicep is not targetScope = 'subscription'"]
        problems = []
        expected = [self.root / "infra/main.parameters.json"] + [
            self.root / f"infra/env/{env}.parameters.json" for env in ENVIRONMENTS
        ]
        problems += [f"{self.rel(p)} is missing" for p in expected if not p.exists()]
        required = {name for name in main.params if main.default(name) is None}
        for path, values in self.parameter_file_values().items():
            problems += [
                f"{self.rel(path)}: unknown parameter {n}" for n in set(values) - set(main.params)
            ]
            problems += [f"{self.rel(path)}: no value for {n}" for n in required - set(values)]
        return problems

    def referenced_files(self) -> list[str]:
        problems = []
        azure_yaml = self.root / "azure.yaml"
        if not azure_yaml.exists():
            return ["azure.yaml is missing"]
        project = yaml.safe_load(azure_yaml.read_text(encoding="utf-8")) or {}
        infra = project.get("infra", {})
        main = self.root / infra.get("path", "infra") / f"{infra.get('module', 'main')}.bicep"
        if not main.exists():
            problems.append(f"azure.yaml: infra module {self.rel(main)} does not exist")
        for name, service in (project.get("services") or {}).items():
            folder = self.root / service.get("project", ".")
            if not folder.is_dir():
                problems.append(f"azure.yaml: service {name} project {service.get('project')}")
            docker = service.get("docker", {}).get("path")
            if docker and not (folder / docker).exists():
                problems.append(f"azure.yaml: service {name} docker path {docker} does not exist")
        for hook in (project.get("hooks") or {}).values():
            command = str(hook.get("run", "")).split()
            if command and "/" in command[0] and not (self.root / command[0]).exists():
                problems.append(f"azure.yaml: hook runs {command[0]}, which does not exist")
        for path in (self.root / WORKFLOW, self.root / DEPLOY_SCRIPT):
            if not path.exists():
                problems.append(f"{self.rel(path)} is missing")
                continue
            text = path.read_text(encoding="utf-8")
            for match in sorted(set(PATH_TOKEN.findall(text))):
                if not (self.root / match).exists():
                    problems.append(f"{self.rel(path)} references {match}, which does not exist")
        workflow = self.root / WORKFLOW
        if workflow.exists():
            problems += self._workflow_environments(workflow)
        return problems

    def _workflow_environments(self, workflow: Path) -> list[str]:
        document = yaml.safe_load(workflow.read_text(encoding="utf-8")) or {}
        triggers = document.get("on", document.get(True, {})) or {}
        dispatch = (triggers.get("workflow_dispatch") or {}).get("inputs", {})
        options = (dispatch.get("environment") or {}).get("options", [])
        return [
            f"{self.rel(workflow)}: environment {env} has no infra/env/{env}.parameters.json"
            for env in options
            if not (self.root / f"infra/env/{env}.parameters.json").exists()
        ]

    def deploy_text_files(self) -> list[Path]:
        return [p for p in (self.root / WORKFLOW, self.root / DEPLOY_SCRIPT) if p.exists()]
