#!/usr/bin/python3
"""idle_cpu.py - what an idle kadmium network costs, second by second after start.

Starts N `kadmium node` processes on 127.0.0.1 as bench/dht_pair_profile.py does (node 0
first, the others bootstrapping from it), runs no operation at all, and prints every
--step seconds the CPU (utime + stime from /proc) all node processes used in that step,
per node, plus the UDP datagrams the machine received (/proc/net/snmp; counts other
processes' UDP too). With --strace S it attaches `strace -c -f` to node 1 from second S
for --strace-s seconds (syscall counts of one idle node).

  bench/idle_cpu.py --bin build-rel/bin/kadmium --nodes 100 --seconds 40
A measurement, not a test: note the machine's load (printed).
"""
import argparse, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dht_pair_profile import Node  # noqa: E402


def ticks(procs):
    total = 0
    for p in procs:
        try:
            with open("/proc/%d/stat" % p.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def udp_in():
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    return int(rows[1][rows[0].index("InDatagrams")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build-rel/bin/kadmium")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--step", type=float, default=2.0)
    ap.add_argument("--port", type=int, default=25000)
    ap.add_argument("--strace", type=float, default=-1, help="attach strace -c to node 1 at this second")
    ap.add_argument("--strace-s", type=float, default=5)
    args = ap.parse_args()
    hz = os.sysconf("SC_CLK_TCK")
    root = tempfile.mkdtemp(prefix="kadmium-idle-")
    nodes = []
    strace = None
    try:
        print("load before: %s" % open("/proc/loadavg").read().strip())
        t0 = time.monotonic()
        nodes.append(Node(args.bin, root, 0, args.port, None))
        nodes[0].wait_api(time.monotonic() + 10)
        for i in range(1, args.nodes):
            nodes.append(Node(args.bin, root, i, args.port + i, args.port))
        for n in nodes[1:]:
            n.wait_api(time.monotonic() + 30)
        procs = [n.proc for n in nodes]
        print("all %d nodes up after %.2f s" % (args.nodes, time.monotonic() - t0))
        print("| since start, s | nodes' CPU, % of one core | per node, ms/s | UDP datagrams/s |")
        print("|---:|---:|---:|---:|")
        last_t, last_c, last_u = time.monotonic(), ticks(procs), udp_in()
        while time.monotonic() - t0 < args.seconds:
            if strace is None and args.strace >= 0 and time.monotonic() - t0 >= args.strace:
                strace = subprocess.Popen(["strace", "-c", "-f", "-p", str(nodes[1].proc.pid), "-o",
                                           os.path.join(root, "strace.txt")], stderr=subprocess.DEVNULL)
                strace_end = time.monotonic() + args.strace_s
            if strace is not None and strace.poll() is None and time.monotonic() >= strace_end:
                strace.send_signal(signal.SIGINT)
                strace.wait(5)
                print(open(os.path.join(root, "strace.txt")).read())
            time.sleep(args.step)
            t, c, u = time.monotonic(), ticks(procs), udp_in()
            dt = t - last_t
            cpu_s = (c - last_c) / hz
            print("| %.0f | %.1f | %.2f | %.0f |" % (t - t0, 100 * cpu_s / dt, 1e3 * cpu_s / dt / len(procs),
                                                    (u - last_u) / dt), flush=True)
            last_t, last_c, last_u = t, c, u
        print("load after: %s" % open("/proc/loadavg").read().strip())
    finally:
        if strace is not None and strace.poll() is None:
            strace.kill()
        for n in nodes:
            n.proc.send_signal(signal.SIGTERM)
        for n in nodes:
            try:
                n.proc.wait(5)
            except subprocess.TimeoutExpired:
                n.proc.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
