metadata description = 'The HayMaker orchestrator: Azure Functions on Azure Container Apps (a container app of kind functionapp) on a dedicated workload profile, running as the user-assigned identity, with identity-based AzureWebJobsStorage.'

@description('Name of the function app (a container app, 2-32 lowercase letters, digits and hyphens).')
@minLength(2)
@maxLength(32)
param name string

@description('Azure region of the app.')
param location string

@description('Tags put on the app (azd finds the service by its azd-service-name tag).')
param tags object

@description('Resource id of the Container Apps environment.')
param managedEnvironmentId string

@description('Name of the dedicated workload profile the revisions run on (its maximumCount must be at least 2).')
param workloadProfileName string

@description('Immutable image reference (<registry>/haymaker:<git sha> or @sha256:...). Never :latest: an unchanged tag does not start a new revision.')
param image string

@description('Revision that receives all traffic; empty on the first deployment (the latest revision then). The deploy script passes the serving revision so re-provisioning never moves traffic.')
param trafficRevisionName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of the user-assigned identity (AzureWebJobsStorage__clientId, AZURE_CLIENT_ID).')
param identityClientId string

@description('Login server of the registry the image is pulled from, with the identity.')
param registryServer string

@description('Name of the storage account behind AzureWebJobsStorage (identity-based, shared keys off).')
param storageAccountName string

@description('Connection string of the Application Insights component.')
param applicationInsightsConnectionString string

@description('CPU cores per replica.')
param cpu string

@description('Memory per replica (e.g. 4Gi).')
param memory string

@description('Replicas kept running (at least 1: timer triggers and the Durable Task hub need a live host).')
@minValue(1)
param minReplicas int

@description('Replicas the app may scale out to.')
@minValue(1)
param maxReplicas int

@description('HAYMAKER_* app settings (see local.settings.sample.json and haymaker/settings.py).')
param haymakerSettings object

var runtimeSettings = {
  FUNCTIONS_WORKER_RUNTIME: 'python'
  // Identity-based host storage: no connection string, no account key (shared keys are off).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Host keys live in the Container Apps secret store (the documented default for this hosting).
  AzureWebJobsSecretStorageType: 'containerapp'
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential in the app picks the user-assigned identity.
  AZURE_CLIENT_ID: identityClientId
}
var settings = union(haymakerSettings, runtimeSettings)
var trafficToLatest = {
  latestRevision: true
  weight: 100
}
var trafficToServing = {
  revisionName: trafficRevisionName
  weight: 100
}

resource app 'Microsoft.App/containerApps@2025-02-02-preview' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    managedEnvironmentId: managedEnvironmentId
    workloadProfileName: workloadProfileName
    configuration: {
      activeRevisionsMode: 'Multiple'
      ingress: {
        external: true
        targetPort: 80
        transport: 'auto'
        allowInsecure: false
        traffic: [
          empty(trafficRevisionName) ? trafficToLatest : trafficToServing
        ]
      }
      registries: [
        {
          server: registryServer
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'orchestrator'
          image: image
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: [
            for setting in items(settings): {
              name: setting.key
              value: string(setting.value)
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
      }
    }
  }
}

@description('Name of the function app.')
output name string = app.name

@description('Public URL of the function app (traffic-weighted ingress).')
output uri string = 'https://${app.properties.configuration.ingress.fqdn}'

@description('Name of the most recently created revision.')
output latestRevisionName string = app.properties.latestRevisionName
