#!/usr/bin/env bash
# The aws CLI side of the deploy-release comparison: what a user of the aws CLI runs
# to do what `stackup deploy-release local --image web=IMAGE --no-wait --yes` does to
# one service: a new revision of the task definition the service runs, with one
# container's image replaced, and the service pointed at it (no wait).
#
# usage: ecs-deploy.sh ENDPOINT_URL CLUSTER SERVICE CONTAINER IMAGE
# AWS_CLI is the aws executable (default: aws on PATH). Needs jq.
set -euo pipefail
endpoint=$1 cluster=$2 service=$3 container=$4 image=$5
aws() { "${AWS_CLI:-aws}" --endpoint-url "$endpoint" "$@"; }

running=$(aws ecs describe-services --cluster "$cluster" --services "$service" \
  --query 'services[0].taskDefinition' --output text)
[[ -n $running && $running != None ]] || { echo "ecs-deploy.sh: no service $service in $cluster" >&2; exit 1; }

# The revision as RegisterTaskDefinition takes it: the fields ECS adds on registering
# removed, the image replaced. The tags go along, as a copy should keep them.
described=$(aws ecs describe-task-definition --task-definition "$running" --include TAGS --output json)
request=$(jq --arg container "$container" --arg image "$image" '
  .taskDefinition
  | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities,
        .registeredAt, .registeredBy, .deregisteredAt)
  | .containerDefinitions |= map(if .name == $container then .image = $image else . end)
  | if any(.containerDefinitions[]; .name == $container) then .
    else error("no container \($container) in the running task definition") end
' <<<"$described" | jq --argjson tags "$(jq '.tags // []' <<<"$described")" \
  'if ($tags | length) > 0 then .tags = $tags else . end')

registered=$(aws ecs register-task-definition --cli-input-json "$request" \
  --query 'taskDefinition.taskDefinitionArn' --output text)

aws ecs update-service --cluster "$cluster" --service "$service" \
  --task-definition "$registered" --query 'service.taskDefinition' --output text
