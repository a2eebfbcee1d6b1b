# shellcheck shell=bash
# calls: the AWS API calls each stackup command makes for its everyday job, next to the
# fewest that job can be done with (README, Benchmarks: "the floor"). Sourced by
# scripts/bench; one side per command, each through a recording proxy of its own, on a
# stack created in the bench's moto with the local cloud's real database behind it and
# one release deployed. The wall time is shown too, but this table is about the calls:
# on AWS a call is a round trip of tens of milliseconds, and moto answers in one or two.
#
# The floors, command by command (what the job cannot do without; measured 2026-11-22
# with the stack of stacks/local.toml: 2 layers, 17 exports, one service):
#   validate          0: it reads files only.
#   create-stack      13 with nothing to change: the master password (ssm GetParameter,
#                     a template parameter), the zone names (ec2 DescribeAvailabilityZones),
#                     the secrets stack's DescribeStacks (its template tag says its key
#                     policy is current: no change set),
#                     then per stack DescribeStacks (exists? outputs for the next layer),
#                     CreateChangeSet, DescribeChangeSet (it says "no changes") and
#                     DeleteChangeSet (a failed change set is left behind otherwise) and
#                     GetStackPolicy (a stack made before stackup set policies gets one):
#                     5 x 2. The template the stack runs (GetTemplate, for predicting
#                     replacements) is not read when its template tag says it is this one.
#   update-resources  3 with nothing to do: DescribeStacks of the platform (database,
#                     bastion), the master and application passwords (ssm GetParameter x2);
#                     the rest happens in PostgreSQL through the tunnel.
#   deploy-release    8 for a new image, --no-wait: DescribeStacks of the platform (it
#                     re-exports every output the templates use), sts GetCallerIdentity (the account, in the
#                     cookie's ARN and the record), DescribeServices (the running revision),
#                     DescribeTaskDefinition with tags (the running definition's hash: is
#                     this a change?), the cookie and the named parameters (ssm GetParameters: the cookie must exist before
#                     a revision refers to it), RegisterTaskDefinition, UpdateService and
#                     the release record (ssm PutParameter).
#   rollback          10 + the polls: DescribeStacks x2, GetParameterHistory (the releases),
#                     DescribeServices, DescribeTaskDefinition and GetParameters (the
#                     revision gone back to can start: its secrets exist), UpdateService,
#                     GetCallerIdentity, PutParameter x2
#                     (the rollback recorded as started before its wait, so that a run
#                     killed outright leaves it in the history, then its result); then
#                     DescribeServices until the rollout settles. The local cloud's ECS model
#                     advances one scheduler step per DescribeServices, so every client needs
#                     as many polls as the rollout has steps (4 for 2 tasks at 150/50).
#   status            10 for one service and no EC2 host: DescribeStacks x2 and
#                     DescribeStackEvents x2 (the state and last events of each layer),
#                     DescribeServices, ListTasks, DescribeTasks, DescribeTaskDefinition
#                     (how the running revision names its nodes), ListContainerInstances
#                     (none registered in moto, so no DescribeContainerInstances and
#                     DescribeInstances), cloudwatch GetMetricData (all metrics in one call).
#   logs              2 for a short range: DescribeStacks (the log group and prefix are
#                     outputs) and one FilterLogEvents page.
#   tunnel            1: DescribeStacks of the platform.
#   delete-stack      27: ListServices, DescribeServices, DeleteService (the services
#                     deploy-release made are not in the templates); ListExports and one
#                     ListImports per export (17: a stack still imported by another must be
#                     refused before anything is deleted, services included); per stack
#                     DescribeStacks, DeleteStack and DescribeStacks until gone (3 x 2).
#                     Following the stack events (DescribeStackEvents) is for the person
#                     watching, not the job.
# The console is left out: it needs a node to attach to (tests/console.rs runs a real one).

CALLS_SIDES=(validate create-stack update-resources deploy-release rollback status logs tunnel delete-stack)

calls_image() { printf 'ghcr.io/example/demo:calls-%s\n' "$1"; }

# the stack exists, with a release of web deployed (delete-stack takes it all away)
calls_ensure_stack() {
  if [[ $(moto stack-status "$STACK_ID-platform") != CREATE_COMPLETE && $(moto stack-status "$STACK_ID-platform") != UPDATE_COMPLETE ]]; then
    "$STACKUP" --endpoint-url "$MOTO" create-stack "$STACK" --yes >>"$CALLS_DIR/setup.log" 2>&1 ||
      die "create-stack failed; see $CALLS_DIR/setup.log"
    "$STACKUP" --endpoint-url "$MOTO" deploy-release "$STACK" --image "web=$(calls_image base)" --yes \
      >>"$CALLS_DIR/setup.log" 2>&1 || die "deploy-release failed; see $CALLS_DIR/setup.log"
  fi
}

calls_reset() {
  calls_ensure_stack
  case $1 in
    rollback)
      # a newer release to roll back from
      CALLS_SERIAL=$((${CALLS_SERIAL:-0} + 1))
      "$STACKUP" --endpoint-url "$MOTO" deploy-release "$STACK" --image "web=$(calls_image "$CALLS_SERIAL")" --yes \
        >>"$CALLS_DIR/setup.log" 2>&1 || die "deploy-release failed; see $CALLS_DIR/setup.log"
      ;;
  esac
}

