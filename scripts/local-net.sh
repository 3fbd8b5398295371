#!/usr/bin/env bash
# The main job: builds kadmium, runs a small network of nodes on loopback that you can
# watch, put and get against, a Prometheus that scrapes them with the repo's rules
# (grafana/prometheus/), Grafana with the repo's provisioning when grafana-server is
# installed, and a light stream of demo traffic so every panel has data. Prints the URLs.
# Ctrl-C stops everything it started (by PID) and exits.
#
#   scripts/local-net.sh [--no-traffic] [--no-monitoring] [NODES]
#       NODES            1..50, default 5 (ports 4101.., API 4201.., metrics 9101..)
#       --no-traffic     no demo puts, gets and publishes
#       --no-monitoring  no Prometheus, no Grafana
#
# Data dirs, logs and the Prometheus/Grafana state are in out/local-net/ (delete it to
# start afresh). Prometheus listens on 127.0.0.1:9090 (or a free port if that is taken),
# Grafana on 127.0.0.1:3000. See docs/monitoring.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

nodes=5
traffic=1
monitoring=1
for arg in "$@"; do
  case "$arg" in
    --no-traffic) traffic=0 ;;
    --no-monitoring) monitoring=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) nodes=$arg ;;
  esac
done
if ! [[ "$nodes" =~ ^[0-9]+$ ]] || [ "$nodes" -lt 1 ] || [ "$nodes" -gt 50 ]; then
  echo "usage: scripts/local-net.sh [--no-traffic] [--no-monitoring] [NODES: 1..50]" >&2
  exit 2
fi

bash scripts/build.sh   # also installs missing packages, prometheus included
bin=$repo/build/bin/kadmium
root=out/local-net
mkdir -p "$root"

