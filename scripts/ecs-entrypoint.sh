#!/bin/sh
# ecs-entrypoint.sh: name this Erlang node after its ECS task, then start the release.
#
#   ENTRYPOINT ["/app/bin/ecs-entrypoint.sh"]   CMD ["/app/bin/demo", "start"]
#
# Reads the ECS task metadata endpoint v4 ($ECS_CONTAINER_METADATA_URI_V4/task)
# and exports
#   RELEASE_DISTRIBUTION=name
#   RELEASE_NODE=<NODE_BASENAME>-<task id>@<task private IP>
# (NODE_BASENAME is set in the task definition from the stack file's
# node_basename). The task id is the last part of TaskARN; the address is the
# task's awsvpc address, reachable from the other tasks. stackup derives the
# same name from DescribeTasks (src/release/node_name.rs): keep them in step.
# POSIX sh; needs curl or wget in the image.
set -eu

fail() {
    echo "ecs-entrypoint: $*" >&2
    exit 1
}

[ "$#" -gt 0 ] || fail "no command to run: give the release command as arguments, such as bin/demo start"
[ -n "${NODE_BASENAME:-}" ] || fail "NODE_BASENAME is not set; set it in the task definition's environment (stackup's template uses {{service.node_basename}})"
[ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ] || fail "ECS_CONTAINER_METADATA_URI_V4 is not set: not an ECS task with the task metadata endpoint v4 (ECS agent 1.39 or later)"

fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 5 --retry 3 "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 5 -O - "$1"
    else
        fail "neither curl nor wget is installed in the image; one of them is needed to read the task metadata"
    fi
}

metadata=$(fetch "$ECS_CONTAINER_METADATA_URI_V4/task") || fail "cannot read the task metadata at $ECS_CONTAINER_METADATA_URI_V4/task"
# One line, so that the fields can be cut out whatever the formatting.
flat=$(printf '%s' "$metadata" | tr -d '\n\r')
task_arn=$(printf '%s' "$flat" | sed -n 's/.*"TaskARN"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
address=$(printf '%s' "$flat" | sed -n 's/.*"IPv4Addresses"[[:space:]]*:[[:space:]]*\[[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$task_arn" ] || fail "the task metadata has no TaskARN"
[ -n "$address" ] || fail "the task metadata has no IPv4 address: is the task definition's networkMode awsvpc?"

RELEASE_DISTRIBUTION=name
RELEASE_NODE="${NODE_BASENAME}-${task_arn##*/}@${address}"
export RELEASE_DISTRIBUTION RELEASE_NODE
exec "$@"
