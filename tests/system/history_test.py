#!/usr/bin/env python3
"""Multi-process tests of durable history on real kadmium nodes on loopback, through the CLI
and the HTTP API.

Scenarios:
  kill_after_ack  A publisher acknowledged messages and was killed with SIGKILL right after
                  the last acknowledgement: (a) with its subscribers up, every acknowledged
                  message is in its history after the restart and in every subscriber's
                  stream exactly once; (b) with every subscriber's node down (so nobody had
                  the message), the restarted publisher's durable outbox sends it once the
                  subscribers are back, and each of them receives it; (c) 300 durable
                  publishes beside a second durable publisher (commits running on the
                  writer thread nearly all the time), SIGKILL after the last: all in
                  history; (d) a file of lines through `publish -` (batch publishes), the
                  node SIGKILLed mid-stream: every id printed is in history.
  store_full      A node whose LMDB map is too small for its history limit fills up: publish
                  fails clearly (exit 1, "full" on stderr; HTTP 507), one log line says so,
                  history keeps being served and messages from other nodes still arrive.
  disk_full       The disk fills under a durable `publish -` (a file-size limit on the
                  node: its store's file cannot grow, the commits on the writer thread
                  fail): each line gets an id or a clear error, the node keeps serving, every
                  acknowledged message is in its history and reached the other node; after a
                  SIGKILL and a restart with room, all are still there and publishing works.
  paging          250 messages: `history` (default 20, --last N, --since TIME, --json), API
                  pages backward and forward with cursors (each message once, in order),
                  bad cursors refused, `subscribe --since` replays then goes live exactly
                  once, and an event stream resumed with Last-Event-ID gets exactly what it
                  missed.

Only loopback addresses are used. Every wait is bounded; only processes this script started
are stopped, by PID.
"""
import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import network_test as nt  # noqa: E402
import pubsub_test as pt  # noqa: E402

TOPIC = "history"


