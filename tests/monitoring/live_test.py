#!/usr/bin/env python3
"""The monitoring stack against live nodes: a few kadmium nodes on loopback with traffic,
a real Prometheus scraping them every second with the repo's configuration and rules, then
every query of every dashboard panel (template variables filled in, for All and for one
node), the dashboard's variable query and every recording rule evaluated through
Prometheus's HTTP API. Fails if any returns an error or no series, if any rule evaluation
fails, or if any metric of metrics/metric_names.hpp is missing from any node (every
metric, pub/sub and store ones included, exists at 0 from the node's start).

It also checks the Kubernetes scrape job's relabeling (grafana/prometheus/
prometheus-kubernetes.yml) on a second Prometheus, with the pod discovery replaced by
static targets carrying the labels Kubernetes discovery would give a pod: an annotated
running pod is scraped under its pod name; an unannotated or pending one is not.

Traffic: puts and gets through the CLI; `kadmium subscribe` and `kadmium publish` too when
`kadmium publish --help` shows that command's help (pub/sub not built yet: skipped, said so).
With pub/sub, the published and delivered counters must grow and the network's delivery
latency p50 must be a number (the node feeds the pub/sub metrics).
Installs Debian's prometheus if missing (root). Loopback only; bounded run time
(--deadline); stops only what it started, by PID.

Usage: live_test.py --bin build/bin/kadmium [--nodes 4] [--deadline 240]
"""
import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promkit  # noqa: E402

REPO = promkit.REPO
TOPIC = "monitoring-test"


def load_checker():
    """grafana/check_dashboard.py as a module: the test reads names the way the check does."""
    spec = importlib.util.spec_from_file_location("check_dashboard",
                                                  os.path.join(REPO, "grafana", "check_dashboard.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Node:
    def __init__(self, binary, root, index):
        self.binary = binary
        self.index = index
        self.data = os.path.join(root, f"node{index}")
        os.makedirs(self.data, exist_ok=True)
        self.log = os.path.join(root, f"node{index}.log")
        self.proc = None
        self.listen = None
        self.metrics = None

    def start(self, bootstrap):
        args = [self.binary, "node", "--listen", "127.0.0.1:0", "--data", self.data, "--api", "127.0.0.1:0",
                "--metrics", "127.0.0.1:0", "--log-level", "warn"]
        for b in bootstrap:
            args += ["--bootstrap", b]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=promkit.die_with_parent)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.index} exited with {self.proc.returncode}; log: {self.log}")
            status = self.status()
            if status and status.get("metrics"):
                self.listen = status["listen"][0]
                self.metrics = status["metrics"]
                return
            time.sleep(0.2)
        raise RuntimeError(f"node {self.index} did not start; log: {self.log}")

    def cli(self, *args, timeout=30):
        return subprocess.run([self.binary, *args, "--data", self.data], capture_output=True, text=True,
                              timeout=timeout)

    def status(self):
        try:
            r = self.cli("status", "--json", timeout=30)
        except subprocess.TimeoutExpired:
            return None
        return json.loads(r.stdout) if r.returncode == 0 else None


class Traffic:
    """A light stream of puts and gets (and publishes, once pub/sub exists) on a thread."""

    def __init__(self, nodes, pubsub):
        self.nodes = nodes
        self.pubsub = pubsub
        self.stop_flag = threading.Event()
        self.counts = {"put": 0, "get": 0, "publish": 0, "failed": 0}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            writer = self.nodes[i % len(self.nodes)]
            reader = self.nodes[(i + 1) % len(self.nodes)]
            self.call(writer, "put", f"monitoring-{i}", f"value-{i}")
            self.call(reader, "get", f"monitoring-{i}")
            if self.pubsub:
                self.call(writer, "publish", TOPIC, f"message {i}")
            i += 1
            self.stop_flag.wait(0.3)

    def call(self, node, command, *args):
        try:
            ok = node.cli(command, *args, timeout=20).returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        self.counts[command if ok else "failed"] += 1

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=30)


def has_command(binary, command):
    """Whether `kadmium COMMAND --help` is that command's help. (CLI11 answers an unknown
    command's --help with the main help and exit 0, so the exit code alone says nothing.)"""
    # Generous timeout: on a loaded 2-core machine even --help of a sanitized build can be slow.
    r = subprocess.run([binary, command, "--help"], capture_output=True, text=True, timeout=120)
    return r.returncode == 0 and re.search(rf"^Usage:.*\b{command}\b", r.stdout, re.M) is not None


