# shellcheck shell=bash
# logs-follow (sourced by scripts/bench): the memory of `stackup logs local --follow`
# while LOGS_FOLLOW_EVENTS events (default 1,000,000) arrive in the stack's log group,
# fed in two ways (the sides; the follower is the same):
#   burst   as fast as moto takes them (some 30,000 to 70,000 events/s here)
#   paced   LOGS_FOLLOW_RATE events/s (default 10,000: 1M in 100 s)
# Each run starts from a reset moto with the stack created (the follower finds its log
# group in the platform stack's outputs) and an empty group. The follower starts
# (--since 1m, text lines to a file); a feeder (scripts/bench.d/logs_events.py feed,
# straight to moto, uncounted) puts the events, 10,000 per PutLogEvents, the 20 streams
# in turn, each stamped with the time it is made and carrying a unique "seq=N"; every
# 0.5 s a sampler records the follower's VmRSS (/proc/PID/status), the events put so far
# and the lines printed so far. Once the follower has printed them all and nothing more
# for 6 s (a double would show up in the next polls), it is stopped with SIGINT; its
# output must hold every event exactly once, or the bench fails. The metric is the
# follower's peak RSS (VmHWM); flat means the median RSS over the last three tenths of the
# events printed is within 20% of the median over the second to fourth tenths.
#
# Why two feeds: --follow re-reads a 10 s overlap window on every poll (events arrive
# late) and remembers the ids printed in it, so its memory is bounded by the events of
# 10 s, not by the events followed. Paced, the window holds 100,000 events; in a burst, 10 s
# of the feed: the RSS rises until the window is full, then stays.
#
# A run takes 2 to 3 minutes: the warm-up feeds a tenth of the events, and at most
# LOGS_FOLLOW_RUNS (default 2) counted runs of each side are made whatever --runs says,
# which bounds the comparison at about 15 minutes. The feed is bounded by
# LOGS_FOLLOW_DEADLINE seconds (default 600): a run that does not finish fails.
#
# Floor: one DescribeStacks (the log group), then FilterLogEvents polls: each re-reads
# the overlap window, so their number depends on the pace of the feed and of moto, not
# on the job: no floor is given.

LOGS_FOLLOW_EVENTS=${LOGS_FOLLOW_EVENTS:-1000000}
LOGS_FOLLOW_DEADLINE=${LOGS_FOLLOW_DEADLINE:-600}
LOGS_FOLLOW_RATE=${LOGS_FOLLOW_RATE:-10000}
LOGS_FOLLOW_RUNS=${LOGS_FOLLOW_RUNS:-2}
LOGS_FOLLOW_GROUP=/stackup/$STACK_ID

logs_follow_reset() {
  moto reset
  moto put-secret "$MASTER_PARAMETER" "$LOGS_FOLLOW_DIR/master-password"
  "$STACKUP" --endpoint-url "$MOTO" create-stack "$STACK" --yes >"$LOGS_FOLLOW_DIR/create-stack.log" 2>&1 ||
    die "create-stack failed; see $LOGS_FOLLOW_DIR/create-stack.log"
}

