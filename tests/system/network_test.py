#!/usr/bin/env python3
"""Multi-process tests of real kadmium nodes on loopback, driven through the CLI.

Scenarios (one per ctest entry):
  thirty_nodes      30 nodes bootstrapped from one another; every put is readable from other
                    nodes; after 30% are killed with SIGKILL every value is still readable;
                    a killed node restarted without --bootstrap keeps its id and rejoins.
  bad_input         malformed, truncated, oversized and replayed datagrams are counted
                    drops; the node keeps answering and its memory stays bounded.
  damaged_data_dir  a damaged identity file or store is a clear error and exit 1, no crash.
  cli_errors        no node at the address: one line and exit 2; bad arguments: exit 2.
  simultaneous_start 30 nodes started at once, each bootstrapping from a random earlier one
                    (which may not be listening yet): within 10 s of the last one being up,
                    every node knows at least 10 peers; a put on one node is readable on all.

Only loopback addresses are used. Every wait is bounded; only processes this script
started are stopped, by PID.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = None
STARTED = []  # every Node this script created, so a failure still stops their processes


def run_cli(args, timeout=60):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)


class Node:
    def __init__(self, root, index, bootstrap=None):
        self.index = index
        self.data = os.path.join(root, f"node{index}")
        os.makedirs(self.data, exist_ok=True)
        self.bootstrap = list(bootstrap or [])
        self.proc = None
        self.listen = None
        self.log = os.path.join(root, f"node{index}.log")
        STARTED.append(self)

    def start(self, bootstrap=True):
        self.spawn(bootstrap=bootstrap)
        self.wait_started()

    def spawn(self, bootstrap=True, listen="127.0.0.1:0", metrics="127.0.0.1:0"):
        args = [BIN, "node", "--listen", listen, "--data", self.data,
                "--api", "127.0.0.1:0", "--metrics", metrics, "--log-level", "info"]
        if bootstrap:
            for b in self.bootstrap:
                args += ["--bootstrap", b]
        self.logf = open(self.log, "a")
        # Remove a stale api.addr so we wait for the new one.
        for f in ("api.addr",):
            try:
                os.remove(os.path.join(self.data, f))
            except FileNotFoundError:
                pass
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)

    def wait_started(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.index} exited with {self.proc.returncode}; log: {self.log}")
            if os.path.exists(os.path.join(self.data, "api.addr")):
                st = self.status()
                if st:
                    self.listen = st["listen"][0]
                    return
            time.sleep(0.1)
        raise RuntimeError(f"node {self.index} did not start; log: {self.log}")

    def status(self):
        try:
            r = run_cli(["status", "--json", "--data", self.data], timeout=10)
        except subprocess.TimeoutExpired:
            return None  # a loaded machine: the caller asks again until its own deadline
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def cli(self, *args, timeout=90):
        return run_cli(list(args) + ["--data", self.data], timeout=timeout)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def wait_for(predicate, timeout, step=0.5, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def parallel(cmds, timeout=120):
    """Runs [(node, args)] at once; returns CompletedProcess-like tuples in order."""
    procs = [subprocess.Popen([BIN] + list(args) + ["--data", node.data], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for node, args in cmds]
    out = []
    deadline = time.time() + timeout
    for p in procs:
        try:
            o, e = p.communicate(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        out.append((p.returncode, o, e))
    return out


def scenario_thirty_nodes(root):
    rng = random.Random(1234)
    nodes = [Node(root, 0)]
    nodes[0].start()
    for i in range(1, 30):
        earlier = rng.sample(nodes, min(2, len(nodes)))
        n = Node(root, i, bootstrap=[e.listen for e in earlier])
        n.start()
        nodes.append(n)
    print(f"30 nodes up; node0 at {nodes[0].listen}")
    wait_for(lambda: all((s := n.status()) and s["peers"] >= 10 for n in nodes), 60,
             what="every node to know at least 10 peers")

    values = {f"key-{i}": f"value-{i}-{rng.randrange(1 << 30)}" for i in range(20)}
    results = parallel([(rng.choice(nodes), ["put", k, v]) for k, v in values.items()])
    for (k, v), (code, out, err) in zip(values.items(), results):
        check(code == 0, f"put {k} failed: {code} {out} {err}")
    print("20 puts accepted:", [r[1].strip() for r in results][:3], "...")

    def read_all(readers, label):
        cmds = []
        for k in values:
            for node in rng.sample(readers, 2):
                cmds.append((node, ["get", k]))
        res = parallel(cmds, timeout=240)
        missing = []
        for (node, args), (code, out, err) in zip(cmds, res):
            k = args[1]
            if code != 0 or values[k] not in out.splitlines():
                missing.append((node.index, k, code, out.strip(), err.strip()))
        check(not missing, f"{label}: values not readable: {missing[:5]} ({len(missing)} of {len(cmds)})")
        print(f"{label}: {len(cmds)} gets, all values found")

    read_all(nodes, "before kill")

    # A node saves its first routing snapshot 5 s after start (then every 60 s): make sure
    # the victims have one, as any node that ran for a while would.
    time.sleep(6)
    victims = rng.sample(nodes[1:], 9)
    victim_ids = {}
    for v in victims:
        victim_ids[v.index] = v.cli("id").stdout.splitlines()[0]
        v.kill(signal.SIGKILL)
    survivors = [n for n in nodes if n.alive()]
    check(len(survivors) == 21, "21 nodes should survive")
    print("killed", sorted(v.index for v in victims))
    read_all(survivors, "after SIGKILL of 30%")

    # Restart one victim without --bootstrap: same id, rejoins from its saved routing table.
    back = victims[0]
    back.start(bootstrap=False)
    check(back.cli("id").stdout.splitlines()[0] == victim_ids[back.index], "restarted node changed its id")
    wait_for(lambda: (s := back.status()) and s["peers"] >= 5, 30, what="restarted node to rejoin")
    k = next(iter(values))
    r = back.cli("get", k)
    check(r.returncode == 0 and values[k] in r.stdout.splitlines(), f"restarted node cannot read {k}: {r}")
    print("restarted node kept its id and rejoined without --bootstrap")

    for n in nodes:
        n.kill(signal.SIGTERM)


def metrics_text(node):
    st = node.status()
    url = "http://" + st["metrics"] + "/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def metric_value(text, name, labels=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and labels in line and not line.startswith("#"):
            head = line.split(" ")[0]
            if head == name or head.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ephemeral_port_low():
    """The lowest port the kernel hands out for port 0 and outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port, kind):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_ports(n):
    """n distinct loopback ports, each free for both UDP and TCP just now. They are drawn
    from below the kernel's ephemeral range: a port the kernel chose (another node's API on
    port 0, an outgoing link or HTTP connection) once took a planned metrics port before
    its node bound it, and the node exited."""
    low, high = 10000, ephemeral_port_low()
    rng = random.SystemRandom()
    chosen = []
    for _ in range(100 * n):
        if len(chosen) == n:
            break
        port = rng.randrange(low, high)
        if port not in chosen and bindable(port, socket.SOCK_DGRAM) and bindable(port, socket.SOCK_STREAM):
            chosen.append(port)
    if len(chosen) < n:
        raise RuntimeError(f"only {len(chosen)} of {n} free ports in {low}..{high}")
    return chosen


