#!/bin/sh
# ecs-entrypoint-proposal.sh: a proposed successor of scripts/ecs-entrypoint.sh (issue 19).
# Names this Erlang node from the ECS task metadata, pins the distribution ports, then
# starts the release.
#
#   ENTRYPOINT ["/app/bin/ecs-entrypoint.sh"]   CMD ["/app/bin/demo", "start"]
#
# Reads the ECS task metadata endpoint v4 ($ECS_CONTAINER_METADATA_URI_V4/task) and exports
#   RELEASE_DISTRIBUTION=name
#   RELEASE_NODE, by NODE_NAME_MODE (default ip):
#     ip       <NODE_BASENAME>@<task IP>                      (libcluster DNSPoll, DNSCluster)
#     release  <NODE_BASENAME>-<STACKUP_RELEASE>@<task IP>    (one basename per release)
#     task     <NODE_BASENAME>-<task id>@<task IP>            (today's names)
#   ERL_AFLAGS, with "-kernel inet_dist_listen_min A inet_dist_listen_max B" appended
#     when DISTRIBUTION_PORTS=A-B is set (what ERL_AFLAGS held before is kept).
# The task id is the last part of TaskARN; the address is the task's awsvpc address.
# stackup derives the same name from DescribeTasks (src/release/node_name.rs): keep
# them in step. POSIX sh; needs curl or wget in the image.
set -eu

fail() {
    echo "ecs-entrypoint: $*" >&2
    exit 1
}

[ "$#" -gt 0 ] || fail "no command to run: give the release command as arguments, such as bin/demo start"
[ -n "${NODE_BASENAME:-}" ] || fail "NODE_BASENAME is not set; set it in the task definition's environment (stackup's template uses {{service.node_basename}})"
[ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ] || fail "ECS_CONTAINER_METADATA_URI_V4 is not set: not an ECS task with the task metadata endpoint v4 (ECS agent 1.39 or later)"

mode=${NODE_NAME_MODE:-ip}
case "$mode" in
    ip | task) ;;
    release)
        [ -n "${STACKUP_RELEASE:-}" ] || fail "NODE_NAME_MODE=release needs STACKUP_RELEASE (the release id) in the task definition's environment"
        case "$STACKUP_RELEASE" in
            *[!A-Za-z0-9_-]*) fail "STACKUP_RELEASE may hold only letters, digits, '_' and '-' (it becomes part of a node name), not '$STACKUP_RELEASE'" ;;
        esac
        ;;
    *) fail "NODE_NAME_MODE must be ip, release or task, not '$mode'" ;;
esac

if [ -n "${DISTRIBUTION_PORTS:-}" ]; then
    min=${DISTRIBUTION_PORTS%%-*}
    max=${DISTRIBUTION_PORTS#*-}
    case "$min$max" in
        '' | *[!0-9]*) fail "DISTRIBUTION_PORTS must be two port numbers A-B, not '$DISTRIBUTION_PORTS'" ;;
    esac
    [ "$DISTRIBUTION_PORTS" = "$min-$max" ] && [ "$min" -ge 1 ] && [ "$min" -le "$max" ] && [ "$max" -le 65535 ] ||
        fail "DISTRIBUTION_PORTS must be A-B with 1 <= A <= B <= 65535, not '$DISTRIBUTION_PORTS'"
fi

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

case "$mode" in
    ip) RELEASE_NODE="${NODE_BASENAME}@${address}" ;;
    release) RELEASE_NODE="${NODE_BASENAME}-${STACKUP_RELEASE}@${address}" ;;
    task) RELEASE_NODE="${NODE_BASENAME}-${task_arn##*/}@${address}" ;;
esac
RELEASE_DISTRIBUTION=name
export RELEASE_DISTRIBUTION RELEASE_NODE

if [ -n "${DISTRIBUTION_PORTS:-}" ]; then
    ERL_AFLAGS="${ERL_AFLAGS:+$ERL_AFLAGS }-kernel inet_dist_listen_min $min inet_dist_listen_max $max"
    export ERL_AFLAGS
fi
exec "$@"
