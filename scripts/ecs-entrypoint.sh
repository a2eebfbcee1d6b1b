#!/bin/sh
# ecs-entrypoint.sh: name this Erlang node after its ECS task, pin its distribution
# ports, then start the release.
#
#   ENTRYPOINT ["/app/bin/ecs-entrypoint.sh"]   CMD ["/app/bin/demo", "start"]
#
# Reads the ECS task metadata endpoint v4 ($ECS_CONTAINER_METADATA_URI_V4/task) and exports
#   RELEASE_DISTRIBUTION=name
#   RELEASE_NODE, by NODE_NAME_MODE (the stack file's node_name; default ip):
#     ip       <NODE_BASENAME>@<task IP>               (libcluster DNSPoll, Phoenix DNSCluster)
#     release  <NODE_BASENAME>-r<revision>@<task IP>   (one basename per release: the task
#                                                        definition's revision)
#     task     <NODE_BASENAME>-<task id>@<task IP>     (strategies that pass full names)
#   ERL_AFLAGS, with "-kernel inet_dist_listen_min A inet_dist_listen_max B" added when
#     DISTRIBUTION_PORTS=A-B is set (the stack file's [cluster] distribution_ports, which
#     the app security group opens between tasks); what ERL_AFLAGS held is kept.
# NODE_BASENAME, NODE_NAME_MODE and DISTRIBUTION_PORTS come from the task definition
# ({{service.node_basename}}, {{service.node_name}}, {{service.distribution_ports}}).
# The task id is the last part of TaskARN; the address is the task's awsvpc address,
# reachable from the other tasks. stackup derives the same name from DescribeTasks
# (src/release/node_name.rs): keep them in step. POSIX sh; needs curl or wget.
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
    ip | release | task) ;;
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
field() {
    printf '%s' "$flat" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}
task_arn=$(field TaskARN)
address=$(printf '%s' "$flat" | sed -n 's/.*"IPv4Addresses"[[:space:]]*:[[:space:]]*\[[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$task_arn" ] || fail "the task metadata has no TaskARN"
[ -n "$address" ] || fail "the task metadata has no IPv4 address: is the task definition's networkMode awsvpc?"

case "$mode" in
    ip) RELEASE_NODE="${NODE_BASENAME}@${address}" ;;
    release)
        revision=$(field Revision)
        case "$revision" in
            '' | *[!0-9]*) fail "the task metadata has no task definition Revision (NODE_NAME_MODE=release names nodes after it)" ;;
        esac
        RELEASE_NODE="${NODE_BASENAME}-r${revision}@${address}"
        ;;
    task) RELEASE_NODE="${NODE_BASENAME}-${task_arn##*/}@${address}" ;;
esac
RELEASE_DISTRIBUTION=name
export RELEASE_DISTRIBUTION RELEASE_NODE

if [ -n "${DISTRIBUTION_PORTS:-}" ]; then
    ERL_AFLAGS="${ERL_AFLAGS:+$ERL_AFLAGS }-kernel inet_dist_listen_min $min inet_dist_listen_max $max"
    export ERL_AFLAGS
fi
exec "$@"
