"""What Azure refuses that the Azure CLI's parser lets through: resource names per kind,
and the ranges of a few numeric options.

The CLI's parser (haymaker.azcli_check) knows options, choices and types; the service
checks names and values only when a command runs, so a scenario with a storage account
named `Bad_Name` or a Key Vault keeping deleted secrets for 3 days would parse, then fail
at deploy in real Azure. The rules are Azure's ("Naming rules and restrictions for Azure
resources", and each option's documented range). A name is checked with every
placeholder at its longest (`LONGEST_PLACEHOLDERS`): the longest `{prefix}` an agent can
have, so a name that fits the sample agent but not agent a49 is caught.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from haymaker.naming import agent_id, name_prefix, name_stamp, resource_group_name, tags_for
from haymaker.settings import MAX_AGENTS_PER_RUN, RUN_DURATION_RANGE

_RUN = "run-20261126-113000-ab12cd"
_LAST_AGENT = agent_id(_RUN, MAX_AGENTS_PER_RUN - 1)
_LONGEST_RUN = "run-" + "x" * 124  # haymaker.naming.validate_run_id: at most 128
# Each placeholder's longest value (haymaker.scenario.PLACEHOLDERS).
LONGEST_PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "resource_group": resource_group_name(_RUN, _LAST_AGENT, "x" * 90),
        "prefix": name_prefix(_RUN, _LAST_AGENT),
        "location": "germanywestcentral",
        "tags": " ".join(
            f"{key}={value}" for key, value in tags_for(_LONGEST_RUN, _LAST_AGENT, "x" * 90).items()
        ),
        "run_id": _LONGEST_RUN,
        "agent_id": _LAST_AGENT,
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "password": "Hm7!" + "x" * 24,
        # Rounds come every 5 minutes of the longest run.
        "round": str(int(RUN_DURATION_RANGE.high.total_seconds()) // 300),
        "stamp": name_stamp(datetime(2026, 11, 26, 11, 35, tzinfo=UTC)),
        "n": "9",
    }
)


@dataclass(frozen=True)
class NameRule:
    """Azure's rule for one kind's names: a length, the characters allowed (a regular
    expression class body), and what the first and last character must be."""

    least: int
    most: int
    chars: str
    what: str
    first: str | None = None
    last: str | None = None
    no_double_hyphen: bool = False
    # DNS names: dot-separated labels of 1-63 characters each.
    labels: bool = False
    # The names Azure allows, where it allows only a few.
    only: tuple[str, ...] | None = None

    def describe(self) -> str:
        if self.only is not None:
            return "one of " + ", ".join(repr(name) for name in self.only)
        parts = [f"{self.least}-{self.most} characters, {self.what}"]
        if self.first:
            parts.append(f"starting with [{self.first}]")
        if self.last:
            parts.append(f"ending with [{self.last}]")
        if self.no_double_hyphen:
            parts.append("no '--'")
        if self.labels:
            parts.append("dot-separated labels of 1-63")
        return ", ".join(parts)

    def breaks(self, name: str) -> list[str]:
        """How `name` breaks the rule (empty when it keeps to it)."""
        if self.only is not None:
            return [] if name in self.only else ["is not " + self.describe()]
        found = []
        if not self.least <= len(name) <= self.most:
            found.append(f"has {len(name)} characters")
        bad = sorted(set(re.sub(f"[{self.chars}]", "", name)))
        if bad:
            found.append("has " + " ".join(repr(c) for c in bad))
        if self.first and name and not re.fullmatch(f"[{self.first}]", name[0]):
            found.append(f"starts with {name[0]!r}")
        if self.last and name and not re.fullmatch(f"[{self.last}]", name[-1]):
            found.append(f"ends with {name[-1]!r}")
        if self.no_double_hyphen and "--" in name:
            found.append("has '--'")
        if self.labels and any(not 1 <= len(label) <= 63 for label in name.split(".")):
            found.append("has a label that is empty or longer than 63")
        return found


_ALNUM = "a-zA-Z0-9"
_LOWER = "a-z0-9"


def _lower_alnum(least: int, most: int) -> NameRule:
    return NameRule(least, most, _LOWER, "lowercase letters and digits")


def _alnum(least: int, most: int) -> NameRule:
    return NameRule(least, most, _ALNUM, "letters and digits")


def _storage_child(least: int = 3, most: int = 63) -> NameRule:
    """Blob containers, file shares, queues: lowercase, digits, single hyphens inside."""
    what = "lowercase letters, digits and hyphens"
    return NameRule(least, most, _LOWER + "-", what, _LOWER, _LOWER, no_double_hyphen=True)


def _hyphenated(
    least: int, most: int, first: str | None = _ALNUM, last: str | None = _ALNUM
) -> NameRule:
    return NameRule(least, most, _ALNUM + "-", "letters, digits and hyphens", first, last)


def _network(least: int = 1, most: int = 80) -> NameRule:
    """Most Microsoft.Network resources."""
    what = "letters, digits, underscores, periods and hyphens"
    return NameRule(least, most, _ALNUM + "_.-", what, _ALNUM, _ALNUM + "_")


def _entity(least: int, most: int) -> NameRule:
    """Messaging entities (queues, topics, hubs): dots, hyphens and underscores inside."""
    what = "letters, digits, periods, hyphens and underscores"
    return NameRule(least, most, _ALNUM + "._-", what, _ALNUM, _ALNUM)


def _free_text(most: int, forbidden: str) -> NameRule:
    """Monitoring resources: anything but a few characters, not ending in a period."""
    return NameRule(1, most, f"^{forbidden}", f"none of {forbidden}", last="^. ")


def _dns(least: int = 1, most: int = 253) -> NameRule:
    what = "letters, digits, hyphens, underscores and periods"
    return NameRule(least, most, _ALNUM + "_.-", what, _ALNUM + "_", _ALNUM, labels=True)


def _lower_hyphenated(least: int, most: int) -> NameRule:
    """Database servers: lowercase, digits and hyphens, a letter or digit at each end."""
    what = "lowercase letters, digits and hyphens"
    return NameRule(least, most, _LOWER + "-", what, _LOWER, _LOWER)


def _database(least: int = 1, most: int = 63) -> NameRule:
    """A PostgreSQL or MySQL database on a flexible server."""
    what = "letters, digits, underscores and hyphens"
    return NameRule(least, most, _ALNUM + "_-", what, _ALNUM + "_")


def _firewall_rule() -> NameRule:
    """A flexible server's firewall rule."""
    return NameRule(1, 128, _ALNUM + "_-", "letters, digits, underscores and hyphens")


