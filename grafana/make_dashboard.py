#!/usr/bin/env python3
"""Writes grafana/dashboards/kadmium.json, the kadmium Grafana dashboard, from the panel
list below (one place to read every query; ids and layout computed, never hand-edited).

It is not a checker: grafana/check_dashboard.py checks the output's structure and names,
and tests/monitoring/live_test.py runs every query against a real Prometheus.
Edit the lists below, run `python3 grafana/make_dashboard.py`, commit both files.
Python 3 standard library only.
"""

import json
import os
import sys

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SEL = 'instance=~"$instance"'  # every per-node query filters on the Node variable
RATE = "1m"  # rate window; fine for scrape intervals up to 15 s
KIND = 'kind=~"$kind"'  # lookup panels also filter on the Lookup kind variable
TIMEOUT = 'outcome="timeout"'
SENT = 'outcome=~"ok|timeout|rejected"'  # outcomes of requests this node sent


def q(expr, legend=""):
    return {"expr": expr, "legend": legend}


def stat(title, description, queries, unit="short", decimals=None):
    return {"kind": "stat", "title": title, "description": description, "queries": queries,
            "unit": unit, "decimals": decimals}


def ts(title, description, queries, unit="short", width=12, stack=False):
    return {"kind": "timeseries", "title": title, "description": description, "queries": queries,
            "unit": unit, "width": width, "stack": stack}


def rate(metric, by=None, extra=""):
    matchers = SEL + ("," + extra if extra else "")
    inner = f"rate({metric}{{{matchers}}}[{RATE}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(p, metric, by="le", extra=""):
    matchers = SEL + ("," + extra if extra else "")
    return f"histogram_quantile({p}, sum by ({by}) (rate({metric}_bucket{{{matchers}}}[{RATE}])))"


