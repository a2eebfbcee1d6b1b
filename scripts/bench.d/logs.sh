# shellcheck shell=bash
# logs (sourced by scripts/bench): 100,000 events over 20 streams of the stack's log
# group, read back over one --since/--until range by
#   stackup   stackup logs local --since .. --until .. (text lines to a file)
#   aws       aws logs filter-log-events --log-group-name .. --start-time .. --end-time ..
#             (the CLI follows every page and prints one JSON document)
#   awslogs   awslogs get GROUP ALL --start .. --end .. (AWS_ENDPOINT_URL)
#   floor     examples/logs_floor.rs: the same calls as stackup, in Rust with the same
#             SDK, only counting the events (no merging, formatting or writing)
# The stack is created once in our moto (logs finds the group in the platform stack's
# outputs) and the events are loaded once (scripts/bench.d/logs_events.py, straight to
# moto, uncounted): event n in stream web/web/task<n % 20> at START + 5n ms, its
# message "seq=<n> ...", so the range is 500 s on whole seconds (awslogs reads its
# --start/--end to the second). Reading changes nothing, so there is no reset. After
# every run the output must hold exactly the 100,000 events, each once (by seq), or the
# bench fails.
#
# Floor: stackup 11 calls: the platform stack's outputs (DescribeStacks: the log group)
# and 100,000 / 10,000 FilterLogEvents pages; the aws CLI and awslogs are handed the
# group, 10. stackup reads a first page, then slices of the rest sized for about 9,000
# events each so that most take one page, four at a time: a call or two more than
# paging through, in exchange for parallel slices and memory bounded by four slices.

LOGS_EVENTS=100000
LOGS_STREAMS=20
LOGS_GROUP=/stackup/$STACK_ID   # the platform template's log group (output LogGroupName)
LOGS_FLOOR=$TARGET_DIR/release/examples/logs_floor

logs_reset() { :; }
logs_run() {
  local side=$1 out format=lines
  out=$OUT/logs/$RUN_NAME.out
  case $side in
    stackup)
      measure "$RUN_NAME" "$STACKUP" --endpoint-url "${PROXY[stackup]}" logs "$STACK" \
        --since "$LOGS_SINCE" --until "$LOGS_UNTIL" ;;
    aws)
      format=aws
      measure "$RUN_NAME" "$AWS_CLI" --endpoint-url "${PROXY[aws]}" logs filter-log-events \
        --log-group-name "$LOGS_GROUP" --start-time "$LOGS_START" --end-time "$LOGS_END" ;;
    awslogs)
      measure "$RUN_NAME" env AWS_ENDPOINT_URL="${PROXY[awslogs]}" "$PEERS/bin/awslogs" get \
        "$LOGS_GROUP" ALL --start "$LOGS_SINCE" --end "$LOGS_UNTIL" --color never ;;
    floor)
      measure "$RUN_NAME" "$LOGS_FLOOR" "${PROXY[floor]}" "$STACK_ID-platform" "$LOGS_START" "$LOGS_END"
      [[ $(<"$out") == "$LOGS_EVENTS" ]] || die "$RUN_NAME: the floor counted $(<"$out") events, not $LOGS_EVENTS"
      ;;
  esac
  if [[ $side != floor ]]; then
    python3 "$HELPERS/logs_events.py" check "$format" "$out" "$LOGS_EVENTS" >/dev/null ||
      die "$RUN_NAME: the output does not hold the $LOGS_EVENTS events each once; see $out"
  fi
  rm -f "$out"
  VALUE=$WALL
  busy_extra "$side"
}

# logs_verdicts: the targets against the aws CLI and awslogs, from the medians recorded
# so far (JSON list of text); the one against the floor is the meta's own target
logs_verdicts() {
  python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    item = json.loads(line)
    if item.get("type") == "run" and item["name"] == "logs":
        runs.setdefault(item["side"], []).append(item["value"])
median = {side: statistics.median(values) for side, values in runs.items()}
out = []
for side, want, text in [("aws", 2, "at least 2x faster than the aws CLI"),
                         ("awslogs", 10, "at least 10x faster than awslogs")]:
    if side in median and median.get("stackup"):
        ratio = median[side] / median["stackup"]
        out.append(f"target: stackup {text}: {'met' if ratio >= want else 'NOT met'} ({ratio:.2f}x)")
print(json.dumps(out))
EOF
}

