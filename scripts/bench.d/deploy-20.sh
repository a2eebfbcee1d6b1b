# shellcheck shell=bash disable=SC2034  # VALUE is read by scripts/bench (alternate)
# Sourced by scripts/bench, whose functions and variables it uses; ecs_bench,
# deploy_check and deploy_stack_setup come from scripts/bench.d/deploy-release.sh.
#
# deploy-20: `stackup deploy-release local --image web=IMAGE --no-wait --yes` of a
# stack with 20 services against the same of the same stack with 1 (stackup deploys
# the services at once, so 20 should take little longer than 1). The 1-service side
# is stacks/local.toml as it is; the 20-service side is a config dir generated under
# $OUT/deploy-20/config: its stacks/local.toml is stacks/local.toml with [services.web]
# copied 19 times (web-2 ... web-20: same task and service definition templates, each
# service's name and task family coming from {{service.name}} and {{family}}), and the
# files the stack file names (task-defs/, scripts/db/, .local-cloud/) are links to
# this repository's. Both are the same stack (demo-local-v1), created once; one first
# deploy of the 20 services creates them all (web included). Each run deploys an image
# of its own to every service of its side (checked after every run), from services
# whose rollouts are settled.
#
# Floor, for N services: 3 shared calls (sts GetCallerIdentity, cloudformation
# DescribeStacks of the platform, ssm GetParameters of the stack's one cookie and the
# parameters the templates name), then
# per service ecs DescribeTaskDefinition, RegisterTaskDefinition, UpdateService and
# ssm PutParameter (its release record), and ecs DescribeServices, which takes 10
# services a call: 3 + 4N + ceil(N / 10), 8 for 1 service, 85 for 20; stackup makes
# exactly these.
#
# The seconds moto took are not shown: stackup makes the calls of the 20 services at
# once, and their times at the proxy overlap (their sum exceeds the wall time). moto
# serves every call in one Python process on the same 2 cores, so the 20-service side
# cannot take less than moto's work for its 85 calls, whatever the client.
DEPLOY20_SERVICES=(web)
for ((i = 2; i <= 20; i++)); do DEPLOY20_SERVICES+=("web-$i"); done

# the config dir and the services of SIDE (1-service or 20-services)
deploy_20_config() { if [[ $1 == 20-services ]]; then echo "$DEPLOY20_CONFIG"; else echo "$ROOT"; fi; }
deploy_20_names() { if [[ $1 == 20-services ]]; then echo "${DEPLOY20_SERVICES[@]}"; else echo web; fi; }

