#!/usr/bin/env bash
# Runs the three kadmium-sim benchmark configurations and prints their figures: the
# 10,000-node and 100,000-node lookup runs and the 5,000-node run with 20% churn. Each
# configuration runs RUNS times (default 3; the VMs are noisy, so read medians) with
# seeds 1..RUNS. It does not build: point SIM at a kadmium-sim binary (RelWithDebInfo).
#
#   bench/sim_bench.sh                 # all three, 3 runs each
#   RUNS=1 bench/sim_bench.sh 10k      # one configuration: 10k, 100k or churn
#   SIM=build/bin/kadmium-sim OUT=/tmp/simbench bench/sim_bench.sh
#
# Targets (docs/simulator.md): 10k/10k: success >= 99.9%, median hops <= 4, < 60 s wall;
# 100k/10k: < 10 min wall, < 16 GB, success >= 99.9%; 5k with 20% churn: success >= 99%.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
SIM="${SIM:-$here/build/bin/kadmium-sim}"
RUNS="${RUNS:-3}"
OUT="${OUT:-$(mktemp -d /tmp/kadmium-sim-bench.XXXXXX)}"
mkdir -p "$OUT"

if [[ ! -x "$SIM" ]]; then
    echo "sim_bench: no kadmium-sim at $SIM (build it, or set SIM=...)" >&2
    exit 2
fi

declare -A configs=(
    [10k]="--nodes 10000 --lookups 10000 --min-success 0.999"
    [100k]="--nodes 100000 --lookups 10000 --min-success 0.999"
    [churn]="--nodes 5000 --lookups 10000 --churn 0.2 --min-success 0.99"
)
order=(10k churn 100k)
if [[ $# -gt 0 ]]; then order=("$@"); fi

status=0
printf '%-6s %-5s %8s %9s %7s %6s %6s %9s %9s %10s %9s %8s %s\n' \
    config seed wall_s virtual_s events ev/s rss_mb kb/node success hops_p50 hops_p99 lat_p50 trace
for name in "${order[@]}"; do
    args="${configs[$name]:-}"
    if [[ -z "$args" ]]; then
        echo "sim_bench: unknown configuration '$name' (10k, 100k, churn)" >&2
        exit 2
    fi
    for seed in $(seq 1 "$RUNS"); do
        json="$OUT/$name-$seed.json"
        # shellcheck disable=SC2086
        if ! "$SIM" $args --seed "$seed" --crypto standin --quiet --json "$json" --plot "$OUT/$name-$seed.svg"; then
            status=1
        fi
        python3 - "$name" "$seed" "$json" <<'EOF'
import json, sys
name, seed, path = sys.argv[1:]
j = json.load(open(path))
l = j["lookups"]
print(f"{name:<6} {seed:<5} {j['wall_seconds']:8.1f} {j['virtual_seconds']:9.1f} {j['events']:7d} "
      f"{j['events_per_second']:6.0f} {j['peak_rss_mb']:6.0f} {j['memory_per_node_kb']:9.1f} "
      f"{100 * l['success_rate']:8.3f}% {l['hops_p50']:9.0f} {l['hops_p99']:8.0f} {l['latency_ms_p50']:8.0f}ms "
      f"{j['trace_hash']}")
EOF
    done
done
echo "reports: $OUT"
exit $status
