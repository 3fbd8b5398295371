#!/usr/bin/env python3
"""mesh_dups.py: duplicates, link bytes and latency per delivery in a real multi-process
kadmium network on loopback, with choking on or off (docs/benchmarks.md, "Choking on real
processes"). Not a test: it measures.

What it does: starts --nodes node processes at once (each bootstrapping from node 0), opens a
server-sent-event stream (GET /v1/subscribe) on --subscribers of them, waits until a probe
from every publisher reaches every subscriber, then publishes --messages messages of --size
bytes at --rate per second, each from a random node (subscribed or not; POST /v1/publish
with "durable": false, one keep-alive connection per node). It reads every node's /metrics
before and after the measured messages and reports, over the subscribers' nodes:
  - delivery: unique measured messages per subscriber stream / expected;
  - duplicates per delivery: kadmium_messages_duplicate_total / kadmium_messages_delivered_total;
  - link bytes per delivery: kadmium_link_bytes_total{direction="out"} of all nodes / deliveries;
  - latency p50 / p99 from the payload's CLOCK_MONOTONIC send time to the stream's receipt;
  - choke and unchoke messages sent (kadmium_gossip_control_total).
Every wait is bounded by a deadline; every process it started is stopped by PID.

  bench/mesh_dups.py --bin build-rel/bin/kadmium --nodes 40 --subscribers 20 --choke-keep 3
  bench/mesh_dups.py --bin build-rel/bin/kadmium --nodes 40 --subscribers 20 --choke-keep 0
"""
import argparse
import http.client
import json
import os
import random
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clients import kadmium as kclient  # noqa: E402

TOPIC = "meshdups"
METRIC = re.compile(r'^(kadmium_[a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$')


