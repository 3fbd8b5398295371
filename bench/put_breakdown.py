#!/usr/bin/python3
"""put_breakdown.py - where a put's acknowledgement time goes, healthy and right after
SIGKILL of 20% of the nodes: the shared harness's phases (../shared/anchors/kadmium_bench.py,
imported from its path, not copied), with every put answer's own figures collected.

The node's put answer says when its search phase ended (`search_us`), how many of the nodes
it asked had not answered by then (`search_not_answered`: slow or dead), and its whole
`elapsed_us` (the rest is the STORE round, up to the write quorum). This prints, per phase,
p50 / p90 / p99 of: the client's put time, the node's elapsed, the search phase, the STORE
round, and the nodes not answered; plus the nodes' CPU per put->get pair.

  /usr/bin/python3 bench/put_breakdown.py --bin build-rel/bin/kadmium --nodes 100 [--first]
A measurement, not a test: note the load average it prints.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

ANCHORS = os.environ.get("ANCHORS", "/work/shared/anchors")
sys.path.insert(0, ANCHORS)
import benchlib as bl  # noqa: E402
import kadmium_bench as kb  # noqa: E402
from opendht_bench import concurrent_put_get  # noqa: E402

answers = []  # put answers (parsed JSON) of the current phase
_request = kb.KadmiumNetwork._request
FIRST = False


def recording_request(self, node, method, path, body, timeout):
    if FIRST and method == "GET" and path.startswith("/v1/get?"):
        path += "&first=1"
    status, data = _request(self, node, method, path, body, timeout)
    if method == "POST" and path == "/v1/put" and status == 200:
        answers.append(json.loads(data))
    if FIRST and method == "GET" and status == 200:  # the first-value answer, shaped as the harness reads it
        j = json.loads(data)
        if j.get("first"):
            j["values"] = [j.pop("value", "")]
            data = json.dumps(j).encode()
    return status, data


kb.KadmiumNetwork._request = recording_request


def pcts(xs):
    return [bl.pct(xs, p) if xs else None for p in (50, 90, 99)]


def report(label, pg):
    global answers
    rows, got = [], answers
    answers = []
    el = [a["elapsed_us"] / 1e3 for a in got]
    se = [a.get("search_us", 0) / 1e3 for a in got]
    st = [e - s for e, s in zip(el, se)]
    na = [a.get("search_not_answered", 0) for a in got]
    rows.append(["client put, ms"] + pcts(pg["_client_put"]))
    rows.append(["node: put elapsed, ms"] + pcts(el))
    rows.append(["node: search phase, ms"] + pcts(se))
    rows.append(["node: STORE round to the quorum, ms"] + pcts(st))
    rows.append(["node: asked, not answered at search end"] + pcts(na))
    rows.append(["put accepted / tried (p50)", bl.median([a["accepted"] for a in got]),
                 bl.median([a["tried"] for a in got]), ""])
    bl.print_table("%s: %d puts; nodes' CPU %.2f ms per pair; get first p50/p99 %.2f / %.2f ms"
                   % (label, len(got), pg["cpu"]["nodes_cpu_ms_per_op"], pg["get_first_ms"]["p50"],
                      pg["get_first_ms"]["p99"]), ["", "p50", "p90", "p99"], rows)


def main():
    global FIRST
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build-rel/bin/kadmium")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--base-port", type=int, default=27000)
    ap.add_argument("--first", action="store_true", help="gets ask &first=1")
    args = ap.parse_args()
    FIRST = args.first
    rng = random.Random(1)
    root = tempfile.mkdtemp(prefix="kadmium-putbd-")
    net = kb.KadmiumNetwork(args.bin, bl.find_port_block(args.nodes, args.base_port, udp=True), root)
    print("load average at start: %s" % open("/proc/loadavg").read().strip())
    try:
        bl.measure_dht_convergence(net, args.nodes, probes=10, cap_s=30, rng=rng)
        answers.clear()
        time.sleep(1.0)
        for label, conc in (("healthy, 1 in flight", 1), ("healthy, %d in flight" % args.conc, args.conc)):
            snap = net.cpu_snap()
            pg = concurrent_put_get(net, args.keys, 200, rng, conc, label)
            pg["cpu"] = net.cpu_since(snap, args.keys)
            pg["_client_put"] = [r[1] for r in net.oplog if r[0] == "put"]
            net.take_oplog()
            report(label, pg)
        victims = net.kill_fraction(0.2)
        alive = net.endpoints()
        snap = net.cpu_snap()
        pg = concurrent_put_get(net, args.keys, 200, rng, args.conc, "post", endpoints=alive)
        pg["cpu"] = net.cpu_since(snap, args.keys)
        pg["_client_put"] = [r[1] for r in net.oplog if r[0] == "put"]
        net.take_oplog()
        report("right after SIGKILL of %d of %d, %d in flight" % (len(victims), args.nodes, args.conc), pg)
    finally:
        net.close()
        shutil.rmtree(root, ignore_errors=True)
    print("load average at end: %s" % open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    main()
