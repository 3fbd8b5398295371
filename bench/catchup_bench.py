#!/usr/bin/env python3
"""Catch-up throughput between two kadmium nodes on loopback (the durable-history issue).

Two nodes subscribe to one topic. Node B stops (SIGTERM); node A's application publishes
--messages messages of --payload bytes (`kadmium publish TOPIC -`, each acknowledged once
durable); B starts again from its data directory. B restores its subscription, grafts,
reconciles the window it missed with A and fetches what it lacks. The figures:
  from restart   seconds from B's start (its API up) until B holds every message,
  fetch phase    seconds from B's first caught-up message to the last, and
  throughput     messages per second over the fetch phase,
taken by a `kadmium subscribe` client on B (started as soon as B's API answers, before
catch-up begins 1 s after the subscribe) when each line arrives. One pass fetches at
most 10,000 messages (pubsub::CatchupConfig::pass_messages_max), so --messages stays at or
below that. Uses the system-test helpers (tests/system); stops only the processes it
started, by PID.
Usage: bench/catchup_bench.py --bin build/bin/kadmium [--messages 5000] [--payload 200]
"""
import argparse
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))
import network_test as nt  # noqa: E402
import pubsub_test as pt  # noqa: E402
import history_test as ht  # noqa: E402


class TimedSubscriber(pt.Subscriber):
    """A subscriber that notes when each line arrived (time.monotonic())."""

    def __init__(self, node):
        self.times = []
        super().__init__(node, topic=ht.TOPIC)

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))
                self.times.append(time.monotonic())

    def count(self):
        with self.lock:
            return len(self.lines)


def run(root, messages, payload):
    a = ht.HistNode(root, 0)
    a.start()
    b = ht.HistNode(root, 1, bootstrap=[a.listen])
    b.start()
    subs = [pt.Subscriber(n, topic=ht.TOPIC) for n in (a, b)]
    nt.wait_for(ht.mesh_ready([a, b]), 30, what="the two nodes to share the topic")
    for s in subs:
        s.stop()
    b.kill(signal.SIGTERM)

    body = "x" * max(0, payload - 8)
    t = time.time()
    ht.publish_ids(a, [f"{i:07d} {body}" for i in range(messages)])
    publish_s = time.time() - t

    b.launch()
    b.wait_started()
    t0 = time.monotonic()
    sub = TimedSubscriber(b)
    try:
        nt.wait_for(lambda: sub.count() >= messages, 300, step=0.05, what="B to catch up")
        first, done = sub.times[0], sub.times[messages - 1]
    finally:
        sub.stop()
    caught = nt.metric_value(nt.metrics_text(b), "kadmium_catchup_messages_total")
    fetch_s = max(done - first, 1e-3)
    print(f"published {messages} x {payload} B on A in {publish_s:.1f} s (durable, one at a time)")
    print(f"B: every message {done - t0:.2f} s after its restart; fetch phase {fetch_s:.2f} s; "
          f"{messages / fetch_s:,.0f} messages/s ({caught:.0f} counted as caught up)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--payload", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.messages <= 10_000:
        ap.error("--messages must be 1..10000 (one catch-up pass)")
    nt.BIN = os.path.abspath(args.bin)
    nt.run_scenario(lambda root: run(root, args.messages, args.payload), "kadmium-catchup-bench-", args.keep)


if __name__ == "__main__":
    main()
