metadata description = 'The identity the agent jobs run as: it resolves the agent\'s Key Vault secret reference, pulls the agent image and sends events to the run\'s queue. Nothing else: an agent acts in Azure with its own per-run app registration, not with this identity.'

@description('Name of the agent jobs\' user-assigned managed identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags put on the identity.')
param tags object

@description('Name of the Key Vault holding the agents\' client secrets.')
param keyVaultName string

@description('Name of the container registry holding the agent image.')
param registryName string

@description('Name of the storage account whose queues carry agent events.')
param queueAccountName string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: queueAccountName
}

// Key Vault Secrets User: read secret values (the job's secretRef to the agent's client secret).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
// AcrPull: pull images, nothing else.
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
// Storage Queue Data Message Sender: add messages to queues, not read or delete them.
var queueMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, queueMessageSender)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueMessageSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Resource id of the identity: the value of HAYMAKER_AGENT_JOB_IDENTITY_ID.')
output id string = identity.id

@description('Client id of the identity: the value of HAYMAKER_AGENT_JOB_IDENTITY_CLIENT_ID.')
output clientId string = identity.properties.clientId
