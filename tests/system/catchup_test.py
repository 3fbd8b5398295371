#!/usr/bin/env python3
"""Multi-process catch-up test of real kadmium nodes on loopback, through the CLI.

Scenario:
  subscriber_killed  Six nodes; three subscribe. One subscriber's node is killed with
                     SIGKILL and misses 50 messages. After it restarts (same data
                     directory, subscriptions restored from it), catch-up brings them:
                     its `history` has all 50 (and what it had before), `kadmium subscribe
                     --since` on it delivers each message exactly once, and its metrics
                     count the caught-up messages. The subscribers that stayed up got
                     each message exactly once.

Only loopback addresses are used. Every wait is bounded; only processes this script started
are stopped, by PID.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import network_test as nt  # noqa: E402
import pubsub_test as pt  # noqa: E402
import history_test as ht  # noqa: E402

TOPIC = ht.TOPIC


class SinceSubscriber(pt.Subscriber):
    """`kadmium subscribe TOPIC --since SINCE --json` in the background."""

    def __init__(self, node, since):
        self.node = node
        self.lines = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([nt.BIN, "subscribe", TOPIC, "--since", since, "--json", "--data", node.data],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()


def scenario_subscriber_killed(root):
    hub = ht.HistNode(root, 0)
    hub.start()
    nodes = [hub] + [ht.HistNode(root, i, bootstrap=[hub.listen]) for i in range(1, 6)]
    for n in nodes[1:]:
        n.launch()
    for n in nodes[1:]:
        n.wait_started()
    sub_nodes = nodes[1:4]
    subs = [pt.Subscriber(n, topic=TOPIC) for n in sub_nodes]
    nt.wait_for(ht.mesh_ready(sub_nodes, minimum=2), 30, what="the subscribers to know each other")
    publisher = nodes[5]
    before = ht.publish_ids(publisher, [f"before {i}" for i in range(10)])
    pt.wait_all_delivered(subs, before, 30, "the first messages")

    victim, victim_sub = sub_nodes[0], subs[0]
    victim.kill(signal.SIGKILL)
    victim_sub.stop()
    missed = ht.publish_ids(publisher, [f"missed {i}" for i in range(50)])
    survivors = subs[1:]
    pt.wait_all_delivered(survivors, missed, 30, "the subscribers that stayed up")

    t0 = time.time()
    victim.start()
    nt.wait_for(lambda: set(missed) <= set(victim.history_ids("--last", "100")), 60,
                what="the restarted subscriber's history to hold the 50 missed messages")
    caught_up_s = time.time() - t0
    history = victim.history_ids("--last", "100")
    nt.check(set(before) <= set(history), "the restarted node lost messages it had stored before the kill")
    nt.check(len(history) == len(set(history)), "history lists a message twice")

    # Its application, reconnecting, replays from the store and goes live: each message once.
    replay = SinceSubscriber(victim, "10m")
    try:
        nt.wait_for(lambda: set(before + missed) <= {m["id"] for m in replay.messages()}, 30,
                    what="subscribe --since to replay every message")
        live = ht.publish_ids(publisher, ["after the return"])
        nt.wait_for(lambda: set(live) <= {m["id"] for m in replay.messages()}, 30,
                    what="subscribe --since to go live")
        pt.check_exactly_once([replay])
    finally:
        replay.stop()
    pt.check_exactly_once(survivors)

    metrics = nt.metrics_text(victim)
    caught = nt.metric_value(metrics, "kadmium_catchup_messages_total")
    nt.check(caught >= 1, f"kadmium_catchup_messages_total is {caught}")
    for s in survivors:
        s.stop()
    print(f"subscriber_killed: 50 missed messages in the restarted node's history {caught_up_s:.1f} s after "
          f"its restart ({caught:.0f} through catch-up, the rest through the last heartbeats' gossip); "
          f"subscribe --since delivered each of {len(before) + len(missed) + 1} once")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--scenario", required=True, choices=["subscriber_killed"])
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    nt.BIN = os.path.abspath(args.bin)
    nt.run_scenario(globals()["scenario_" + args.scenario], f"kadmium-catchup-{args.scenario}-", args.keep)


if __name__ == "__main__":
    main()
