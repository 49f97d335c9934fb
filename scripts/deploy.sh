#!/usr/bin/env bash
# Deploy HayMaker to Azure: the same steps .github/workflows/deploy.yml runs, for people
# without Actions. Needs: az (logged in, containerapp extension), git, python3, node/npm.
#
#   scripts/deploy.sh all [ENV]        every step below, in order; rolls back on failure
#   scripts/deploy.sh check            ./dev test, then python -m haymaker doctor
#   scripts/deploy.sh provision [ENV]  az deployment sub create (infra/main.bicep + infra/env/<env>.parameters.json)
#   scripts/deploy.sh build [ENV]      az acr build of the app and agent images, tag = git sha (immutable, then locked)
#   scripts/deploy.sh roll [ENV]       new revision on the new image, 0% traffic, wait until it runs
#   scripts/deploy.sh verify [ENV]     host Running, functions == expected_functions.json, health deep
#   scripts/deploy.sh promote [ENV]    100% traffic to the new revision, verify again, retire the old
#   scripts/deploy.sh rollback [ENV]   traffic back to the previous revision, new one deactivated
#   scripts/deploy.sh verify-live      verify the serving app (azd's postdeploy hook)
#
# ENV is dev, staging or prod (default: $HAYMAKER_ENV, else dev). AZURE_LOCATION overrides the
# parameter file's location. Steps share state through .deploy/ENV.env.
set -euo pipefail
cd "$(dirname "$0")/.."

STEP=${1:-help}
ENV_NAME=${2:-${HAYMAKER_ENV:-dev}}
PARAMS="infra/env/${ENV_NAME}.parameters.json"
STATE=".deploy/${ENV_NAME}.env"
DEPLOYMENT="haymaker-${ENV_NAME}"
PY=.venv/bin/python
REPOSITORY=haymaker
AGENT_REPOSITORY=haymaker-agent
REVISION_WAIT_SECONDS=${REVISION_WAIT_SECONDS:-600}
VERIFY_WAIT_SECONDS=${VERIFY_WAIT_SECONDS:-300}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }

save() { # save KEY VALUE: remember a value for the later steps
  mkdir -p .deploy
  touch "$STATE"
  grep -v "^$1=" "$STATE" > "$STATE.tmp" || true
  printf '%s=%q\n' "$1" "$2" >> "$STATE.tmp"
  mv "$STATE.tmp" "$STATE"
}

load() {
  [ -f "$STATE" ] || die "no $STATE: run 'scripts/deploy.sh provision $ENV_NAME' first"
  # shellcheck disable=SC1090
  . "$STATE"
}

json_get() { # json_get KEY...: the first string found under any of these keys in stdin's JSON
  python3 -c '
import json, sys
wanted = sys.argv[1:]
def walk(node):
    if isinstance(node, dict):
        for key in wanted:
            if isinstance(node.get(key), str):
                return node[key]
            if isinstance(node.get(key), dict) and isinstance(node[key].get("value"), str):
                return node[key]["value"]
        for item in node.values():
            found = walk(item)
            if found:
                return found
    if isinstance(node, list):
        for item in node:
            found = walk(item)
            if found:
                return found
    return ""
print(walk(json.load(sys.stdin)))' "$@"
}

location() {
  if [ -n "${AZURE_LOCATION:-}" ]; then echo "$AZURE_LOCATION"; return; fi
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"]["location"]["value"])' "$PARAMS"
}

app_exists() { [ -n "${APP:-}" ] && az containerapp show -n "$APP" -g "$RG" -o none 2>/dev/null; }

serving_revision() { # the revision with all traffic (the latest, when traffic follows it)
  local traffic
  traffic=$(az containerapp ingress traffic show -n "$APP" -g "$RG" -o json)
  python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r.get("weight", 0) > 0]
row = max(rows, key=lambda r: r["weight"]) if rows else {}
print("LATEST" if row.get("latestRevision") else row.get("revisionName", ""))' <<<"$traffic" |
    while read -r name; do
      if [ "$name" = LATEST ]; then
        az containerapp show -n "$APP" -g "$RG" --query properties.latestReadyRevisionName -o tsv
      else
        echo "$name"
      fi
    done
}

deploy_infra() { # deploy_infra IMAGE TRAFFIC_REVISION [AGENT_IMAGE]
  log "provisioning $ENV_NAME (deployment $DEPLOYMENT, image ${1:-none yet})"
  az deployment sub create --name "$DEPLOYMENT" --location "$(location)" \
    --template-file infra/main.bicep --parameters "@$PARAMS" \
    --parameters location="$(location)" functionAppImage="$1" trafficRevisionName="$2" \
    agentImage="${3:-}" -o none
  local outputs
  outputs=$(az deployment sub show --name "$DEPLOYMENT" --query properties.outputs -o json)
  save RG "$(json_get AZURE_RESOURCE_GROUP <<<"$outputs")"
  save APP "$(json_get SERVICE_ORCHESTRATOR_NAME <<<"$outputs")"
  save REGISTRY "$(json_get AZURE_CONTAINER_REGISTRY_NAME <<<"$outputs")"
  save REGISTRY_SERVER "$(json_get AZURE_CONTAINER_REGISTRY_ENDPOINT <<<"$outputs")"
  save PRINCIPAL_ID "$(json_get AZURE_MANAGED_IDENTITY_PRINCIPAL_ID <<<"$outputs")"
}

