metadata description = 'What the azure provider needs in the target subscription, and no more: create, tag and delete agent resource groups (a custom role), and grant agent identities only the agent roles, only to service principals (Role Based Access Control Administrator with a condition). Never Owner or User Access Administrator.'

targetScope = 'subscription'

@description('Principal id of the orchestrator identity.')
param principalId string

@description('Suffix that makes the custom role\'s name unique in the tenant.')
param roleNameSuffix string

@description('Role definition ids (GUIDs) the orchestrator may assign to agent identities, on the agent\'s resource group.')
@minLength(1)
param agentRoleDefinitionIds array

resource agentResourceGroupsRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'haymaker-agent-resource-groups', roleNameSuffix)
  properties: {
    roleName: 'HayMaker agent resource groups (${roleNameSuffix})'
    description: 'Create and tag resource groups for HayMaker agents, find tagged leftovers, delete them.'
    type: 'CustomRole'
    assignableScopes: [
      subscription().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Resources/subscriptions/resourceGroups/read'
          'Microsoft.Resources/subscriptions/resourceGroups/write'
          'Microsoft.Resources/subscriptions/resourceGroups/delete'
          'Microsoft.Resources/subscriptions/resources/read'
          // The API versions a resource type offers: a generic delete must name one.
          'Microsoft.Resources/subscriptions/providers/read'
          'Microsoft.Resources/tags/read'
          'Microsoft.Authorization/roleAssignments/read'
          '*/delete'
        ]
        notActions: [
          'Microsoft.Authorization/*/delete'
          'Microsoft.Authorization/locks/*'
        ]
      }
    ]
  }
}

// The custom role above ("HayMaker agent resource groups"): resource group lifecycle and teardown.
resource agentResourceGroupsAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, agentResourceGroupsRole.id)
  properties: {
    roleDefinitionId: agentResourceGroupsRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Role Based Access Control Administrator, constrained: may only write or delete assignments of
// the agent roles, only for service principals (the agents' identities), never for itself.
var rbacAdministrator = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'
var allowedRoles = join(agentRoleDefinitionIds, ', ')
var writeCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${allowedRoles}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAllValues:GuidNotEquals {${principalId}}))'
var deleteCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${allowedRoles}}))'

resource constrainedRbacAdministrator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, rbacAdministrator)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministrator)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'HayMaker: grant agent identities their roles on their own resource group.'
    conditionVersion: '2.0'
    condition: '${writeCondition} AND ${deleteCondition}'
  }
}

@description('Resource id of the custom role that manages agent resource groups.')
output agentResourceGroupsRoleId string = agentResourceGroupsRole.id
