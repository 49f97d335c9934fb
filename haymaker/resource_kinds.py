"""The Azure resource kinds scenarios may declare, and what stands in for each locally.

The local provider has no Azure: it acts a resource out as a tagged blob container, table
or queue in the storage account (haymaker.providers.local_cloud). The stand-in follows
what the resource mostly holds: files, images, site content and disks become a blob
container; records, settings and configuration a table; work, messages and compute that
consumes work a queue.

``top_level`` kinds sit directly in the resource group: their names must carry
``{prefix}`` (overlapping runs never collide) and their create commands ``--tags``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class LocalKind(StrEnum):
    """What the local provider materializes in Azure Storage in place of a cloud resource."""

    BLOB_CONTAINER = "blob_container"
    TABLE = "table"
    QUEUE = "queue"


@dataclass(frozen=True)
class ResourceKind:
    """An Azure resource type and its local stand-in."""

    azure_type: str
    local_kind: LocalKind
    top_level: bool


_B, _T, _Q = LocalKind.BLOB_CONTAINER, LocalKind.TABLE, LocalKind.QUEUE
_KINDS: tuple[tuple[str, str, LocalKind, bool], ...] = (
    # Storage
    ("storage_account", "Microsoft.Storage/storageAccounts", _B, True),
    ("blob_container", "storageAccounts/blobServices/containers", _B, False),
    ("file_share", "storageAccounts/fileServices/shares", _B, False),
    ("data_lake_filesystem", "storageAccounts/blobServices/containers (HNS)", _B, False),
    ("storage_table", "storageAccounts/tableServices/tables", _T, False),
    ("storage_queue", "storageAccounts/queueServices/queues", _Q, False),
    ("storage_lifecycle_policy", "storageAccounts/managementPolicies", _T, False),
    # AI
    ("cognitive_account", "Microsoft.CognitiveServices/accounts", _Q, True),
    ("search_service", "Microsoft.Search/searchServices", _T, True),
    # Messaging and events
    ("eventhubs_namespace", "Microsoft.EventHub/namespaces", _Q, True),
    ("event_hub", "Microsoft.EventHub/namespaces/eventhubs", _Q, False),
    ("eventhub_consumer_group", "eventhubs/consumergroups", _Q, False),
    ("servicebus_namespace", "Microsoft.ServiceBus/namespaces", _Q, True),
    ("servicebus_queue", "Microsoft.ServiceBus/namespaces/queues", _Q, False),
    ("servicebus_topic", "Microsoft.ServiceBus/namespaces/topics", _Q, False),
    ("servicebus_subscription", "namespaces/topics/subscriptions", _Q, False),
    ("eventgrid_topic", "Microsoft.EventGrid/topics", _Q, True),
    ("eventgrid_system_topic", "Microsoft.EventGrid/systemTopics", _Q, True),
    ("eventgrid_subscription", "eventSubscriptions", _Q, False),
    ("relay_namespace", "Microsoft.Relay/namespaces", _Q, True),
    ("relay_hybrid_connection", "Relay/namespaces/hybridConnections", _Q, False),
    ("relay_wcf_relay", "Relay/namespaces/wcfRelays", _Q, False),
    ("signalr", "Microsoft.SignalRService/signalR", _Q, True),
    # Monitoring
    ("log_analytics_workspace", "Microsoft.OperationalInsights/workspaces", _T, True),
    ("saved_search", "workspaces/savedSearches", _T, False),
    ("application_insights", "Microsoft.Insights/components", _T, True),
    ("action_group", "Microsoft.Insights/actionGroups", _T, True),
    ("metric_alert", "Microsoft.Insights/metricAlerts", _T, True),
    ("autoscale_setting", "Microsoft.Insights/autoscalesettings", _T, True),
    ("diagnostic_setting", "Microsoft.Insights/diagnosticSettings", _T, False),
    # Networking
    ("virtual_network", "Microsoft.Network/virtualNetworks", _T, True),
    ("subnet", "Microsoft.Network/virtualNetworks/subnets", _T, False),
    ("vnet_peering", "virtualNetworks/virtualNetworkPeerings", _T, False),
    ("network_security_group", "Microsoft.Network/networkSecurityGroups", _T, True),
    ("nsg_rule", "networkSecurityGroups/securityRules", _T, False),
    ("application_security_group", "Microsoft.Network/applicationSecurityGroups", _T, True),
    ("route_table", "Microsoft.Network/routeTables", _T, True),
    ("route", "Microsoft.Network/routeTables/routes", _T, False),
    ("public_ip", "Microsoft.Network/publicIPAddresses", _T, True),
    ("nat_gateway", "Microsoft.Network/natGateways", _Q, True),
    ("network_interface", "Microsoft.Network/networkInterfaces", _T, True),
    ("private_endpoint", "Microsoft.Network/privateEndpoints", _T, True),
    ("private_dns_zone", "Microsoft.Network/privateDnsZones", _T, True),
    ("private_dns_link", "privateDnsZones/virtualNetworkLinks", _T, False),
    ("private_dns_record", "privateDnsZones/A", _T, False),
    ("dns_zone", "Microsoft.Network/dnsZones", _T, True),
    ("dns_record", "Microsoft.Network/dnsZones/recordsets", _T, False),
    ("local_network_gateway", "Microsoft.Network/localNetworkGateways", _T, True),
    ("flow_log", "networkWatchers/flowLogs", _T, False),
    ("waf_policy", "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", _T, True),
    ("waf_custom_rule", "ApplicationGatewayWebApplicationFirewallPolicies/customRules", _T, False),
    ("load_balancer", "Microsoft.Network/loadBalancers", _Q, True),
    # Compute
    ("virtual_machine", "Microsoft.Compute/virtualMachines", _Q, True),
    ("vm_scale_set", "Microsoft.Compute/virtualMachineScaleSets", _Q, True),
    ("managed_disk", "Microsoft.Compute/disks", _B, True),
    ("snapshot", "Microsoft.Compute/snapshots", _B, True),
    ("availability_set", "Microsoft.Compute/availabilitySets", _T, True),
    ("image_gallery", "Microsoft.Compute/galleries", _B, True),
    ("gallery_image_definition", "Microsoft.Compute/galleries/images", _B, False),
    ("function_app", "Microsoft.Web/sites (kind functionapp)", _Q, True),
    ("batch_account", "Microsoft.Batch/batchAccounts", _Q, True),
    ("batch_application", "Microsoft.Batch/batchAccounts/applications", _B, False),
    # Containers
    ("container_registry", "Microsoft.ContainerRegistry/registries", _B, True),
    ("acr_webhook", "Microsoft.ContainerRegistry/registries/webhooks", _Q, False),
    ("acr_scope_map", "Microsoft.ContainerRegistry/registries/scopeMaps", _T, False),
    ("acr_token", "Microsoft.ContainerRegistry/registries/tokens", _T, False),
    ("container_apps_environment", "Microsoft.App/managedEnvironments", _T, True),
    ("container_app", "Microsoft.App/containerApps", _Q, True),
    ("container_app_job", "Microsoft.App/jobs", _Q, True),
    ("container_group", "Microsoft.ContainerInstance/containerGroups", _Q, True),
    # Databases
    ("cosmosdb_account", "Microsoft.DocumentDB/databaseAccounts", _T, True),
    ("cosmosdb_sql_database", "databaseAccounts/sqlDatabases", _T, False),
    ("cosmosdb_sql_container", "databaseAccounts/sqlDatabases/containers", _T, False),
    ("cosmosdb_mongo_database", "databaseAccounts/mongodbDatabases", _T, False),
    ("cosmosdb_mongo_collection", "databaseAccounts/mongodbDatabases/collections", _T, False),
    ("cosmosdb_table", "databaseAccounts/tables", _T, False),
    ("cosmosdb_gremlin_database", "databaseAccounts/gremlinDatabases", _T, False),
    ("cosmosdb_gremlin_graph", "databaseAccounts/gremlinDatabases/graphs", _T, False),
    ("redis_cache", "Microsoft.Cache/redis", _T, True),
    ("redis_firewall_rule", "Microsoft.Cache/redis/firewallRules", _T, False),
    # Identity and security
    ("managed_identity", "Microsoft.ManagedIdentity/userAssignedIdentities", _T, True),
    ("federated_credential", "identities/federatedIdentityCredentials", _T, False),
    ("key_vault", "Microsoft.KeyVault/vaults", _T, True),
    ("key_vault_key", "Microsoft.KeyVault/vaults/keys", _T, False),
    ("key_vault_secret", "Microsoft.KeyVault/vaults/secrets", _T, False),
    ("key_vault_certificate", "Microsoft.KeyVault/vaults/certificates", _T, False),
    ("app_configuration", "Microsoft.AppConfiguration/configurationStores", _T, True),
    ("app_config_key", "configurationStores/keyValues", _T, False),
    ("app_config_feature", "configurationStores/keyValues (feature flag)", _T, False),
    ("recovery_services_vault", "Microsoft.RecoveryServices/vaults", _B, True),
    ("backup_policy", "Microsoft.RecoveryServices/vaults/backupPolicies", _B, False),
    # Web
    ("app_service_plan", "Microsoft.Web/serverfarms", _T, True),
    ("web_app", "Microsoft.Web/sites", _B, True),
    ("static_web_app", "Microsoft.Web/staticSites", _B, True),
    ("frontdoor_profile", "Microsoft.Cdn/profiles", _B, True),
    ("frontdoor_endpoint", "Microsoft.Cdn/profiles/afdEndpoints", _B, False),
    ("frontdoor_origin_group", "Microsoft.Cdn/profiles/originGroups", _T, False),
    ("frontdoor_origin", "Microsoft.Cdn/profiles/originGroups/origins", _T, False),
    ("api_management", "Microsoft.ApiManagement/service", _Q, True),
    ("apim_api", "Microsoft.ApiManagement/service/apis", _T, False),
    ("apim_product", "Microsoft.ApiManagement/service/products", _T, False),
    # Relational databases
    ("sql_server", "Microsoft.Sql/servers", _T, True),
    ("sql_database", "Microsoft.Sql/servers/databases", _T, False),
    ("sql_firewall_rule", "Microsoft.Sql/servers/firewallRules", _T, False),
    ("postgres_flexible_server", "Microsoft.DBforPostgreSQL/flexibleServers", _T, True),
    ("postgres_database", "DBforPostgreSQL/flexibleServers/databases", _T, False),
    ("postgres_firewall_rule", "DBforPostgreSQL/flexibleServers/firewallRules", _T, False),
    ("mysql_flexible_server", "Microsoft.DBforMySQL/flexibleServers", _T, True),
    ("mysql_database", "DBforMySQL/flexibleServers/databases", _T, False),
    ("mysql_firewall_rule", "DBforMySQL/flexibleServers/firewallRules", _T, False),
    # Kubernetes
    ("aks_cluster", "Microsoft.ContainerService/managedClusters", _Q, True),
    ("aks_node_pool", "managedClusters/agentPools", _Q, False),
    ("aks_maintenance_configuration", "managedClusters/maintenanceConfigurations", _T, False),
    # Load balancing
    ("lb_backend_address", "loadBalancers/backendAddressPools (address)", _T, False),
    ("lb_probe", "loadBalancers/probes", _T, False),
    ("lb_rule", "loadBalancers/loadBalancingRules", _T, False),
    ("application_gateway", "Microsoft.Network/applicationGateways", _Q, True),
    ("app_gateway_backend_pool", "applicationGateways/backendAddressPools", _T, False),
    ("app_gateway_probe", "applicationGateways/probes", _T, False),
)
RESOURCE_KINDS: Mapping[str, ResourceKind] = MappingProxyType(
    {kind: ResourceKind(azure_type, local, top) for kind, azure_type, local, top in _KINDS}
)
