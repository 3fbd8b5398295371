#!/bin/bash
# bench/publish_lines.sh: throughput of `kadmium publish TOPIC -` with durable publishes (the
# default), N lines from a file: through a publisher node with two subscribed nodes (CLI
# subscribers, their lines counted), then on the same node to a topic with no subscriber.
# Not a test; figures in docs/benchmarks.md ("Batch publish").
# Usage: bench/publish_lines.sh LABEL KADMIUM_BIN [N, default 5000]
set -u
label=${1:?usage: publish_lines.sh LABEL KADMIUM_BIN [N]}
bin=${2:?usage: publish_lines.sh LABEL KADMIUM_BIN [N]}
n=${3:-5000}
root=$(mktemp -d /tmp/publish-lines-XXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    sleep 1
    rm -rf "$root"
}
trap cleanup EXIT
start_node() {  # NAME [extra args...]
    local name=$1
    shift
    mkdir -p "$root/$name"
    "$bin" node --data "$root/$name" --listen 127.0.0.1:0 --api 127.0.0.1:0 --metrics off "$@" > "$root/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 50); do [ -f "$root/$name/api.addr" ] && return; sleep 0.1; done
    echo "node $name did not start (log: $root/$name.log)" >&2
    exit 1
}
seconds_since() { echo "$(date +%s.%N) - $1" | bc; }
start_node a
listen=$(grep -o "listening on [0-9.:]*" "$root/a.log" | head -1 | awk '{print $3}')
for s in b c; do
    start_node "$s" --bootstrap "$listen"
    timeout 300 "$bin" subscribe t --data "$root/$s" > "$root/sub-$s.txt" 2>/dev/null &
    pids+=($!)
done
sleep 4  # the mesh forms
seq 1 "$n" | sed 's/^/line /' > "$root/in.txt"
t0=$(date +%s.%N)
"$bin" publish t - --data "$root/a" < "$root/in.txt" > "$root/ids.txt"
took=$(seconds_since "$t0")
sleep 2
printf "%s: %d durable lines, 2 subscribers: %.2f s, %.0f/s; ids %d; delivered %d and %d\n" "$label" "$n" "$took" \
    "$(echo "$n / $took" | bc)" "$(wc -l < "$root/ids.txt")" "$(wc -l < "$root/sub-b.txt")" "$(wc -l < "$root/sub-c.txt")"
t0=$(date +%s.%N)
"$bin" publish alone - --data "$root/a" < "$root/in.txt" > /dev/null
took=$(seconds_since "$t0")
printf "%s: %d durable lines, no subscriber: %.2f s, %.0f/s\n" "$label" "$n" "$took" "$(echo "$n / $took" | bc)"
