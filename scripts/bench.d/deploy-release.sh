# shellcheck shell=bash disable=SC2034  # VALUE is read by scripts/bench (alternate)
# Sourced by scripts/bench, whose functions and variables it uses.
#
# deploy-release: a new image for the one service of stacks/local.toml, without
# waiting for the rollout: `stackup deploy-release local --image web=IMAGE --no-wait
# --yes` against `ecs deploy CLUSTER web --image web IMAGE --timeout -1` (ecs-deploy,
# from PyPI) and against scripts/bench.d/ecs-deploy.sh (plain `aws ecs` calls:
# describe-services, describe-task-definition, register-task-definition with the new
# image, update-service). The state is prepared once: the stack created in our moto,
# then one first deploy-release so that the service exists. All sides deploy to that
# one service in turn, each run with an image of its own (tag SIDE-ROUND), so that
# every run registers a revision and updates the service; after every run the
# service's task definition must carry that image, or the bench fails.
#
# Floor for stackup's job, 8 calls: who deploys (sts GetCallerIdentity: the account
# goes into the SSM parameter ARNs of the task definition, the caller into the release
# record); the platform stack's outputs (cloudformation DescribeStacks: cluster, roles,
# log group, target group, subnets and security group; the platform re-exports the
# network's, so the network stack is read only when a template names an output the
# platform lacks); the service (ecs DescribeServices: which revision runs); that
# revision (ecs DescribeTaskDefinition: the images not given with --image, the diff
# shown, whether anything changed at all); the cookie and the parameters the templates
# name (ssm GetParameters, one call for up to ten: the cookie must exist
# before a task definition refers to it; PutParameter without overwrite would be one
# call as well); the new revision (ecs RegisterTaskDefinition), the service (ecs
# UpdateService) and the release record (ssm PutParameter, which rollback reads).
# Until this bench, stackup made 10: it read the network stack as well (not needed:
# every output the templates use is the platform's) and described the service a
# second time before updating it, to know which events were old, which matters only
# when it waits. The peers' floor is 4 (the two ecs reads and the two writes): they
# neither check a cookie nor record the release, and are handed the cluster name.
# ecs-deploy makes 6: it describes the service again after updating it and, by
# default, deregisters the revision it replaced.
#
# moto's ECS model moves a rollout one step on each DescribeServices of the service,
# so the reset before every run settles the service (describes it until its one
# deployment is COMPLETED): each run starts from a service at rest, as on AWS after a
# finished deploy.

# ecs_bench COMMAND ARG...: reads ECS in our moto directly (never through a proxy, so
# never counted), with botocore from the peers' venv.
#   outputs STACK                             the stack's outputs, KEY=VALUE lines
#   settle CLUSTER SERVICE...                 describe each until its rollout is done
#   images CLUSTER CONTAINER SERVICE...       "SERVICE IMAGE" of each service's revision
ecs_bench() {
  "$PEERS/bin/python" - "$MOTO" "$@" <<'EOF'
import sys, time
import botocore.session
url, command, *args = sys.argv[1:]
session = botocore.session.get_session()
def client(service):
    return session.create_client(service, region_name="us-east-1", endpoint_url=url)
if command == "outputs":
    stack = client("cloudformation").describe_stacks(StackName=args[0])["Stacks"][0]
    for output in stack.get("Outputs", []):
        print(f"{output['OutputKey']}={output['OutputValue']}")
elif command == "settle":
    ecs = client("ecs")
    cluster, services = args[0], args[1:]
    deadline = time.monotonic() + 60
    while services:
        found = []
        for start in range(0, len(services), 10):  # DescribeServices takes 10 at most
            found += ecs.describe_services(cluster=cluster, services=services[start:start + 10])["services"]
        services = [s["serviceName"] for s in found
                    if len(s["deployments"]) != 1 or s["deployments"][0].get("rolloutState") != "COMPLETED"]
        if services and time.monotonic() > deadline:
            sys.exit(f"services still rolling out after 60 s: {' '.join(services)}")
elif command == "images":
    ecs = client("ecs")
    cluster, container, services = args[0], args[1], args[2:]
    for start in range(0, len(services), 10):
        for service in ecs.describe_services(cluster=cluster, services=services[start:start + 10])["services"]:
            definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
            image = next((c["image"] for c in definition["containerDefinitions"] if c["name"] == container), "none")
            print(service["serviceName"], image)
else:
    sys.exit(f"ecs_bench: no command {command}")
EOF
}

