#!/usr/bin/env python3
"""One benchmark client process: a subscriber or the publisher, over NATS, MQTT or kadmium.

Started by bench/pubsub_vs_brokers.py, which talks to it by lines:
  subscriber: prints READY (subscribed, as acknowledged by the server), PROBED (first probe
    message received: the path from the publisher works), then, after the END message or
    its deadline, one JSON summary line; latencies go to --out as native int64 ns.
  publisher: prints READY, sends a probe message every 20 ms until it reads GO on stdin,
    then publishes --rate messages per second for --duration-s, prints one JSON summary
    line, waits --grace-s and sends END three times.

Payload (--size bytes, ASCII so that it is valid UTF-8 for kadmium's JSON API):
  b"<kind> <seq> <ts_ns> " padded with 'x'; kind P probe, M measured, E end; ts_ns is
  CLOCK_MONOTONIC, which is one clock for every process on a Linux machine.
Every loop is bounded by a count or a deadline.
"""
import argparse
import array
import json
import math
import os
import selectors
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from clients import kadmium, mqtt, nats  # noqa: E402


def mono_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def payload(kind, seq, ts, size):
    head = b"%s %d %d " % (kind, seq, ts)
    return head + b"x" * max(0, size - len(head))


def make_client(args, name):
    if args.system == "nats":
        return nats.NatsClient(args.host, args.port, name)
    if args.system == "mqtt":
        return mqtt.MqttClient(args.host, args.port, name)
    host, port, cookie = kadmium.read_api(args.data)
    if args.mode == "sub":
        return kadmium.Subscriber(host, port, cookie, args.topic)
    return kadmium.Publisher(host, port, cookie)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_subscriber(args):
    client = make_client(args, args.name)
    if args.system != "kadmium":
        client.subscribe(args.topic)  # kadmium subscribes when the SSE stream opens
    say("READY")
    sock = client.sock
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    seen = bytearray(args.expected)
    latencies = array.array("q")
    received = duplicates = unknown = 0
    probed = ended = False
    cpu_at_probe = time.process_time()
    deadline = time.monotonic() + args.deadline_s
    while not ended and time.monotonic() < deadline:
        if not sel.select(timeout=0.2):
            continue
        data = sock.recv(1 << 18)
        now = mono_ns()
        if not data:
            break
        for p in client.feed(data):
            kind, seq, ts = p.split(b" ", 3)[:3]
            if kind == b"M":
                seq = int(seq)
                if seq >= args.expected:
                    unknown += 1
                    continue
                received += 1
                if seen[seq]:
                    duplicates += 1
                    continue
                seen[seq] = 1
                latencies.append(now - int(ts))
            elif kind == b"P" and not probed:
                probed = True
                cpu_at_probe = time.process_time()
                say("PROBED")
            elif kind == b"E":
                ended = True
    with open(args.out, "wb") as f:
        latencies.tofile(f)
    say(json.dumps({"received": received, "unique": len(latencies), "duplicates": duplicates,
                    "unknown": unknown, "ended": ended, "cpu_s": time.process_time() - cpu_at_probe,
                    "other_events": getattr(client, "other_events", 0)}))
    client.close()


def wait_for_go(client, args):
    """Sends probes every 20 ms until the parent says GO; False if it never does."""
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    deadline = time.monotonic() + args.probe_timeout_s
    n = 0
    while time.monotonic() < deadline:
        client.publish_batch(args.topic, [payload(b"P", n, mono_ns(), args.size)])
        n += 1
        if sel.select(timeout=0.02):
            return sys.stdin.readline().strip() == "GO"
    return False


def run_publisher(args):
    client = make_client(args, args.name)
    say("READY")
    if not wait_for_go(client, args):
        say(json.dumps({"error": "no GO from the parent"}))
        return
    cpu0 = time.process_time()
    total = int(args.rate * args.duration_s)
    period_ns = 1e9 / args.rate
    start = mono_ns() + 1_000_000
    sent = 0
    max_late_ns = 0
    while sent < total:  # bounded: every turn sends at least one message or sleeps
        now = mono_ns()
        due = min(total, math.floor((now - start) / period_ns) + 1)
        if due <= sent:
            time.sleep(max(0.0, (start + sent * period_ns - now) / 1e9))
            continue
        max_late_ns = max(max_late_ns, now - int(start + sent * period_ns))
        n = min(due - sent, args.batch_max)
        ts = mono_ns()
        client.publish_batch(args.topic, [payload(b"M", sent + i, ts, args.size) for i in range(n)])
        sent += n
    elapsed = (mono_ns() - start) / 1e9
    say(json.dumps({"sent": sent, "elapsed_s": elapsed, "rate": sent / elapsed if elapsed > 0 else 0,
                    "max_late_ms": max_late_ns / 1e6, "failed": getattr(client, "failed", 0),
                    "cpu_s": time.process_time() - cpu0}))
    time.sleep(args.grace_s)
    for i in range(3):
        client.publish_batch(args.topic, [payload(b"E", i, mono_ns(), args.size)])
        time.sleep(0.1)
    client.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["sub", "pub"])
    ap.add_argument("--system", choices=["nats", "mqtt", "kadmium"], required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--data", help="kadmium: the node's data dir (api.addr, api.cookie)")
    ap.add_argument("--topic", default="bench")
    ap.add_argument("--name", default="bench")
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--expected", type=int, default=0, help="sub: messages the publisher will send")
    ap.add_argument("--deadline-s", type=float, default=60)
    ap.add_argument("--out", help="sub: latency file")
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--duration-s", type=float, default=10)
    ap.add_argument("--grace-s", type=float, default=1.0)
    ap.add_argument("--batch-max", type=int, default=64)
    ap.add_argument("--probe-timeout-s", type=float, default=60)
    args = ap.parse_args()
    (run_subscriber if args.mode == "sub" else run_publisher)(args)


if __name__ == "__main__":
    main()
