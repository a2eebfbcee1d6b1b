# shellcheck shell=bash disable=SC2034  # VALUE is read by scripts/bench (alternate)
# Sourced by scripts/bench, whose functions and variables it uses; ecs_bench,
# deploy_check and deploy_stack_setup come from scripts/bench.d/deploy-release.sh,
# the 20-service config dir from scripts/bench.d/deploy-20.sh.
#
# deploy-rtt: deploy-release and deploy-20 again, with a round trip added to every
# call. moto answers on loopback in a few milliseconds, one call at a time (one
# Python process); an AWS endpoint is tens of milliseconds away and serves the calls
# of one client side by side. So on the local cloud the wall times of deploy-release
# and deploy-20 are mostly moto's work, and what a client saves by making fewer
# rounds of calls, or by making the calls of 20 services at once, hardly shows. Here
# each side's proxy holds every call RTT_MS milliseconds before forwarding it (the
# proxy's --delay-ms: calls made at once wait at once), which models that distance.
# moto's own serial work is still in every run: the 20-services side still waits for
# its 85 calls' worth of it, more than an AWS endpoint would make it wait.
#
# RTT_MS (default 50) is an assumption, not a measurement: no AWS account is reachable
# from here. It stands for one HTTPS request to a regional AWS API on a kept-alive
# connection, from a machine outside the region (a laptop, a CI runner elsewhere).
#
# Sides: stackup deploy-release --no-wait of 1 service and of 20 (as in deploy-20),
# and `ecs deploy ... --timeout -1` of the 1 service (as in deploy-release). The
# rounds of calls each makes in sequence: stackup 5 (1: GetCallerIdentity,
# DescribeStacks, GetParameters and each service's newest revision at once;
# 2: DescribeServices; 3: RegisterTaskDefinition; 4: UpdateService; 5: PutParameter,
# each per service, the services at once), ecs-deploy 6 (one call a round).
RTT_MS=${RTT_MS:-50}
DEPLOY_RTT_SIDES=("1-service@${RTT_MS}ms" "20-services@${RTT_MS}ms" "ecs-deploy@${RTT_MS}ms")

deploy_rtt_names() { if [[ $1 == 20-services@* ]]; then echo "${DEPLOY20_SERVICES[@]}"; else echo web; fi; }

deploy_rtt_reset() {
  local names
  read -ra names <<<"$(deploy_rtt_names "$1")"
  ecs_bench settle "$DEPLOY_CLUSTER" "${names[@]}" || die "$RUN_NAME: the services did not settle"
}
deploy_rtt_run() {
  local side=$1 image=demo:${RUN_NAME#deploy-rtt-} names
  image=${image//@/-}
  read -ra names <<<"$(deploy_rtt_names "$side")"
  case $side in
    1-service@*)
      measure "$RUN_NAME" "$STACKUP" --endpoint-url "${PROXY[$side]}" \
        deploy-release "$STACK" --image "web=$image" --no-wait --yes ;;
    20-services@*)
      measure "$RUN_NAME" "$STACKUP" --config-dir "$DEPLOY20_CONFIG" --endpoint-url "${PROXY[$side]}" \
        deploy-release "$STACK" --image "web=$image" --no-wait --yes ;;
    ecs-deploy@*)
      measure "$RUN_NAME" env AWS_ENDPOINT_URL="${PROXY[$side]}" "$PEERS/bin/ecs" \
        deploy "$DEPLOY_CLUSTER" web --image web "$image" --timeout -1 ;;
  esac
  VALUE=$WALL
  deploy_check "$DEPLOY_CLUSTER" "$image" "${names[@]}"
  busy_extra "$side"
}
bench_deploy_rtt() {
  log "deploy-rtt: deploy-release of 1 and 20 services and ecs deploy, ${RTT_MS} ms added to every call"
  local dir=$OUT/deploy-rtt side
  deploy_20_config_dir "$dir"
  deploy_stack_setup "$dir"
  "$STACKUP" --config-dir "$DEPLOY20_CONFIG" --endpoint-url "$MOTO" deploy-release "$STACK" \
    --image web=demo:setup --no-wait --yes >"$dir/first-deploy.log" 2>&1 ||
    die "the first deploy-release failed; see $dir/first-deploy.log"
  RUN_NAME=deploy-rtt-setup deploy_check "$DEPLOY_CLUSTER" demo:setup "${DEPLOY20_SERVICES[@]}"
  for side in "${DEPLOY_RTT_SIDES[@]}"; do start_proxy "$side" "$RTT_MS"; done
  record type=meta name=deploy-rtt \
    title="deploy-release of 1 and of 20 services, and ecs deploy, with ${RTT_MS} ms added to every call (a remote endpoint, modelled)" \
    metric="wall time" unit=s digits=2 ref="1-service@${RTT_MS}ms" \
    sides="[{\"name\": \"1-service@${RTT_MS}ms\", \"command\": \"stackup deploy-release local --image web=IMAGE --no-wait --yes (1 service)\"},
            {\"name\": \"20-services@${RTT_MS}ms\", \"command\": \"the same with 20 services (the config dir of deploy-20)\"},
            {\"name\": \"ecs-deploy@${RTT_MS}ms\", \"command\": \"ecs deploy CLUSTER web --image web IMAGE --timeout -1\"}]" \
    extras="$BUSY_EXTRAS" \
    notes="[\"every call waits ${RTT_MS} ms at its proxy before it is forwarded (calls made at once wait at once): an assumed round trip to a regional AWS API from outside the region, not a measurement (no AWS account is reachable here); moto's own one-call-at-a-time work is still in every run\",
            \"no benchmark target is judged here (those are measured on the local cloud as it is: deploy-release and deploy-20 above); this shows what the rounds of calls and the concurrency come to once each call costs a round trip: the 20-services side over the 1-service side is deploy-20's question, ecs-deploy over the 1-service side deploy-release's\",
            \"rounds of calls in sequence: stackup 5 (GetCallerIdentity, DescribeStacks, GetParameters and each service's newest revision at once; DescribeServices; RegisterTaskDefinition; UpdateService; PutParameter; the services at once), ecs-deploy 6 (one call a round)\",
            \"the stack is created once and one first deploy creates the 20 services (web among them); every run deploys an image of its own (checked after every run), from services whose rollouts are settled\"]"
  alternate deploy-rtt "${DEPLOY_RTT_SIDES[@]}"
}