logs_meta() { # logs_meta [VERDICTS_JSON]
  local verdicts=${1:-[]}
  record type=meta name=logs \
    title="100,000 events over 20 streams, one --since/--until range" \
    metric="wall time" unit=s digits=2 ref=stackup \
    sides='[{"name": "stackup", "command": "stackup logs local --since T0 --until T1 > file"},
            {"name": "aws", "command": "aws logs filter-log-events --log-group-name G --start-time T0 --end-time T1 > file"},
            {"name": "awslogs", "command": "awslogs get G ALL --start T0 --end T1 --color never > file"},
            {"name": "floor", "command": "examples/logs_floor.rs: the same calls as stackup with the same SDK, counting the events"}]' \
    extras="$BUSY_EXTRAS" \
    floor='{"stackup": 11, "aws": 10, "awslogs": 10, "floor": 11}' \
    floor_why="stackup and the floor 11: the platform stack's outputs (DescribeStacks: the log group) and 100,000 / 10,000 FilterLogEvents pages; the aws CLI and awslogs are handed the group, 10. stackup reads a first page, then slices of the rest sized for about 9,000 events each (most take one page), four at a time: a call or two more than paging through, for parallel slices and memory bounded by four slices" \
    target='{"side": "stackup", "ref": "floor", "max": 1.2, "text": "stackup within 1.2x of the floor"}' \
    notes="$(python3 - "$verdicts" <<'EOF'
import json, sys
notes = json.loads(sys.argv[1]) + [
    "targets (README, Benchmarks): stackup at least 2x faster than the aws CLI, 10x than awslogs, within 1.2x of the floor",
    "each side's output is checked after every run: exactly the 100,000 events, each once (by the seq number in its message), or the bench fails; stackup writes text lines, the aws CLI one JSON document, awslogs text lines; the floor prints its count",
    "the floor is Rust with stackup's own SDK and HTTP stack making stackup's calls (same first page, same slices, four at a time) and only counting: so stackup over the floor is the cost of what stackup does with the events (merge in time order, format, write); a Python client would parse slower and make a lax floor",
    "moto busy: the seconds during which at least one of the side's calls was in moto (from the proxy's log; stackup's and the floor's calls overlap, so the per-call seconds in the breakdown add up to more); the rest is the wall time less that: the tool's own work while moto was idle. On moto every FilterLogEvents scans the whole group, so moto's share is large",
    "the events are loaded once before the runs (PutLogEvents, 10,000 a batch at most, straight to moto); reading changes nothing, so runs need no reset",
]
print(json.dumps(notes))
EOF
)"
}

bench_logs() {
  log "logs: stackup logs against aws logs filter-log-events, awslogs get and the floor"
  [[ -x $PEERS/bin/awslogs ]] || die "awslogs is missing in $PEERS"
  local dir=$OUT/logs-bench
  mkdir -p "$dir"
  log "cargo build --release --example logs_floor (the floor)"
  if [[ -z $REV ]]; then
    cargo build --release --quiet --example logs_floor
  else
    (cd "$OUT/src" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet --example logs_floor) ||
      die "no examples/logs_floor.rs at $REV"
  fi
  moto reset
  python3 -c 'import secrets, string; a = string.ascii_letters + string.digits
print("".join(secrets.choice(a) for _ in range(40)))' >"$dir/master-password"
  moto put-secret "$MASTER_PARAMETER" "$dir/master-password"
  "$STACKUP" --endpoint-url "$MOTO" create-stack "$STACK" --yes >"$dir/create-stack.log" 2>&1 ||
    die "create-stack failed; see $dir/create-stack.log"
  # 100,000 events 5 ms apart from a whole second 30 minutes ago: [T0, T0 + 500 s)
  LOGS_START=$((($(date +%s) - 1800) * 1000))
  LOGS_END=$((LOGS_START + LOGS_EVENTS * 5))
  LOGS_SINCE=$(date -u -d "@$((LOGS_START / 1000))" '+%Y-%m-%dT%H:%M:%SZ')
  LOGS_UNTIL=$(date -u -d "@$((LOGS_END / 1000))" '+%Y-%m-%dT%H:%M:%SZ')
  local started
  started=$(now)
  python3 "$HELPERS/logs_events.py" load "$MOTO" "$LOGS_GROUP" --events "$LOGS_EVENTS" \
    --streams "$LOGS_STREAMS" --start "$LOGS_START" --step-ms 5 || die "loading the events failed"
  note "$LOGS_EVENTS events over $LOGS_STREAMS streams loaded in $(elapsed "$started" "$(now)") s; range $LOGS_SINCE to $LOGS_UNTIL"
  start_proxy stackup
  start_proxy aws
  start_proxy awslogs
  start_proxy floor
  logs_meta
  alternate logs stackup aws awslogs floor
  logs_meta "$(logs_verdicts)"
}
