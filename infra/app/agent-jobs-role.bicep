metadata description = 'Lets the orchestrator identity run agents as Container Apps jobs in the HayMaker resource group, and nothing more: a custom role scoped to this resource group.'

@description('Principal id of the orchestrator identity.')
param principalId string

@description('Suffix that makes the custom role\'s name unique in the tenant.')
param roleNameSuffix string

resource agentJobsRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'haymaker-agent-jobs')
  properties: {
    roleName: 'HayMaker agent jobs (${roleNameSuffix})'
    description: 'Create, start, stop and delete Container Apps jobs for HayMaker agents in one resource group.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.App/jobs/*'
          'Microsoft.App/managedEnvironments/read'
          'Microsoft.App/managedEnvironments/join/action'
          'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action'
          'Microsoft.Resources/subscriptions/resourceGroups/read'
        ]
        notActions: []
      }
    ]
  }
}

// The custom role above ("HayMaker agent jobs"), at this resource group only.
resource agentJobsAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, agentJobsRole.id)
  properties: {
    roleDefinitionId: agentJobsRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Resource id of the custom role definition.')
output roleDefinitionId string = agentJobsRole.id