def mono_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class Node:
    def __init__(self, binary, root, index, bootstrap, choke_keep):
        self.data = os.path.join(root, f"node{index}")
        os.makedirs(self.data)
        args = [binary, "node", "--listen", "127.0.0.1:0", "--data", self.data, "--api", "127.0.0.1:0",
                "--metrics", "127.0.0.1:0", "--log-level", "warn", "--choke-keep", str(choke_keep)]
        if bootstrap:
            args += ["--bootstrap", bootstrap]
        self.log = open(os.path.join(root, f"node{index}.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.conn = None

    def wait_files(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.data} exited with {self.proc.returncode}")
            if all(os.path.exists(os.path.join(self.data, f)) for f in ("api.addr", "metrics.addr")):
                return
            time.sleep(0.05)
        raise RuntimeError(f"node {self.data} did not start")

    def api(self):
        return kclient.read_api(self.data)

    def request(self, method, path, body=None):
        host, port, cookie = self.api()
        for _ in range(2):  # bounded: one reconnect
            if self.conn is None:
                self.conn = http.client.HTTPConnection(host, port, timeout=10)
            try:
                self.conn.request(method, path, body=body, headers={"Authorization": f"Bearer {cookie}",
                                                                   "Content-Type": "application/json"})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
        return 0, b""

    def listen_addr(self):
        status, body = self.request("GET", "/v1/status")
        return json.loads(body)["listen"][0] if status == 200 else None

    def publish(self, text):
        body = json.dumps({"topic": TOPIC, "data": text, "durable": False}).encode()
        status, _ = self.request("POST", "/v1/publish", body)
        return status == 200

    def metrics(self):
        with open(os.path.join(self.data, "metrics.addr")) as f:
            host, _, port = f.read().strip().rpartition(":")
        c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=10)
        try:
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
        finally:
            c.close()
        out = {}
        for line in text.splitlines():
            m = METRIC.match(line)
            if m:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
        return out

    def stop(self):
        if self.conn:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def total(snapshots, name, labels=""):
    return sum(s.get((name, labels), 0.0) for s in snapshots)


def delta(after, before, name, labels=""):
    return total(after, name, labels) - total(before, name, labels)


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def run(args, root, started):
    rng = random.Random(args.seed)
    first = Node(args.bin, root, 0, None, args.choke_keep)
    started.append(first)
    first.wait_files(time.monotonic() + 30)
    boot = first.listen_addr()
    nodes = [first]
    for i in range(1, args.nodes):  # all at once: the first waits for none of the others
        nodes.append(Node(args.bin, root, i, boot, args.choke_keep))
        started.append(nodes[-1])
    deadline = time.monotonic() + 60
    for n in nodes:
        n.wait_files(deadline)
    subs_nodes = nodes[:args.subscribers]  # node 0 among them
    streams = [kclient.Subscriber(*n.api(), TOPIC) for n in subs_nodes]
    sel = selectors.DefaultSelector()
    for i, s in enumerate(streams):
        sel.register(s.sock, selectors.EVENT_READ, i)
    seen = [set() for _ in streams]
    probes_seen = [set() for _ in streams]
    latencies = []

    def pump(timeout):
        for key, _ in sel.select(timeout):
            i = key.data
            data = streams[i].sock.recv(1 << 18)
            now = mono_ns()
            if not data:
                raise RuntimeError("a subscriber stream closed")
            for p in streams[i].feed(data):
                kind, seq, ts = p.split(b" ", 3)[:3]
                if kind == b"M":
                    if int(seq) not in seen[i]:
                        seen[i].add(int(seq))
                        latencies.append((now - int(ts)) / 1e6)
                else:
                    probes_seen[i].add(int(seq))

    def payload(kind, seq):
        head = "%s %d %d " % (kind, seq, mono_ns())
        return head + "x" * max(0, args.size - len(head))

    # Warm-up: probes from every node until every subscriber has one from each (the mesh
    # and the publishers' fanout exist), bounded by --setup-s.
    t_setup = time.monotonic()
    deadline = t_setup + args.setup_s
    probe = 0
    while time.monotonic() < deadline:
        batch = []
        for n in nodes:
            n.publish(payload("P", probe))
            batch.append(probe)
            probe += 1
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pump(0.05)
        if all(set(batch) <= p for p in probes_seen):
            break
    else:
        raise RuntimeError(f"probes did not reach every subscriber in {args.setup_s} s")
    setup_s = time.monotonic() - t_setup
    # Let the choke state settle on the probes' traffic, as on a network that has run a while.
    end = time.monotonic() + args.settle_s
    while time.monotonic() < end:
        n = rng.choice(nodes)
        n.publish(payload("P", probe))
        probe += 1
        pump(max(0.0, min(1.0 / args.rate, end - time.monotonic())))

    # Quiet for 2.5 s: the probes land, and every node's /metrics (refreshed each second)
    # has counted them before the first snapshot.
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        pump(0.1)
    before = [n.metrics() for n in nodes]
    sub_before = [n.metrics() for n in subs_nodes]
    t0 = time.monotonic()
    for seq in range(args.messages):
        due = t0 + seq / args.rate
        while time.monotonic() < due:
            pump(max(0.0, due - time.monotonic()))
        if not rng.choice(nodes).publish(payload("M", seq)):
            print(f"publish {seq} failed", file=sys.stderr)
    deadline = time.monotonic() + args.drain_s
    while time.monotonic() < deadline and any(len(s) < args.messages for s in seen):
        pump(0.1)
    time.sleep(2.5)  # heartbeats after the last message, and a /metrics refresh
    after = [n.metrics() for n in nodes]
    sub_after = [n.metrics() for n in subs_nodes]

    delivered = delta(sub_after, sub_before, "kadmium_messages_delivered_total")
    dups = delta(sub_after, sub_before, "kadmium_messages_duplicate_total")
    link_out = delta(after, before, "kadmium_link_bytes_total", '{direction="out"}')
    expected = args.messages * len(streams)
    unique = sum(len(s) for s in seen)
    control = {}
    for t in ("choke", "unchoke", "ihave", "iwant", "idontwant", "graft", "prune"):
        control[t] = delta(after, before, "kadmium_gossip_control_total", '{direction="out",type="%s"}' % t)
    return {
        "nodes": args.nodes, "subscribers": len(streams), "messages": args.messages, "rate": args.rate,
        "size": args.size, "choke_keep": args.choke_keep, "setup_s": round(setup_s, 2),
        "expected_deliveries": expected, "delivered_unique": unique,
        "delivery_ratio": unique / expected if expected else 0,
        "node_deliveries": delivered, "duplicates": dups,
        "duplicates_per_delivery": dups / delivered if delivered else None,
        "link_bytes_out": link_out, "link_bytes_per_delivery": link_out / delivered if delivered else None,
        "latency_ms_p50": pct(latencies, 0.5), "latency_ms_p99": pct(latencies, 0.99),
        "control_out": control,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="the kadmium binary")
    ap.add_argument("--nodes", type=int, default=40)
    ap.add_argument("--subscribers", type=int, default=20)
    ap.add_argument("--messages", type=int, default=600)
    ap.add_argument("--rate", type=float, default=50.0, help="messages per second")
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--choke-keep", type=int, default=3, help="passed to every node (0 = choking off)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--setup-s", type=float, default=90)
    ap.add_argument("--settle-s", type=float, default=10)
    ap.add_argument("--drain-s", type=float, default=20)
    ap.add_argument("--json", help="append the result as one JSON line to this file")
    ap.add_argument("--keep", action="store_true", help="keep the nodes' data dirs and logs")
    args = ap.parse_args()
    if not 1 <= args.subscribers <= args.nodes:
        ap.error("--subscribers must be 1..--nodes")
    root = tempfile.mkdtemp(prefix="kadmium-meshdups-")
    nodes_started = []
    try:
        result = run(args, root, nodes_started)
    finally:
        for p in list(nodes_started):
            p.stop()
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