# The maintenance configurations AKS knows by name, besides `default`.
AKS_MANAGED_SCHEDULES = ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")
_WEB_SITE = NameRule(2, 60, _ALNUM + "-", "letters, digits and hyphens", _ALNUM, _ALNUM)
_CONTAINER_APP = NameRule(
    2, 32, _LOWER + "-", "lowercase letters, digits and hyphens", "a-z", _LOWER, True
)
_MONITOR_FORBIDDEN = r"*#&+:<>?@%{}\\/"
_KEY_VAULT_ITEM = NameRule(1, 127, _ALNUM + "-", "letters, digits and hyphens")

# Every kind of haymaker.resource_kinds.RESOURCE_KINDS (a test keeps the two in step).
NAME_RULES: Mapping[str, NameRule] = MappingProxyType(
    {
        "storage_account": _lower_alnum(3, 24),
        "blob_container": _storage_child(),
        "file_share": _storage_child(),
        "data_lake_filesystem": _storage_child(),
        "storage_table": NameRule(3, 63, _ALNUM, "letters and digits", "a-zA-Z"),
        "storage_queue": _storage_child(),
        "storage_lifecycle_policy": NameRule(7, 7, _LOWER, "", only=("default",)),
        "cognitive_account": _hyphenated(2, 64),
        "search_service": NameRule(
            2, 60, _LOWER + "-", "lowercase letters, digits and hyphens", _LOWER, _LOWER, True
        ),
        "eventhubs_namespace": _hyphenated(6, 50, first="a-zA-Z"),
        "event_hub": _entity(1, 256),
        "eventhub_consumer_group": _entity(1, 50),
        "servicebus_namespace": _hyphenated(6, 50, first="a-zA-Z"),
        "servicebus_queue": _entity(1, 260),
        "servicebus_topic": _entity(1, 260),
        "servicebus_subscription": _entity(1, 50),
        "eventgrid_topic": _hyphenated(3, 50, first=None, last=None),
        "eventgrid_system_topic": _hyphenated(3, 128, first=None, last=None),
        "eventgrid_subscription": _hyphenated(3, 64, first=None, last=None),
        "relay_namespace": _hyphenated(6, 50, first="a-zA-Z"),
        "relay_hybrid_connection": _entity(1, 260),
        "relay_wcf_relay": _entity(1, 260),
        "signalr": _hyphenated(3, 63, first="a-zA-Z"),
        "log_analytics_workspace": _hyphenated(4, 63),
        "saved_search": _network(1, 256),
        "application_insights": _free_text(260, r"%&\\?/"),
        "action_group": _free_text(260, r":<>+/&%\\?|"),
        "metric_alert": _free_text(260, _MONITOR_FORBIDDEN),
        "autoscale_setting": _free_text(260, r"<>%&#.,?+*:\\/"),
        "diagnostic_setting": _free_text(260, _MONITOR_FORBIDDEN),
        "virtual_network": _network(2, 64),
        "subnet": _network(),
        "vnet_peering": _network(),
        "network_security_group": _network(),
        "nsg_rule": _network(),
        "application_security_group": _network(),
        "route_table": _network(),
        "route": _network(),
        "public_ip": _network(),
        "nat_gateway": _network(),
        "network_interface": _network(),
        "private_endpoint": _network(2, 64),
        "private_dns_zone": _dns(),
        "private_dns_link": _network(),
        "private_dns_record": _dns(1, 63),
        "dns_zone": _dns(),
        "dns_record": _dns(1, 63),
        "local_network_gateway": _network(),
        "flow_log": _network(),
        "waf_policy": _network(1, 128),
        "waf_custom_rule": _alnum(1, 128),
        "load_balancer": _network(),
        "lb_rule": _network(),
        "lb_probe": _network(),
        "lb_backend_address": _network(),
        "application_gateway": _network(),
        "app_gateway_backend_pool": _network(),
        "app_gateway_probe": _network(),
        "sql_server": _lower_hyphenated(1, 63),
        "sql_database": _free_text(128, r"<>*%&:\\/?"),
        "sql_firewall_rule": _free_text(128, r"<>*%&:;\\/?"),
        "postgres_flexible_server": _lower_hyphenated(3, 63),
        "postgres_database": _database(),
        "postgres_firewall_rule": _firewall_rule(),
        "mysql_flexible_server": _lower_hyphenated(3, 63),
        "mysql_database": _database(),
        "mysql_firewall_rule": _firewall_rule(),
        "aks_cluster": NameRule(
            1, 63, _ALNUM + "_-", "letters, digits, underscores and hyphens", _ALNUM, _ALNUM
        ),
        # A Linux node pool.
        "aks_node_pool": NameRule(1, 12, _LOWER, "lowercase letters and digits", "a-z"),
        "aks_maintenance_configuration": NameRule(
            7, 31, _ALNUM, "", only=("default", *AKS_MANAGED_SCHEDULES)
        ),
        # Linux machines: a Windows one's computer name would be 15 at most.
        "virtual_machine": NameRule(
            1,
            64,
            _ALNUM + "_.-",
            "letters, digits, underscores, periods and hyphens",
            _ALNUM,
            _ALNUM + "_",
        ),
        "vm_scale_set": NameRule(
            1,
            64,
            _ALNUM + "_.-",
            "letters, digits, underscores, periods and hyphens",
            _ALNUM,
            _ALNUM + "_",
        ),
        "managed_disk": _network(),
        "snapshot": _network(),
        "availability_set": _network(),
        "image_gallery": NameRule(
            1, 80, _ALNUM + ".", "letters, digits and periods", _ALNUM, _ALNUM
        ),
        "gallery_image_definition": _entity(1, 80),
        "function_app": _WEB_SITE,
        "batch_account": _lower_alnum(3, 24),
        "batch_application": NameRule(1, 64, _ALNUM + "_-", "letters, digits, _ and -"),
        "container_registry": _alnum(5, 50),
        "acr_webhook": _alnum(5, 50),
        "acr_scope_map": NameRule(5, 50, _ALNUM + "_-", "letters, digits, _ and -"),
        "acr_token": NameRule(5, 50, _ALNUM + "_-", "letters, digits, _ and -"),
        "container_apps_environment": _hyphenated(2, 60, first="a-zA-Z"),
        "container_app": _CONTAINER_APP,
        "container_app_job": _CONTAINER_APP,
        "container_group": _storage_child(1, 63),
        "cosmosdb_account": NameRule(
            3, 44, _LOWER + "-", "lowercase letters, digits and hyphens", _LOWER, _LOWER
        ),
        "cosmosdb_sql_database": _free_text(255, r"/\\#?"),
        "cosmosdb_sql_container": _free_text(255, r"/\\#?"),
        "cosmosdb_mongo_database": _free_text(255, r"/\\#?"),
        "cosmosdb_mongo_collection": _free_text(255, r"/\\#?"),
        "cosmosdb_table": NameRule(3, 63, _ALNUM, "letters and digits", "a-zA-Z"),
        "cosmosdb_gremlin_database": _free_text(255, r"/\\#?"),
        "cosmosdb_gremlin_graph": _free_text(255, r"/\\#?"),
        "redis_cache": NameRule(
            1, 63, _ALNUM + "-", "letters, digits and hyphens", _ALNUM, _ALNUM, True
        ),
        "redis_firewall_rule": _alnum(1, 256),
        "managed_identity": NameRule(
            3, 128, _ALNUM + "_-", "letters, digits, hyphens and underscores", _ALNUM
        ),
        "federated_credential": NameRule(
            3, 120, _ALNUM + "_-", "letters, digits, hyphens and underscores", _ALNUM
        ),
        "key_vault": NameRule(
            3, 24, _ALNUM + "-", "letters, digits and hyphens", "a-zA-Z", _ALNUM, True
        ),
        "key_vault_key": _KEY_VAULT_ITEM,
        "key_vault_secret": _KEY_VAULT_ITEM,
        "key_vault_certificate": _KEY_VAULT_ITEM,
        "app_configuration": NameRule(
            5, 50, _ALNUM + "_-", "letters, digits, hyphens and underscores", _ALNUM, _ALNUM
        ),
        "app_config_key": NameRule(1, 10_000, "^%", "anything but %"),
        "app_config_feature": NameRule(1, 256, _ALNUM + "._-", "letters, digits, ., _ and -"),
        "recovery_services_vault": _hyphenated(2, 50, first="a-zA-Z"),
        "backup_policy": _hyphenated(3, 150, first="a-zA-Z"),
        "app_service_plan": NameRule(1, 60, _ALNUM + "-", "letters, digits and hyphens"),
        "web_app": _WEB_SITE,
        "static_web_app": _hyphenated(1, 40),
        "frontdoor_profile": _hyphenated(1, 260),
        "frontdoor_endpoint": _hyphenated(1, 46),
        "frontdoor_origin_group": _hyphenated(1, 90),
        "frontdoor_origin": _hyphenated(1, 90),
        "api_management": _hyphenated(1, 50, first="a-zA-Z"),
        "apim_api": _hyphenated(1, 80),
        "apim_product": _hyphenated(1, 80),
    }
)


