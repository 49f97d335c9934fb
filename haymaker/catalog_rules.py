"""The catalog's guardrails on commands: where they act, what they cost, what counts as a read.

Everything here works on a command with its placeholders filled and split into words
(``fill_sample``), so the same rules hold whether or not the Azure CLI is installed. The
Azure CLI's own parser adds what only it knows (see ``haymaker.azcli_check``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType

from haymaker import shell_words
from haymaker.naming import name_stamp

# Sample values for the placeholders, as the agent fills them (naming.name_prefix and
# resource_group_name give names of exactly this shape).
SAMPLE_PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "resource_group": "haymaker-1a2b3c4d-a00-sample",
        "prefix": "hm1a2b3c4da00",
        "location": "westeurope",
        "tags": "azurehaymaker-managed=true azurehaymaker-run=run-20261126-113000-ab12cd "
        "azurehaymaker-agent=a00 azurehaymaker-scenario=sample",
        "run_id": "run-20261126-113000-ab12cd",
        "agent_id": "a00",
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "password": "Hm7!" + "x" * 24,
        "round": "7",
        "stamp": name_stamp(datetime(2026, 11, 26, 11, 35, tzinfo=UTC)),
        "n": "3",
    }
)

# The only SKUs, sizes and tiers a scenario may ask for: the cheapest that do the job, so a
# run of 30 agents for 8 hours stays in the tens of dollars. Extend with care, in one place.
CHEAP_SKUS = frozenset(
    {
        # Storage accounts, Key Vault, Container Registry, Event Hubs, Service Bus, Relay.
        "Standard_LRS",
        "standard",
        "Basic",
        "Standard",
        # App Service plans (Linux), Function apps run on the Consumption plan.
        "B1",
        "F1",
        # Virtual machines and scale sets: burstable B-series only.
        "Standard_B1s",
        "Standard_B1ls",
        "Standard_B2s",
        # Cognitive Services: free and the standard pay-per-call tier.
        "F0",
        "S0",
        # Azure SQL (serverless is billed per use; Basic is 5 DTUs).
        "GP_S_Gen5_1",
        # PostgreSQL / MySQL flexible servers: burstable.
        "Standard_B1ms",
        "Burstable",
        # Log Analytics: pay as you go.
        "PerGB2018",
        # Azure Cache for Redis: the smallest basic cache.
        "C0",
        "c0",
        # AI Search basic (free allows one per subscription), SignalR, API Management,
        # Static Web Apps.
        "free",
        "basic",
        "Free",
        "Free_F1",
        "Consumption",
        # Managed disks.
        "Standard_SSD_LRS",
        # Application Gateway v2 (v1 is retired; WAF_v2 costs more): about $0.25 an hour
        # fixed plus capacity units, the only catalog SKU over a few cents an hour.
        "Standard_v2",
    }
)
# Options that name a SKU, size or tier. A numeric value (a key size, a disk size in GB)
# is not a SKU and passes.
SKU_OPTIONS = frozenset(
    {
        "--sku",
        "--sku-name",
        "--size",
        "--vm-size",
        "--service-objective",
        "--edition",
        "--storage-sku",
        "--compute-model",
        # AKS node pools (az aks create, az aks nodepool add).
        "--node-vm-size",
    }
)
# Command groups outside an agent's resource group: the directory, role assignments, the
# subscription, management groups, policy and sign-in belong to the orchestrator.
FORBIDDEN_GROUPS = frozenset(
    {
        "ad",
        "role",
        "account",
        "login",
        "logout",
        "group",
        "deployment sub",
        "deployment mg",
        "deployment tenant",
        "policy",
        "managementapp",
        "account management-group",
        "feature",
        "provider",
        "tag",
        "extension",
        "config",
        "upgrade",
        "rest",
    }
)
SCOPE_OPTIONS = ("--scope", "--ids", "--source-resource-id", "--resource")
# Verbs that only read: the operate phase should read more than it writes.
READ_VERBS = frozenset(
    {
        "show",
        "list",
        "get",
        "peek",
        "logs",
        "stats",
        "export",
        "query",
        "exists",
        "download",
        "tail",
        "check",
        "browse",
    }
)
READ_VERB_PREFIXES = ("list-", "show-", "get-", "check-", "query-")


def fill_sample(template: str) -> list[str]:
    """A command template filled with the sample values and split as the agent splits it
    (shlex's words, found faster: see shell_words)."""
    return shell_words.split(template.format(**SAMPLE_PLACEHOLDERS))


def command_words(argv: Sequence[str]) -> list[str]:
    """The command's group and verb words: `az storage account create -n x` -> storage, account,
    create."""
    words: list[str] = []
    for token in argv[1:]:
        if token.startswith("-"):
            break
        words.append(token)
    return words


def is_read(argv: Sequence[str]) -> bool:
    """Whether the command only reads (by its verb)."""
    words = command_words(argv)
    verb = words[-1] if words else ""
    return verb in READ_VERBS or verb.startswith(READ_VERB_PREFIXES)


def is_create(argv: Sequence[str]) -> bool:
    words = command_words(argv)
    return bool(words) and words[-1] == "create"


def option_values(argv: Sequence[str]) -> dict[str, list[str]]:
    """Every option with the words that follow it (up to the next option)."""
    values: dict[str, list[str]] = {}
    current: list[str] | None = None
    for token in argv[1:]:
        if token.startswith("-") and not _is_negative_number(token):
            name, equals, value = token.partition("=")
            current = values.setdefault(name, [])
            if equals:
                current.append(value)
        elif current is not None:
            current.append(token)
    return values


def command_problems(argv: Sequence[str]) -> list[str]:
    """What breaks the guardrails in one filled command (empty when it keeps to them)."""
    if not argv or argv[0] != "az":
        return ["must be an Azure CLI command starting with 'az '"]
    problems: list[str] = []
    words = command_words(argv)
    joined = " ".join(words)
    forbidden = next(
        (g for g in sorted(FORBIDDEN_GROUPS) if joined == g or joined.startswith(g + " ")), None
    )
    if forbidden is not None:
        problems.append(
            f"'az {forbidden}' acts outside the agent's resource group; scenarios may not use it"
        )
    options = option_values(argv)
    group = SAMPLE_PLACEHOLDERS["resource_group"]
    for name in ("--resource-group", "-g"):
        for value in options.get(name, []):
            if value != group:
                problems.append(f"{name} must be {{resource_group}}, got {value!r}")
    if "--subscription" in options:
        problems.append("--subscription is not allowed: agents work in their own resource group")
    for name in SCOPE_OPTIONS:
        for value in options.get(name, []):
            if value.startswith("/") and f"/resourceGroups/{group}/" not in value + "/":
                problems.append(f"{name} must point inside {{resource_group}}, got {value!r}")
    if not names_own_resource(argv):
        problems.append(
            "must name {resource_group} or a resource of the scenario ({prefix}...), "
            "so it cannot act on anything else"
        )
    for name in SKU_OPTIONS:
        for value in options.get(name, []):
            if not value.isdigit() and value not in CHEAP_SKUS:
                problems.append(
                    f"{name} {value} is not on the allowlist of cheap SKUs "
                    "(haymaker/catalog_rules.py CHEAP_SKUS)"
                )
    return problems


def names_own_resource(argv: Sequence[str]) -> bool:
    """Whether the command names the agent's group or a ``{prefix}`` resource; what it
    filters or prints (``--query``, ``--output``) does not count."""
    values = option_values(argv)
    shown = {v for name in ("--query", "--output", "-o") for v in values.get(name, [])}
    words = " ".join(word for word in argv if word not in shown)
    return SAMPLE_PLACEHOLDERS["resource_group"] in words or SAMPLE_PLACEHOLDERS["prefix"] in words


def passes_tags(argv: Sequence[str]) -> bool:
    return "--tags" in option_values(argv)


def _is_negative_number(token: str) -> bool:
    return token[1:].replace(".", "", 1).isdigit()
