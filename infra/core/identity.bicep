metadata description = 'The user-assigned managed identity the orchestrator runs as.'

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags put on the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output id string = identity.id

@description('Name of the identity.')
output name string = identity.name

@description('Client (application) id of the identity: what AzureWebJobsStorage__clientId and AZURE_CLIENT_ID need.')
output clientId string = identity.properties.clientId

@description('Object (principal) id of the identity: what role assignments need.')
output principalId string = identity.properties.principalId