ROWS = [
    ("Overview", [
        stat("Nodes up", "Scrape targets of job kadmium that answered the last scrape (whole network).",
             [q('sum(up{job="kadmium"})')]),
        stat("Nodes down", "Scrape targets of job kadmium that did not answer the last scrape (whole network).",
             [q('count(up{job="kadmium"} == 0) or vector(0)')]),
        stat("Delivery latency p99, whole network", "99th percentile of author-to-delivery time over the last "
             "minute, all nodes (recording rule). Empty until messages flow.",
             [q("kadmium:message_delivery_latency_seconds:p99_1m")], unit="s"),
        stat("Messages delivered per second (selected nodes)", "Deliveries to local subscribers, summed.",
             [q(rate("kadmium_messages_delivered_total"))], unit="ops", decimals=1),
        stat("Active peers, lowest node (selected nodes)", "The fewest routing-table contacts heard from in "
             "the last 5 minutes on any selected node; 0 means a node is cut off.",
             [q(f"min(kadmium_active_peers{{{SEL}}})")]),
        stat("Nodes per version (selected nodes)", "Selected nodes by build version.",
             [q(f"count by (version) (kadmium_build_info{{{SEL}}})", "{{version}}")]),
    ]),
    ("Message delivery", [
        ts("Delivery latency p50 / p95 / p99, whole network",
           "Author timestamp to local delivery, quantiles over every node's deliveries in the last minute "
           "(recording rules kadmium:message_delivery_latency_seconds:*). Includes clock skew between authors "
           "and receivers.",
           [q("kadmium:message_delivery_latency_seconds:p50_1m", "p50"),
            q("kadmium:message_delivery_latency_seconds:p95_1m", "p95"),
            q("kadmium:message_delivery_latency_seconds:p99_1m", "p99")], unit="s"),
        ts("Delivery latency p50 / p95 / p99 per node",
           "The same quantiles for each selected node, from its own histogram.",
           [q(quantile(0.5, "kadmium_message_delivery_latency_seconds", "instance, le"), "{{instance}} p50"),
            q(quantile(0.95, "kadmium_message_delivery_latency_seconds", "instance, le"), "{{instance}} p95"),
            q(f"instance:kadmium_message_delivery_latency_seconds:p99_1m{{{SEL}}}", "{{instance}} p99")],
           unit="s"),
        ts("Messages published, delivered, duplicate and invalid per second (selected nodes)",
           "Published: by local applications. Delivered: first valid copy handed to local subscribers. "
           "Duplicate: copies received again. Invalid: dropped by validation.",
           [q(rate("kadmium_messages_published_total"), "published"),
            q(rate("kadmium_messages_delivered_total"), "delivered"),
            q(rate("kadmium_messages_duplicate_total"), "duplicate"),
            q(rate("kadmium_messages_invalid_total"), "invalid")], unit="ops"),
        ts("Invalid messages per second by reason (selected nodes)",
           "Which validation check dropped received messages (docs/metrics.md lists the reasons).",
           [q(rate("kadmium_messages_invalid_total", "reason"), "{{reason}}")], unit="ops"),
        ts("Duplicate copies per delivered message (selected nodes)",
           "Gossip overhead: copies received after the first, per delivery. Empty while nothing is delivered.",
           [q(rate("kadmium_messages_duplicate_total") + " / " + rate("kadmium_messages_delivered_total"),
              "duplicates per delivery")]),
        ts("Subscribed topics per node", "Topics each node subscribes to.",
           [q(f"kadmium_topics{{{SEL}}}", "{{instance}}")]),
    ]),
    ("Mesh and links", [
        ts("Mesh peers per topic and node",
           "Peers in each topic's mesh (topics beyond the first 32 per node are summed as topic=other).",
           [q(f"kadmium_mesh_peers{{{SEL}}}", "{{instance}} {{topic}}")]),
        ts("Open links per node by direction", "Pub/sub TCP links: inbound (accepted) and outbound (dialed).",
           [q(f"kadmium_links{{{SEL}}}", "{{instance}} {{direction}}")]),
        ts("Link frames dropped and links cut per second by reason (selected nodes)",
           "Every frame a link dropped and every link cut or refused, by reason. queue_full and slow_peer "
           "mean a peer cannot keep up.",
           [q(rate("kadmium_link_frames_dropped_total", "reason"), "{{reason}}")], unit="ops"),
        ts("Link bytes in / out per second per node", "Bytes received and sent on pub/sub links.",
           [q(rate("kadmium_link_bytes_total", "instance, direction"), "{{instance}} {{direction}}")],
           unit="Bps"),
        ts("Gossip control messages per second by type and direction (selected nodes)",
           "GRAFT, PRUNE, IHAVE, IWANT and IDONTWANT received (in) and sent (out).",
           [q(rate("kadmium_gossip_control_total", "type, direction"), "{{type}} {{direction}}")], unit="ops"),
        ts("Peer score p5 / p50 (selected nodes)",
           "Distribution of connected peers' scores over the last minute. Below -100 a peer gets no gossip, "
           "below -1000 none of our publishes.",
           [q(quantile(0.05, "kadmium_peer_score"), "p5"), q(quantile(0.5, "kadmium_peer_score"), "p50")]),
    ]),
    ("DHT routing", [
        ts("Active peers per node", "Routing-table contacts each node heard from in the last 5 minutes.",
           [q(f"kadmium_active_peers{{{SEL}}}", "{{instance}}")]),
        ts("Routing table size per node", "Contacts in each node's routing table.",
           [q(f"kadmium_peers{{{SEL}}}", "{{instance}}")]),
        ts("Active peers across the selected nodes: min / mean / max", "Spread of active peers over nodes.",
           [q(f"min(kadmium_active_peers{{{SEL}}})", "min"), q(f"avg(kadmium_active_peers{{{SEL}}})", "mean"),
            q(f"max(kadmium_active_peers{{{SEL}}})", "max")]),
        ts("Routing table size across the selected nodes: min / mean / max", "Spread of table sizes over nodes.",
           [q(f"min(kadmium_peers{{{SEL}}})", "min"), q(f"avg(kadmium_peers{{{SEL}}})", "mean"),
            q(f"max(kadmium_peers{{{SEL}}})", "max")]),
        ts("Routing table evictions per second per node", "Contacts replaced after failing a ping.",
           [q(rate("kadmium_routing_evictions_total", "instance"), "{{instance}}")], unit="ops"),
        ts("Lookups in flight per node", "DHT lookups started and not finished.",
           [q(f"kadmium_lookups_in_flight{{{SEL}}}", "{{instance}}")]),
    ]),
    ("DHT lookups", [
        ts("Lookup latency p50 / p99, whole network", "All lookup kinds on every node (recording rules).",
           [q("kadmium:lookup_duration_seconds:p50_1m", "p50"), q("kadmium:lookup_duration_seconds:p99_1m", "p99")],
           unit="s"),
        ts("Lookup latency p50 / p99 (selected nodes and kinds)", "From the selected nodes' histograms.",
           [q(quantile(0.5, "kadmium_lookup_duration_seconds", extra=KIND), "p50"),
            q(quantile(0.99, "kadmium_lookup_duration_seconds", extra=KIND), "p99")], unit="s"),
        ts("Lookup hops p50 / p99, whole network", "Path length to the closest responder (recording rules).",
           [q("kadmium:lookup_hops:p50_1m", "p50"), q("kadmium:lookup_hops:p99_1m", "p99")]),
        ts("Lookup hops p50 / p99 and mean (selected nodes and kinds)", "From the selected nodes' histograms.",
           [q(quantile(0.5, "kadmium_lookup_hops", extra=KIND), "p50"),
            q(quantile(0.99, "kadmium_lookup_hops", extra=KIND), "p99"),
            q(rate("kadmium_lookup_hops_sum", extra=KIND) + " / " + rate("kadmium_lookup_hops_count", extra=KIND),
              "mean")]),
        ts("Lookups finished per second by kind (selected nodes)", "find_node, get and put lookups.",
           [q(rate("kadmium_lookup_duration_seconds_count", "kind", KIND), "{{kind}}")], unit="ops"),
    ]),
    ("DHT RPCs and packets", [
        ts("RPCs per second by type and outcome (selected nodes)",
           "Requests sent (ok, timeout, rejected) and served, per RPC type.",
           [q(rate("kadmium_rpc_total", "type, outcome"), "{{type}} {{outcome}}")], unit="ops"),
        ts("RPC timeouts per second by type (selected nodes)", "Requests this node sent that were never answered.",
           [q(rate("kadmium_rpc_total", "type", TIMEOUT), "{{type}}")], unit="ops"),
        ts("RPC timeout ratio by type (selected nodes)", "timeout / (ok + timeout + rejected).",
           [q(rate("kadmium_rpc_total", "type", TIMEOUT) + " / " + rate("kadmium_rpc_total", "type", SENT),
              "{{type}}")], unit="percentunit"),
        ts("DHT packets dropped per second by reason (selected nodes)",
           "Incoming datagrams dropped, by the first check they failed.",
           [q(rate("kadmium_packets_dropped_total", "reason"), "{{reason}}")], unit="pps"),
        ts("DHT bytes in / out per second per node", "UDP datagram bytes of the DHT protocol.",
           [q(rate("kadmium_bytes_total", "instance, direction"), "{{instance}} {{direction}}")], unit="Bps"),
        ts("DHT packets in / out per second per node", "UDP datagrams of the DHT protocol.",
           [q(rate("kadmium_packets_total", "instance, direction"), "{{instance}} {{direction}}")], unit="pps"),
    ]),
    ("Storage and catch-up", [
        ts("Stored messages per node", "Messages in each node's message store.",
           [q(f"kadmium_store_messages{{{SEL}}}", "{{instance}}")]),
        ts("Message store bytes used and capacity per node", "Used bytes against the store's size limit.",
           [q(f"kadmium_store_bytes{{{SEL}}}", "{{instance}} used"),
            q(f"kadmium_store_capacity_bytes{{{SEL}}}", "{{instance}} capacity")], unit="bytes"),
        ts("Message store commit latency p50 / p99", "Whole network (recording rule) and selected nodes.",
           [q("kadmium:store_commit_seconds:p99_1m", "p99 whole network"),
            q(quantile(0.5, "kadmium_store_commit_seconds"), "p50 selected"),
            q(quantile(0.99, "kadmium_store_commit_seconds"), "p99 selected")], unit="s"),
        ts("Catch-up messages fetched per second per node", "Messages fetched by catch-up and anti-entropy.",
           [q(rate("kadmium_catchup_messages_total", "instance"), "{{instance}}")], unit="ops"),
        ts("Sync sessions per second by outcome (selected nodes)", "Reconciliation sessions with peers.",
           [q(rate("kadmium_sync_sessions_total", "outcome"), "{{outcome}}")], unit="ops"),
        ts("DHT records per node", "Records in each node's DHT record store.",
           [q(f"kadmium_dht_records{{{SEL}}}", "{{instance}}")]),
        ts("DHT record store errors in the last 5 minutes per node", "Failed record store operations.",
           [q(f"increase(kadmium_store_errors_total{{{SEL}}}[5m])", "{{instance}}")]),
        ts("Uptime per node", "Seconds since each node started; a drop is a restart.",
           [q(f"kadmium_uptime_seconds{{{SEL}}}", "{{instance}}")], unit="s"),
    ]),
]


