#!/bin/bash
# bench/durable_side_load.sh: the broker bench (kadmium only, bench/pubsub_vs_brokers.py at
# 500 then 200 msg/s) while `kadmium publish side -` feeds durable publishes (the CLI's
# default, ~65/s here) into the publisher's node on another topic: what durable commits on
# a node cost the traffic it forwards. Not a test; figures in docs/benchmarks.md.
# Usage: bench/durable_side_load.sh KADMIUM_BIN OUT.json
set -u
bin=${1:?usage: durable_side_load.sh KADMIUM_BIN OUT.json}
out=${2:?usage: durable_side_load.sh KADMIUM_BIN OUT.json}
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/pubsub_vs_brokers.py" --kadmium-bin "$bin" --systems kadmium --rate 500 --duration-s 12 \
    --rates 200 --step-s 8 --no-install --json "$out" > "$out.txt" 2>&1 &
bench=$!
node0=""
for _ in $(seq 1 150); do  # at most 30 s for the bench's nodes to come up
    node0=$(ls -d /tmp/pubsub-bench-*/kadmium-*/node0 2>/dev/null | tail -1)
    [ -n "$node0" ] && [ -f "$node0/api.addr" ] && break
    sleep 0.2
done
[ -n "$node0" ] || { echo "the bench's publisher node did not start" >&2; kill $bench; exit 1; }
( for i in $(seq 1 6000); do echo "durable side message $i"; sleep 0.004; done ) |
    "$bin" publish side - --data "$node0" > "$out.side" 2>/dev/null &
side=$!
wait $bench
kill $side 2>/dev/null
echo "side publishes acknowledged: $(wc -l < "$out.side")"
grep "^kadmium:  " "$out.txt"