def peers_now(port):
    """kadmium_peers from a node's metrics endpoint; None while it is not serving yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("kadmium_peers ") or line.startswith("kadmium_peers{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def scenario_simultaneous_start(root):
    # A new draw each run (printed, so a failure can be replayed with KADMIUM_TEST_SEED).
    seed = int(os.environ.get("KADMIUM_TEST_SEED", random.SystemRandom().randrange(1 << 31)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    count = 30
    ports = free_ports(2 * count)
    udp, tcp = ports[:count], ports[count:]
    nodes = []
    for i in range(count):
        boot = [f"127.0.0.1:{udp[rng.randrange(i)]}"] if i > 0 else []
        nodes.append(Node(root, i, bootstrap=boot))
    # All at once, in index order, without waiting for any node to listen: node i's
    # bootstrap node was started a few milliseconds before it and may not be up yet.
    t0 = time.time()
    for i, n in enumerate(nodes):
        n.spawn(listen=f"127.0.0.1:{udp[i]}", metrics=f"127.0.0.1:{tcp[i]}")
    spawned = time.time() - t0
    # The 10 s start when the last process is up (serving metrics): starting 30 sanitizer
    # builds on a loaded 2-core machine alone can take longer than that, and that is the
    # machine, not the DHT. Both times are printed.
    counts = {}
    up_deadline = time.time() + 60
    while len(counts) < count and time.time() < up_deadline:
        for i, n in enumerate(nodes):
            check(n.alive(), f"node {i} exited: {n.log}")
            if i not in counts and (c := peers_now(tcp[i])) is not None:
                counts[i] = c
        time.sleep(0.1)
    check(len(counts) == count, f"only {len(counts)} of {count} nodes up 60 s after start")
    t_up = time.time()
    print(f"{count} processes spawned in {spawned:.2f} s, all up {t_up - t0:.2f} s after the first")
    deadline = t_up + 10
    while time.time() < deadline:
        for i, n in enumerate(nodes):
            check(n.alive(), f"node {i} exited: {n.log}")
            if counts.get(i, 0) < 10:
                counts[i] = peers_now(tcp[i]) or 0
        if all(counts.get(i, 0) >= 10 for i in range(count)):
            break
        time.sleep(0.2)
    print(f"every node had >= 10 peers {time.time() - t_up:.1f} s after all were up "
          f"({time.time() - t0:.1f} s after the first started)")
    final = [int(peers_now(tcp[i]) or 0) for i in range(count)]
    print(f"peers per node now: {final}")
    thin = [(i, counts.get(i, 0)) for i in range(count) if counts.get(i, 0) < 10]
    check(not thin, f"nodes with fewer than 10 peers 10 s after all were up: {thin}")

    for n in nodes:
        n.wait_started()
    writer = rng.choice(nodes)
    value = f"together-{rng.randrange(1 << 30)}"
    r = writer.cli("put", "started-together", value)
    check(r.returncode == 0, f"put on node {writer.index} failed: {r}")
    results = parallel([(n, ["get", "started-together"]) for n in nodes], timeout=120)
    missing = [(n.index, code, out.strip(), err.strip()) for n, (code, out, err) in zip(nodes, results)
               if code != 0 or value not in out.splitlines()]
    check(not missing, f"value put on node {writer.index} not readable on: {missing[:5]} ({len(missing)} of {count})")
    print(f"put on node {writer.index} read back on all {count} nodes; {time.time() - t0:.1f} s after start")
    for n in nodes:
        n.kill(signal.SIGTERM)


def scenario_bad_input(root):
    a = Node(root, 0)
    a.start()
    b = Node(root, 1, bootstrap=[a.listen])
    b.start()
    wait_for(lambda: a.status()["peers"] >= 1, 30, what="a to see b")
    host, port = a.listen.rsplit(":", 1)
    target = (host, int(port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(7)
    # A real hello from a made-up key, and its truncations.
    hello = bytes([1, 1]) + bytes(rng.randrange(256) for _ in range(32)) + b"\x00\x00\x00\x07" + bytes(90)
    sent = 0
    rss_before = rss_kb(a.proc.pid)
    for round_ in range(20):
        batch = []
        batch += [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 1400))) for _ in range(200)]  # garbage
        batch += [hello[:rng.randrange(0, len(hello))] for _ in range(50)]                                 # truncated
        batch += [bytes([1, 2]) + bytes(rng.randrange(256) for _ in range(1300)) for _ in range(20)]     # oversized sealed
        # Forged sealed packets with a current send time, so they reach the MAC check:
        # key (32), counter (8), send time in Unix seconds (4), random, box.
        now_s = int(time.time()).to_bytes(4, "big")
        batch += [bytes([1, 2]) + bytes(rng.randrange(256) for _ in range(32)) +
                  bytes(rng.randrange(256) for _ in range(8)) + now_s +
                  bytes(rng.randrange(256) for _ in range(160)) for _ in range(100)]
        batch += [bytes([1, 9, 0, 0]) for _ in range(10)]                                                # unknown kind
        for pkt in batch:
            try:
                sock.sendto(pkt, target)
                sent += 1
            except OSError:
                pass
        time.sleep(0.05)
    # Replayed packets are covered by the dht unit tests (they need a captured sealed
    # packet, which only an in-process test can take).
    time.sleep(1)
    check(a.alive(), "node crashed on bad input")
    st = a.status()
    check(st is not None, "node stopped answering its API")
    text = metrics_text(a)
    dropped = metric_value(text, "kadmium_packets_dropped_total")
    print(f"sent {sent} bad datagrams; node counted {dropped:.0f} drops")
    check(dropped >= sent * 0.8, f"expected most bad datagrams counted as drops, got {dropped} of {sent}")
    for reason in ("too_short", "too_large", "unknown_kind", "bad_mac", "unknown_protocol"):
        check(metric_value(text, "kadmium_packets_dropped_total", f'reason="{reason}"') > 0, f"no {reason} drops")
    rss_after = rss_kb(a.proc.pid)
    print(f"RSS before {rss_before} kB, after {rss_after} kB")
    check(rss_after < rss_before + 64 * 1024, "memory grew by more than 64 MiB under bad input")
    # Still a working DHT node.
    r = b.cli("put", "after-garbage", "still-works")
    check(r.returncode == 0, f"put after bad input failed: {r}")
    r = a.cli("get", "after-garbage")
    check(r.returncode == 0 and "still-works" in r.stdout, f"get after bad input failed: {r}")
    a.kill(signal.SIGTERM)
    b.kill(signal.SIGTERM)


def scenario_damaged_data_dir(root):
    n = Node(root, 0)
    n.start()
    n.kill(signal.SIGTERM)
    # 1. A foreign identity file.
    ident = os.path.join(n.data, "identity.key")
    saved = open(ident, "rb").read()
    with open(ident, "wb") as f:
        f.write(b"definitely not a key")
    r = subprocess.run([BIN, "node", "--listen", "127.0.0.1:0", "--data", n.data, "--api", "127.0.0.1:0",
                        "--metrics", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1, f"damaged identity: expected exit 1, got {r.returncode}")
    check("identity" in (r.stderr + r.stdout), f"damaged identity: unclear error: {r.stderr}")
    check(open(ident, "rb").read() == b"definitely not a key", "the damaged file must not be replaced silently")
    with open(ident, "wb") as f:
        f.write(saved)
    # 2. A store file full of garbage.
    store_dir = os.path.join(n.data, "store")
    check(os.path.isdir(store_dir), "expected DATA/store")
    for name in os.listdir(store_dir):
        path = os.path.join(store_dir, name)
        if os.path.isfile(path):
            with open(path, "r+b") as f:
                f.write(bytes(random.Random(3).randrange(256) for _ in range(8192)))
    r = subprocess.run([BIN, "node", "--listen", "127.0.0.1:0", "--data", n.data, "--api", "127.0.0.1:0",
                        "--metrics", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1, f"damaged store: expected exit 1, got {r.returncode}: {r.stderr}")
    check(r.stderr.strip() != "", "damaged store: no error message")
    check("Sanitizer" not in r.stderr and "Segmentation" not in r.stderr, f"damaged store crashed: {r.stderr}")
    print("damaged identity and store: clear errors:", r.stderr.strip().splitlines()[-1])


def scenario_cli_errors(root):
    empty = os.path.join(root, "nothing-here")
    os.makedirs(empty)
    r = run_cli(["status", "--data", empty])
    check(r.returncode == 2, f"no node: expected exit 2, got {r.returncode}")
    check(len(r.stderr.strip().splitlines()) == 1 and empty in r.stderr, f"no node: expected one line naming the dir: {r.stderr!r}")
    cookie = os.path.join(root, "cookie")
    with open(cookie, "w") as f:
        f.write("00" * 32)
    r = run_cli(["id", "--api", "127.0.0.1:1", "--cookie", cookie])
    check(r.returncode == 2 and "127.0.0.1:1" in r.stderr, f"no node at address: {r.returncode} {r.stderr!r}")
    r = run_cli(["put"])
    check(r.returncode == 2, f"bad arguments: expected exit 2, got {r.returncode}")
    r = run_cli(["no-such-command"])
    check(r.returncode == 2, f"unknown command: expected exit 2, got {r.returncode}")
    for cmd in ([], ["node"], ["id"], ["status"], ["peers"], ["put"], ["get"], ["lookup"]):
        r = run_cli(cmd + ["--help"])
        check(r.returncode == 0 and "Usage" in r.stdout + r.stderr, f"--help for {cmd}: {r.returncode}")
    print("cli errors: exit codes and messages as documented")


def run_scenario(scenario, prefix, keep):
    """Runs `scenario(root)` in a new temporary directory; whatever happens, stops every node
    this script started (by PID); on failure prints the tail of each log, else removes the
    directory unless `keep`."""
    root = tempfile.mkdtemp(prefix=prefix)
    ok = False
    try:
        scenario(root)
        ok = True
    finally:
        for node in STARTED:
            try:
                node.kill(signal.SIGKILL)
            except Exception:
                pass
        if not ok:
            print(f"FAILED; logs in {root}", file=sys.stderr)
            for name in sorted(os.listdir(root)):
                if name.endswith(".log"):
                    print(f"--- {name} (tail)", file=sys.stderr)
                    with open(os.path.join(root, name)) as f:
                        print("".join(f.readlines()[-15:]), file=sys.stderr)
        elif not keep:
            shutil.rmtree(root, ignore_errors=True)


def main():
    global BIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--scenario", required=True,
                    choices=["thirty_nodes", "bad_input", "damaged_data_dir", "cli_errors", "simultaneous_start"])
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    BIN = os.path.abspath(args.bin)
    run_scenario(globals()["scenario_" + args.scenario], f"kadmium-{args.scenario}-", args.keep)

if __name__ == "__main__":
    main()