@dataclass(frozen=True)
class ValueRange:
    """The whole numbers an option of a command takes, and what they count."""

    least: int
    most: int
    unit: str


# (command, option) -> the range Azure accepts.
VALUE_RANGES: Mapping[tuple[str, str], ValueRange] = MappingProxyType(
    {
        ("keyvault create", "--retention-days"): ValueRange(7, 90, "days of soft delete"),
        ("monitor log-analytics workspace create", "--retention-time"): ValueRange(
            30, 730, "days of retention (pay-as-you-go)"
        ),
        ("monitor log-analytics workspace update", "--retention-time"): ValueRange(
            30, 730, "days of retention (pay-as-you-go)"
        ),
        ("storage account blob-service-properties update", "--delete-retention-days"): (
            ValueRange(1, 365, "days of blob soft delete")
        ),
        (
            "storage account blob-service-properties update",
            "--container-delete-retention-days",
        ): ValueRange(1, 365, "days of container soft delete"),
        ("eventhubs eventhub create", "--retention-time"): ValueRange(
            1, 168, "hours of retention (Standard)"
        ),
        ("eventhubs eventhub update", "--retention-time"): ValueRange(
            1, 168, "hours of retention (Standard)"
        ),
    }
)
# Options whose value Azure looks up by an id a scenario cannot know in advance (a
# workspace's customer id is a GUID Azure gives it at creation; the CLI looks it up
# across the subscription, so a name never matches).
GUID_OPTIONS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("containerapp env create", "--logs-workspace-id"): (
            "the workspace's customer id (a GUID): use --logs-destination azure-monitor and "
            "a diagnostic setting that names the workspace by its resource id"
        ),
    }
)
_GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def fill_longest(template: str) -> str:
    return template.format(**LONGEST_PLACEHOLDERS)


