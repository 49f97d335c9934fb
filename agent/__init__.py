"""The HayMaker agent: acts out one scenario (deploy, operate until the deadline, clean up).

Run as `python -m agent`. Its whole contract is environment variables, so the same program
runs as a local process (local provider) or in a container job (agent/Dockerfile):

  HAYMAKER_AGENT_MODE                  `local` (default): each step prints the Azure CLI
                                       command it stands for and acts it out on the storage
                                       account; `live`: each step's command runs for real
  HAYMAKER_RUN_ID, HAYMAKER_AGENT_ID   who it is
  HAYMAKER_SCENARIO                    the scenario as JSON (`Scenario.to_dict()`)
  HAYMAKER_DEADLINE                    ISO UTC time by which it must have cleaned up
  HAYMAKER_RESOURCE_GROUP              its resource group (`{resource_group}`)
  HAYMAKER_TAGS                        JSON object of the tags it puts on everything
  HAYMAKER_EVENTS_QUEUE                the queue it reports events to
  HAYMAKER_SECRET_REF                  its credential: the name in the local secret store
                                       (local), the Key Vault secret id (live; informational)
  HAYMAKER_LOCATION                    optional, `{location}` (default eastus)
  HAYMAKER_EXIT_FILE                   optional, where it writes `{"exit_code": n}` at exit
  HAYMAKER_AGENT_TIME_SCALE            optional float (default 1): scenario time runs this
                                       many times faster than real time, so the deadline
                                       (taken relative to the agent's start) and every wait
                                       shrink by it, matching a host's virtual clock
  HAYMAKER_AGENT_MAX_WALL_SECONDS      optional cap on real run time
  HAYMAKER_AGENT_REPORT_EVERY          optional seconds of the host's clock (with
                                       HAYMAKER_AGENT_CLOCK_URL): events are held and sent
                                       before each wait that passes a multiple of this (the
                                       monitors' polls: the local provider sets the run's
                                       poll interval),
                                       not after every operate round

Local mode only (required):
  HAYMAKER_STATE_DIR                   where the local secret store lives
  AzureWebJobsStorage                  the storage account (events queue; local "cloud")

Live mode only (required):
  AZURE_TENANT_ID, AZURE_CLIENT_ID     the agent's own app registration
  AZURE_CLIENT_SECRET                  its client secret's value (Container Apps injects it
                                       from Key Vault); never printed, reported or passed on
  AZURE_SUBSCRIPTION_ID                the subscription its resource group is in
  and where events go, one of:
  AzureWebJobsStorage                  a connection string, or
  HAYMAKER_EVENTS_ACCOUNT_URL          the queue service URL (https://<acct>.queue.core...)
  + HAYMAKER_EVENTS_IDENTITY_CLIENT_ID with the client id of the job's managed identity
                                       that may send to it (wins when both are set)

Exit codes: 0 finished, 1 failed (reported as `failed` when the queue is reachable), 2 the
contract is incomplete or invalid (the message names the variable).

Test hooks (the orchestration tests need an agent that fails and one that never reports):
  HAYMAKER_AGENT_FAIL_AT=deploy|operate|cleanup   fail right after that phase's first step
      (or at once if it has none), reporting `failed` and exiting 1; `a01:deploy,a02:cleanup`
      targets single agents.
  HAYMAKER_AGENT_SILENT=1   send nothing and wait until killed (or until the wall cap, then
      exit 1); `a01,a03` targets single agents.
  HAYMAKER_AGENT_CLOCK_URL  the host's clock (devhost's virtual clock) the deadline is in.
  HAYMAKER_LOCAL_FAIL_LAUNCH=a02[,a03]   not the agent's but the local provider's (an app
      setting): launching those agents fails after their identity was created, so a
      half-done provisioning and its teardown can be tested.
"""
