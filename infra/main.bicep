metadata description = 'HayMaker on Azure: the orchestrator (Azure Functions on Azure Container Apps, Durable Task on Azure Storage) and everything it needs, for one environment.'

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment (dev, staging, prod, or an azd environment name); seeds the resource token and names the resource group.')
param environmentName string

@minLength(1)
@description('Azure region of every resource.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Immutable image reference of the orchestrator (<registry>/haymaker:<git sha> or @sha256:...). Empty: provision everything except the app (the first run, before the registry holds an image). Never :latest.')
param functionAppImage string = ''

@description('Immutable image reference the agent jobs run: the image of agent/Dockerfile (Azure CLI + python -m agent in live mode), <registry>/haymaker-agent:<git sha>. Empty: the orchestrator image, which has the agent program but not the Azure CLI, so live agents fail; the deploy script always passes it.')
param agentImage string = ''

@description('Revision that keeps all traffic while infrastructure is re-provisioned (the deploy script passes the serving revision). Empty: the latest revision.')
param trafficRevisionName string = ''

@description('Subscription the agents create their resources in (ideally one dedicated to HayMaker). Defaults to the deployment\'s subscription.')
param targetSubscriptionId string = subscription().subscriptionId

@description('Role definition ids (GUIDs) the orchestrator may grant an agent identity on the agent\'s own resource group.')
@minLength(1)
param agentRoleDefinitionIds array = [
  'b24988ac-6180-42a0-ab88-20f7382dd24c' // Contributor
]

@description('Workload profile type of the orchestrator\'s dedicated profile.')
param orchestratorProfileType string = 'E16'

@description('Nodes the orchestrator profile keeps at least.')
@minValue(0)
param orchestratorProfileMinimumCount int = 1

@description('Nodes the orchestrator profile may grow to: at least 2, so a new revision can activate beside the serving one.')
@minValue(2)
param orchestratorProfileMaximumCount int = 2

@description('Workload profile type the agent jobs run on.')
param agentProfileType string = 'D4'

@description('Nodes the agent profile may grow to.')
@minValue(1)
param agentProfileMaximumCount int = 10

@description('CPU cores per orchestrator replica.')
param orchestratorCpu string = '2.0'

@description('Memory per orchestrator replica.')
param orchestratorMemory string = '4Gi'

@description('Orchestrator replicas kept running (timers and the task hub need one).')
@minValue(1)
param orchestratorMinReplicas int = 1

@description('Orchestrator replicas per revision at most.')
@minValue(1)
param orchestratorMaxReplicas int = 2

@description('HAYMAKER_RUN_SIZE: agents per timer run (small 5, medium 15, large 30).')
@allowed([
  'small'
  'medium'
  'large'
])
param runSize string = 'small'

@description('HAYMAKER_RUN_DURATION: how long agents run (ISO 8601, PT5M to PT24H).')
param runDuration string = 'PT8H'

@description('HAYMAKER_POLL_INTERVAL: how often monitoring polls an agent (ISO 8601).')
param pollInterval string = 'PT15M'

@description('HAYMAKER_MAX_PARALLEL_AGENTS: agent lifecycles a run keeps in flight (1 to 50).')
@minValue(1)
@maxValue(50)
param maxParallelAgents int = 50

@description('HAYMAKER_MAX_RUN_COST_USD: largest estimated cost of one run in USD (e.g. 25); empty means no limit.')
param maxRunCostUsd string = ''

@description('HAYMAKER_SCHEDULE_AMERICAS: six-field NCRONTAB of the Americas window (UTC).')
param scheduleAmericas string = '0 0 0 * * *'

@description('HAYMAKER_SCHEDULE_ASIA: six-field NCRONTAB of the Asia window (UTC).')
param scheduleAsia string = '0 0 6 * * *'

@description('HAYMAKER_SCHEDULE_MIDDLE_EAST: six-field NCRONTAB of the Middle East window (UTC).')
param scheduleMiddleEast string = '0 0 12 * * *'

@description('HAYMAKER_SCHEDULE_EUROPE: six-field NCRONTAB of the Europe window (UTC).')
param scheduleEurope string = '0 0 18 * * *'

@description('HAYMAKER_SWEEP_SCHEDULE: six-field NCRONTAB of the orphan sweep.')
param sweepSchedule string = '0 30 * * * *'

