#!/usr/bin/python3
"""side_by_side_first.py - the shared harness's kadmium half (../shared/anchors/kadmium_bench.py),
run UNCHANGED except for ONE difference: every get asks the node for the first verified value,
`GET /v1/get?key=K&first=1`, instead of the whole lookup (`GET /v1/get?key=K`).

So "get first value" in its tables is the time to the first value, as OpenDHT's harness
reports it (its get_cb), instead of kadmium's whole get. Everything else - the network, the
sequence (convergence, put->get at 1 and 16 in flight, SIGKILL of 20% and put->get right
after, re-get of old keys), the timing, the tables, the JSON - is the shared harness's own
code, imported from its path (no copy): this file wraps its HTTP request function and
(a) appends `&first=1` to the path of `GET /v1/get?...` requests, and
(b) because the first-value answer carries one `"value"` (or `"value_b64"`) instead of the
    `"values"` array the harness reads, rewrites that answer into `{"values": [value], ...}`
    before the harness parses it (a json.loads + dumps of a ~400-byte answer, ~10 us, inside
    the timed interval; it makes the figures slightly worse, not better).
When the lookup ends without a value the node answers as the plain get does (no rewrite).

Usage (the same arguments as kadmium_bench.py; run from the project root):
    /usr/bin/python3 bench/side_by_side_first.py --sizes 20 --json out/first/kad_n20.json
    /usr/bin/python3 bench/side_by_side_first.py --compare-kad 'out/first/kad_*.json' \\
        --compare-odht 'out/first/odht_*.json'
bench/side_by_side_first.sh interleaves it with the shared opendht_bench.py like
../shared/anchors/run_side_by_side.sh does. ANCHORS=<dir> points at another harness copy.
"""
import json
import os
import sys
import time

ANCHORS = os.environ.get("ANCHORS", "/work/shared/anchors")
sys.path.insert(0, ANCHORS)
import kadmium_bench as kb  # noqa: E402  (the shared harness, unchanged)

GET_PREFIX = "/v1/get?"
_harness_request = kb.KadmiumNetwork._request


# SBS_TRACE=FILE appends one line per get and put: monotonic start (s), the client's time
# (ms, this request only), the node's own elapsed_us, method, node index. For finding where
# a tail comes from (node or client side); off by default (the timing then is unchanged).
TRACE = open(os.environ["SBS_TRACE"], "a") if os.environ.get("SBS_TRACE") else None


def _first_value_request(self, node, method, path, body, timeout):
    """The harness's _request, with `&first=1` on gets and the one-value answer given the
    shape of the whole-get answer ("values") so the harness's own `found` check applies."""
    is_get = method == "GET" and path.startswith(GET_PREFIX)
    if is_get:
        path += "&first=1"
    t0 = time.monotonic_ns() if TRACE else 0
    status, data = _harness_request(self, node, method, path, body, timeout)
    if TRACE and status == 200 and (is_get or method == "POST"):
        elapsed = json.loads(data).get("elapsed_us", -1)
        TRACE.write("%.6f %.3f %s %s %s\n" % (t0 / 1e9, (time.monotonic_ns() - t0) / 1e6, elapsed,
                                              "get" if is_get else "put", node))
        TRACE.flush()
    if is_get and status == 200:
        answer = json.loads(data)
        if answer.get("first"):
            if "value" in answer:
                answer["values"] = [answer.pop("value")]
            else:
                answer["values_b64"] = [answer.pop("value_b64", "")]
                answer["values"] = []
            data = json.dumps(answer).encode()
    return status, data


kb.KadmiumNetwork._request = _first_value_request
kb.EPILOG = ("THIS RUN: gets ask `&first=1` (first verified value); get1st is the time to the first "
             "value, getdone == get1st.\n" + kb.EPILOG)

if __name__ == "__main__":
    print("# side_by_side_first.py: the shared harness with gets that ask &first=1 (the one difference)")
    kb.main()
