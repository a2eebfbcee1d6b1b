# shellcheck shell=bash disable=SC2034  # VALUE, RSS_KB and EXTRA are read by scripts/bench (alternate)
# Sourced by scripts/bench, whose functions and variables it uses.
#
# cluster: the time from `stackup deploy-release` of the demo release (demo-app/, a real
# `mix release` in an image made by scripts/demo-image, pushed to the local registry) to
# `stackup cluster` saying whole, for 3 nodes that run as real containers on the local
# cloud (scripts/moto_server.py, entry 25), and the memory each node's container uses
# then (docker stats). No peer: a figure, with no target. Each run starts from a reset
# moto of our own: the stack created (stacks/local.toml with 3 hosts and desired_count 3,
# as scripts/demo runs it), real tasks turned on for the account, no service yet; the run
# is `deploy-release` (it waits for the rollout: 3 tasks RUNNING), then `cluster` every
# 0.5 s until it exits 0 (every node answered and all are connected; each ask starts a
# `bin/demo rpc` BEAM in each container). Needs the local cloud's Docker engine and
# registry (scripts/local-cloud up), which our moto uses as the shared one does.

# cluster_whole STACKUP CONFIG ENDPOINT IMAGE TIMES: deploy-release, then cluster until
# whole (at most 120 s); writes "deploy_s whole_s" to TIMES.
cluster_whole() {
  local stackup=$1 config=$2 endpoint=$3 image=$4 times=$5 start deployed i
  start=$EPOCHREALTIME
  "$stackup" --config-dir "$config" --endpoint-url "$endpoint" deploy-release "$STACK" \
    --image "web=$image" --yes || return 1
  deployed=$EPOCHREALTIME
  for ((i = 0; i < 240; i++)); do
    if "$stackup" --config-dir "$config" --endpoint-url "$endpoint" cluster "$STACK" >/dev/null 2>&1; then
      awk -v a="$start" -v b="$deployed" -v c="$EPOCHREALTIME" 'BEGIN { printf "%.3f %.3f\n", b - a, c - a }' >"$times"
      return 0
    fi
    sleep 0.5
  done
  echo "cluster: not whole 120 s after deploy-release" >&2
  "$stackup" --config-dir "$config" --endpoint-url "$endpoint" cluster "$STACK" >&2 || true
  return 1
}

