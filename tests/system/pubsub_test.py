#!/usr/bin/env python3
"""Multi-process pub/sub tests of real kadmium nodes on loopback, driven through the CLI.

Scenarios:
  mesh_and_kill  20 nodes started together; 5 subscribe through `kadmium subscribe`; a node
                 that is not subscribed and one that is publish 250 messages between them
                 (`kadmium publish TOPIC -`); every subscriber's stream has every message
                 exactly once. Then 4 nodes that are not subscribers are killed with SIGKILL
                 while publishing goes on; after the kill settles every live subscriber
                 receives every message published.
  cli            publish/subscribe/topics/unsubscribe errors and --help; subscriptions
                 survive a restart.
  max_message    a node started with --max-message-kb 1 refuses a 2 KiB publish with one
                 line naming the limit (exit 2) and publishes 1 KiB; a 2 KiB message from a
                 default node reaches it and is dropped, counted as too_large, its links kept.

Only loopback addresses are used. Every wait is bounded; only processes this script started
are stopped, by PID. Shares Node and helpers with network_test.py.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import network_test as nt  # noqa: E402

TOPIC = "chat"


class Subscriber:
    """`kadmium subscribe TOPIC --json` in the background, its lines collected."""

    def __init__(self, node, topic=TOPIC):
        self.node = node
        self.lines = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([nt.BIN, "subscribe", topic, "--json", "--data", node.data],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def messages(self):
        with self.lock:
            return [json.loads(l) for l in self.lines if l.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 right now (the node binds both), from
    below the kernel's ephemeral range (network_test.free_ports says why)."""
    return nt.free_ports(1)[0]


class PortNode(nt.Node):
    """A node with a fixed listen port, so others can bootstrap from it before it runs."""

    def __init__(self, root, index, bootstrap=None, extra=None):
        super().__init__(root, index, bootstrap)
        self.listen = f"127.0.0.1:{free_port()}"
        self.extra = list(extra or [])

    def launch(self):
        args = [nt.BIN, "node", "--listen", self.listen, "--data", self.data,
                "--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--log-level", "info"]
        for b in self.bootstrap:
            args += ["--bootstrap", b]
        args += self.extra
        for f in ("api.addr",):
            try:
                os.remove(os.path.join(self.data, f))
            except FileNotFoundError:
                pass
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)

    def wait_started(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.index} exited with {self.proc.returncode}; log: {self.log}")
            if os.path.exists(os.path.join(self.data, "api.addr")) and self.status():
                return
            time.sleep(0.1)
        raise RuntimeError(f"node {self.index} did not start; log: {self.log}")

    def start(self, bootstrap=True):
        saved = self.bootstrap
        if not bootstrap:
            self.bootstrap = []
        self.launch()
        self.bootstrap = saved
        self.wait_started()


def start_together(root, count, rng):
    """`count` nodes started at the same moment, each bootstrapping from a random earlier one
    (possibly started milliseconds before it)."""
    nodes = []
    for i in range(count):
        boot = [rng.choice(nodes).listen] if nodes else []
        nodes.append(PortNode(root, i, bootstrap=boot))
    for n in nodes:
        n.launch()
    for n in nodes:
        n.wait_started()
    return nodes


