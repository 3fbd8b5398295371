#!/usr/bin/env bash
# Runs the kadmium-sim benchmark configurations and prints their figures: the 10,000-node
# and 100,000-node lookup runs, the 5,000-node run with 20% churn, and the two value runs
# (10,000 nodes with 1,000 puts and gets; 5,000 nodes, 20% churn, 1,000 puts and gets,
# which also runs the liveness phase). Each configuration runs RUNS times (default 3; the
# VMs are noisy, so read medians) with seeds 1..RUNS. It does not build: point SIM at a
# kadmium-sim binary (RelWithDebInfo).
#
#   bench/sim_bench.sh                 # all of them, 3 runs each
#   RUNS=1 bench/sim_bench.sh 10k      # chosen ones: 10k, 100k, churn, values, churn-values
#   SIM=build/bin/kadmium-sim OUT=/tmp/simbench bench/sim_bench.sh
#
# Targets (docs/simulator.md): 10k/10k: success >= 99.9%, median hops <= 4, < 60 s wall;
# 100k/10k: < 10 min wall, < 16 GB, success >= 99.9%; 5k with 20% churn: success >= 99%
# (lookups and gets), and the liveness batch all correct.
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
    [values]="--nodes 10000 --lookups 10000 --puts 1000 --min-success 0.999"
    [churn-values]="--nodes 5000 --lookups 5000 --churn 0.2 --puts 1000 --min-success 0.99"
)
order=(10k churn values churn-values 100k)
if [[ $# -gt 0 ]]; then order=("$@"); fi

status=0
printf '%-12s %-4s %7s %9s %8s %6s %6s %7s %8s %4s %4s %8s %8s %8s %8s %9s %s\n' \
    config seed wall_s virtual_s events ev/s rss_mb kb/node success hops p99 lat_p50 get_ok get_p50 get_p99 liveness trace
for name in "${order[@]}"; do
    args="${configs[$name]:-}"
    if [[ -z "$args" ]]; then
        echo "sim_bench: unknown configuration '$name' (10k, 100k, churn, values, churn-values)" >&2
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
v = j.get("values", {})
live = j.get("liveness", {})
gets = v.get("gets", 0)
get_ok = f"{100 * v['get_success_rate']:7.2f}%" if gets else "       -"
get_p50 = f"{v['get_latency_ms_p50']:6.0f}ms" if gets else "       -"
get_p99 = f"{v['get_latency_ms_p99']:6.0f}ms" if gets else "       -"
if live.get("ran"):
    verdict = f"{live['lookups_succeeded'] + live['gets_succeeded']}/{live['lookups'] + live['gets']}"
else:
    verdict = "-"
print(f"{name:<12} {seed:<4} {j['wall_seconds']:7.1f} {j['virtual_seconds']:9.1f} {j['events']:8d} "
      f"{j['events_per_second']:6.0f} {j['peak_rss_mb']:6.0f} {j['memory_per_node_kb']:7.1f} "
      f"{100 * l['success_rate']:7.3f}% {l['hops_p50']:4.0f} {l['hops_p99']:4.0f} {l['latency_ms_p50']:6.0f}ms "
      f"{get_ok} {get_p50} {get_p99} {verdict:>9} {j['trace_hash']}")
EOF
    done
done
echo "reports: $OUT"
exit $status
