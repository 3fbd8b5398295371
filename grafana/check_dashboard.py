#!/usr/bin/env python3
"""Checks the structure of kadmium's Grafana dashboards and the names used by them and by
the Prometheus rules, without asking Prometheus or Grafana anything.

For every dashboard in grafana/dashboards/:
  - schemaVersion is Grafana 10's (>= 38), uid and title are set and unique;
  - panel ids are unique; every panel but a row has at least one query with an expression;
  - every data source reference (panel, target, variable) is the dashboard's data source
    variable, whose plugin type is that of a provisioned data source, or the uid of a
    provisioned data source (grafana/provisioning/datasources/*.yml);
  - every variable used in a query ($name) is defined in the templating list;
  - every kadmium_* name in a query is defined in metrics/metric_names.hpp (the one table)
    and documented in docs/metrics.md, with _bucket/_sum/_count on histograms only;
  - every recorded kadmium:* / instance:kadmium_* name is recorded by a rule in
    grafana/prometheus/rules/, and every other bare metric is from the allowed list (up).
The rules files get the same name checks. The dashboard provisioning must point Grafana at
a folder, and the data source provisioning must define a default Prometheus data source.

Usage: check_dashboard.py [REPO_ROOT]   (default: the parent of this file's directory)
Exits 0 when everything holds, 1 listing the problems, 2 on unusable input.
Python 3 standard library only (the YAML files are read with small regexes, which is
enough for the flat files this project writes).
"""

import glob
import json
import os
import re
import sys