class HistNode(pt.PortNode):
    """A PortNode with extra `kadmium node` arguments, and optionally a file-size limit
    (RLIMIT_FSIZE, bytes) standing in for a full disk."""

    def __init__(self, root, index, bootstrap=None, extra=None, file_size_max=None):
        super().__init__(root, index, bootstrap)
        self.extra = list(extra or [])
        self.file_size_max = file_size_max

    def launch(self):
        args = [nt.BIN, "node", "--listen", self.listen, "--data", self.data,
                "--api", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--log-level", "info"] + self.extra
        for b in self.bootstrap:
            args += ["--bootstrap", b]
        try:
            os.remove(os.path.join(self.data, "api.addr"))
        except FileNotFoundError:
            pass
        self.logf = open(self.log, "a")
        limit = self.file_size_max

        def limit_files():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT, preexec_fn=limit_files)

    def api(self, path, headers=None, timeout=10):
        """(status, parsed JSON) of a GET on the node's API."""
        addr = open(os.path.join(self.data, "api.addr")).read().strip()
        cookie = open(os.path.join(self.data, "api.cookie")).read().strip()
        req = urllib.request.Request(f"http://{addr}{path}", headers={"Authorization": f"Bearer {cookie}", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "{}")

    def history(self, *args):
        r = self.cli("history", TOPIC, *args)
        nt.check(r.returncode == 0, f"history {args} on node {self.index}: {r}")
        return r.stdout.splitlines()

    def history_ids(self, *args):
        return [json.loads(l)["id"] for l in self.history("--json", *args) if l.strip()]


def publish_ids(node, lines):
    return pt.publish_lines(node, lines, topic=TOPIC)


def mesh_ready(nodes, minimum=1):
    def ready():
        for n in nodes:
            topics = json.loads(n.cli("topics", "--json").stdout or "[]")
            if not any(t["topic"] == TOPIC and t["known_peers"] >= minimum for t in topics):
                return False
        return True
    return ready


def sse_events(node, headers, query, want, timeout=20):
    """Reads the event stream of TOPIC until `want` events arrived; returns [(id, data)]."""
    addr = open(os.path.join(node.data, "api.addr")).read().strip()
    host, port = addr.rsplit(":", 1)
    cookie = open(os.path.join(node.data, "api.cookie")).read().strip()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(f"GET /v1/subscribe?topic={TOPIC}{query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {cookie}\r\n"
              f"Accept: text/event-stream\r\n{extra}\r\n".encode())
    buf, events = b"", []
    deadline = time.time() + timeout
    try:
        while len(events) < want and time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                fields = dict(l.split(": ", 1) for l in ev.decode().split("\n") if ": " in l and not l.startswith(":"))
                if "data" in fields and "id" in fields:
                    events.append((fields["id"], json.loads(fields["data"])))
    finally:
        s.close()
    return events


def scenario_kill_after_ack(root):
    pub = HistNode(root, 0)
    pub.start()
    subs_nodes = [HistNode(root, i, bootstrap=[pub.listen]) for i in (1, 2)]
    for n in subs_nodes:
        n.start()
    subs = [pt.Subscriber(n, topic=TOPIC) for n in subs_nodes]
    nt.wait_for(mesh_ready(subs_nodes), 30, what="the subscribers to know each other")
    # A first message makes the publisher find the topic's peers (fanout).
    warm = publish_ids(pub, ["warm up"])
    pt.wait_all_delivered(subs, warm, 30, "the warm-up message")

    # (a) Subscribers up: 40 messages, SIGKILL right after the last acknowledgement.
    ids = publish_ids(pub, [f"before kill {i}" for i in range(40)])
    pub.kill(signal.SIGKILL)
    pub.start()
    got = pub.history_ids("--last", "100")
    nt.check(set(ids) <= set(got), f"acknowledged messages missing from history after SIGKILL: "
                                   f"{len(set(ids) - set(got))} of {len(ids)}")
    pt.wait_all_delivered(subs, ids, 30, "every subscriber to receive the acknowledged messages")
    pt.check_exactly_once(subs)
    print(f"kill_after_ack (a): {len(ids)} acknowledged, all in history after SIGKILL, delivered once to 2 subscribers")

    # (b) Nobody else has it: both subscriber nodes down, publish, SIGKILL the publisher at
    # once. After the restart its outbox must send the message when the subscribers return.
    for s in subs:
        s.stop()
    for n in subs_nodes:
        n.kill(signal.SIGTERM)
    lonely = publish_ids(pub, ["while alone 1", "while alone 2"])
    pub.kill(signal.SIGKILL)
    for n in subs_nodes:
        n.start()
    subs = [pt.Subscriber(n, topic=TOPIC) for n in subs_nodes]
    time.sleep(1)
    pub.start()
    nt.check(set(lonely) <= set(pub.history_ids()), "the messages published alone are not in the history")
    pt.wait_all_delivered(subs, lonely, 60, "the outbox to deliver the messages published alone")
    pt.check_exactly_once(subs)
    # The restarted publisher found them in its outbox, and the outbox empties once every
    # message went out and settled (5 s).
    this_run = lambda: open(pub.log).read().rsplit("listening on", 1)[-1]
    nt.check("published message(s) not yet confirmed sent" in this_run(),
             "the restarted publisher did not report its outbox")
    nt.wait_for(lambda: "outbox: every published message reached a peer" in this_run(), 30, what="the outbox to empty")
    for s in subs:
        s.stop()
    print("kill_after_ack (b): the outbox delivered both messages published alone to both subscribers")

    # (c) Acknowledgements while commits run on the writer thread: a second durable
    # publisher on another topic keeps a commit running nearly all the time, so these
    # publishes arrive while one runs (their rows kept in memory, their answers held until
    # the commit of the batch they join). SIGKILL right after the last acknowledgement.
    # The noise publisher is fed one line at a time, the next once the last is acknowledged
    # (bounded: 240 s): one durable publish after another, each its own commit, so commits
    # run back to back. (Lines written ahead would go as batches, fewer and larger.)
    noise = subprocess.Popen([nt.BIN, "publish", "noise", "-", "--data", pub.data], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    done = threading.Event()

    def feed_noise():
        deadline = time.monotonic() + 240
        i = 0
        try:
            while not done.is_set() and time.monotonic() < deadline:
                noise.stdin.write(f"noise {i} {'.' * 100}\n")
                noise.stdin.flush()
                if not noise.stdout.readline():
                    break
                i += 1
        except (BrokenPipeError, OSError, ValueError):
            pass
    feeder = threading.Thread(target=feed_noise, daemon=True)
    feeder.start()
    try:
        time.sleep(1)
        nt.check(noise.poll() is None, "the second publisher stopped early")
        loaded = publish_ids(pub, [f"under load {i}" for i in range(300)])
        nt.check(noise.poll() is None and feeder.is_alive(), "the second publisher ended before the first")
    finally:
        done.set()
        noise.kill()
        noise.wait(timeout=10)
        feeder.join(timeout=10)
    pub.kill(signal.SIGKILL)
    pub.start()
    got = set(pub.history_ids("--last", "1000"))
    nt.check(len(loaded) == 300 and set(loaded) <= got,
             f"acknowledged messages missing from history after SIGKILL under load: "
             f"{len(set(loaded) - got)} of {len(loaded)}")
    print(f"kill_after_ack (c): {len(loaded)} acknowledged beside a second durable publisher, "
          f"all in history after SIGKILL")

    # (d) Batches: a file of 20,000 lines through `publish -` (the lines waiting go as batch
    # publishes, one commit each), the node SIGKILLed mid-stream, once 1,000 ids are printed.
    # Every id printed is in history after the restart.
    batch_file = os.path.join(root, "batch.txt")
    with open(batch_file, "w") as f:
        f.write("".join(f"batch {i}\n" for i in range(20000)))
    with open(batch_file) as stdin:
        p = subprocess.Popen([nt.BIN, "publish", TOPIC, "-", "--data", pub.data], stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    printed = []
    try:
        deadline = time.monotonic() + 120
        while len(printed) < 1000 and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            printed.append(line.strip())
        pub.kill(signal.SIGKILL)
        printed += p.stdout.read().split()  # what the CLI printed before it lost the node
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    nt.check(1000 <= len(printed) < 20000, f"the node was to be killed mid-stream: {len(printed)} ids printed")
    pub.start()
    got = set(pub.history_ids("--last", "30000"))
    nt.check(set(printed) <= got, f"acknowledged batch messages missing from history after SIGKILL: "
                                  f"{len(set(printed) - got)} of {len(printed)}")
    print(f"kill_after_ack (d): {len(printed)} acknowledged in batches, SIGKILL mid-stream, all in history")


def meshed_pair(root, **full_args):
    """Node 0 (made with `full_args`) and node 1, each with a subscriber to TOPIC, in one
    mesh: (node 0, node 1, node 0's subscriber, node 1's subscriber)."""
    full = HistNode(root, 0, **full_args)
    full.start()
    other = HistNode(root, 1, bootstrap=[full.listen])
    other.start()
    full_sub = pt.Subscriber(full, topic=TOPIC)
    other_sub = pt.Subscriber(other, topic=TOPIC)
    nt.wait_for(mesh_ready([other, full]), 30, what="the two nodes to see each other's subscription")
    return full, other, full_sub, other_sub


def scenario_disk_full(root):
    """The disk fills under a durable publisher (a file-size limit on the node's process:
    its store's file cannot grow, as on a full disk, and the commits on the writer thread
    fail): every line gets one outcome (an id, or a clear error), the node keeps serving,
    every acknowledged message is in its history and reached the other node's subscriber,
    and after a SIGKILL and a restart with room, all are still there and publishing works."""
    full, other, own_sub, sub = meshed_pair(root, file_size_max=3 * 1024 * 1024)
    lines = [f"fill {i} {'y' * 1000}" for i in range(4000)]
    r = subprocess.run([nt.BIN, "publish", TOPIC, "-", "--data", full.data], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=300)
    ids = r.stdout.split()
    errors = r.stderr.strip().splitlines()
    nt.check(r.returncode == 1 and len(ids) + len(errors) == len(lines) and ids and errors,
             f"each line one outcome, some refused: exit {r.returncode}, {len(ids)} ids, {len(errors)} errors")
    nt.check(all("could not be written to disk" in e for e in errors), f"unclear refusal: {errors[:2]}")
    nt.check(full.proc.poll() is None, "the node with a full disk died")
    stored = set(full.history_ids("--last", "10000"))
    nt.check(set(ids) <= stored, f"{len(set(ids) - stored)} acknowledged messages missing from history")
    pt.wait_all_delivered([sub], ids, 60, "the acknowledged messages to reach the other node's subscriber")
    own_sub.stop()
    full.kill(signal.SIGKILL)
    full.file_size_max = None  # room again
    full.start()
    stored = set(full.history_ids("--last", "10000"))
    nt.check(set(ids) <= stored, f"{len(set(ids) - stored)} acknowledged messages lost in the restart")
    after = publish_ids(full, ["after the disk had room again"])
    pt.wait_all_delivered([sub], after, 30, "a message published after the restart")
    sub.stop()
    print(f"disk_full: {len(ids)} acknowledged, {len(errors)} refused as not written to disk; all acknowledged "
          f"kept across SIGKILL and delivered; publishing works once there is room")


def scenario_store_full(root):
    # 4 MiB of map but 64 MiB of history allowed: the map fills first (a full disk).
    full, other, sub, other_sub = meshed_pair(root, extra=["--map-size-mb", "4", "--history-max-mb", "64"])
    payload = "x" * 50_000
    refused = None
    published = 0
    for i in range(200):
        r = full.cli("publish", TOPIC, f"{i} {payload}")
        if r.returncode != 0:
            refused = r
            break
        published += 1
    nt.check(refused is not None, "a 4 MiB map accepted 200 messages of 50 kB")
    nt.check(refused.returncode == 1 and "full" in refused.stderr and refused.stderr.count("\n") == 1,
             f"a full store must be one clear line and exit 1: {refused}")
    status, body = full.api("/v1/status")
    nt.check(status == 200, "the full node stopped answering")
    # Stored messages stay readable.
    lines = full.history("--last", "5")
    nt.check(len(lines) == 5, f"history of a full store: {lines}")
    # The HTTP status says so too.
    addr = open(os.path.join(full.data, "api.addr")).read().strip()
    cookie = open(os.path.join(full.data, "api.cookie")).read().strip()
    req = urllib.request.Request(f"http://{addr}/v1/publish", method="POST",
                                 data=json.dumps({"topic": TOPIC, "data": payload}).encode(),
                                 headers={"Authorization": f"Bearer {cookie}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        nt.check(False, "POST /v1/publish on a full store succeeded")
    except urllib.error.HTTPError as e:
        nt.check(e.code == 507, f"POST /v1/publish on a full store: HTTP {e.code}")
    # The node still takes part: a message from the other node reaches its subscriber.
    ids = publish_ids(other, ["from the other node"])
    pt.wait_all_delivered([sub], ids, 30, "a message from another node to reach the full node's subscriber")
    sub.stop()
    other_sub.stop()
    log = open(full.log).read()
    nt.check(log.count("the message store is full") >= 1, "no log line about the full store")
    nt.check(log.count("the message store is full") <= 3, "the full-store log line is not rate limited")
    print(f"store_full: {published} messages stored, then refused clearly (exit 1, HTTP 507); history served; still relaying")


def scenario_paging(root):
    node = HistNode(root, 0)
    node.start()
    lines = [f"message {i:03d}" for i in range(250)]
    published = publish_ids(node, lines)
    # The store's order is (ts, id): messages published in the same millisecond are in id
    # order, not publish order. The reference order is the full history, checked sorted.
    records = [json.loads(l) for l in node.history("--json", "--last", "1000")]
    nt.check(sorted(r["id"] for r in records) == sorted(published), "history --last 1000 is not every message")
    keys = [(r["ts"], r["id"]) for r in records]
    nt.check(keys == sorted(keys), "history is not in (ts, id) order")
    ids = [r["id"] for r in records]

    default = node.history()
    nt.check(len(default) == 20 and default[-1].endswith(records[-1]["data"]) and default[0].endswith(records[-20]["data"]),
             f"history default: {default[:2]} … {default[-1:]}")
    last = node.history_ids("--last", "150")
    nt.check(last == ids[-150:], "history --last 150 is not the last 150 in order")
    records = [json.loads(l) for l in node.history("--json", "--last", "1")]
    since = records[0]["ts"]
    tail = node.history_ids("--since", str(since))
    nt.check(tail and tail[-1] == ids[-1] and tail == ids[-len(tail):], "history --since is not a tail in order")
    nt.check(len(node.history("--since", "1h")) == 250, "history --since 1h")
    r = node.cli("history", TOPIC, "--since", "yesterday")
    nt.check(r.returncode == 2 and "--since" in r.stderr, f"a bad --since must be a usage error: {r}")

    # API, backward from the end (the default), 20 a page.
    seen, cursor, pages = [], None, 0
    while pages < 100:
        status, page = node.api(f"/v1/history?topic={TOPIC}" + (f"&cursor={cursor}" if cursor else ""))
        nt.check(status == 200, f"history page: {status} {page}")
        nt.check(len(page["messages"]) <= 20, "a page above the default limit")
        seen = [m["id"] for m in page["messages"]] + seen
        pages += 1
        cursor = page["next"]
        if not cursor:
            break
    nt.check(seen == ids, f"backward pages: {len(seen)} messages, in order: {seen == sorted(seen, key=ids.index)}")
    # Forward from the start, 100 a page (the maximum; more is clamped).
    seen, cursor = [], None
    for _ in range(10):
        q = f"/v1/history?topic={TOPIC}&direction=forward&since=0&limit=500" + (f"&cursor={cursor}" if cursor else "")
        status, page = node.api(q)
        nt.check(status == 200 and len(page["messages"]) <= 100, f"forward page: {status}")
        seen += [m["id"] for m in page["messages"]]
        cursor = page["next"]
        if not cursor:
            break
    nt.check(seen == ids, "forward pages do not give every message once in order")
    status, page = node.api(f"/v1/history?topic={TOPIC}&cursor=nonsense")
    nt.check(status == 400 and "cursor" in page.get("error", ""), f"bad cursor: {status} {page}")

    # subscribe --since: the stored messages first, then live, each once.
    sub = subprocess.Popen([nt.BIN, "subscribe", TOPIC, "--since", "0", "--json", "--data", node.data],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    got = []
    try:
        deadline = time.time() + 30
        while len(got) < 250 and time.time() < deadline:
            got.append(json.loads(sub.stdout.readline())["id"])
        live = publish_ids(node, ["live after replay"])
        got.append(json.loads(sub.stdout.readline())["id"])
    finally:
        sub.send_signal(signal.SIGTERM)
        sub.wait(timeout=10)
    nt.check(got == ids + live, f"subscribe --since: {len(got)} lines, replay then live in order: {got[:250] == ids}")
    # An event stream resumed with Last-Event-ID: exactly what came after that event.
    events = sse_events(node, {}, "&since=0", 251)
    nt.check([e[1]["id"] for e in events] == ids + live, "the event stream with since=0")
    resume_from = events[199][0]
    resumed = sse_events(node, {"Last-Event-ID": resume_from}, "", 51)
    nt.check([e[1]["id"] for e in resumed] == ids[200:] + live,
             f"Last-Event-ID resume: {len(resumed)} events")
    # The store's metrics (refreshed every second).
    nt.wait_for(lambda: nt.metric_value(nt.metrics_text(node), "kadmium_store_messages") == 251, 10,
                what="kadmium_store_messages to count 251")
    text = nt.metrics_text(node)
    nt.check(nt.metric_value(text, "kadmium_store_bytes") > 251 * 100, "kadmium_store_bytes")
    nt.check(nt.metric_value(text, "kadmium_store_commit_seconds_count") >= 1, "kadmium_store_commit_seconds")
    print("paging: CLI history (default, --last, --since, --json), API cursors both ways, "
          "subscribe --since, Last-Event-ID resume")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--scenario", required=True, choices=["kill_after_ack", "store_full", "disk_full", "paging"])
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    nt.BIN = os.path.abspath(args.bin)
    nt.run_scenario(globals()["scenario_" + args.scenario], f"kadmium-history-{args.scenario}-", args.keep)


if __name__ == "__main__":
    main()
