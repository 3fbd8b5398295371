#!/usr/bin/python3
"""dht_pair_profile.py - where the time and CPU of one DHT put->get pair go.

Starts N `kadmium node` processes on 127.0.0.1 (node 0 first, the others bootstrapping
from it), then runs PAIRS put->get pairs one at a time (put on a random node A, get on
another random node B, 200-byte values) over keep-alive HTTP connections, and reports:
  - the client's time per put and per get (HTTP request written -> answer read), and the
    node's own elapsed time for each (elapsed_us when the node gives it, else elapsed_ms);
  - the CPU time (utime + stime from /proc) all node processes used per pair;
  - the UDP datagrams the machine received per pair (/proc/net/snmp: counts other
    processes' UDP too, so run it on an otherwise quiet network);
  - with --perf, a `perf record -g` of node 1 during the pairs (perf.data in --out).
With --kill F it then SIGKILLs a fraction F of the nodes and runs the pairs again on the
survivors; --first asks gets for the first value only (GET /v1/get?first=1).

  bench/dht_pair_profile.py --bin build/bin/kadmium --nodes 20 --pairs 200 [--perf] [--kill 0.2]
A benchmark, not a test: figures vary with the machine's load (note `uptime`).
"""
import argparse, http.client, json, os, random, shutil, signal, statistics, subprocess, sys, tempfile, time, urllib.parse

HOST = "127.0.0.1"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


class Node:
    def __init__(self, binary, root, i, port, boot):
        self.dir = os.path.join(root, "n%d" % i)
        cmd = [binary, "node", "--listen", "%s:%d" % (HOST, port), "--data", self.dir, "--api", HOST + ":0",
               "--metrics", "off", "--log-level", "warn"]
        if boot:
            cmd += ["--bootstrap", "%s:%d" % (HOST, boot)]
        self.log = open(self.dir + ".log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.conn = None

    def wait_api(self, deadline):
        while time.monotonic() < deadline:
            try:
                addr = open(os.path.join(self.dir, "api.addr")).read().strip()
                self.cookie = open(os.path.join(self.dir, "api.cookie")).read().strip()
                host, port = addr.rsplit(":", 1)
                self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
                return
            except (OSError, ValueError):
                time.sleep(0.02)
        raise RuntimeError("node did not start: " + self.dir)

    def call(self, method, path, body=None):
        hdrs = {"Authorization": "Bearer " + self.cookie}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        t = time.monotonic_ns()
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            r = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self.conn.close()  # an idle keep-alive connection the node closed: once more
            t = time.monotonic_ns()
            self.conn.request(method, path, body=body, headers=hdrs)
            r = self.conn.getresponse()
        data = r.read()
        return r.status, json.loads(data), (time.monotonic_ns() - t) / 1e3

    def cpu_ticks(self):
        try:
            f = open("/proc/%d/stat" % self.proc.pid).read().rsplit(")", 1)[1].split()
            return int(f[11]) + int(f[12])
        except (OSError, IndexError):
            return 0


def node_us(j):
    if "elapsed_us" in j:
        return j["elapsed_us"]
    return j.get("elapsed_ms", 0) * 1000


def udp_in_datagrams():
    # The machine's UDP InDatagrams counter (all processes: other UDP traffic counts too).
    try:
        lines = [line.split() for line in open("/proc/net/snmp") if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("InDatagrams")])
    except (OSError, IndexError, ValueError):
        return 0


def pairs(nodes, alive, n, rng, first, tag):
    put_c, put_n, get_c, get_n, found, acks = [], [], [], [], 0, []
    cpu0 = sum(nodes[i].cpu_ticks() for i in alive)
    udp0 = udp_in_datagrams()
    t0 = time.monotonic()
    for k in range(n):
        a, b = rng.sample(alive, 2)
        key, value = "%s-%d-%d" % (tag, k, rng.randrange(1 << 30)), "%0200d" % rng.randrange(10 ** 12)
        st, j, us = nodes[a].call("POST", "/v1/put", json.dumps({"key": key, "value": value, "ttl_s": 600}))
        put_c.append(us)
        put_n.append(node_us(j))
        acks.append(j.get("accepted", 0))
        path = "/v1/get?key=" + urllib.parse.quote(key, safe="") + ("&first=1" if first else "")
        st, j, us = nodes[b].call("GET", path)
        get_c.append(us)
        get_n.append(node_us(j))
        found += value == j.get("value") or value in j.get("values", [])
    wall = time.monotonic() - t0
    datagrams = udp_in_datagrams() - udp0
    cpu_ms = (sum(nodes[i].cpu_ticks() for i in alive) - cpu0) * 1000 / os.sysconf("SC_CLK_TCK")
    row = lambda xs: "p50 %8.0f  p99 %8.0f" % (pct(xs, 50), pct(xs, 99))
    print("%s: %d pairs in %.2f s, found %d, stored on p50 %s nodes" % (tag, n, wall, found, statistics.median(acks)))
    print("  put  client µs %s | node µs %s" % (row(put_c), row(put_n)))
    print("  get  client µs %s | node µs %s" % (row(get_c), row(get_n)))
    print("  pair client µs p50 %.0f | nodes' own µs p50 %.0f | nodes' CPU per pair %.2f ms" %
          (pct([p + g for p, g in zip(put_c, get_c)], 50), pct([p + g for p, g in zip(put_n, get_n)], 50), cpu_ms / n))
    print("  UDP datagrams received per pair (whole machine, /proc/net/snmp): %.0f" % (datagrams / n))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bin/kadmium")
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--port", type=int, default=47000)
    ap.add_argument("--kill", type=float, default=0.0)
    ap.add_argument("--first", action="store_true")
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--out", default="out/pair_profile")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    root = tempfile.mkdtemp(prefix="kadmium-pairs-")
    nodes = [Node(a.bin, root, 0, a.port, None)]
    nodes[0].wait_api(time.monotonic() + 10)
    for i in range(1, a.nodes):
        nodes.append(Node(a.bin, root, i, a.port + i, a.port))
    try:
        for nd in nodes[1:]:
            nd.wait_api(time.monotonic() + 10)
        time.sleep(5)  # let the tables grow (the grow ticks at 1, 2, 4 s)
        alive = list(range(a.nodes))
        perf = None
        if a.perf:
            perf = subprocess.Popen(["perf", "record", "-g", "-F", "2000", "-o", os.path.join(a.out, "perf.data"),
                                     "-p", str(nodes[1].proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        pairs(nodes, alive, a.pairs, rng, a.first, "healthy")
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        if a.kill > 0:
            victims = list(range(a.nodes - int(round(a.kill * a.nodes)), a.nodes))
            for v in victims:
                nodes[v].proc.kill()
            alive = [i for i in alive if i not in victims]
            pairs(nodes, alive, a.pairs, rng, a.first, "after killing %d" % len(victims))
    finally:
        for nd in nodes:
            if nd.proc.poll() is None:
                nd.proc.terminate()
        for nd in nodes:
            try:
                nd.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                nd.proc.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
