# A Docker engine of our own (Debian's docker.io), shared by scripts/local-cloud and
# scripts/demo-image: a dockerd with its own data root, socket, PID file and log under
# $DOCKER_DIR, touching no host networking (no docker0, no NAT, no IP forwarding).
#
# Source it after setting DOCKER_DIR and defining `log MESSAGE` and `die MESSAGE`.
# Functions (each with the prefix docker_engine_):
#   bin            the docker client to use (Debian's, which matches Debian's daemon)
#   answers HOST   a daemon answers at HOST (unix:///...) within 5 s
#   host           the unix:// address of our daemon's socket
#   pid            the PID of the daemon we started, if it still runs
#   start          start ours unless it runs; fails when it does not answer in 30 s
#   stop           stop ours by its PID, then remove the iptables chains it left
#
# Verified on Debian 12 (docker.io 20.10): `dockerd --data-root DIR` starts with overlay2;
# no image can be pulled here, so builds use images made locally.

DOCKER_ENGINE_SOCK="$DOCKER_DIR/docker.sock"
DOCKER_ENGINE_PID_FILE="$DOCKER_DIR/dockerd.pid"
DOCKER_ENGINE_LOG="$DOCKER_DIR/dockerd.log"
DOCKER_ENGINE_START_TIMEOUT=30

# Debian's client matches Debian's daemon; a newer client elsewhere on PATH (for example
# /usr/local/bin/docker) may default to BuildKit/buildx, which needs images pulled.
docker_engine_bin() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi
}

docker_engine_answers() {
  timeout 5 "$(docker_engine_bin)" -H "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

docker_engine_host() { printf 'unix://%s\n' "$DOCKER_ENGINE_SOCK"; }

docker_engine_pid() {
  [ -f "$DOCKER_ENGINE_PID_FILE" ] || return 1
  local pid
  pid=$(cat "$DOCKER_ENGINE_PID_FILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] &&
    echo "$pid"
}

docker_engine_start() {
  local host
  host=$(docker_engine_host)
  if docker_engine_pid >/dev/null && docker_engine_answers "$host"; then return 0; fi
  docker_engine_pid >/dev/null &&
    die "our dockerd (PID $(cat "$DOCKER_ENGINE_PID_FILE")) runs but does not answer at $host; see $DOCKER_ENGINE_LOG"
  [ "$(id -u)" = 0 ] || die "starting a Docker daemon needs root"
  command -v dockerd >/dev/null 2>&1 || die "dockerd is missing; install the Debian package docker.io"
  mkdir -p "$DOCKER_DIR/data"
  rm -f "$DOCKER_ENGINE_PID_FILE"
  # containerd's sockets live under the exec root: keep its path short (unix sockets are
  # limited to 108 bytes), in /run when the folder's path is long.
  local exec_root="$DOCKER_DIR/run"
  if [ "${#exec_root}" -gt 50 ]; then
    exec_root="/run/stackup-docker-$(printf '%s' "$DOCKER_DIR" | sha256sum | cut -c1-8)"
  fi
  # dockerd leaves its iptables chains behind when it stops; stop removes them again when
  # they were not there before (marker file).
  if command -v iptables >/dev/null 2>&1 && ! iptables -n -L DOCKER-USER >/dev/null 2>&1; then
    touch "$DOCKER_DIR/iptables-chains-ours"
  fi
  log "starting dockerd (data in $DOCKER_DIR/data, log in $DOCKER_ENGINE_LOG)"
  # No docker0 (--bridge=none), no NAT and no IP forwarding: it only makes the networks we
  # ask for. iptables stays on: the embedded DNS and the network isolation rules need it.
  # 9>&-: never hold the caller's lock (scripts/local-cloud takes fd 9).
  setsid dockerd \
    --data-root "$DOCKER_DIR/data" \
    --exec-root "$exec_root" \
    --host "$host" \
    --pidfile "$DOCKER_ENGINE_PID_FILE" \
    --bridge=none --ip-forward=false --ip-masq=false \
    </dev/null >>"$DOCKER_ENGINE_LOG" 2>&1 9>&- &
  local started=$! i
  for i in $(seq 1 $((DOCKER_ENGINE_START_TIMEOUT * 2))); do
    docker_engine_answers "$host" && return 0
    kill -0 "$started" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 20 "$DOCKER_ENGINE_LOG" >&2 || true
  die "dockerd did not answer at $host within $DOCKER_ENGINE_START_TIMEOUT s; see $DOCKER_ENGINE_LOG"
}

docker_engine_remove_chains() { # the chains our dockerd made, when no other dockerd runs
  [ -f "$DOCKER_DIR/iptables-chains-ours" ] || return 0
  pgrep -x dockerd >/dev/null 2>&1 && return 0
  local c
  iptables -D FORWARD -j DOCKER-USER 2>/dev/null || true
  iptables -D FORWARD -j DOCKER-ISOLATION-STAGE-1 2>/dev/null || true
  for c in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do
    iptables -F "$c" 2>/dev/null && iptables -X "$c" 2>/dev/null || true
  done
  iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null || true
  iptables -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null || true
  iptables -t nat -F DOCKER 2>/dev/null && iptables -t nat -X DOCKER 2>/dev/null || true
  rm -f "$DOCKER_DIR/iptables-chains-ours"
  log "removed the iptables chains dockerd left"
}

docker_engine_stop() {
  local pid i
  if ! pid=$(docker_engine_pid); then
    rm -f "$DOCKER_ENGINE_PID_FILE"
    docker_engine_remove_chains
    return 0
  fi
  kill -TERM "$pid"
  for i in $(seq 1 60); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$DOCKER_ENGINE_PID_FILE"
      log "dockerd: stopped (pid $pid)"
      docker_engine_remove_chains
      return 0
    fi
    sleep 0.5
  done
  die "dockerd (PID $pid) did not stop within 30 s; see $DOCKER_ENGINE_LOG"
}