def name_problems(kind: str, template: str) -> list[str]:
    """How a resource's name (a template) breaks its kind's rule, filled at its longest."""
    rule = NAME_RULES.get(kind)
    if rule is None:
        return []
    name = fill_longest(template)
    found = rule.breaks(name)
    if not found:
        return []
    shown = f"{template!r}" if name == template else f"{template!r} (at its longest {name!r})"
    return [
        f"{kind} name {shown} breaks Azure's naming rule ({rule.describe()}): " + "; ".join(found)
    ]


def value_problems(words: Sequence[str], options: Mapping[str, Sequence[str]]) -> list[str]:
    """Options of the command `words` (group and verb) outside what Azure accepts."""
    command = " ".join(words)
    problems = []
    for option, values in options.items():
        limit = VALUE_RANGES.get((command, option))
        if limit is not None:
            for value in values:
                if not value.isdigit() or not limit.least <= int(value) <= limit.most:
                    problems.append(
                        f"{option} {value} is outside {limit.least}-{limit.most} "
                        f"({limit.unit}) that az {command} accepts"
                    )
        takes = GUID_OPTIONS.get((command, option))
        if takes is not None:
            problems += [
                f"{option} {value} is not {takes}" for value in values if not _GUID.fullmatch(value)
            ]
    return problems
