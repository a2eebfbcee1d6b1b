#!/usr/bin/env bash
# The proof for issue 19's groundwork: real nodes of the demo release, in containers with
# their own addresses, find each other by DNS and form one Erlang cluster.
#
# Usage: demo-app/proof.sh        (as root; about 2 minutes; leaves nothing running)
#
# Builds stackup-demo with scripts/ecs-entrypoint.sh (scripts/demo-image), makes a
# bridge network 10.77.64.0/18 (the awsvpc stand-in), serves a task metadata v4 stand-in on
# the gateway, then shows: 3 nodes form a cluster; a stopped node rejoins; a node with
# another cookie or of another release does not join; with a security-group-like filter
# between containers, nodes connect only when the distribution port is pinned and open.
# Figures go to stdout. Containers, network, filter rules, the metadata server and (when
# this script started it) the Docker daemon are removed again on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.local-cloud/demo/proof"
NET=stackup-demo
SUBNET=10.77.64.0/18
GW=10.77.64.1
MD_PORT=51679
LABEL=stackup-demo-proof
CHAIN=STACKUP-DEMO-SG
PORTS="-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9155"
D=/usr/bin/docker
[ -x "$D" ] || D=docker

say() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

mkdir -p "$STATE"
OUR_SOCK="unix://$ROOT/.local-cloud/demo/docker/docker.sock"
ours_before=no
timeout 5 "$D" -H "$OUR_SOCK" version >/dev/null 2>&1 && ours_before=yes
eval "$("$ROOT/scripts/demo-image" env)"
started_daemon=no
[ "$DOCKER_HOST" != "$OUR_SOCK" ] || [ "$ours_before" = yes ] || started_daemon=yes

cleanup() {
  set +e
  local ids
  ids=$("$D" ps -aq --filter "label=$LABEL")
  [ -z "$ids" ] || "$D" rm -f $ids >/dev/null
  "$D" network rm "$NET" >/dev/null 2>&1
  iptables -D DOCKER-USER -j "$CHAIN" 2>/dev/null
  iptables -F "$CHAIN" 2>/dev/null && iptables -X "$CHAIN" 2>/dev/null
  [ -f "$STATE/metadata.pid" ] && kill "$(cat "$STATE/metadata.pid")" 2>/dev/null
  rm -f "$STATE/metadata.pid"
  [ "$started_daemon" = no ] || "$ROOT/scripts/demo-image" down
}
trap cleanup EXIT

say "image (scripts/demo-image --entrypoint scripts/ecs-entrypoint.sh)"
"$ROOT/scripts/demo-image" --entrypoint "$ROOT/scripts/ecs-entrypoint.sh" | tee "$STATE/image.txt"
IMAGE=$(awk '/^image /{print $2}' "$STATE/image.txt")

"$D" network rm "$NET" >/dev/null 2>&1 || true
"$D" network create --subnet "$SUBNET" --gateway "$GW" "$NET" >/dev/null

# Task metadata v4 stand-in: one folder per task, /<task>/task answers what ECS answers
# (the fields the entrypoint reads), served on the bridge's gateway address.
rm -rf "$STATE/metadata"
for n in $(seq 10 30); do
  mkdir -p "$STATE/metadata/task$n"
  # Task 14 runs revision 2 (another release); the others revision 1.
  revision=1
  [ "$n" = 14 ] && revision=2
  printf '{"Cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/local","TaskARN":"arn:aws:ecs:us-east-1:123456789012:task/local/task%s","Family":"demo-local-v1-web","Revision":"%s","Containers":[{"Name":"web","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.77.64.%s"]}]}]}\n' \
    "$n" "$revision" "$n" >"$STATE/metadata/task$n/task"
done
setsid python3 -m http.server "$MD_PORT" --bind "$GW" --directory "$STATE/metadata" \
  </dev/null >"$STATE/metadata.log" 2>&1 &
echo $! >"$STATE/metadata.pid"
for _ in $(seq 1 50); do curl -fs -m 1 "http://$GW:$MD_PORT/task10/task" >/dev/null && break; sleep 0.1; done

COOKIE=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')