METRIC_RE = re.compile(r"\b(?:instance:)?kadmium[_:][a-zA-Z0-9_:]+")
DEFINITION_RE = re.compile(r"\b([a-z0-9_]+)\s*=\s*\"(kadmium_[a-z0-9_]+)\"")
HISTOGRAM_RE = re.compile(r"\{\s*name::([a-z0-9_]+)\s*,\s*MetricType::histogram\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
DOCS_NAME_RE = re.compile(r"`(kadmium_[a-z0-9_]+)`")
RECORD_RE = re.compile(r"^\s*-?\s*record:\s*([^\s#]+)", re.M)
VARIABLE_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# Variables Grafana defines itself.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__all"}
# Series that are not kadmium's but that Prometheus itself produces for each target.
PROMETHEUS_SERIES = {"up"}
GRAFANA_10_SCHEMA = 38


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_names(header_path):
    """(metric names, histogram names) defined in metric_names.hpp."""
    text = read(header_path)
    by_identifier = dict(DEFINITION_RE.findall(text))
    names = set(by_identifier.values())
    histograms = {by_identifier[i] for i in HISTOGRAM_RE.findall(text) if i in by_identifier}
    return names, histograms


def load_datasources(provisioning_dir):
    """[(uid, type, is_default)] of the provisioned data sources (one list item per '- name:')."""
    found = []
    for path in sorted(glob.glob(os.path.join(provisioning_dir, "datasources", "*.y*ml"))):
        for item in re.split(r"^\s*-\s+name:", read(path), flags=re.M)[1:]:
            uid = re.search(r"^\s*uid:\s*\"?([^\s\"#]+)", item, re.M)
            kind = re.search(r"^\s*type:\s*\"?([^\s\"#]+)", item, re.M)
            default = re.search(r"^\s*isDefault:\s*true\b", item, re.M)
            found.append((uid.group(1) if uid else None, kind.group(1) if kind else None, bool(default)))
    return found


class Checker:
    def __init__(self, root):
        self.root = root
        self.problems = []
        self.names, self.histograms = load_names(os.path.join(root, "metrics", "metric_names.hpp"))
        self.documented = set(DOCS_NAME_RE.findall(read(os.path.join(root, "docs", "metrics.md"))))
        self.rule_files = sorted(glob.glob(os.path.join(root, "grafana", "prometheus", "rules", "*.yml")))
        self.recorded = set()
        for path in self.rule_files:
            self.recorded |= set(RECORD_RE.findall(read(path)))
        self.datasources = load_datasources(os.path.join(root, "grafana", "provisioning"))
        self.dashboards = sorted(glob.glob(os.path.join(root, "grafana", "dashboards", "*.json")))

    def problem(self, where, what):
        self.problems.append(f"{where}: {what}")

    def usable(self):
        """Whether the inputs are there at all (else the checks would pass vacuously)."""
        missing = [what for what, ok in (("metric definitions in metric_names.hpp", self.names),
                                         ("rule files", self.rule_files), ("recording rules", self.recorded),
                                         ("provisioned data sources", self.datasources),
                                         ("dashboards", self.dashboards)) if not ok]
        for what in missing:
            print(f"{self.root}: no {what} found", file=sys.stderr)
        return not missing

    def check_name(self, where, used):
        if used in self.recorded:
            return
        if ":" in used:
            self.problem(where, f"{used} is not recorded by any rule in grafana/prometheus/rules/")
            return
        base = used
        if used not in self.names:
            base = next((used[: -len(s)] for s in HISTOGRAM_SUFFIXES if used.endswith(s)), None)
            if base not in self.histograms:
                what = f"{base} is not a histogram" if base in self.names else "is not defined in metric_names.hpp"
                self.problem(where, f"{used}: {what}")
                return
        if base not in self.documented:
            self.problem(where, f"{base} is not documented in docs/metrics.md")

    def check_expression(self, where, expr):
        for used in METRIC_RE.findall(expr):
            self.check_name(where, used)
        # Bare identifiers that are not kadmium's must be known Prometheus series.
        for bare in re.findall(r"(?<![\w:$.\"])([a-z_][a-z0-9_]*)\s*\{", expr):
            if not bare.startswith("kadmium") and bare not in PROMETHEUS_SERIES:
                self.problem(where, f"{bare} is neither a kadmium metric nor a Prometheus series")

    def check_rules(self):
        for path in self.rule_files:
            for n, line in enumerate(read(path).splitlines(), 1):
                if line.lstrip().startswith(("#", "record:", "- record:", "runbook:")):
                    continue
                for used in METRIC_RE.findall(line):
                    self.check_name(f"{path}:{n}", used)

    def datasource_ok(self, ref, variables):
        if not isinstance(ref, dict):
            return False
        uid = ref.get("uid", "")
        match = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", uid or "")
        if match:
            var = variables.get(match.group(1))
            return bool(var and var.get("type") == "datasource" and
                        any(t == var.get("query") for _, t, _ in self.datasources) and
                        ref.get("type") in (None, var.get("query")))
        return any(uid == u and ref.get("type") in (None, t) for u, t, _ in self.datasources)

    def check_dashboard(self, path, seen_uids):
        dashboard = json.loads(read(path))
        if dashboard.get("schemaVersion", 0) < GRAFANA_10_SCHEMA:
            self.problem(path, f"schemaVersion {dashboard.get('schemaVersion')} is older than Grafana 10's")
        uid = dashboard.get("uid")
        if not uid or not dashboard.get("title") or uid in seen_uids:
            self.problem(path, f"missing or repeated uid/title ({uid!r})")
        seen_uids.add(uid)
        variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
        if "instance" not in variables:
            self.problem(path, "no instance selector (templating variable 'instance')")
        for name, var in variables.items():
            if "datasource" in var and not self.datasource_ok(var["datasource"], variables):
                self.problem(path, f"variable {name}: data source {var['datasource']} is not provisioned")
            definition = var.get("definition") or ""
            if definition:
                self.check_expression(f"{path}: variable {name}", definition)

        ids = set()
        queries = 0

        def walk(panels):
            nonlocal queries
            for panel in panels or []:
                where = f"{path}: panel {panel.get('id')} '{panel.get('title', '?')}'"
                if panel.get("id") in ids or not isinstance(panel.get("id"), int):
                    self.problem(where, "panel id missing or not unique")
                ids.add(panel.get("id"))
                if not panel.get("title"):
                    self.problem(where, "panel without a title")
                if panel.get("type") == "row":
                    walk(panel.get("panels"))
                    continue
                targets = [t for t in panel.get("targets") or [] if (t.get("expr") or "").strip()]
                if not targets:
                    self.problem(where, "panel without a query")
                if not self.datasource_ok(panel.get("datasource"), variables):
                    self.problem(where, f"data source {panel.get('datasource')} is not provisioned")
                for t in targets:
                    twhere = f"{where} target {t.get('refId', '?')}"
                    queries += 1
                    if "datasource" in t and not self.datasource_ok(t["datasource"], variables):
                        self.problem(twhere, f"data source {t['datasource']} is not provisioned")
                    for var in VARIABLE_RE.findall(t["expr"]):
                        if var not in variables and var not in BUILTIN_VARIABLES:
                            self.problem(twhere, f"${var} is not a dashboard variable")
                    self.check_expression(twhere, t["expr"])

        walk(dashboard.get("panels"))
        print(f"{path}: {len(ids)} panels, {queries} queries checked")

    def check_provisioning(self):
        prov = os.path.join(self.root, "grafana", "provisioning", "dashboards")
        texts = [read(p) for p in glob.glob(os.path.join(prov, "*.y*ml"))]
        if not any(re.search(r"^\s*path:\s*\S+", t, re.M) for t in texts):
            self.problem(prov, "no dashboard provider with a path")
        if not any(default and kind == "prometheus" for _, kind, default in self.datasources):
            self.problem("grafana/provisioning/datasources", "no default Prometheus data source")

    def run(self):
        if not self.usable():
            return 2
        seen = set()
        for path in self.dashboards:
            try:
                self.check_dashboard(path, seen)
            except (OSError, json.JSONDecodeError) as e:
                print(f"cannot load {path}: {e}", file=sys.stderr)
                return 2
        self.check_rules()
        self.check_provisioning()
        print(f"{len(self.rule_files)} rule files; {len(self.names)} metrics, {len(self.recorded)} recorded series")
        for p in self.problems:
            print(p, file=sys.stderr)
        return 1 if self.problems else 0


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        return Checker(root).run()
    except OSError as e:
        print(f"cannot read: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