def check(cond, message, failures):
    if not cond:
        failures.append(message)
        print("FAIL:", message, flush=True)


def dashboard_queries(path):
    """[(panel title, refId, expr)] of every panel target, rows' nested panels included."""
    with open(path) as f:
        dashboard = json.load(f)
    out = []

    def walk(panels):
        for p in panels or []:
            walk(p.get("panels"))
            for t in p.get("targets") or []:
                if (t.get("expr") or "").strip():
                    out.append((p.get("title", "?"), t.get("refId", "?"), t["expr"]))

    walk(dashboard.get("panels"))
    return dashboard, out


def fill(expr, values):
    """Replaces $var and ${var} the way Grafana does for these simple cases."""
    def sub(m):
        return values.get(m.group(1) or m.group(2), m.group(0))
    return re.sub(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", sub, expr)


def wait_until(predicate, timeout, what, step=0.5):
    deadline = time.time() + timeout
    last_error = None
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception as e:  # Prometheus may still be starting
            last_error = e
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


def scalar(prom, expr):
    result = prom.query(expr)["result"]
    return float(result[0]["value"][1]) if result else 0.0


def write_main_config(workdir, nodes):
    """The repo's prometheus.yml at 1 s intervals, its rules, and a targets file."""
    os.makedirs(workdir)
    with open(os.path.join(promkit.PROM_DIR, "prometheus.yml")) as f:
        text = promkit.fast_config(f.read())
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(text)
    shutil.copytree(os.path.join(promkit.PROM_DIR, "rules"), os.path.join(workdir, "rules"))
    os.makedirs(os.path.join(workdir, "targets"))
    targets = [{"targets": [n.metrics for n in nodes], "labels": {"network": "monitoring-test"}}]
    with open(os.path.join(workdir, "targets", "kadmium.json"), "w") as f:
        json.dump(targets, f)
    return config


def check_main(prom, nodes, failures, deadline, pubsub):
    checker = load_checker()
    names, histograms = checker.load_names(os.path.join(REPO, "metrics", "metric_names.hpp"))
    instances = sorted(n.metrics for n in nodes)

    # A few scrapes of every node, a few evaluations of every recording rule, some traffic.
    rules = prom.api("rules")["groups"]
    recorded = [r["name"] for g in rules for r in g["rules"] if r["type"] == "recording"]
    check(len(recorded) > 0, "no recording rules loaded", failures)
    wait_until(lambda: scalar(prom, 'count(count_over_time(up{job="kadmium"}[1m]) >= 5)') == len(nodes),
               max(5, deadline - time.time()), "5 scrapes of every node")
    wait_until(lambda: all(scalar(prom, f"count(count_over_time({r}[1m]) >= 3)") >= 1 for r in recorded),
               max(5, deadline - time.time()), "3 evaluations of every recording rule")
    wait_until(lambda: scalar(prom, "sum(kadmium_lookup_duration_seconds_count)") > 0,
               max(5, deadline - time.time()), "finished lookups to be scraped")
    check(scalar(prom, 'sum(up{job="kadmium"})') == len(nodes), "not every node is up", failures)
    if pubsub:
        # Once pub/sub exists its panels must show numbers, not just zero series: the
        # published and delivered counters grow and the delivery latency histogram fills.
        wait_until(lambda: scalar(prom, "sum(kadmium_messages_published_total)") > 0 and
                   scalar(prom, "sum(kadmium_message_delivery_latency_seconds_count)") > 0 and
                   scalar(prom, "sum(kadmium_messages_delivered_total)") > 0,
                   max(5, deadline - time.time()), "published and delivered messages in the metrics")

    # Every metric of the table, on every node, from the start.
    for name in sorted(names):
        series = name + "_count" if name in histograms else name
        got = prom.query(f"count by (instance) ({series})")["result"]
        check(sorted(r["metric"]["instance"] for r in got) == instances,
              f"{series}: on {len(got)} of {len(nodes)} nodes", failures)
    print(f"all {len(names)} metrics exported by all {len(nodes)} nodes", flush=True)

    # The dashboard's Node variable lists every node.
    listed = prom.api("label/instance/values", {"match[]": "kadmium_build_info"})
    check(sorted(listed) == instances, f"Node variable lists {listed}, expected {instances}", failures)

    # Every panel query, for All nodes and for one node; instant and range.
    empty_values = []
    total = 0
    failed_before = len(failures)
    for path in sorted(os.listdir(os.path.join(REPO, "grafana", "dashboards"))):
        if not path.endswith(".json"):
            continue
        _, queries = dashboard_queries(os.path.join(REPO, "grafana", "dashboards", path))
        # All (Grafana's allValue) and one node, escaped as Grafana escapes a regex variable's
        # value and then written into a PromQL string (backslashes doubled).
        for selection in (".*", re.escape(instances[0]).replace("\\", "\\\\")):
            values = {"instance": selection, "kind": ".*", "__rate_interval": "1m", "__interval": "1s"}
            for title, ref, expr in queries:
                total += 1
                query = fill(expr, values)
                where = f"{path}: '{title}' {ref} (instance=~{selection}): {query}"
                try:
                    instant = prom.query(query)["result"]
                    ranged = prom.query_range(query, 20)["result"]
                except RuntimeError as e:
                    check(False, f"{where}: error {e}", failures)
                    continue
                check(len(instant) > 0, f"{where}: no series (instant)", failures)
                check(len(ranged) > 0, f"{where}: no series (range)", failures)
                if instant and all(r["value"][1] == "NaN" for r in instant):
                    empty_values.append(f"'{title}' {ref}")
    print(f"{total} panel queries evaluated, {len(failures) - failed_before} failures", flush=True)
    if empty_values:
        # Quantiles of histograms with no observation yet (pub/sub and store are not wired
        # into the node yet): the series exist, their value is NaN.
        print(f"{len(set(empty_values))} queries have series whose value is NaN (no observations yet): "
              + ", ".join(sorted(set(empty_values))), flush=True)

    # Every recording rule has series; every rule evaluates without error.
    for name in recorded:
        check(len(prom.query(name)["result"]) > 0, f"recording rule {name}: no series", failures)
    if pubsub:
        p50 = prom.query("kadmium:message_delivery_latency_seconds:p50_1m")["result"]
        check(p50 and p50[0]["value"][1] != "NaN", f"delivery latency p50 has no value: {p50}", failures)
    for group in prom.api("rules")["groups"]:
        for rule in group["rules"]:
            check(rule.get("health") == "ok", f"rule {rule['name']}: health {rule.get('health')} "
                  f"{rule.get('lastError', '')}", failures)
    firing = [a["labels"]["alertname"] for a in prom.api("alerts")["alerts"] if a["state"] == "firing"]
    check(not firing, f"alerts firing on a healthy network: {firing}", failures)
    print(f"{len(recorded)} recording rules have series; all rules healthy; no alert firing", flush=True)


def kubernetes_standin(text, pods):
    """prometheus-kubernetes.yml with its kubernetes_sd_configs block replaced by static targets
    that carry the __meta_kubernetes_* labels pod discovery would set; the relabeling stays."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "kubernetes_sd_configs:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next(i for i in range(start + 1, len(lines))
               if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= indent)
    static = [" " * indent + "static_configs:"]
    for address, labels in pods:
        static.append(" " * indent + f"  - targets: [{json.dumps(address)}]")
        static.append(" " * indent + f"    labels: {json.dumps(labels)}")
    return "\n".join(lines[:start] + static + lines[end:]) + "\n"


def check_kubernetes(workdir, node, failures, deadline):
    port = node.metrics.rsplit(":", 1)[1]
    pod = {"__meta_kubernetes_namespace": "kadmium", "__meta_kubernetes_pod_node_name": "worker-1",
           "__meta_kubernetes_pod_phase": "Running", "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
           "__meta_kubernetes_pod_annotation_prometheus_io_port": port}
    pods = [
        # The pod IP with its container port: relabeling must swap in the annotated port.
        ("127.0.0.1:1", dict(pod, __meta_kubernetes_pod_name="kadmium-0")),
        ("127.0.0.2:1", dict(pod, __meta_kubernetes_pod_name="not-annotated",
                             __meta_kubernetes_pod_annotation_prometheus_io_scrape="false")),
        ("127.0.0.3:1", dict(pod, __meta_kubernetes_pod_name="pending", __meta_kubernetes_pod_phase="Pending")),
    ]
    with open(os.path.join(promkit.PROM_DIR, "prometheus-kubernetes.yml")) as f:
        text = promkit.fast_config(kubernetes_standin(f.read(), pods))
    os.makedirs(workdir)
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(text)
    shutil.copytree(os.path.join(promkit.PROM_DIR, "rules"), os.path.join(workdir, "rules"))
    prom = promkit.Prometheus(config, workdir)
    prom.start()
    try:
        wait_until(lambda: scalar(prom, 'count_over_time(up{job="kadmium"}[1m])') >= 2,
                   max(5, min(30, deadline - time.time())), "the Kubernetes job to scrape")
        active = prom.api("targets")["activeTargets"]
        got = sorted((t["labels"].get("instance"), t["scrapeUrl"], t["health"]) for t in active)
        want = [("kadmium-0", f"http://127.0.0.1:{port}/metrics", "up")]
        check(got == want, f"Kubernetes relabeling: targets {got}, expected {want}", failures)
        labels = prom.query('up{job="kadmium"}')["result"][0]["metric"]
        check(labels.get("namespace") == "kadmium" and labels.get("kube_node") == "worker-1",
              f"Kubernetes relabeling: labels {labels}", failures)
        print("Kubernetes job: annotated running pod scraped as instance kadmium-0; others skipped", flush=True)
    finally:
        prom.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=240, help="seconds for the whole test")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    deadline = time.time() + args.deadline
    binary = os.path.abspath(args.bin)

    promkit.ensure_prometheus()
    root = tempfile.mkdtemp(prefix="kadmium-monitoring-")
    nodes, subscribers, traffic, prom = [], [], None, None
    failures = []
    # A timer that stops everything if the deadline passes while something hangs.
    watchdog = threading.Timer(args.deadline + 60, lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()
    try:
        for i in range(args.nodes):
            node = Node(binary, root, i)
            nodes.append(node)
            node.start([nodes[0].listen] if i else [])
        print(f"{len(nodes)} nodes up; metrics at {[n.metrics for n in nodes]}", flush=True)

        pubsub = has_command(binary, "publish") and has_command(binary, "subscribe")
        if pubsub:
            for node in nodes[1:3]:
                subscribers.append(subprocess.Popen([binary, "subscribe", TOPIC, "--data", node.data],
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                    preexec_fn=promkit.die_with_parent))
        print("pub/sub: " + ("publishing and subscribing" if pubsub
                             else "`kadmium publish` not available yet; puts and gets only"), flush=True)
        traffic = Traffic(nodes, pubsub)
        traffic.start()

        config = write_main_config(os.path.join(root, "prometheus"), nodes)
        check(subprocess.run(["promtool", "check", "config", config], capture_output=True).returncode == 0,
              "promtool rejects the test's config", failures)
        prom = promkit.Prometheus(config, os.path.join(root, "prometheus"))
        prom.start()
        print(f"prometheus at {prom.url} (pid {prom.proc.pid})", flush=True)
        check_main(prom, nodes, failures, deadline, pubsub)
        prom.stop()
        check_kubernetes(os.path.join(root, "prometheus-kubernetes"), nodes[0], failures, deadline)
        traffic.stop()
        print(f"traffic: {traffic.counts}", flush=True)
        check(traffic.counts["put"] > 0 and traffic.counts["get"] > 0, "no put or get succeeded", failures)
        if pubsub:
            check(traffic.counts["publish"] > 0, "no publish succeeded", failures)
    except Exception as e:  # report, then stop everything below
        failures.append(f"{type(e).__name__}: {e}")
        print("FAIL:", failures[-1], flush=True)
        if prom is not None:
            print(prom.log_tail(), file=sys.stderr)
    finally:
        if traffic:
            traffic.stop()
        if prom:
            prom.stop()
        for p in subscribers:
            promkit.stop_process(p, "kadmium subscribe")
        for n in nodes:
            promkit.stop_process(n.proc, f"node {n.index}")
        watchdog.cancel()
        if failures or args.keep:
            print(f"kept {root} for inspection", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        return 1
    print("live monitoring test passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
