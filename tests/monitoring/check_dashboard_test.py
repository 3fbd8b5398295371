#!/usr/bin/env python3
"""Proves that grafana/check_dashboard.py catches what it claims to: the repo's files pass,
the committed dashboard JSON is exactly what grafana/make_dashboard.py writes, and each of
a list of broken copies (a repeated panel id, a panel without a query, an
unknown or undocumented metric, a data source that is not provisioned, an unknown recorded
series, an undefined variable, a rule using an unknown metric) fails with its message.
Works on copies in a temporary directory; python3 standard library only.
Usage: check_dashboard_test.py
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(REPO, "grafana", "check_dashboard.py")
DASHBOARD = os.path.join("grafana", "dashboards", "kadmium.json")
ALERTS = os.path.join("grafana", "prometheus", "rules", "kadmium-alerts.yml")


def copy_repo(dst):
    for part in ("grafana", "docs"):
        shutil.copytree(os.path.join(REPO, part), os.path.join(dst, part))
    os.makedirs(os.path.join(dst, "metrics"))
    shutil.copy(os.path.join(REPO, "metrics", "metric_names.hpp"), os.path.join(dst, "metrics"))


def edit_json(root, change):
    path = os.path.join(root, DASHBOARD)
    with open(path) as f:
        dashboard = json.load(f)
    change(dashboard)
    with open(path, "w") as f:
        json.dump(dashboard, f)


def edit_text(root, relpath, old, new):
    path = os.path.join(root, relpath)
    with open(path) as f:
        text = f.read()
    assert old in text, f"{old!r} not in {relpath}"
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def first_timeseries(d):
    return next(p for p in d["panels"] if p["type"] == "timeseries")


def set_expr(expr):
    def change(d):
        first_timeseries(d)["targets"][0]["expr"] = expr
    return change


def duplicate_id(d):
    panels = [p for p in d["panels"] if p["type"] != "row"]
    panels[1]["id"] = panels[0]["id"]


def no_query(d):
    first_timeseries(d)["targets"] = []


def bad_datasource(d):
    first_timeseries(d)["datasource"] = {"type": "prometheus", "uid": "not-provisioned"}


CASES = [
    ("repeated panel id", lambda r: edit_json(r, duplicate_id), "panel id missing or not unique"),
    ("panel without a query", lambda r: edit_json(r, no_query), "panel without a query"),
    ("unknown metric", lambda r: edit_json(r, set_expr('rate(kadmium_no_such_total{instance=~"$instance"}[1m])')),
     "kadmium_no_such_total: is not defined in metric_names.hpp"),
    ("suffix on a gauge", lambda r: edit_json(r, set_expr("kadmium_peers_bucket")), "kadmium_peers is not a histogram"),
    ("undocumented metric", lambda r: edit_text(r, os.path.join("docs", "metrics.md"), "`kadmium_topics`", "topics"),
     "kadmium_topics is not documented in docs/metrics.md"),
    ("data source not provisioned", lambda r: edit_json(r, bad_datasource), "is not provisioned"),
    ("unknown recorded series", lambda r: edit_json(r, set_expr("kadmium:nothing:p99_1m")),
     "kadmium:nothing:p99_1m is not recorded by any rule"),
    ("undefined variable", lambda r: edit_json(r, set_expr('kadmium_peers{instance=~"$node"}')),
     "$node is not a dashboard variable"),
    ("foreign metric", lambda r: edit_json(r, set_expr("node_load1{}")), "node_load1 is neither"),
    ("rule with an unknown metric", lambda r: edit_text(r, ALERTS, "kadmium_active_peers == 0", "kadmium_activ_peers == 0"),
     "kadmium_activ_peers: is not defined"),
]


def run_checker(root):
    r = subprocess.run([sys.executable, CHECKER, root], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def main():
    failures = []
    with tempfile.TemporaryDirectory(prefix="kadmium-dashcheck-") as tmp:
        clean = os.path.join(tmp, "clean")
        copy_repo(clean)
        code, out = run_checker(clean)
        print(f"unchanged copy: exit {code}")
        if code != 0:
            failures.append(f"the unchanged files fail the check:\n{out}")
        # The committed JSON is what grafana/make_dashboard.py writes (nobody hand-edited it).
        subprocess.run([sys.executable, os.path.join(clean, "grafana", "make_dashboard.py")], check=True,
                       capture_output=True, timeout=60)
        with open(os.path.join(clean, DASHBOARD)) as made, open(os.path.join(REPO, DASHBOARD)) as committed:
            same = made.read() == committed.read()
        print(f"make_dashboard.py output equals the committed dashboard: {same}")
        if not same:
            failures.append("grafana/dashboards/kadmium.json differs from what make_dashboard.py writes")
        for i, (name, breakit, expected) in enumerate(CASES):
            root = os.path.join(tmp, f"case{i}")
            copy_repo(root)
            breakit(root)
            code, out = run_checker(root)
            caught = code == 1 and re.search(re.escape(expected), out)
            print(f"{name}: exit {code}, {'caught' if caught else 'NOT caught'}")
            if not caught:
                failures.append(f"{name}: expected exit 1 and '{expected}', got {code}:\n{out}")
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