keys_for() { # keys_for REVISION: export the master and default host keys of a revision
  HAYMAKER_MASTER_KEY=$(az containerapp function keys list -n "$APP" -g "$RG" \
    --key-type masterKey --revision "$1" -o json | json_get masterKey _master value)
  HAYMAKER_FUNCTION_KEY=$(az containerapp function keys list -n "$APP" -g "$RG" \
    --key-type hostKey --revision "$1" -o json | json_get default value)
  [ -n "$HAYMAKER_MASTER_KEY" ] && [ -n "$HAYMAKER_FUNCTION_KEY" ] || die "no keys for $1"
  export HAYMAKER_MASTER_KEY HAYMAKER_FUNCTION_KEY
}

verify_url() { # verify_url URL REVISION
  keys_for "$2"
  "$PY" -m haymaker.deploy_verify --base-url "$1" --wait "$VERIFY_WAIT_SECONDS"
}

step_check() {
  ./dev test -q -p no:cacheprovider
  "$PY" -m haymaker doctor .
}

step_provision() {
  [ -f "$PARAMS" ] || die "no $PARAMS (environments: dev, staging, prod)"
  local image="" serving=""
  if az deployment sub show --name "$DEPLOYMENT" -o none 2>/dev/null; then
    local outputs
    outputs=$(az deployment sub show --name "$DEPLOYMENT" --query properties.outputs -o json)
    APP=$(json_get SERVICE_ORCHESTRATOR_NAME <<<"$outputs")
    RG=$(json_get AZURE_RESOURCE_GROUP <<<"$outputs")
  fi
  local agent_image=""
  if app_exists; then
    # Re-provisioning keeps what serves: same image, same revision with all traffic, the
    # same agent image.
    serving=$(serving_revision)
    image=$(az containerapp revision show -n "$APP" -g "$RG" --revision "$serving" \
      --query 'properties.template.containers[0].image' -o tsv)
    agent_image=$(az containerapp revision show -n "$APP" -g "$RG" --revision "$serving" \
      --query "properties.template.containers[0].env[?name=='HAYMAKER_AGENT_IMAGE'].value | [0]" \
      -o tsv)
  fi
  deploy_infra "$image" "$serving" "$agent_image"
  save SERVING_REVISION "$serving"
  save SERVING_IMAGE "$image"
}

step_build() {
  load
  [ -z "$(git status --porcelain)" ] || [ "${ALLOW_DIRTY:-}" = 1 ] ||
    die "uncommitted changes: the image tag (git sha) would not describe the image"
  local sha
  sha=$(git rev-parse HEAD)
  build_image "$REPOSITORY" Dockerfile "$sha"
  build_image "$AGENT_REPOSITORY" agent/Dockerfile "$sha"
  save IMAGE "$REGISTRY_SERVER/$REPOSITORY:$sha"
  save AGENT_IMAGE "$REGISTRY_SERVER/$AGENT_REPOSITORY:$sha"
  save SHA "$sha"
}

build_image() { # build_image REPOSITORY DOCKERFILE TAG (from the repository root)
  local image="$REGISTRY_SERVER/$1:$3"
  if az acr repository show --name "$REGISTRY" --image "$1:$3" -o none 2>/dev/null; then
    log "$image already built"
  else
    log "building $image from $2"
    az acr build --registry "$REGISTRY" --image "$1:$3" --file "$2" .
    # The tag can never be pushed over: it names this content for good.
    az acr repository update --name "$REGISTRY" --image "$1:$3" --write-enabled false -o none
  fi
}