calls_run() {
  local side=$1 endpoint=${PROXY[$1]} pid line i
  case $side in
    validate) measure "$RUN_NAME" "$STACKUP" validate "$STACK" ;;
    create-stack) measure "$RUN_NAME" "$STACKUP" --endpoint-url "$endpoint" create-stack "$STACK" --yes ;;
    update-resources) measure "$RUN_NAME" "$STACKUP" --endpoint-url "$endpoint" update-resources "$STACK" --yes ;;
    deploy-release)
      CALLS_SERIAL=$((${CALLS_SERIAL:-0} + 1))
      measure "$RUN_NAME" "$STACKUP" --endpoint-url "$endpoint" deploy-release "$STACK" \
        --image "web=$(calls_image "$CALLS_SERIAL")" --yes --no-wait
      ;;
    rollback) measure "$RUN_NAME" "$STACKUP" --endpoint-url "$endpoint" rollback "$STACK" --yes ;;
    status) measure "$RUN_NAME" "$STACKUP" --endpoint-url "$endpoint" status "$STACK" ;;
    logs) measure "$RUN_NAME" "$STACKUP" --endpoint-url "$endpoint" logs "$STACK" --since 15m ;;
    delete-stack) measure "$RUN_NAME" "$STACKUP" --endpoint-url "$endpoint" delete-stack "$STACK" --yes ;;
    tunnel)
      # up until it forwards, then Ctrl-C: the calls are all made before it listens
      local start
      start=$(now)
      "$STACKUP" --endpoint-url "$endpoint" --output json tunnel "$STACK" --local-port 0 \
        >"$OUT/logs/$RUN_NAME.out" 2>"$OUT/logs/$RUN_NAME.err" &
      pid=$!
      PIDS+=("$pid")
      line=""
      for ((i = 0; i < READY_TIMEOUT * 100; i++)); do
        read -r line <"$OUT/logs/$RUN_NAME.out" || true
        [[ $line == *local_address* ]] && break
        kill -0 "$pid" 2>/dev/null || die "stackup tunnel ended; see $OUT/logs/$RUN_NAME.err"
        sleep 0.01
      done
      [[ $line == *local_address* ]] || die "stackup tunnel did not start within ${READY_TIMEOUT} s"
      WALL=$(elapsed "$start" "$(now)")
      RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
      stop_pid "$pid" INT
      ;;
  esac
  VALUE=$WALL
}

bench_calls() {
  log "calls: the AWS API calls of each command, against the fewest its job needs"
  CALLS_DIR=$OUT/calls
  mkdir -p "$CALLS_DIR"
  : >"$CALLS_DIR/setup.log"
  prepare_database_stack "$CALLS_DIR"
  calls_ensure_stack
  # a completed release to start from (rollback goes back to the newest completed
  # release before the running one; a --no-wait deploy records only "started")
  "$STACKUP" --endpoint-url "$MOTO" deploy-release "$STACK" --image "web=$(calls_image base)" --yes \
    >>"$CALLS_DIR/setup.log" 2>&1 || die "deploy-release failed; see $CALLS_DIR/setup.log"
  local side sides="" floor_json
  for side in "${CALLS_SIDES[@]}"; do start_proxy "$side"; done
  floor_json='{"validate": 0, "create-stack": 13, "update-resources": 3, "deploy-release": 8,
               "rollback": 14, "status": 10, "logs": 2, "tunnel": 1, "delete-stack": 27}'
  for side in "${CALLS_SIDES[@]}"; do
    sides+="${sides:+, }{\"name\": \"$side\", \"command\": \"stackup $side local$(calls_args "$side")\"}"
  done
  record type=meta name=calls \
    title="AWS API calls per command, against the floor of its job" \
    metric="wall time" unit=s digits=2 ref=none \
    sides="[$sides]" floor="$floor_json" \
    floor_why="$(calls_floor_why)" \
    notes='["each command does its everyday job on a stack that exists: create-stack and update-resources with nothing to change, deploy-release of the images already running, rollback of a release deployed just before (reset), logs of the last 15 minutes, tunnel until it forwards (then Ctrl-C), delete-stack of a stack with one service (re-created before the next run)",
            "the console is left out: it needs a running Erlang node to attach to (tests/console.rs runs one)"]'
  alternate calls "${CALLS_SIDES[@]}"
}

calls_args() {
  case $1 in
    create-stack | update-resources | delete-stack) echo " --yes" ;;
    deploy-release) echo " --image web=<a new tag> --yes --no-wait" ;;
    rollback) echo " --yes (waits for the rollout)" ;;
    logs) echo " --since 15m" ;;
    tunnel) echo " --local-port 0 (until it forwards)" ;;
  esac
}

calls_floor_why() {
  printf '%s' "validate 0 (files only); create-stack 13 with nothing to change (the master password, the zone names, the secrets stack's DescribeStacks, per stack DescribeStacks, CreateChangeSet, DescribeChangeSet, DeleteChangeSet, GetStackPolicy); update-resources 3 (DescribeStacks, two passwords); deploy-release 8 (DescribeStacks, GetCallerIdentity, DescribeServices, DescribeTaskDefinition, the cookie, RegisterTaskDefinition, UpdateService, the record); rollback 10 + the polls of the rollout (the secrets of the revision gone back to; the record twice: started before the wait, then the result) (the local cloud's ECS model takes one step per DescribeServices: 4 for this service); status 10 (both layers' state and events, DescribeServices, ListTasks, DescribeTasks, the running revision's DescribeTaskDefinition, ListContainerInstances, GetMetricData); logs 2; tunnel 1; delete-stack 27 (the service: 3; ListExports and ListImports for each of 17 exports, to refuse before anything is deleted; per stack DescribeStacks, DeleteStack, DescribeStacks); following stack events is extra, for the person watching. The reasoning is in scripts/bench.d/calls.sh"
}
