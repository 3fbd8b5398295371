#!/usr/bin/env python3
"""promtool on the repo's Prometheus files: `check config` on both scrape configurations,
`check rules` on every rule file, and `test rules` (each alert fires on a made-up sick
series and stays silent on a healthy one; grafana/prometheus/tests/).

Debian's promtool is built without Kubernetes discovery and rejects
`kubernetes_sd_configs`; then the Kubernetes configuration is checked with that block
replaced by a static stand-in (everything else, the relabeling included, as written; the
live test runs that relabeling for real). Installs Debian's prometheus if missing (root).
Usage: promtool_test.py
"""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promkit  # noqa: E402
from live_test import kubernetes_standin  # noqa: E402

NO_KUBERNETES = "field kubernetes_sd_configs not found"


def promtool(*args):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    promkit.ensure_prometheus()
    prom_dir = promkit.PROM_DIR
    failures = []

    def expect_ok(what, *args):
        code, out = promtool(*args)
        print(f"--- {what}: {'ok' if code == 0 else 'FAILED'}\n{out}", flush=True)
        if code != 0:
            failures.append(what)

    expect_ok("check config prometheus.yml", "check", "config", os.path.join(prom_dir, "prometheus.yml"))

    kubernetes = os.path.join(prom_dir, "prometheus-kubernetes.yml")
    code, out = promtool("check", "config", kubernetes)
    if code == 0:
        print(f"--- check config prometheus-kubernetes.yml: ok\n{out}")
    elif NO_KUBERNETES in out:
        print("--- this promtool has no Kubernetes discovery (Debian's build); checking "
              "prometheus-kubernetes.yml with a static stand-in for kubernetes_sd_configs")
        with open(kubernetes) as f:
            text = kubernetes_standin(f.read(), [("127.0.0.1:9100", {"__meta_kubernetes_pod_name": "kadmium-0"})])
        with tempfile.TemporaryDirectory(prefix="kadmium-promtool-") as tmp:
            path = os.path.join(tmp, "prometheus-kubernetes.yml")
            with open(path, "w") as f:
                f.write(text)
            os.symlink(os.path.join(prom_dir, "rules"), os.path.join(tmp, "rules"))
            expect_ok("check config prometheus-kubernetes.yml (stand-in)", "check", "config", path)
    else:
        print(f"--- check config prometheus-kubernetes.yml: FAILED\n{out}")
        failures.append("check config prometheus-kubernetes.yml")

    rules = sorted(glob.glob(os.path.join(prom_dir, "rules", "*.yml")))
    if not rules:
        failures.append("no rule files")
    expect_ok("check rules", "check", "rules", *rules)

    tests = sorted(glob.glob(os.path.join(prom_dir, "tests", "*.yml")))
    if not tests:
        failures.append("no rule tests")
    expect_ok("test rules", "test", "rules", *tests)

    # Every alerting rule has a test case (the test file names it as alertname).
    alerts = set()
    for path in rules:
        with open(path) as f:
            alerts |= {line.split(":", 1)[1].strip() for line in f if line.strip().startswith("- alert:")}
    tested = set()
    for path in tests:
        with open(path) as f:
            tested |= {line.split(":", 1)[1].strip() for line in f if line.strip().startswith("- alertname:")}
    untested = sorted(alerts - tested)
    print(f"--- {len(alerts)} alerts, untested: {untested or 'none'}")
    if untested or not alerts:
        failures.append(f"alerts without a promtool test: {untested}")

    if failures:
        print(f"FAILED: {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
