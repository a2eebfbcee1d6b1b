# shellcheck shell=bash disable=SC2034  # VALUE, RSS_KB and EXTRA are read by scripts/bench (alternate)
# Sourced by scripts/bench, whose functions and variables it uses.
#
# build-changed and build-unchanged: `stackup build local` against the deck's way
# (scripts/bench.d/deck-build.sh: aws ecr get-login-password | docker login,
# docker-compose build, docker push), on the same sources (a git repository holding
# stacks/local.toml with [services.web.build.web], its Dockerfile and a 4 MB payload,
# FROM scratch: nothing can be pulled here), the local cloud's Docker engine and its
# registry (ECR's registry endpoint; our moto issues the login token, entry 17).
#   build-changed:   before every run the payload is new and committed: both sides
#                    build a new layer and push it (4 MB) under a new tag.
#   build-unchanged: nothing changes between runs: stackup finds the image of the same
#                    build inputs in the registry (ops/build_reuse.rs) and neither builds
#                    nor pushes; the deck's script rebuilds from the engine's cache and
#                    pushes again (every layer "already exists").
# Both sides use the classic builder (DOCKER_BUILDKIT=0: BuildKit needs images pulled)
# and a DOCKER_CONFIG of their own.

build_commit_payload() { # a new 4 MB payload, committed
  head -c 4000000 /dev/urandom >"$BUILD_DIR/project/app/payload.bin"
  git -C "$BUILD_DIR/project" add -A
  git -C "$BUILD_DIR/project" -c user.name=bench -c user.email=bench@example.com commit -q -m payload
}

build_side() { # build_side SIDE: the command of SIDE, measured
  case $1 in
    stackup)
      measure "$RUN_NAME" env DOCKER_CONFIG="$BUILD_DIR/docker-stackup" \
        "$STACKUP" --config-dir "$BUILD_DIR/project" --endpoint-url "${PROXY[stackup]}" build "$STACK" ;;
    deck)
      measure "$RUN_NAME" env DOCKER_CONFIG="$BUILD_DIR/docker-deck" AWS_ENDPOINT_URL="${PROXY[deck]}" \
        "$HELPERS/deck-build.sh" "$BUILD_DIR/project" "$BUILD_REGISTRY" "$BUILD_REPOSITORY" ;;
  esac
  VALUE=$WALL
}

build_changed_reset() { build_commit_payload; }
build_changed_run() { build_side "$1"; }
build_unchanged_reset() { :; }
build_unchanged_run() { build_side "$1"; }

build_meta() { # build_meta NAME TITLE TARGET_JSON NOTE
  record type=meta name="$1" title="$2" metric="wall time" unit=s digits=2 ref=stackup \
    sides='[{"name": "stackup", "command": "stackup build local"},
            {"name": "deck", "command": "aws ecr get-login-password | docker login; docker-compose build; docker push (scripts/bench.d/deck-build.sh)"}]' \
    target="$3" \
    notes="$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$4" \
      "the same project (git repository, FROM scratch plus a 4 MB payload), Docker engine (Debian docker.io $("$BUILD_DOCKER" version --format '{{.Server.Version}}'), classic builder), registry (Debian docker-registry on loopback, standing in for ECR's registry endpoint) and ECR API (our moto); docker-compose $(docker-compose version --short)" \
      "stackup also makes sure of the images stack (one DescribeStacks when it holds the repository) and reads the repository's URI (DescribeRepositories); the deck's script is handed the registry and repository")"
}

build_setup() { # once per bench run: the project, the repository, the proxies
  [[ -n ${BUILD_DIR:-} ]] && return 0
  command -v docker-compose >/dev/null || die "docker-compose is missing (the deck's way): apt-get install docker-compose"
  BUILD_DIR=$OUT/build
  rm -rf "$BUILD_DIR"
  mkdir -p "$BUILD_DIR/project/stacks" "$BUILD_DIR/project/app" "$BUILD_DIR/docker-stackup" "$BUILD_DIR/docker-deck"
  BUILD_DOCKER=docker
  [[ -x /usr/bin/docker ]] && BUILD_DOCKER=/usr/bin/docker
  export DOCKER_HOST DOCKER_BUILDKIT=0
  DOCKER_HOST=$(state docker.host)
  # The stack file and task definitions of the stackup measured (--rev: that commit's,
  # which the work tree's may no longer suit); the harness and the local cloud are this tree's.
  local sources=$ROOT
  [[ -n $REV ]] && sources=$OUT/src
  cp "$sources/stacks/local.toml" "$BUILD_DIR/project/stacks/local.toml"
  printf '\n[services.web.build.web]\ncontext = "app"\n' >>"$BUILD_DIR/project/stacks/local.toml"
  ln -s "$sources/task-defs" "$BUILD_DIR/project/task-defs"
  local path
  for path in scripts .local-cloud; do ln -s "$ROOT/$path" "$BUILD_DIR/project/$path"; done
  printf 'FROM scratch\nCOPY payload.bin /payload.bin\n' >"$BUILD_DIR/project/app/Dockerfile"
  cat >"$BUILD_DIR/project/docker-compose.yml" <<'YAML'
version: "3"
services:
  web:
    build:
      context: app
    image: ${IMAGE}:${TAG}
YAML
  git -C "$BUILD_DIR/project" init -q
  build_commit_payload
  BUILD_REGISTRY=$(state registry.address)
  BUILD_REPOSITORY=demo-local/web # the repository stackup's images stack makes
  # The repository exists before the first run of either side (stackup makes it).
  DOCKER_CONFIG="$BUILD_DIR/docker-stackup" "$STACKUP" --config-dir "$BUILD_DIR/project" --endpoint-url "$MOTO" \
    build "$STACK" >"$BUILD_DIR/setup.log" 2>&1 || die "stackup build failed; see $BUILD_DIR/setup.log"
  start_proxy stackup
  start_proxy deck
}

bench_build_changed() {
  log "build-changed: stackup build against docker-compose build + docker push, a new layer each run"
  build_setup
  build_meta build-changed "build and push a changed image (a new 4 MB layer)" \
    '{"side": "stackup", "ref": "deck", "max": 1.05, "text": "stackup adds at most 5% to the deck'"'"'s way"}' \
    "before every run a new payload is committed: every run of each side builds a new layer and pushes it under a new tag; stackup also hashes the build inputs (the 4 MB payload read once more) and, once pushed, tags the image with them (a manifest GET and PUT)"
  alternate build-changed stackup deck
}

bench_build_unchanged() {
  log "build-unchanged: stackup build against docker-compose build + docker push, nothing changed"
  build_setup
  build_meta build-unchanged "build and push when nothing changed" \
    '{"side": "deck", "ref": "stackup", "min": 10, "text": "stackup at least 10x faster than the deck'"'"'s way"}' \
    "nothing changes between runs: stackup hashes the build inputs (the context Docker would send, 4 MB) while it asks ECR, then finds that image in the registry under both its inputs' tag and the commit's (two manifest HEADs at once) and neither builds nor pushes, nor starts docker; the deck's script rebuilds from the engine's cache and pushes again (every layer already exists); before stackup skipped the build it ran the cached docker build too, docker version, docker login and docker manifest inspect: e493811 measured by this bench (--rev) on 2026-12-07 23:55 UTC, load average 7: stackup 0.30 s, deck 2.01 s, 6.65x (0.16 s against 0.85 s, 5.23x, at 22:25 UTC, load average 2)"
  alternate build-unchanged stackup deck
}
