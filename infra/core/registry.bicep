metadata description = 'Azure Container Registry for the orchestrator and agent images; no admin user, the orchestrator identity pulls with AcrPull.'

@description('Name of the registry (5-50 letters and digits).')
@minLength(5)
@maxLength(50)
param name string

@description('Azure region of the registry.')
param location string

@description('Tags put on the registry.')
param tags object

@description('Principal id of the orchestrator identity that pulls images.')
param principalId string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

// AcrPull: pull images, nothing else.
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource pullRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, principalId, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Name of the registry.')
output name string = registry.name

@description('Login server of the registry (<name>.azurecr.io): the prefix of every image reference.')
output loginServer string = registry.properties.loginServer