pids=()   # every process this script started, stopped in reverse order
names=()
started() { pids+=("$1"); names+=("$2"); }
stop() {
  # Output may go to a pipe that Ctrl-C already closed (| tee): never die of it mid-way.
  trap '' PIPE
  trap - INT TERM EXIT
  { echo; echo "stopping ${#pids[@]} processes..."; } 2>/dev/null || true
  for ((k = ${#pids[@]} - 1; k >= 0; k--)); do kill -TERM "${pids[$k]}" 2>/dev/null || true; done
  for ((k = ${#pids[@]} - 1; k >= 0; k--)); do wait "${pids[$k]}" 2>/dev/null || true; done
  echo "stopped. Data dirs kept in $root (delete them to start afresh)." 2>/dev/null || true
  exit 0
}
trap stop INT TERM EXIT

# Whether a TCP port on 127.0.0.1 accepts connections (bash's /dev/tcp, no extra tools).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- Nodes. ---
targets=""
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
  started $! "node$i"
  targets+="\"127.0.0.1:$((9100 + i))\""
  [ "$i" -lt "$nodes" ] && targets+=","
  sleep 0.2
done

# --- Prometheus: the repo's config at 5 s intervals, its rules, a targets file. ---
prom_url=""
grafana_url=""
if [ "$monitoring" = 1 ]; then
  prom_dir=$root/prometheus
  mkdir -p "$prom_dir/targets"
  sed -e 's/^\(\s*scrape_interval:\s*\).*/\15s/' -e 's/^\(\s*evaluation_interval:\s*\).*/\15s/' \
    grafana/prometheus/prometheus.yml >"$prom_dir/prometheus.yml"
  ln -sfn "$repo/grafana/prometheus/rules" "$prom_dir/rules"
  # Written whole, then renamed, so Prometheus never reads half a file.
  echo "[{\"targets\":[$targets],\"labels\":{\"network\":\"local-net\"}}]" >"$prom_dir/targets/.kadmium.json.tmp"
  mv "$prom_dir/targets/.kadmium.json.tmp" "$prom_dir/targets/kadmium.json"
  prom_port=9090
  port_in_use "$prom_port" && prom_port=$(free_port)
  if command -v prometheus >/dev/null; then
    prometheus --config.file="$prom_dir/prometheus.yml" --storage.tsdb.path="$prom_dir/tsdb" \
      --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >>"$root/prometheus.log" 2>&1 &
    started $! prometheus
    prom_url="http://127.0.0.1:$prom_port"
  else
    echo "local-net: prometheus is not installed (apt-get install prometheus); running without it" >&2
  fi

  # --- Grafana, when installed: the repo's provisioning with this Prometheus's URL. ---
  if [ -n "$prom_url" ] && command -v grafana-server >/dev/null; then
    g=$root/grafana
    mkdir -p "$g/provisioning/datasources" "$g/provisioning/dashboards" "$g/data" "$g/logs"
    sed "s#url: http://localhost:9090#url: $prom_url#" grafana/provisioning/datasources/prometheus.yml \
      >"$g/provisioning/datasources/prometheus.yml"
    sed "s#path: /var/lib/grafana/dashboards/kadmium#path: $repo/grafana/dashboards#" \
      grafana/provisioning/dashboards/kadmium.yml >"$g/provisioning/dashboards/kadmium.yml"
    home=/usr/share/grafana
    [ -d "$home" ] || home=$(dirname "$(dirname "$(readlink -f "$(command -v grafana-server)")")")
    GF_PATHS_PROVISIONING="$repo/$g/provisioning" GF_PATHS_DATA="$repo/$g/data" GF_PATHS_LOGS="$repo/$g/logs" \
    GF_SERVER_HTTP_ADDR=127.0.0.1 GF_SERVER_HTTP_PORT=3000 \
    GF_AUTH_ANONYMOUS_ENABLED=true GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer \
    GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH="$repo/grafana/dashboards/kadmium.json" \
      grafana-server --homepath "$home" >>"$root/grafana.log" 2>&1 &
    started $! grafana
    grafana_url="http://127.0.0.1:3000/d/kadmium"
  fi
fi

# --- Demo traffic: puts and gets now; publishes once `kadmium publish` exists. ---
pubsub=0
# CLI11 answers an unknown command's --help with the main help and exit 0: look for its usage line.
"$bin" publish --help 2>/dev/null | grep -q '^Usage:.*publish' && pubsub=1
if [ "$traffic" = 1 ]; then
  if [ "$pubsub" = 1 ] && [ "$nodes" -ge 2 ]; then
    for i in $(seq 2 $((nodes < 3 ? nodes : 3))); do
      "$bin" subscribe demo --data "$root/node$i" >>"$root/subscriber$i.log" 2>&1 &
      started $! "subscriber$i"
    done
  fi
  (
    sleep 3  # let the nodes find each other first
    i=0
    while true; do
      w=$((i % nodes + 1))
      r=$(((i + 1) % nodes + 1))
      "$bin" put "demo-$((i % 100))" "value $i at $(date +%T)" --data "$root/node$w" >/dev/null 2>&1 || true
      "$bin" get "demo-$(((i + 99) % 100))" --data "$root/node$r" >/dev/null 2>&1 || true
      if [ "$pubsub" = 1 ]; then
        "$bin" publish demo "message $i from node$w" --data "$root/node$w" >/dev/null 2>&1 || true
      fi
      i=$((i + 1))
      sleep 0.3
    done
  ) >>"$root/traffic.log" 2>&1 &
  started $! traffic
fi

cat <<TXT

kadmium: $nodes nodes running on 127.0.0.1:4101..$((4100 + nodes)) (logs: $root/nodeN.log)
  metrics:    http://127.0.0.1:9101/metrics .. http://127.0.0.1:$((9100 + nodes))/metrics
TXT
[ -n "$prom_url" ] && echo "  Prometheus: $prom_url   (targets: $prom_url/targets, alerts: $prom_url/alerts)"
if [ -n "$grafana_url" ]; then
  echo "  Grafana:    $grafana_url   (anonymous viewer; admin/admin to edit)"
elif [ "$monitoring" = 1 ]; then
  echo "  Grafana:    not installed (grafana-server); see docs/monitoring.md to run it against $prom_url"
fi
if [ "$traffic" = 1 ]; then
  echo "  traffic:    puts and gets$([ "$pubsub" = 1 ] && echo ", publishes to topic 'demo'") every 0.3 s (--no-traffic turns it off)"
fi
cat <<TXT

Try, in another terminal:
  $bin status --data $root/node1
  $bin put greeting "hello, world" --data $root/node2
  $bin get greeting --data $root/node$nodes
  $bin peers --data $root/node1

Ctrl-C stops all of it.
TXT

# Watch: one line per node every 5 s (peers, records), in the background. The script itself
# only sleeps: bash acts on Ctrl-C only when its foreground command dies of it, and the
# kadmium CLI handles SIGINT itself, so a foreground `kadmium status` could swallow it.
(
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
) &
started $! watch
while true; do sleep 1; done