# deploy_check CLUSTER IMAGE SERVICE...: fail the bench unless every service's
# revision runs IMAGE in its web container (a run that did nothing must not count).
deploy_check() {
  local cluster=$1 image=$2 service got
  shift 2
  ecs_bench images "$cluster" web "$@" >"$OUT/logs/$RUN_NAME.images" ||
    die "$RUN_NAME: could not read the services back; see $OUT/logs/$RUN_NAME.images"
  for service in "$@"; do
    got=$(awk -v s="$service" '$1 == s { print $2 }' "$OUT/logs/$RUN_NAME.images")
    [[ $got == "$image" ]] || die "$RUN_NAME: service $service runs image ${got:-none}, not $image"
  done
}

# deploy_stack_setup DIR: a reset moto with the stack of stacks/local.toml created in
# it; sets DEPLOY_CLUSTER.
deploy_stack_setup() {
  local dir=$1
  mkdir -p "$dir"
  python3 -c 'import secrets, string; a = string.ascii_letters + string.digits
print("".join(secrets.choice(a) for _ in range(40)))' >"$dir/master-password"
  moto reset
  moto put-secret "$MASTER_PARAMETER" "$dir/master-password"
  # The web template's secret (update-resources writes it; deploy-release refuses
  # a task definition whose parameters do not exist): any value will do here.
  moto put-secret "$APP_PARAMETER" "$dir/master-password"
  "$STACKUP" --endpoint-url "$MOTO" create-stack "$STACK" --yes >"$dir/create-stack.log" 2>&1 ||
    die "create-stack failed; see $dir/create-stack.log"
  DEPLOY_CLUSTER=$(ecs_bench outputs "$STACK_ID-platform" | sed -n 's/^ClusterName=//p')
  [[ -n $DEPLOY_CLUSTER ]] || die "the platform stack has no ClusterName output"
}

deploy_release_reset() { ecs_bench settle "$DEPLOY_CLUSTER" web || die "$RUN_NAME: the service did not settle"; }
deploy_release_run() {
  local side=$1 image=demo:${RUN_NAME#deploy-release-}
  case $side in
    stackup)
      measure "$RUN_NAME" "$STACKUP" --endpoint-url "${PROXY[stackup]}" \
        deploy-release "$STACK" --image "web=$image" --no-wait --yes ;;
    ecs-deploy)
      measure "$RUN_NAME" env AWS_ENDPOINT_URL="${PROXY[ecs-deploy]}" "$PEERS/bin/ecs" \
        deploy "$DEPLOY_CLUSTER" web --image web "$image" --timeout -1 ;;
    aws)
      measure "$RUN_NAME" bash "$HELPERS/ecs-deploy.sh" "${PROXY[aws]}" "$DEPLOY_CLUSTER" web web "$image" ;;
  esac
  VALUE=$WALL
  deploy_check "$DEPLOY_CLUSTER" "$image" web
  busy_extra "$side"
}

