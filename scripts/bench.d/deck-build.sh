#!/usr/bin/env bash
# The deck's way of building and pushing a release's image (seed 001, slide 32: the
# "Deploy Release" script): log in to ECR with the aws CLI, `docker-compose build`
# the services, `docker push` the image, tagged with the git commit as stackup tags it.
# Used by scripts/bench.d/build.sh as the peer of `stackup build`.
#
# Usage: deck-build.sh PROJECT_DIR REGISTRY REPOSITORY   (the aws CLI as $AWS_CLI,
#        reaching ECR through AWS_ENDPOINT_URL; DOCKER_HOST and DOCKER_CONFIG as set)
set -euo pipefail
dir=$1 registry=$2 repository=$3
tag=$(git -C "$dir" rev-parse --short=12 HEAD)
"$AWS_CLI" ecr get-login-password | docker login --username AWS --password-stdin "$registry" >/dev/null
(cd "$dir" && IMAGE=$registry/$repository TAG=$tag docker-compose build --quiet web)
docker push "$registry/$repository:$tag" >/dev/null
