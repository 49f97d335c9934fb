metadata description = 'Key Vault in RBAC mode for agent client secrets; the orchestrator identity may set, read and delete secrets, nothing else.'

@description('Name of the Key Vault (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the Key Vault.')
param location string

@description('Tags put on the Key Vault.')
param tags object

@description('Principal id of the orchestrator identity that manages agent secrets.')
param principalId string

@description('Days a deleted secret stays recoverable.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('Whether purge protection is on (cannot be turned off again; prod only).')
param enablePurgeProtection bool

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

// Key Vault Secrets Officer: set, get, list and delete secrets (agent credentials live and die with a run).
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Name of the Key Vault.')
output name string = vault.name

@description('The vault URI (https://<name>.vault.azure.net/): the value of HAYMAKER_KEY_VAULT_URL.')
output uri string = vault.properties.vaultUri
