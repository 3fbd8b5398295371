#!/usr/bin/env bash
# The main job: builds kadmium, then runs a small network of nodes on loopback that you
# can watch, put and get against. Ctrl-C stops every node it started (by PID) and exits.
#
#   scripts/local-net.sh [NODES]        (default 5 nodes; ports 4101.., metrics 9101..)
#
# Each node's data dir is out/local-net/nodeN; point the CLI at one with --data.
# Prometheus can scrape the nodes with grafana/prometheus.yml and the targets file this
# script writes (out/local-net/kadmium-targets.json); see docs/metrics.md.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-5}
if ! [[ "$nodes" =~ ^[0-9]+$ ]] || [ "$nodes" -lt 1 ] || [ "$nodes" -gt 50 ]; then
  echo "usage: scripts/local-net.sh [NODES: 1..50]" >&2
  exit 2
fi

bash scripts/build.sh
bin=build/bin/kadmium
root=out/local-net
mkdir -p "$root"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping ${#pids[@]} nodes..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped. Data dirs kept in $root (delete them to start afresh)."
  exit 0
}
trap stop INT TERM EXIT

targets="["
for i in $(seq 1 "$nodes"); do
  dir="$root/node$i"
  mkdir -p "$dir"
  port=$((4100 + i))
  args=(node --listen "127.0.0.1:$port" --data "$dir" --api "127.0.0.1:$((4200 + i))"
        --metrics "127.0.0.1:$((9100 + i))" --log-level warn)
  # Every node after the first bootstraps from the first (a restart also rejoins from its
  # saved routing table).
  [ "$i" -gt 1 ] && args+=(--bootstrap "127.0.0.1:4101")
  "$bin" "${args[@]}" >>"$root/node$i.log" 2>&1 &
  pids+=($!)
  targets+="{\"targets\":[\"127.0.0.1:$((9100 + i))\"],\"labels\":{\"node\":\"node$i\"}}"
  [ "$i" -lt "$nodes" ] && targets+=","
  sleep 0.2
done
echo "${targets}]" >"$root/kadmium-targets.json"

cat <<TXT

kadmium: $nodes nodes running on 127.0.0.1:4101..$((4100 + nodes)) (logs: $root/nodeN.log)

Try, in another terminal:
  $bin status --data $root/node1
  $bin put greeting "hello, world" --data $root/node2
  $bin get greeting --data $root/node$nodes
  $bin peers --data $root/node1
  curl -s 127.0.0.1:9101/metrics | grep ^kadmium_

Ctrl-C stops the network.
TXT

# Watch: one line per node every 5 s (peers, records) until Ctrl-C.
while true; do
  sleep 5
  line="$(date +%T)"
  for i in $(seq 1 "$nodes"); do
    if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then line+="  node$i:DOWN"; continue; fi
    s=$("$bin" status --json --data "$root/node$i" 2>/dev/null || true)
    peers=$(printf '%s' "$s" | sed -n 's/.*"peers":\([0-9]*\).*/\1/p')
    records=$(printf '%s' "$s" | sed -n 's/.*"records":\([0-9]*\).*/\1/p')
    line+="  node$i: ${peers:-?}p/${records:-?}r"
  done
  echo "$line"
done
