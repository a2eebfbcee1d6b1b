#!/usr/bin/env bash
# The aws CLI side of the create-stack comparison: what a user of the aws CLI runs
# to do what `stackup create-stack local --yes` does. It reads the database master
# password from SSM, then deploys the network stack and then the platform stack
# (which imports the network's exports) with `aws cloudformation deploy`, each
# through a change set that it waits for and executes.
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

password=$(aws ssm get-parameter --with-decryption --name "$password_parameter" \
  --query Parameter.Value --output text)

aws cloudformation deploy --stack-name "$network_stack" \
  --template-file "$root/stacks/network.json" \
  --parameter-overrides "${network_parameters[@]}" \
  --tags "${network_tags[@]}" --no-fail-on-empty-changeset

aws cloudformation deploy --stack-name "$platform_stack" \
  --template-file "$root/stacks/platform.json" \
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
  --parameter-overrides "${platform_parameters[@]}" "DatabaseMasterPassword=$password" \
  --tags "${platform_tags[@]}" --no-fail-on-empty-changeset