deploy_20_reset() {
  local names
  read -ra names <<<"$(deploy_20_names "$1")"
  ecs_bench settle "$DEPLOY_CLUSTER" "${names[@]}" || die "$RUN_NAME: the services did not settle"
}
deploy_20_run() {
  local side=$1 image=demo:${RUN_NAME#deploy-20-} names
  read -ra names <<<"$(deploy_20_names "$side")"
  measure "$RUN_NAME" "$STACKUP" --config-dir "$(deploy_20_config "$side")" --endpoint-url "${PROXY[$side]}" \
    deploy-release "$STACK" --image "web=$image" --no-wait --yes
  VALUE=$WALL
  deploy_check "$DEPLOY_CLUSTER" "$image" "${names[@]}"
  busy_extra "$side"
}
# deploy_20_config_dir DIR: DEPLOY20_CONFIG=DIR/config, a config dir whose stack file
# is stacks/local.toml with [services.web] copied 19 times (checked with validate).
deploy_20_config_dir() {
  local dir=$1
  DEPLOY20_CONFIG=$dir/config
  rm -rf "$DEPLOY20_CONFIG"
  mkdir -p "$DEPLOY20_CONFIG/stacks" "$DEPLOY20_CONFIG/scripts"
  ln -s "$ROOT/task-defs" "$DEPLOY20_CONFIG/task-defs"
  ln -s "$ROOT/scripts/db" "$DEPLOY20_CONFIG/scripts/db"
  ln -s "$ROOT/.local-cloud" "$DEPLOY20_CONFIG/.local-cloud"
  python3 - "$ROOT/stacks/$STACK.toml" "$DEPLOY20_CONFIG/stacks/$STACK.toml" "${DEPLOY20_SERVICES[@]:1}" <<'EOF'
import re, sys, tomllib
source, target, *names = sys.argv[1:]
text = open(source).read()
# [services.web]: from its header to the next table header
found = re.search(r"^\[services\.web\]\n(.*?)(?=^\[)", text, re.M | re.S)
if not found:
    sys.exit(f"{source} has no [services.web] section followed by another section")
body = found.group(1).rstrip("\n") + "\n"
copies = "".join(f"\n[services.{name}]\n{body}" for name in names)
text = text[:found.end()].rstrip("\n") + "\n" + copies + "\n" + text[found.end():]
services = tomllib.loads(text)["services"]
if sorted(services) != sorted(["web", *names]):
    sys.exit(f"the generated stack file has services {sorted(services)}")
open(target, "w").write(text)
EOF
  "$STACKUP" --config-dir "$DEPLOY20_CONFIG" validate "$STACK" >"$dir/validate.log" 2>&1 ||
    die "the generated 20-service stack file is not valid; see $dir/validate.log"
}
bench_deploy_20() {
  log "deploy-20: stackup deploy-release of 20 services against 1"
  local dir=$OUT/deploy-20 name
  deploy_20_config_dir "$dir"
  deploy_stack_setup "$dir"
  "$STACKUP" --config-dir "$DEPLOY20_CONFIG" --endpoint-url "$MOTO" deploy-release "$STACK" \
    --image web=demo:setup --no-wait --yes >"$dir/first-deploy.log" 2>&1 ||
    die "the first deploy-release failed; see $dir/first-deploy.log"
  RUN_NAME=deploy-20-setup deploy_check "$DEPLOY_CLUSTER" demo:setup "${DEPLOY20_SERVICES[@]}"
  for name in 1-service 20-services; do start_proxy "$name"; done
  record type=meta name=deploy-20 \
    title="deploy-release of 20 services against 1, without waiting for the rollouts" \
    metric="wall time" unit=s digits=2 ref=1-service \
    sides='[{"name": "1-service", "command": "stackup deploy-release local --image web=IMAGE --no-wait --yes (stacks/local.toml: 1 service)"},
            {"name": "20-services", "command": "the same with 20 services (stacks/local.toml with [services.web] copied 19 times)"}]' \
    floor='{"1-service": 8, "20-services": 85}' \
    floor_why="3 shared (sts GetCallerIdentity, cloudformation DescribeStacks of the platform, ssm GetParameters of the one cookie and the parameters the templates name) + per service ecs DescribeTaskDefinition, RegisterTaskDefinition, UpdateService and ssm PutParameter (the release record) + ecs DescribeServices, 10 services a call: 3 + 4N + ceil(N/10)" \
    target='{"side": "20-services", "ref": "1-service", "max": 2, "text": "20 services under 2x the time of 1"}' \
    extras="$BUSY_EXTRAS" \
    notes='["the stack is created once and one first deploy creates the 20 services; every run deploys an image of its own to every service of its side (checked after every run), from services whose rollouts are settled",
            "moto busy: the seconds during which at least one of the side'"'"'s calls was in moto (from the proxy'"'"'s log: calls made at once overlap, so their own seconds add up to more); the rest is the wall time less that: stackup'"'"'s own work (start, templates, diffs, output) and the proxy'"'"'s while moto was idle",
            "stackup reads and deploys the services at once; moto does the work of every call in one Python process, on 2 cores shared with stackup and the proxies, so 85 calls take about 10 times the moto time of 8 whatever the client: here that, not the concurrency, bounds 20 over 1, where on AWS the services'"'"' calls are served side by side; deploy-rtt below runs the same two sides with a round trip added to every call"]'
  alternate deploy-20 1-service 20-services
}