# cluster_memory: the median memory (MiB) of our moto's task containers, by docker stats.
cluster_memory() {
  local ids
  mapfile -t ids < <("$DOCKER_CLIENT" ps -q --filter "label=stackup.local-cloud.launcher=$MOTO_PID" \
    --filter label=com.amazonaws.ecs.task-arn)
  ((${#ids[@]} == 3)) || die "$RUN_NAME: ${#ids[@]} task containers run, 3 expected"
  "$DOCKER_CLIENT" stats --no-stream --format '{{.MemUsage}}' "${ids[@]}" | python3 -c '
import re, statistics, sys
factor = {"B": 1 / 2**20, "KiB": 1 / 1024, "kB": 1 / 1024, "MiB": 1, "MB": 1, "GiB": 1024, "GB": 1024}
used = []
for line in sys.stdin:
    number, unit = re.match(r"\s*([0-9.]+)\s*([A-Za-z]+)", line).groups()
    used.append(float(number) * factor[unit])
print(f"{statistics.median(used):.1f} {min(used):.1f} {max(used):.1f}")'
}

cluster_reset() {
  moto reset # stops the containers of the previous run (entry 25)
  moto put-secret "$MASTER_PARAMETER" "$CLUSTER_DIR/master-password"
  moto put-secret "$APP_PARAMETER" "$CLUSTER_DIR/master-password" # the template's secret; any value
  "$STACKUP" --config-dir "$CLUSTER_DIR/config" --endpoint-url "$MOTO" create-stack "$STACK" --yes \
    >"$CLUSTER_DIR/create-stack.log" 2>&1 || die "create-stack failed; see $CLUSTER_DIR/create-stack.log"
  http "$MOTO/moto-api/ecs-model/real-tasks" post >/dev/null ||
    die "our moto would not run real tasks (is the local cloud's Docker engine up?)"
}
cluster_run() {
  measure "$RUN_NAME" bash -c "$(declare -f cluster_whole); STACK=$STACK cluster_whole \"\$@\"" _ \
    "$STACKUP" "$CLUSTER_DIR/config" "${PROXY[stackup]}" "$CLUSTER_IMAGE" "$CLUSTER_DIR/times"
  local deploy_s whole_s memory median low high
  read -r deploy_s whole_s <"$CLUSTER_DIR/times"
  read -r median low high <<<"$(cluster_memory)"
  VALUE=$whole_s
  EXTRA="{\"deploy_s\": $deploy_s, \"memory_mib\": $median, \"memory_range\": \"$low-$high\"}"
}

bench_cluster() {
  log "cluster: deploy-release of 3 real nodes to stackup cluster saying whole, and their memory"
  CLUSTER_DIR=$OUT/cluster
  rm -rf "$CLUSTER_DIR"
  mkdir -p "$CLUSTER_DIR/config/stacks"
  DOCKER_CLIENT=docker
  [[ -x /usr/bin/docker ]] && DOCKER_CLIENT=/usr/bin/docker # Debian's, as scripts/demo-image
  export DOCKER_HOST
  DOCKER_HOST=$(state docker.host)
  python3 -c 'import secrets, string; a = string.ascii_letters + string.digits
print("".join(secrets.choice(a) for _ in range(40)))' >"$CLUSTER_DIR/master-password"
  # The stack as scripts/demo runs it: 3 hosts, 3 tasks.
  sed -e 's/^hosts = 2$/hosts = 3/' -e 's/^desired_count = 2$/desired_count = 3/' \
    stacks/local.toml >"$CLUSTER_DIR/config/stacks/local.toml"
  grep -q '^desired_count = 3$' "$CLUSTER_DIR/config/stacks/local.toml" ||
    die "stacks/local.toml no longer says 'desired_count = 2'; update scripts/bench.d/cluster.sh"
  local path
  for path in task-defs scripts .local-cloud; do ln -s "$ROOT/$path" "$CLUSTER_DIR/config/$path"; done
  # The image, in the local registry (ECR's registry endpoint).
  local built local_image registry
  built=$(scripts/demo-image 2>"$CLUSTER_DIR/demo-image.log") || die "scripts/demo-image failed; see $CLUSTER_DIR/demo-image.log"
  local_image=$(sed -n 's/^image //p' <<<"$built")
  registry=$(state registry.address)
  CLUSTER_IMAGE=$registry/bench/web:${local_image##*:}
  mkdir -p "$CLUSTER_DIR/docker-config"
  "$DOCKER_CLIENT" --config "$CLUSTER_DIR/docker-config" login --username "$(state registry.user)" \
    --password-stdin "$registry" <"$(state registry.password_file)" >/dev/null 2>&1 || die "docker login to $registry failed"
  "$DOCKER_CLIENT" tag "$local_image" "$CLUSTER_IMAGE"
  "$DOCKER_CLIENT" --config "$CLUSTER_DIR/docker-config" push --quiet "$CLUSTER_IMAGE" >/dev/null ||
    die "docker push $CLUSTER_IMAGE failed"
  rm -rf "$CLUSTER_DIR/docker-config"
  start_proxy stackup
  record type=meta name=cluster \
    title="deploy-release of 3 real nodes until stackup cluster says whole" \
    metric="to whole" unit=s digits=1 ref=stackup \
    extras='[{"key": "deploy_s", "label": "deploy-release (rollout completed)", "unit": "s", "digits": 1},
             {"key": "memory_mib", "label": "memory per task", "unit": "MiB", "digits": 1}]' \
    rss_label="peak RSS of stackup" \
    sides='[{"name": "stackup", "command": "stackup deploy-release local --image web=IMAGE --yes, then stackup cluster local every 0.5 s until exit 0"}]' \
    notes='["no target: a figure. 3 tasks of the demo release (demo-app/: Elixir 1.14, OTP 25, DNS discovery every 3 s) as containers under the local Docker engine, each at its awsvpc address with the real entrypoint, its cookie from SSM and the security group enforced; each run from a reset moto of our own with the stack created and no service",
            "memory per task: docker stats of the 3 containers once the cluster is whole (the BEAM of the node, idle); the task template reserves 896 MiB (memoryReservation) and caps at 1792 MiB",
            "each stackup cluster asks every node at once through the bastion and docker exec of bin/demo rpc (a BEAM started per ask); the time between deploy-release ending and whole (median 0.9 s) is the nodes meeting and the asks"]'
  alternate cluster stackup
}