# deploy_release_bound: what moto leaves reachable, from the medians recorded so far
# (a JSON list of text): the ratio stackup would have with no time of its own at all.
deploy_release_bound() {
  python3 - "$RESULTS" <<'EOF2'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    item = json.loads(line)
    if item.get("type") == "run" and item["name"] == "deploy-release":
        runs.setdefault(item["side"], []).append(item)
out = []
if "stackup" in runs and "ecs-deploy" in runs:
    busy = statistics.median(r["extra"]["moto_busy_s"] for r in runs["stackup"])
    rest = statistics.median(r["extra"]["rest_s"] for r in runs["stackup"])
    peer = statistics.median(r["value"] for r in runs["ecs-deploy"])
    peer_rest = statistics.median(r["extra"]["rest_s"] for r in runs["ecs-deploy"])
    out.append(f"what bounds it: moto is busy {busy:.3f} s with stackup's 8 calls (5 rounds in sequence: "
               f"GetCallerIdentity, DescribeStacks, GetParameters and the service's newest revision "
               f"(DescribeTaskDefinition) at once, which moto answers one after another, then "
               f"DescribeServices, RegisterTaskDefinition, UpdateService and PutParameter one by one); with no time of "
               f"its own at all stackup would be {peer / busy:.1f}x ecs-deploy here. Time outside moto: "
               f"stackup {rest * 1000:.0f} ms (process start, loading the system's CA certificates for TLS, "
               f"templates, the diff, and the proxy's forwarding), ecs-deploy {peer_rest * 1000:.0f} ms")
print(json.dumps(out))
EOF2
}
deploy_release_meta() { # deploy_release_meta [NOTES_JSON]
  record type=meta name=deploy-release \
    title="a new image for one service, without waiting for the rollout" \
    metric="wall time" unit=s digits=2 ref=stackup \
    extras="$BUSY_EXTRAS" \
    sides='[{"name": "stackup", "command": "stackup deploy-release local --image web=IMAGE --no-wait --yes"},
            {"name": "ecs-deploy", "command": "ecs deploy CLUSTER web --image web IMAGE --timeout -1"},
            {"name": "aws", "command": "aws ecs describe-services, describe-task-definition, register-task-definition, update-service (scripts/bench.d/ecs-deploy.sh)"}]' \
    floor='{"stackup": 8, "ecs-deploy": 4, "aws": 4}' \
    floor_why="stackup 8: sts GetCallerIdentity (the account for the SSM parameter ARNs, the caller for the release record), cloudformation DescribeStacks of the platform stack (its outputs fill the templates), ecs DescribeServices and DescribeTaskDefinition (what runs: the diff, the images kept), ssm GetParameters (the cookie and the parameters the templates name exist), ecs RegisterTaskDefinition and UpdateService, ssm PutParameter (the release record rollback reads); the peers 4: the two ecs reads and the two writes, with no cookie, no record, and the cluster name handed to them; ecs-deploy also describes the service again after the update and deregisters the revision it replaced (its default)" \
    target='{"side": "ecs-deploy", "ref": "stackup", "min": 10, "text": "stackup at least 10x faster than ecs-deploy"}' \
    notes="$(python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1]) + json.loads(sys.argv[2])))' "${1:-[]}" '["the stack is created once, then one first deploy-release creates the service; every run deploys an image of its own to that service (so every side registers a revision and updates the service; checked after every run), from a service whose rollout is settled",
            "ecs-deploy reaches moto through AWS_ENDPOINT_URL (it has no --endpoint-url; botocore honours it)",
            "the recording proxy'"'"'s own forwarding (examples/bench_proxy.rs) counts in every side'"'"'s rest: about 0.1-0.2 ms a call (2026-12-07, 400 sequential sts and ssm calls with the SDK'"'"'s headers, 1.8 ms each straight to moto: 0.06-0.08 ms more through it on a kept-alive connection, 0.18-0.20 ms with a new connection a call, 0.4-0.8 ms more for a round of 3 calls at once; the Python proxy it replaced added 0.37-0.46 ms, 0.57-0.61 ms and 1.2-2.0 ms), some 1-2 ms over stackup'"'"'s 8 calls. Straight to moto (2026-12-03, strace --seccomp-bpf, 4 runs): the first call leaves 12-17 ms after exec (validate alone, process start and files, takes 5-6 ms; then the SDK configuration and the system'"'"'s CA certificates, read once for all clients since they share one HTTPS client: about 2.5 ms of CPU in perf), the three calls of the first round end 18-20 ms later, each later call takes 6-8 ms"]')"
}
bench_deploy_release() {
  log "deploy-release: stackup deploy-release against ecs deploy and aws ecs calls"
  command -v jq >/dev/null || die "jq is missing (scripts/bench.d/ecs-deploy.sh uses it): apt-get install jq"
  local dir=$OUT/deploy-release
  deploy_stack_setup "$dir"
  "$STACKUP" --endpoint-url "$MOTO" deploy-release "$STACK" --image web=demo:setup --no-wait --yes \
    >"$dir/first-deploy.log" 2>&1 || die "the first deploy-release failed; see $dir/first-deploy.log"
  RUN_NAME=deploy-release-setup deploy_check "$DEPLOY_CLUSTER" demo:setup web
  start_proxy stackup
  start_proxy ecs-deploy
  start_proxy aws
  deploy_release_meta
  alternate deploy-release stackup ecs-deploy aws
  deploy_release_meta "$(deploy_release_bound)"
}