def field_config(unit, decimals=None, stack=False):
    defaults = {"unit": unit, "color": {"mode": "palette-classic"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                          "spanNulls": False, "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    return {"defaults": defaults, "overrides": []}


def targets(queries):
    return [{"datasource": DS, "expr": x["expr"], "legendFormat": x["legend"] or "__auto",
             "refId": chr(ord("A") + i), "range": True, "instant": False} for i, x in enumerate(queries)]


def build():
    panels = []
    next_id = 1
    y = 0
    for row_title, row_panels in ROWS:
        panels.append({"type": "row", "id": next_id, "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for p in row_panels:
            if p["kind"] == "stat":
                w, h = 4, 4
            else:
                w, h = p["width"], 8
            if x + w > 24:
                x, y = 0, y + line_height
                line_height = 0
            panel = {"type": p["kind"], "id": next_id, "title": p["title"], "description": p["description"],
                     "datasource": DS, "gridPos": {"h": h, "w": w, "x": x, "y": y},
                     "targets": targets(p["queries"])}
            if p["kind"] == "stat":
                fc = field_config(p["unit"], p["decimals"])
                del fc["defaults"]["custom"]
                fc["defaults"]["color"] = {"mode": "thresholds"}
                fc["defaults"]["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
                panel["fieldConfig"] = fc
                panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                                    "colorMode": "value", "graphMode": "area", "textMode": "auto",
                                    "justifyMode": "auto", "orientation": "auto"}
            else:
                panel["fieldConfig"] = field_config(p["unit"], stack=p["stack"])
                panel["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                                    "tooltip": {"mode": "multi", "sort": "desc"}}
            panels.append(panel)
            next_id += 1
            x += w
            line_height = max(line_height, h)
        y += line_height
    return panels


def templating():
    every = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return {"list": [
        {"name": "DS_PROMETHEUS", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
         "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1, "regex": "",
         "skipUrlSync": False},
        {"name": "instance", "label": "Node", "type": "query", "datasource": DS,
         "definition": "label_values(kadmium_build_info, instance)",
         "query": {"query": "label_values(kadmium_build_info, instance)",
                   "refId": "PrometheusVariableQueryEditor-VariableQuery"},
         "current": every, "hide": 0, "includeAll": True, "multi": True, "allValue": ".*", "options": [],
         "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1},
        {"name": "kind", "label": "Lookup kind", "type": "custom", "query": "find_node,get,put",
         "current": every, "hide": 0, "includeAll": True, "multi": True, "allValue": ".*",
         "options": [{"selected": True, "text": "All", "value": "$__all"}] +
                    [{"selected": False, "text": k, "value": k} for k in ("find_node", "get", "put")],
         "skipUrlSync": False},
    ]}


def dashboard():
    return {
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": "A kadmium network and its nodes: message delivery, pub/sub mesh and links, DHT routing, "
                       "lookups, RPCs, packets, storage and catch-up. Panels titled 'whole network' ignore the "
                       "Node selector. Guide: docs/monitoring.md; metrics: docs/metrics.md.",
        "editable": True, "fiscalYearStartMonth": 0, "graphTooltip": 1, "id": None, "links": [],
        "liveNow": False, "panels": build(), "refresh": "10s", "schemaVersion": 38, "tags": ["kadmium"],
        "templating": templating(), "time": {"from": "now-1h", "to": "now"}, "timepicker": {},
        "timezone": "", "title": "kadmium", "uid": "kadmium", "version": 1, "weekStart": "",
    }


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards", "kadmium.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(dashboard(), f, indent=2)
        f.write("\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