def publish_lines(node, lines, topic=TOPIC, pace_s=0.0, times=None):
    """`kadmium publish TOPIC -` fed `lines` one at a time; returns the ids it printed.
    With `times` (a list), appends the time each id was acknowledged."""
    p = subprocess.Popen([nt.BIN, "publish", topic, "-", "--data", node.data], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    ids = []
    try:
        for l in lines:
            p.stdin.write(l + "\n")
            p.stdin.flush()
            out = p.stdout.readline().strip()  # one id per line, printed once accepted
            if not out:
                break
            ids.append(out)
            if times is not None:
                times.append(time.time())
            if pace_s:
                time.sleep(pace_s)
        p.stdin.close()
        err = p.stderr.read()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    nt.check(p.returncode == 0, f"publish from node {node.index} failed: {p.returncode} {err}")
    nt.check(len(ids) == len(lines), f"publish printed {len(ids)} ids for {len(lines)} lines: {err}")
    return ids


def wait_all_delivered(subs, expected_ids, timeout, label):
    expected = set(expected_ids)

    def done():
        return all(expected <= {m["id"] for m in s.messages()} for s in subs)

    try:
        nt.wait_for(done, timeout, step=0.5, what=label)
    except AssertionError:
        for s in subs:
            got = {m["id"] for m in s.messages()}
            print(f"node {s.node.index}: {len(expected & got)} of {len(expected)}", file=sys.stderr)
        raise


def check_exactly_once(subs):
    for s in subs:
        ids = [m["id"] for m in s.messages()]
        dup = len(ids) - len(set(ids))
        nt.check(dup == 0, f"node {s.node.index}'s stream delivered {dup} message(s) twice")


def scenario_mesh_and_kill(root):
    rng = random.Random(8)
    nodes = start_together(root, 20, rng)
    nt.wait_for(lambda: all((s := n.status()) and s["peers"] >= 5 for n in nodes), 30,
                what="every node to know peers")
    sub_nodes = rng.sample(nodes[1:], 5)
    subs = [Subscriber(n) for n in sub_nodes]
    # Meshes form within a few heartbeats of the provider lookups.
    nt.wait_for(lambda: all(any(t["topic"] == TOPIC and t["mesh_peers"] >= 1
                                for t in json.loads(n.cli("topics", "--json").stdout or "[]"))
                            for n in sub_nodes), 30, what="subscribers to have mesh peers")
    others = [n for n in nodes if n not in sub_nodes]
    outsider = others[0]
    insider = sub_nodes[0]
    lines = [f"message {i} {rng.randrange(1 << 40)}" for i in range(250)]
    t0 = time.time()
    ids = []
    ids_lock = threading.Lock()

    def pub(node, part):
        got = publish_lines(node, part)
        with ids_lock:
            ids.extend(got)

    threads = [threading.Thread(target=pub, args=(outsider, lines[:125])),
               threading.Thread(target=pub, args=(insider, lines[125:]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    nt.check(len(ids) == 250, f"{len(ids)} of 250 publishes acknowledged")
    wait_all_delivered(subs, ids, 30, "every subscriber to receive all 250 messages")
    check_exactly_once(subs)
    print(f"250 messages to 5 subscribers, each exactly once, in {time.time() - t0:.1f} s")

    # Kill 4 non-subscribers (not the outside publisher) while publishing goes on.
    victims = rng.sample([n for n in others if n is not outsider], 4)
    more = [f"after {i}" for i in range(400)]
    after_ids, after_times = [], []

    def pub_paced():
        after_ids.extend(publish_lines(outsider, more, pace_s=0.02, times=after_times))

    t = threading.Thread(target=pub_paced)
    t.start()
    time.sleep(1.0)
    for v in victims:
        v.kill(signal.SIGKILL)
    kill_time = time.time()
    print("killed", sorted(v.index for v in victims))
    t.join(timeout=120)
    nt.check(len(after_ids) == len(more), f"{len(after_ids)} of {len(more)} publishes acknowledged after the kill")
    # Messages published from `settle` seconds after the kill on must all arrive (mesh and
    # fanout repair run on the 1 s heartbeat); earlier ones are reported.
    settle = 3.0
    late = [i for i, ts in zip(after_ids, after_times) if ts >= kill_time + settle]
    nt.check(len(late) >= 50, f"only {len(late)} messages were published after the kill settled")
    wait_all_delivered(subs, late, 30, "every subscriber to receive what was published after the kill settled")
    check_exactly_once(subs)
    missing_any = [len(set(after_ids) - {m["id"] for m in s.messages()}) for s in subs]
    print(f"after SIGKILL of 4 non-subscribers: all {len(late)} messages published {settle:.0f} s after the kill "
          f"delivered; missing of all {len(more)} per subscriber: {missing_any}")
    for s in subs:
        s.stop()
    for n in nodes:
        n.kill(signal.SIGTERM)


def check_burst_publish(node, count, bad_line, limit_text, topic=TOPIC):
    """A fast producer's lines travel in batches (one commit for many): `count` lines
    written at once, one of them `bad_line` (refused with `limit_text`, the others
    published), one empty (skipped). Every other line is published once, its id printed in
    order, and stored."""
    lines = [f"burst {i}" for i in range(count)]
    lines[count // 2] = bad_line
    lines.insert(count // 4, "")
    r = subprocess.run([nt.BIN, "publish", topic, "-", "--data", node.data], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=120)
    ids = r.stdout.split()
    err = r.stderr.strip().splitlines()
    nt.check(r.returncode == 2 and len(err) == 1 and limit_text in err[0],
             f"one refused line: exit 2 (as for one such message) and one error line: {r.returncode} {r.stderr[:300]}")
    published = [l for l in lines if l.startswith("burst ")]
    nt.check(len(ids) == len(published) == count - 1 and len(set(ids)) == len(ids),
             f"{len(ids)} ids printed for {len(published)} publishable lines")
    hist = node.cli("history", topic, "--last", str(2 * count), "--json")
    stored = {}
    for l in hist.stdout.splitlines():
        m = json.loads(l)
        stored[m["data"]] = m["id"]
    nt.check([stored.get(l) for l in published] == ids,
             "history must hold every published line, under the id printed for it, in order")
    print(f"publish -: {count} lines at once, {count - 1} published in order, the bad one refused")


def scenario_cli(root):
    a = PortNode(root, 0)
    a.start()
    b = PortNode(root, 1, bootstrap=[a.listen])
    b.start()
    for args in (["publish", "--help"], ["subscribe", "--help"], ["topics", "--help"], ["unsubscribe", "--help"]):
        r = nt.run_cli(args)
        nt.check(r.returncode == 0 and "Usage" in r.stdout, f"{args}: {r}")
    r = a.cli("publish", "", "x")
    nt.check(r.returncode == 2, f"empty topic must be a usage error: {r}")
    big = "x" * (64 * 1024 + 1)
    r = a.cli("publish", TOPIC, big)
    nt.check(r.returncode == 2 and "at most" in r.stderr, f"oversized message must be refused clearly: {r}")
    r = nt.run_cli(["publish", TOPIC, "hi", "--api", "127.0.0.1:1", "--cookie", os.path.join(a.data, "api.cookie")])
    nt.check(r.returncode == 2 and "no node" in r.stderr, f"no node: exit 2 with a clear line: {r}")
    # The oversized line is sent alone (it cannot share a batch's body). Another topic: the
    # 2,999 wait in the node's outbox for topic peers, which must not delay TOPIC below.
    check_burst_publish(a, 3000, "x" * (64 * 1024 + 1), "at most 65536", topic="burst")
    # Subscriptions are node state: they survive a restart.
    sub = Subscriber(b)
    nt.wait_for(lambda: any(t["topic"] == TOPIC for t in json.loads(b.cli("topics", "--json").stdout or "[]")), 10,
                what="b subscribed")
    sub.stop()
    b.kill(signal.SIGTERM)
    b.start()
    topics = json.loads(b.cli("topics", "--json").stdout)
    nt.check(any(t["topic"] == TOPIC and t["subscribed"] for t in topics), f"subscription lost on restart: {topics}")
    sub = Subscriber(b)
    time.sleep(1)
    ids = publish_lines(a, ["after restart"])
    wait_all_delivered([sub], ids, 20, "the restarted subscriber to receive a message")
    sub.stop()
    r = b.cli("unsubscribe", TOPIC)
    nt.check(r.returncode == 0, f"unsubscribe: {r}")
    topics = json.loads(b.cli("topics", "--json").stdout)
    nt.check(not any(t["topic"] == TOPIC and t["subscribed"] for t in topics), f"still subscribed: {topics}")
    print("pub/sub CLI: help, errors, restart persistence, unsubscribe")
    a.kill(signal.SIGTERM)
    b.kill(signal.SIGTERM)


def scenario_max_message(root):
    for bad in ("0", "1025"):
        r = nt.run_cli(["node", "--max-message-kb", bad, "--data", os.path.join(root, "bad"), "--listen", "127.0.0.1:0"])
        lines = r.stderr.strip().splitlines()
        nt.check(r.returncode == 2 and lines and lines[0].startswith(f"kadmium node: --max-message-kb {bad}:")
                 and "from 1 to 1024" in lines[0], f"--max-message-kb {bad} must be refused in one line: {r}")
    a = PortNode(root, 0)
    a.start()
    b = PortNode(root, 1, bootstrap=[a.listen], extra=["--max-message-kb", "1"])
    b.start()
    sub_a, sub_b = Subscriber(a), Subscriber(b)

    def meshed(node):
        topics = json.loads(node.cli("topics", "--json").stdout or "[]")
        return any(t["topic"] == TOPIC and t["mesh_peers"] >= 1 for t in topics)
    nt.wait_for(lambda: meshed(a) and meshed(b), 30, what="a and b in one mesh")

    r = b.cli("publish", TOPIC, "x" * 2048)
    err = r.stderr.strip().splitlines()
    nt.check(r.returncode == 2 and len(err) == 1 and "2048 bytes; at most 1024" in err[0],
             f"a 2 KiB publish on a 1 KiB node must fail with one line naming the limit: {r}")
    # Within a batch: the node refuses the one 2 KiB line, publishes the lines around it.
    check_burst_publish(b, 600, "w" * 2048, "2048 bytes; at most 1024")
    at_limit = publish_lines(b, ["y" * 1024])
    wait_all_delivered([sub_a, sub_b], at_limit, 20, "the 1 KiB message from the 1 KiB node")

    before = nt.metric_value(nt.metrics_text(b), "kadmium_messages_invalid_total", 'reason="too_large"')
    big = publish_lines(a, ["z" * 2048])
    wait_all_delivered([sub_a], big, 20, "the 2 KiB message on the default node")
    nt.wait_for(lambda: nt.metric_value(nt.metrics_text(b), "kadmium_messages_invalid_total",
                                        'reason="too_large"') >= before + 1, 20,
                what="the 1 KiB node to count the 2 KiB message as too_large")
    after = publish_lines(a, ["after"])
    wait_all_delivered([sub_b], after, 20, "a small message after the dropped one (links kept)")
    nt.check(not any(m["id"] in big for m in sub_b.messages()), "the 1 KiB node delivered a 2 KiB message")
    print("--max-message-kb: bad values refused, 2 KiB publish refused, 1 KiB delivered, "
          "2 KiB from a peer dropped as too_large")
    sub_a.stop()
    sub_b.stop()
    a.kill(signal.SIGTERM)
    b.kill(signal.SIGTERM)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--scenario", required=True, choices=["mesh_and_kill", "cli", "max_message"])
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    nt.BIN = os.path.abspath(args.bin)
    nt.run_scenario(globals()["scenario_" + args.scenario], f"kadmium-pubsub-{args.scenario}-", args.keep)

if __name__ == "__main__":
    main()