@description('Days Log Analytics keeps logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Days a deleted Key Vault secret stays recoverable.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 7

@description('Key Vault purge protection (irreversible once on; for prod).')
param keyVaultPurgeProtection bool = false

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'haymaker'
}
var orchestratorProfileName = 'orchestrator'
var agentProfileName = 'agents'
var functionAppName = 'func-haymaker-${resourceToken}'
var deployApp = !empty(functionAppImage)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-haymaker-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-haymaker-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'sthaymaker${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-haymaker-${resourceToken}'
    applicationInsightsName: 'appi-haymaker-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    retentionInDays: logRetentionInDays
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-hm-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module registry 'core/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: 'crhaymaker${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module containerAppsEnvironment 'core/container-apps-environment.bicep' = {
  name: 'container-apps-environment'
  scope: rg
  params: {
    name: 'cae-haymaker-${resourceToken}'
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    orchestratorProfileName: orchestratorProfileName
    orchestratorProfileType: orchestratorProfileType
    orchestratorProfileMinimumCount: orchestratorProfileMinimumCount
    orchestratorProfileMaximumCount: orchestratorProfileMaximumCount
    agentProfileName: agentProfileName
    agentProfileType: agentProfileType
    agentProfileMaximumCount: agentProfileMaximumCount
  }
}

module agentIdentity 'app/agent-identity.bicep' = {
  name: 'agent-identity'
  scope: rg
  params: {
    name: 'id-haymaker-agents-${resourceToken}'
    location: location
    tags: tags
    keyVaultName: keyVault.outputs.name
    registryName: registry.outputs.name
    queueAccountName: storage.outputs.name
  }
}

module agentJobsRole 'app/agent-jobs-role.bicep' = {
  name: 'agent-jobs-role'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    roleNameSuffix: '${environmentName}-${resourceToken}'
  }
}

module targetSubscriptionRoles 'app/target-subscription-roles.bicep' = {
  name: 'target-subscription-roles-${resourceToken}'
  scope: subscription(targetSubscriptionId)
  params: {
    principalId: identity.outputs.principalId
    roleNameSuffix: '${environmentName}-${resourceToken}'
    agentRoleDefinitionIds: agentRoleDefinitionIds
  }
}

module orchestrator 'app/orchestrator.bicep' = if (deployApp) {
  name: 'orchestrator'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: union(tags, {
      'azd-service-name': 'orchestrator'
    })
    managedEnvironmentId: containerAppsEnvironment.outputs.id
    workloadProfileName: orchestratorProfileName
    image: functionAppImage
    trafficRevisionName: trafficRevisionName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    registryServer: registry.outputs.loginServer
    storageAccountName: storage.outputs.name
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    cpu: orchestratorCpu
    memory: orchestratorMemory
    minReplicas: orchestratorMinReplicas
    maxReplicas: orchestratorMaxReplicas
    haymakerSettings: {
      HAYMAKER_PROVIDER: 'azure'
      HAYMAKER_RUN_SIZE: runSize
      HAYMAKER_RUN_DURATION: runDuration
      HAYMAKER_POLL_INTERVAL: pollInterval
      HAYMAKER_MAX_PARALLEL_AGENTS: string(maxParallelAgents)
      HAYMAKER_MAX_RUN_COST_USD: maxRunCostUsd
      HAYMAKER_SCHEDULE_AMERICAS: scheduleAmericas
      HAYMAKER_SCHEDULE_ASIA: scheduleAsia
      HAYMAKER_SCHEDULE_MIDDLE_EAST: scheduleMiddleEast
      HAYMAKER_SCHEDULE_EUROPE: scheduleEurope
      HAYMAKER_SWEEP_SCHEDULE: sweepSchedule
      HAYMAKER_AZURE_SUBSCRIPTION_ID: targetSubscriptionId
      HAYMAKER_AZURE_TENANT_ID: tenant().tenantId
      HAYMAKER_KEY_VAULT_URL: keyVault.outputs.uri
      HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID: containerAppsEnvironment.outputs.id
      HAYMAKER_AGENT_IMAGE: empty(agentImage) ? functionAppImage : agentImage
      HAYMAKER_AGENT_WORKLOAD_PROFILE: agentProfileName
      HAYMAKER_AGENT_JOB_IDENTITY_ID: agentIdentity.outputs.id
      HAYMAKER_AGENT_JOB_IDENTITY_CLIENT_ID: agentIdentity.outputs.clientId
      HAYMAKER_AGENT_JOBS_RESOURCE_GROUP: rg.name
      HAYMAKER_LOCATION: location
    }
  }
}

@description('Azure region of the deployment.')
output AZURE_LOCATION string = location

@description('Tenant id of the deployment.')
output AZURE_TENANT_ID string = tenant().tenantId

@description('Name of the resource group that holds HayMaker.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Login server of the container registry (azd pushes images here).')
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer

@description('Name of the container registry.')
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name

@description('Resource id of the Container Apps environment (agents run here).')
output AZURE_CONTAINER_APPS_ENVIRONMENT_ID string = containerAppsEnvironment.outputs.id

@description('Name of the Key Vault that holds agent secrets.')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name

@description('URI of the Key Vault that holds agent secrets.')
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri

@description('Name of the storage account behind AzureWebJobsStorage.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name

@description('Client id of the orchestrator identity.')
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId

@description('Principal (object) id of the orchestrator identity: the service principal the Graph admin consent is for.')
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId

@description('Connection string of the Application Insights component.')
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString

@description('Name of the orchestrator function app (a container app).')
output SERVICE_ORCHESTRATOR_NAME string = functionAppName

@description('Public URL of the orchestrator; empty until an image is deployed.')
output SERVICE_ORCHESTRATOR_URI string = deployApp ? orchestrator!.outputs.uri : ''
