#!/usr/bin/env bash
# The aws CLI side of the create-stack comparison: what a user of the aws CLI runs
# to do what `stackup create-stack local --yes` does. It deploys the network stack,
# reads its subnet lists, then deploys the platform stack (which takes them as
# parameters and imports the network's other exports) with `aws cloudformation
# deploy`, each through a change set that it waits for and executes.
#
# usage: cfn-deploy.sh ENDPOINT_URL DIR
# DIR holds what a user would have written down once: the stack names, the SSM
# parameter name, and one Key=Value per line for the parameters and tags of each
# stack (network.parameters, network.tags, platform.parameters, platform.tags).
# AWS_CLI is the aws executable (default: aws on PATH).
set -euo pipefail
endpoint=$1 dir=$2
aws() { "${AWS_CLI:-aws}" --endpoint-url "$endpoint" "$@"; }

root=$(cd "$(dirname "$0")/../.." && pwd)
read -r network_stack <"$dir/network.stack-name"
read -r platform_stack <"$dir/platform.stack-name"
read -r password_parameter <"$dir/password-parameter"
mapfile -t network_parameters <"$dir/network.parameters"
mapfile -t network_tags <"$dir/network.tags"
mapfile -t platform_parameters <"$dir/platform.parameters"
mapfile -t platform_tags <"$dir/platform.tags"

# TemplateBody takes at most 51,200 bytes (CloudFormation quotas) and the platform
# template is larger as written: a user of the aws CLI sends it compacted, as
# stackup does, rather than through an S3 bucket.
for template in network platform; do
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"), separators=(",", ":"))' \
    "$root/stacks/$template.json" "$dir/$template.compact.json"
done

# The platform reads the master password itself, a dynamic reference to its SSM
# parameter (user guide "Get values stored in other services using dynamic
# references"): nothing to read or pass here.

aws cloudformation deploy --stack-name "$network_stack" \
  --template-file "$dir/network.compact.json" \
  --parameter-overrides "${network_parameters[@]}" \
  --tags "${network_tags[@]}" --no-fail-on-empty-changeset

# The platform takes the subnet lists as parameters, the network stack's outputs of
# the same names (an import could never change, so a stack could not grow a zone).
mapfile -t network_outputs < <(aws cloudformation describe-stacks --stack-name "$network_stack" \
  --query "Stacks[0].Outputs[?contains(['PublicSubnetIds','PrivateSubnetIds','DataSubnetIds'], OutputKey)].[OutputKey,OutputValue]" \
  --output text | awk -F '\t' '{ print $1 "=" $2 }')

aws cloudformation deploy --stack-name "$platform_stack" \
  --template-file "$dir/platform.compact.json" \
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
  --parameter-overrides "${platform_parameters[@]}" "${network_outputs[@]}" \
  --tags "${platform_tags[@]}" --no-fail-on-empty-changeset
