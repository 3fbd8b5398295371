"""Helpers for the monitoring tests: install Debian's prometheus when it is missing, pick a
free loopback port, run one Prometheus process and ask its HTTP API, stop what was
started. Not a test by itself; python3 standard library only.

Every child process is started with PR_SET_PDEATHSIG, so it gets SIGTERM if the test
process dies (for example killed by ctest's timeout), and is stopped by PID, never by name.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROM_DIR = os.path.join(REPO, "grafana", "prometheus")
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """preexec_fn for Popen: the child gets SIGTERM when this process dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def ensure_prometheus(timeout=600):
    """Makes `prometheus` and `promtool` available, installing Debian's package if needed."""
    if shutil.which("prometheus") and shutil.which("promtool"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("prometheus is not installed and this user cannot apt-get it "
                           "(run scripts/install-deps.sh as root)")
    print("installing Debian's prometheus package...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"]
    if subprocess.run(cmd, env=env, timeout=timeout).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=timeout, check=True)
        subprocess.run(cmd, env=env, timeout=timeout, check=True)
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        raise RuntimeError("apt-get installed prometheus but prometheus/promtool are not on PATH")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_config(text, interval="1s"):
    """The repo's Prometheus config text with scrape, evaluation and timeout at `interval`
    (the test scrapes every second; a timeout may not exceed the interval)."""
    for key in ("scrape_interval", "evaluation_interval", "scrape_timeout"):
        text = re.sub(rf"(\b{key}:\s*)\S+", rf"\g<1>{interval}", text)
    return text


def stop_process(proc, name, grace=10):
    """SIGTERM, then SIGKILL after `grace` seconds; only this PID."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {proc.pid}) ignored SIGTERM; killing it", file=sys.stderr)
        proc.kill()
        proc.wait(timeout=grace)


class Prometheus:
    """One Prometheus process on a free loopback port with its own storage directory."""

    def __init__(self, config_path, workdir):
        self.config_path = config_path
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log = os.path.join(workdir, "prometheus.log")

    def start(self, attempts=3):
        for _ in range(attempts):
            self.port = free_port()
            args = ["prometheus", f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={os.path.join(self.workdir, 'tsdb')}",
                    f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
            with open(self.log, "a") as log:
                self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
            if self.wait_ready(30):
                return
            stop_process(self.proc, "prometheus")
        raise RuntimeError(f"prometheus did not become ready; log: {self.log}\n{self.log_tail()}")

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        return False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines=20):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def api(self, path, params=None, timeout=10):
        """GET /api/v1/<path>; returns `data`, raises with Prometheus's error text."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                body = json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read().decode() or "{}")
        if body.get("status") != "success":
            raise RuntimeError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr):
        return self.api("query", {"query": expr})

    def query_range(self, expr, seconds, step="1s"):
        end = time.time()
        return self.api("query_range", {"query": expr, "start": end - seconds, "end": end, "step": step})

    def stop(self):
        stop_process(self.proc, "prometheus")
