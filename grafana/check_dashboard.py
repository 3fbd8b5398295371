#!/usr/bin/env python3
"""Checks that a Grafana dashboard only queries metrics that kadmium exports.

Every kadmium_* name used in a panel query or a template variable query must be defined
in metrics/metric_names.hpp (the one table of metric names); the histogram series
suffixes _bucket, _sum and _count are allowed on histograms only. It reads text and JSON
only (python3 standard library); it does not ask Prometheus or Grafana anything.

Usage: check_dashboard.py METRIC_NAMES_HPP DASHBOARD_JSON [DASHBOARD_JSON ...]
Exits 0 when every name is known, 1 listing the unknown ones, 2 on unusable input.
"""

import json
import re
import sys

METRIC_RE = re.compile(r"\bkadmium_[a-z0-9_]+")
# `inline constexpr std::string_view peers = "kadmium_peers";`
DEFINITION_RE = re.compile(r"\b([a-z0-9_]+)\s*=\s*\"(kadmium_[a-z0-9_]+)\"")
# `{name::lookup_hops, MetricType::histogram, ...}` in all_metrics.
HISTOGRAM_RE = re.compile(r"\{\s*name::([a-z0-9_]+)\s*,\s*MetricType::histogram\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def load_names(header_path):
    """Returns (all metric names, histogram names) defined in metric_names.hpp."""
    with open(header_path, encoding="utf-8") as f:
        text = f.read()
    by_identifier = dict(DEFINITION_RE.findall(text))
    names = set(by_identifier.values())
    histograms = {by_identifier[i] for i in HISTOGRAM_RE.findall(text) if i in by_identifier}
    return names, histograms


def queries(dashboard):
    """Yields (where, query text) for every panel target and template variable."""

    def walk(panels, path):
        for panel in panels or []:
            title = panel.get("title", "?")
            for target in panel.get("targets", []) or []:
                expr = target.get("expr")
                if isinstance(expr, str):
                    yield f"{path}panel '{title}' target {target.get('refId', '?')}", expr
            # Collapsed rows keep their panels inside the row.
            yield from walk(panel.get("panels"), f"{path}row '{title}' / ")

    yield from walk(dashboard.get("panels"), "")
    for variable in dashboard.get("templating", {}).get("list", []):
        for key in ("definition", "query"):
            value = variable.get(key)
            if isinstance(value, dict):
                value = value.get("query")
            if isinstance(value, str):
                yield f"variable '{variable.get('name', '?')}' {key}", value


def check(dashboard_path, names, histograms):
    """Returns (number of queries checked, list of problems) for one dashboard."""
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)
    problems = []
    checked = 0
    for where, text in queries(dashboard):
        checked += 1
        for used in METRIC_RE.findall(text):
            if used in names:
                continue
            base = next((used[: -len(s)] for s in HISTOGRAM_SUFFIXES if used.endswith(s)), None)
            if base in histograms:
                continue
            if base in names:
                problems.append(f"{dashboard_path}: {where}: {used}: {base} is not a histogram")
            else:
                problems.append(f"{dashboard_path}: {where}: {used} is not defined in metric_names.hpp")
    return checked, problems


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    try:
        names, histograms = load_names(argv[1])
    except OSError as e:
        print(f"cannot read {argv[1]}: {e}", file=sys.stderr)
        return 2
    # An empty table means the header's format changed and this check would pass vacuously.
    if not names:
        print(f"{argv[1]}: no kadmium_* metric definitions found", file=sys.stderr)
        return 2
    all_problems = []
    for path in argv[2:]:
        try:
            checked, problems = check(path, names, histograms)
        except (OSError, json.JSONDecodeError) as e:
            print(f"cannot load {path}: {e}", file=sys.stderr)
            return 2
        if checked == 0:
            print(f"{path}: no queries found", file=sys.stderr)
            return 2
        print(f"{path}: {checked} queries checked against {len(names)} metrics")
        all_problems.extend(problems)
    for problem in all_problems:
        print(problem, file=sys.stderr)
    return 1 if all_problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
