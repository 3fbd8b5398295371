#!/bin/bash
# The side-by-side run of ../shared/anchors/run_side_by_side.sh with ONE difference: the
# kadmium half is bench/side_by_side_first.py (the shared kadmium_bench.py whose gets ask
# `&first=1`, the first verified value); the OpenDHT half is the shared opendht_bench.py as is.
# For each repeat and N: kadmium first, then OpenDHT. Run from the project root after building:
#   REPS=1 SIZES="20 50 100" bash bench/side_by_side_first.sh
# Env: KADMIUM_BIN (default build-rel/bin/kadmium), OUT (default out/first), ANCHORS,
# ODHT=0 to skip OpenDHT, BASE_PORT (kadmium's --base-port, default 23000).
set -u
here=$(cd "$(dirname "$0")" && pwd)
ANCHORS=${ANCHORS:-/work/shared/anchors}
export ANCHORS
export KADMIUM_BIN=${KADMIUM_BIN:-$(pwd)/build-rel/bin/kadmium}
export KADMIUM_COMMIT=${KADMIUM_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
OUT=${OUT:-$(pwd)/out/first}
PY=/usr/bin/python3
REPS=${REPS:-1}
SIZES=${SIZES:-"20 50 100"}
ODHT=${ODHT:-1}
BASE_PORT=${BASE_PORT:-23000}  # below the ephemeral range: a node also listens on TCP at its port
[ -x "$KADMIUM_BIN" ] || { echo "no kadmium binary at $KADMIUM_BIN (build first)"; exit 2; }
# OpenDHT's half needs Debian's Python binding for the system Python (not a pyenv one).
if [ "$ODHT" = 1 ] && ! $PY -c 'import opendht' 2>/dev/null; then
  echo "installing python3-opendht and dhtnode with apt-get"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q python3-opendht dhtnode > /dev/null ||
    { $sudo apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q python3-opendht dhtnode > /dev/null; }
  $PY -c 'import opendht' || { echo "OpenDHT's Python binding is missing (apt-get install python3-opendht), or run with ODHT=0"; exit 2; }
fi
mkdir -p "$OUT"
echo "start $(date '+%F %T'), kadmium $KADMIUM_COMMIT ($KADMIUM_BIN), gets with &first=1, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$REPS"); do
  for n in $SIZES; do
    t0=$(date +%s)
    timeout 400 $PY "$here/side_by_side_first.py" --bin "$KADMIUM_BIN" --base-port "$BASE_PORT" \
      --sizes "$n" --json "$OUT/kad_n${n}_r$r.json" > "$OUT/kad_n${n}_r$r.txt" 2> "$OUT/kad_n${n}_r$r.log"
    echo "$(date +%T) kadmium(first=1) N=$n rep $r rc=$? $(( $(date +%s) - t0 ))s load $(cut -d' ' -f1 /proc/loadavg)"
    if [ "$ODHT" = 1 ]; then
      t0=$(date +%s)
      timeout 400 $PY "$ANCHORS/opendht_bench.py" --sizes "$n" --json "$OUT/odht_n${n}_r$r.json" \
        > "$OUT/odht_n${n}_r$r.txt" 2> "$OUT/odht_n${n}_r$r.log"
      echo "$(date +%T) opendht N=$n rep $r rc=$? $(( $(date +%s) - t0 ))s load $(cut -d' ' -f1 /proc/loadavg)"
    fi
  done
done
$PY "$here/side_by_side_first.py" --compare-kad "$OUT/kad_n*_r*.json" --compare-odht "$OUT/odht_n*_r*.json" \
  > "$OUT/side_by_side.md"
echo "end $(date '+%F %T'); tables in $OUT/side_by_side.md"