run_node() { # run_node N ALIAS [docker run options...]: a task at 10.77.64.N
  local n=$1 alias=$2
  shift 2
  "$D" run -d --name "web-$n" --label "$LABEL=1" --network "$NET" --ip "10.77.64.$n" \
    --network-alias "$alias" -e DNS_CLUSTER_QUERY="$alias" -e NODE_BASENAME=web \
    -e ECS_CONTAINER_METADATA_URI_V4="http://$GW:$MD_PORT/task$n" "$@" "$IMAGE" >/dev/null
}
health() { curl -s -m 1 "http://10.77.64.$1:4000/health" 2>/dev/null || echo "(no answer)"; }
peers() { # the number of peers node N reports, "none" when it does not answer
  local h
  h=$(health "$1")
  case "$h" in
    ok*) printf '%s\n' "$h" | sed -n 's/.*nodes=\[\(.*\)\]/\1/p' | tr ',' '\n' | grep -c web || true ;;
    *) echo none ;;
  esac
}
wait_peers() { # wait_peers SECONDS WANT N...: until each node N has WANT peers; 0 if so
  local deadline=$(($(date +%s) + $1)) want=$2 n all
  shift 2
  while [ "$(date +%s)" -lt "$deadline" ]; do
    all=yes
    for n in "$@"; do [ "$(peers "$n")" = "$want" ] || { all=no; break; }; done
    [ "$all" = yes ] && return 0
    sleep 0.2
  done
  return 1
}
rpc() { # rpc N EXPR: run EXPR on the node of web-N, as stackup's console would
  local n=$1
  shift
  "$D" exec -e RELEASE_NODE="$(health "$n" | sed -n 's/^ok node=\([^ ]*\).*/\1/p')" \
    -e RELEASE_DISTRIBUTION=name "web-$n" /app/bin/demo rpc "$@"
}
rm_nodes() { local n; for n in "$@"; do "$D" rm -f "web-$n" >/dev/null; done; }

say "1. three nodes, alias web, one cookie"
t0=$(now)
for n in 10 11 12; do run_node "$n" web -e RELEASE_COOKIE="$COOKIE" -e ERL_AFLAGS="$PORTS"; done
wait_peers 60 2 10 11 12 || { echo "FAIL: not whole within 60 s"; exit 1; }
echo "whole $(since "$t0") s after the first docker run"
for n in 10 11 12; do health "$n"; done
echo "the alias as the nodes resolve it (Docker's embedded DNS, 127.0.0.11):"
rpc 10 'IO.inspect(:inet_res.getbyname(~c"web", :a))'
echo "\$ docker exec -e RELEASE_NODE=web@10.77.64.10 -e RELEASE_DISTRIBUTION=name web-10 /app/bin/demo rpc 'IO.inspect(Node.list())'"
rpc 10 'IO.inspect(Node.list())'
echo "\$ docker exec web-10 /app/bin/demo rpc 'IO.inspect(Node.list())'   # without the node's name"
"$D" exec web-10 /app/bin/demo rpc 'IO.inspect(Node.list())' && echo "exit 0" || echo "exit $?"
echo "\$ script -qec 'docker exec -it -e RELEASE_NODE=web@10.77.64.10 -e RELEASE_DISTRIBUTION=name web-10 /app/bin/demo remote' /dev/null"
# A remote shell needs a terminal (-t, a pty here from script(1)); it is left with Ctrl-G q,
# never with System.halt(), which would stop the node it is attached to.
{ sleep 3; printf 'node()\n'; sleep 1; printf 'Node.list()\n'; sleep 1; printf '\a'; sleep 0.5; printf 'q\n'; sleep 2; } |
  timeout 30 script -qec "$D exec -it -e RELEASE_NODE=web@10.77.64.10 -e RELEASE_DISTRIBUTION=name web-10 /app/bin/demo remote" /dev/null |
  tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' || true
echo
health 10
"$D" stats --no-stream --format '{{.Name}} {{.MemUsage}} {{.CPUPerc}}' web-10 web-11 web-12
echo "web-10 VM: $("$D" exec web-10 grep VmRSS /proc/1/status | tr -s ' \t' ' '), erlang:memory(total) $(rpc 10 'IO.puts(:erlang.memory(:total))') bytes"
"$D" logs web-10