logs_follow_run() {
  local side=$1 events=$LOGS_FOLLOW_EVENTS round=${RUN_NAME##*-} pid feeder i calls
  local out=$OUT/logs/$RUN_NAME.out progress=$OUT/logs/$RUN_NAME.progress
  local samples=$OUT/logs/$RUN_NAME.samples feed_status=0 peak rate=()
  [[ $side == paced ]] && rate=(--rate "$LOGS_FOLLOW_RATE")
  ((round > 0)) || events=$((LOGS_FOLLOW_EVENTS / 10))
  : >"$progress"
  : >"$samples"
  "$STACKUP" --endpoint-url "${PROXY[$side]}" logs "$STACK" --since 1m --follow \
    >"$out" 2>"$OUT/logs/$RUN_NAME.err" &
  pid=$!
  PIDS+=("$pid")
  # the follower is following once it has made its first FilterLogEvents call
  for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
    calls=$(proxy_counts "$side")
    [[ $calls == *FilterLogEvents* ]] && break
    kill -0 "$pid" 2>/dev/null || die "stackup logs --follow ended; see $OUT/logs/$RUN_NAME.err"
    sleep 0.1
  done
  [[ $calls == *FilterLogEvents* ]] || die "stackup logs --follow made no call within ${READY_TIMEOUT} s"
  python3 "$HELPERS/logs_events.py" feed "$MOTO" "$LOGS_FOLLOW_GROUP" --events "$events" \
    --streams 20 --batch 10000 --progress "$progress" --deadline "$LOGS_FOLLOW_DEADLINE" "${rate[@]}" \
    2>"$OUT/logs/$RUN_NAME.feed.err" &
  feeder=$!
  PIDS+=("$feeder")
  peak=$(python3 "$HELPERS/logs_events.py" sample --pid "$pid" --progress "$progress" --out "$out" \
    --count "$events" --samples "$samples" --interval 0.5 --settle 6 \
    --timeout "$((LOGS_FOLLOW_DEADLINE + 300))") || true
  wait "$feeder" || feed_status=$?
  stop_pid "$feeder"
  ((feed_status == 0)) || die "$RUN_NAME: the feed did not finish within ${LOGS_FOLLOW_DEADLINE} s ($(tail -n 1 "$progress") events put); see $OUT/logs/$RUN_NAME.feed.err"
  kill -0 "$pid" 2>/dev/null || die "$RUN_NAME: stackup logs --follow ended early; see $OUT/logs/$RUN_NAME.err"
  stop_pid "$pid" INT
  python3 "$HELPERS/logs_events.py" check lines "$out" "$events" >/dev/null ||
    die "$RUN_NAME: the follower did not print the $events events each once ($(wc -l <"$out") lines); see $out, $samples"
  rm -f "$out"
  [[ $peak =~ ^[0-9]+$ ]] || die "$RUN_NAME: no peak RSS from the sampler"
  RSS_KB=$peak
  VALUE=$(awk -v kb="$peak" 'BEGIN { printf "%.1f\n", kb / 1024 }')
  EXTRA=$(python3 - "$samples" "$progress" "$events" <<'EOF'
import json, sys
samples_path, progress_path, events = sys.argv[1], sys.argv[2], int(sys.argv[3])
samples = [tuple(float(x) for x in line.split()) for line in open(samples_path) if line.strip()]
feed = [tuple(float(x) for x in line.split()) for line in open(progress_path) if line.strip()]
def rss_at(fraction):
    """MB of the first sample at which the follower had printed this fraction."""
    for t, rss, put, printed in samples:
        if printed >= fraction * events:
            return round(rss / 1024, 1)
    return None
all_printed = next((t for t, rss, put, printed in samples if printed >= events), None)
feed_s = feed[-1][0] if feed else None
curve = [rss_at(tenth / 10) for tenth in range(1, 11)]
print(json.dumps({
    "events": events,
    "rss_10_mb": curve[0], "rss_50_mb": curve[4], "rss_100_mb": curve[-1],
    "curve_mb": curve,
    "feed_s": round(feed_s, 1) if feed_s else None,
    "feed_rate": round(events / feed_s) if feed_s else None,
    "printed_all_s": round(all_printed, 1) if all_printed is not None else None,
    "flat": bool(curve[0] and curve[-1] and curve[-1] <= 1.2 * curve[0]),
    # The same question asked of three samples at each end, once the window has
    # filled (after the first tenth): one sample swings with the allocator.
    "flat_trend": bool(all(curve[1:4] + curve[7:10])
                       and sorted(curve[7:10])[1] <= 1.2 * sorted(curve[1:4])[1]),
}))
EOF
)
}

# logs_follow_meta [NOTES_JSON]: the meta, with the verdicts and curves of the runs so far
logs_follow_meta() {
  local measured=${1:-[]}
  record type=meta name=logs-follow \
    title="stackup logs --follow while $(python3 -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$LOGS_FOLLOW_EVENTS") events arrive" \
    metric="peak RSS (VmHWM)" unit=MB digits=1 ref=paced \
    sides="[{\"name\": \"burst\", \"command\": \"stackup logs local --since 1m --follow > file, while the events are put as fast as moto takes them, 10,000 per PutLogEvents\"},
            {\"name\": \"paced\", \"command\": \"the same, the events put at $LOGS_FOLLOW_RATE a second\"}]" \
    extras='[{"key": "rss_10_mb", "label": "RSS at 10% printed", "unit": "MB", "digits": 1},
             {"key": "rss_100_mb", "label": "RSS at 100% printed", "unit": "MB", "digits": 1},
             {"key": "feed_s", "label": "feed took", "unit": "s", "digits": 0},
             {"key": "printed_all_s", "label": "all printed after", "unit": "s", "digits": 0}]' \
    rss_label="peak RSS" \
    notes="$(python3 - "$measured" "$LOGS_FOLLOW_EVENTS" "$LOGS_FOLLOW_RATE" "$LOGS_FOLLOW_RUNS" <<'EOF'
import json, sys
measured, events, rate, runs = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
notes = measured + [
    "target (README, Benchmarks): flat, under 50 MB",
    f"each run: a reset moto with the stack; the follower starts, then a feeder puts {events:,} events (10,000 per PutLogEvents, 20 streams in turn, stamped with the time they are made, each with a unique seq); the follower's VmRSS is sampled every 0.5 s; once it has printed them all and nothing more for 6 s it is stopped (SIGINT) and its output must hold every event exactly once (by seq), or the bench fails",
    "flat: the median RSS of the last three tenths of the events printed within 20% of the median of the second to fourth tenths (after the overlap window has filled); until 2026-12-03 it was RSS at all events printed against RSS at a tenth, single samples, which the allocator's swings of 25-32 MB within a run made fail once (both verdicts are shown); the curve is RSS at each tenth of the events printed",
    f"--follow re-reads a 10 s overlap window every poll and remembers the ids printed in it (8 bytes each once settled), so its memory is bounded by the events of 10 s, not by the events followed: paced, the window holds {rate * 10:,} events; in a burst, 10 s of the feed: RSS rises until the window is full, then stays (the ids older than the window are forgotten within a poll too, so a follower that lags behind a burst holds one window, not the burst)",
    "moto answers each FilterLogEvents page in time proportional to all the events in the window, so in a burst the follower prints the events minutes after they were put (the 'all printed after' column)",
    f"at most {runs} counted runs of each side (LOGS_FOLLOW_RUNS), whatever --runs says: a run takes 2 to 3 minutes; the warm-up run of each side feeds a tenth of the events",
    "the calls are DescribeStacks once and FilterLogEvents polls, whose number depends on the pace of the feed and of moto: no floor",
]
print(json.dumps(notes))
EOF
)"
}

logs_follow_verdicts() {
  python3 - "$RESULTS" <<'EOF'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
runs = [r for r in runs if r.get("type") == "run" and r["name"] == "logs-follow"]
out = []
if runs:
    peak = max(r["value"] for r in runs)
    sides = sorted({r["side"] for r in runs})
    def verdict(key):
        return {side: all(r["extra"].get(key) for r in runs if r["side"] == side) for side in sides}
    trend, two_point = verdict("flat_trend"), verdict("flat")
    met = all(trend.values()) and peak < 50
    said = lambda flat: ", ".join(f"{side} {'flat' if ok else 'not flat'}" for side, ok in flat.items())
    out.append(f"target: flat, under 50 MB: {'met' if met else 'NOT met'} (peak {peak:.1f} MB; "
               f"by the medians of three tenths: {said(trend)}; by the two single samples used until 2026-12-03: {said(two_point)})")
    for r in runs:
        e = r["extra"]
        curve = ", ".join(f"{mb}" for mb in e.get("curve_mb", []))
        out.append(f"{r['side']} run {r['run']}: RSS (MB) at each tenth of the {e['events']:,} events printed: {curve}; "
                   f"fed in {e.get('feed_s')} s ({e.get('feed_rate')} events/s), all printed {e.get('printed_all_s')} s after the feed began")
print(json.dumps(out))
EOF
}

bench_logs_follow() {
  log "logs-follow: the memory of stackup logs --follow over $LOGS_FOLLOW_EVENTS events"
  LOGS_FOLLOW_DIR=$OUT/logs-follow
  mkdir -p "$LOGS_FOLLOW_DIR"
  python3 -c 'import secrets, string; a = string.ascii_letters + string.digits
print("".join(secrets.choice(a) for _ in range(40)))' >"$LOGS_FOLLOW_DIR/master-password"
  start_proxy burst
  start_proxy paced
  logs_follow_meta
  local RUNS=$((RUNS < LOGS_FOLLOW_RUNS ? RUNS : LOGS_FOLLOW_RUNS))   # alternate reads RUNS
  alternate logs-follow burst paced
  logs_follow_meta "$(logs_follow_verdicts)"
}
