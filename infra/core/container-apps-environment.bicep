metadata description = 'The Container Apps environment (workload profiles) the orchestrator and the agent jobs run in: the Consumption profile plus a dedicated profile for the orchestrator and one for agents.'

@description('Name of the Container Apps environment.')
param name string

@description('Azure region of the environment.')
param location string

@description('Tags put on the environment.')
param tags object

@description('Resource id of the Log Analytics workspace that receives the environment\'s logs (through Azure Monitor diagnostic settings, no shared key).')
param logAnalyticsWorkspaceId string

@description('Name of the dedicated workload profile the orchestrator\'s revisions run on.')
param orchestratorProfileName string

@description('Type of the orchestrator profile (E16: 16 vCPU, 128 GiB per node).')
param orchestratorProfileType string

@description('Nodes the orchestrator profile keeps at least.')
@minValue(0)
param orchestratorProfileMinimumCount int

@description('Nodes the orchestrator profile may grow to. At least 2, so a new revision can activate beside the running one (the upstream ActivationFailed with maximumCount 1).')
@minValue(2)
param orchestratorProfileMaximumCount int

@description('Name of the dedicated workload profile the agent jobs run on.')
param agentProfileName string

@description('Type of the agent profile.')
param agentProfileType string

@description('Nodes the agent profile may grow to (agents of overlapping runs share it).')
@minValue(1)
param agentProfileMaximumCount int

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
      {
        name: orchestratorProfileName
        workloadProfileType: orchestratorProfileType
        minimumCount: orchestratorProfileMinimumCount
        maximumCount: orchestratorProfileMaximumCount
      }
      {
        name: agentProfileName
        workloadProfileType: agentProfileType
        minimumCount: 0
        maximumCount: agentProfileMaximumCount
      }
    ]
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs-to-workspace'
  scope: environment
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

@description('Resource id of the environment: the value of HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID.')
output id string = environment.id

@description('Name of the environment.')
output name string = environment.name

@description('Default domain of the environment (apps are <app>.<domain>).')
output defaultDomain string = environment.properties.defaultDomain