say "2. a node stopped and started again rejoins"
t0=$(now)
"$D" stop -t 10 web-11 >/dev/null
echo "stopped in $(since "$t0") s"
wait_peers 30 1 10 12 || { echo "FAIL: the others still see web-11"; exit 1; }
t0=$(now)
"$D" start web-11 >/dev/null
wait_peers 60 2 10 11 12 || { echo "FAIL: web-11 did not rejoin within 60 s"; exit 1; }
echo "whole again $(since "$t0") s after docker start"
rpc 11 'IO.inspect(Node.list())'
"$D" logs --tail 3 web-10

say "3. a node with another cookie does not join (same alias, same basename)"
run_node 13 web -e RELEASE_COOKIE=another-cookie -e ERL_AFLAGS="$PORTS"
wait_peers 30 0 13 || { echo "FAIL: web-13 does not answer"; exit 1; }
sleep 12
echo "after 12 s:"
for n in 10 11 12 13; do health "$n"; done
[ "$(peers 13)" = 0 ] && [ "$(peers 10)" = 2 ] || { echo "FAIL: the cookies mixed"; exit 1; }
"$D" logs web-13 2>&1 | tail -n 3
rm_nodes 13

say "3b. a node of another release (NODE_NAME_MODE=release) does not join, same cookie"
run_node 14 web -e RELEASE_COOKIE="$COOKIE" -e ERL_AFLAGS="$PORTS" -e NODE_NAME_MODE=release
wait_peers 30 0 14 || { echo "FAIL: web-14 does not answer"; exit 1; }
sleep 12
for n in 10 14; do health "$n"; done
[ "$(peers 14)" = 0 ] && [ "$(peers 10)" = 2 ] || { echo "FAIL: the releases mixed"; exit 1; }
rm_nodes 14 10 11 12

# A security-group stand-in between containers (bridged traffic passes iptables' FORWARD
# chain: br_netfilter, bridge-nf-call-iptables=1): replies, the HTTP port and EPMD open,
# the distribution range open or not, every other TCP port between tasks dropped.
sg() { # sg open|closed
  iptables -N "$CHAIN" 2>/dev/null || iptables -F "$CHAIN"
  iptables -C DOCKER-USER -j "$CHAIN" 2>/dev/null || iptables -I DOCKER-USER -j "$CHAIN"
  iptables -A "$CHAIN" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  iptables -A "$CHAIN" -s "$SUBNET" -d "$SUBNET" -p tcp -m multiport --dports 4000,4369 -j RETURN
  [ "$1" = closed ] || iptables -A "$CHAIN" -s "$SUBNET" -d "$SUBNET" -p tcp --dport 9100:9155 -j RETURN
  iptables -A "$CHAIN" -s "$SUBNET" -d "$SUBNET" -p tcp -j DROP
}
try_cluster() { # try_cluster LABEL [docker run options...]: 3 nodes; whole within 20 s?
  local what=$1 t0
  shift
  t0=$(now)
  for n in 20 21 22; do run_node "$n" sg -e RELEASE_COOKIE="$COOKIE" "$@"; done
  if wait_peers 20 2 20 21 22; then
    echo "$what: whole after $(since "$t0") s"
  else
    echo "$what: NOT connected after 20 s:"
  fi
  for n in 20 21 22; do health "$n"; done
  echo "web-20 VM arguments: $("$D" exec web-20 sh -c 'tr "\0" " " </proc/1/cmdline' | sed 's/.*beam.smp//; s/-setcookie [^ ]*/-setcookie (hidden)/')"
  rm_nodes 20 21 22
}

say "4. security group: 4369 and 9100-9155 open between tasks, everything else dropped"
sg open
iptables -S "$CHAIN"
try_cluster "4a ports pinned (DISTRIBUTION_PORTS=9100-9155, appended by the entrypoint)" \
  -e DISTRIBUTION_PORTS=9100-9155 -e ERL_AFLAGS="+S 1"
try_cluster "4b ports not pinned (random distribution port)"

say "5. security group with 9100-9155 closed, ports pinned"
sg closed
try_cluster "5 range closed" -e DISTRIBUTION_PORTS=9100-9155

say "image"
cat "$STATE/image.txt"
"$D" image inspect --format '{{.Size}}' "$(awk '/^FROM /{print $2}' "$ROOT/.local-cloud/demo/context/Dockerfile")" |
  awk '{printf "base image %d bytes (%d MB)\n", $1, $1 / 1000000}'