step_roll() {
  load
  [ -n "${IMAGE:-}" ] || die "no image: run the build step"
  if [ -z "${SERVING_REVISION:-}" ]; then
    log "first deployment: creating the app on $IMAGE"
    deploy_infra "$IMAGE" "" "${AGENT_IMAGE:-}"
    load
    NEW=$(az containerapp show -n "$APP" -g "$RG" --query properties.latestRevisionName -o tsv)
  else
    local suffix
    suffix="${SHA:0:8}-$(date -u +%m%d%H%M%S)"
    log "new revision $APP--$suffix on $IMAGE (no traffic yet; $SERVING_REVISION keeps it)"
    az containerapp update -n "$APP" -g "$RG" --image "$IMAGE" --revision-suffix "$suffix" \
      --set-env-vars "HAYMAKER_AGENT_IMAGE=${AGENT_IMAGE:?no agent image: run the build step}" -o none
    NEW="$APP--$suffix"
  fi
  save NEW_REVISION "$NEW"
  local deadline=$((SECONDS + REVISION_WAIT_SECONDS)) state
  while :; do
    state=$(az containerapp revision show -n "$APP" -g "$RG" --revision "$NEW" \
      --query '[properties.provisioningState, properties.runningState]' -o tsv | tr '\n\t' '  ')
    case "$state" in
      *Failed* | *Degraded* | *Stopped*)
        die "revision $NEW: $state (ActivationFailed: is the workload profile full? maximumCount >= 2)" ;;
      *Running*) log "revision $NEW: $state"; return 0 ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || die "revision $NEW not running after ${REVISION_WAIT_SECONDS}s: $state"
    sleep 10
  done
}

step_verify() {
  load
  [ -n "${NEW_REVISION:-}" ] || die "no new revision: run the roll step"
  local fqdn
  fqdn=$(az containerapp revision show -n "$APP" -g "$RG" --revision "$NEW_REVISION" \
    --query properties.fqdn -o tsv)
  log "verifying $NEW_REVISION at https://$fqdn"
  verify_url "https://$fqdn" "$NEW_REVISION"
}

step_promote() {
  load
  log "all traffic to $NEW_REVISION"
  az containerapp ingress traffic set -n "$APP" -g "$RG" --revision-weight "$NEW_REVISION=100" -o none
  save PROMOTED 1
  local fqdn
  fqdn=$(az containerapp show -n "$APP" -g "$RG" --query properties.configuration.ingress.fqdn -o tsv)
  if ! (verify_url "https://$fqdn" "$NEW_REVISION"); then
    step_rollback
    die "the app failed verification after promotion; rolled back to ${SERVING_REVISION:-nothing}"
  fi
  if [ -n "${SERVING_REVISION:-}" ] && [ "$SERVING_REVISION" != "$NEW_REVISION" ]; then
    # Inactive, not deleted: `scripts/deploy.sh rollback` can bring it back.
    az containerapp revision deactivate -n "$APP" -g "$RG" --revision "$SERVING_REVISION" -o none
  fi
  save SERVING_REVISION "$NEW_REVISION"
  save SERVING_IMAGE "$IMAGE"
  save NEW_REVISION ""
  save PROMOTED ""
  log "deployed $IMAGE as $NEW_REVISION"
}

step_rollback() {
  [ -f "$STATE" ] || { log "nothing to roll back"; return 0; }
  load
  if [ -z "${NEW_REVISION:-}" ]; then log "nothing to roll back"; return 0; fi
  if [ -z "${SERVING_REVISION:-}" ]; then
    die "first deployment failed: no previous revision to return to ($NEW_REVISION left for inspection)"
  fi
  log "rolling back: all traffic to $SERVING_REVISION, $NEW_REVISION deactivated"
  az containerapp revision activate -n "$APP" -g "$RG" --revision "$SERVING_REVISION" -o none
  az containerapp ingress traffic set -n "$APP" -g "$RG" \
    --revision-weight "$SERVING_REVISION=100" -o none
  az containerapp revision deactivate -n "$APP" -g "$RG" --revision "$NEW_REVISION" -o none
  save NEW_REVISION ""
  save PROMOTED ""
}

step_verify_live() {
  # azd hooks see the Bicep outputs as environment variables; otherwise use the state.
  APP=${SERVICE_ORCHESTRATOR_NAME:-}
  RG=${AZURE_RESOURCE_GROUP:-}
  if [ -z "$APP" ] || [ -z "$RG" ]; then
    load
  fi
  local fqdn revision
  fqdn=$(az containerapp show -n "$APP" -g "$RG" --query properties.configuration.ingress.fqdn -o tsv)
  revision=$(serving_revision)
  verify_url "https://$fqdn" "$revision"
}

step_all() {
  step_check
  step_provision
  step_build
  # Separate processes: each step keeps `set -e`, which bash ignores inside an `if`.
  if "$0" roll "$ENV_NAME" && "$0" verify "$ENV_NAME"; then
    "$0" promote "$ENV_NAME"
  else
    "$0" rollback "$ENV_NAME"
    die "the new revision failed; the previous revision keeps serving"
  fi
}

case "$STEP" in
  all) step_all ;;
  check) step_check ;;
  provision) step_provision ;;
  build) step_build ;;
  roll) step_roll ;;
  verify) step_verify ;;
  promote) step_promote ;;
  rollback) step_rollback ;;
  verify-live) step_verify_live ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    [ "$STEP" = help ] || exit 2
    ;;
esac
