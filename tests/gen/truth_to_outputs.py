#!/usr/bin/python3
"""
truth_to_outputs: writes what a perfect agent would output for a shadowgen
truth: per-flow JSON lines and usage summaries (shadowmap.usage/1), so that
the checkers can be tested (tests/gen/selftest.sh) without the agent.

    truth_to_outputs.py TRUTH.json --flows OUT.jsonl --summaries OUT.jsonl
        [--bucket-seconds 300] [--split] [--mutate KIND]

--split exercises the checkers' summing: the longest flow is written as two
flow records (as if an active timeout had split it), and its summary
packets are spread over two ndpi_proto values.

--mutate KIND damages one thing the checkers must catch:
  flow-bytes flow-packets flow-host flow-app flow-drop flow-extra flow-swap flow-time
  sum-bytes sum-flows sum-host sum-drop sum-extra sum-bucket sum-time
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truthlib as tl  # noqa: E402

NDPI = {"tls": "TLS", "tls_midstream": "TLS", "quic": "QUIC", "http": "HTTP", "connect": "HTTP_Connect",
        "dns": "DNS", "icmp": "ICMP", "tcp_raw": "SSH", "udp_raw": "Unknown"}

MUTATIONS = ("flow-bytes", "flow-packets", "flow-host", "flow-app", "flow-drop", "flow-extra", "flow-swap",
             "flow-time", "sum-bytes", "sum-flows", "sum-host", "sum-drop", "sum-extra", "sum-bucket", "sum-time")


def ndpi_of(tf):
    p = NDPI.get(tf.get("kind"), "Unknown")
    if tf["proto"] == "icmpv6":
        p = "ICMPV6"
    return p


def flow_record(tf, pk):
    up = [p for p in pk if p[1] == 0]
    down = [p for p in pk if p[1] == 1]
    return {"proto": tf["proto"], "client": tf["client"], "client_port": tf["client_port"],
            "server": tf["server"], "server_port": tf["server_port"], "host": tf["host"],
            "domain": tf["domain"], "app": tf["app"], "category": tf["category"], "ndpi_proto": ndpi_of(tf),
            "packets_up": len(up), "packets_down": len(down),
            "bytes_up": sum(p[2] for p in up), "bytes_down": sum(p[2] for p in down),
            "first_seen": tl.fmt_time(pk[0][0], 3), "last_seen": tl.fmt_time(pk[-1][0], 3)}


def victim(truth):
    """The flow that mutations damage: the first TLS flow with an app."""
    for tf in truth["flows"]:
        if tf.get("kind") == "tls" and tf["app"]:
            return tf
    return truth["flows"][0]


def longest(truth):
    return max(truth["flows"], key=lambda f: (f["packets"][-1][0] - f["packets"][0][0], f.get("id", "")))


def make_flows(truth, split):
    out = []
    long_id = longest(truth).get("id") if split else None
    for tf in truth["flows"]:
        pk = tf["packets"]
        if tf.get("id") == long_id and len(pk) >= 2:
            mid = len(pk) // 2
            out.append(flow_record(tf, pk[:mid]))
            out.append(flow_record(tf, pk[mid:]))
        else:
            out.append(flow_record(tf, pk))
    return out


def make_summaries(truth, bucket_seconds, split):
    bu = bucket_seconds * tl.USEC
    long_id = longest(truth).get("id") if split else None
    recs = {}
    for tf in truth["flows"]:
        for i, (ts, d, n) in enumerate(tf["packets"]):
            b = ts // bu * bu
            ndpi = ndpi_of(tf)
            if tf.get("id") == long_id and i % 2:
                ndpi = ndpi + ".Other"
            key = (b, tf["client"], tf["host"], ndpi, tf["app"])
            r = recs.get(key)
            if r is None:
                r = recs[key] = {"schema": "shadowmap.usage/1", "bucket_start": tl.fmt_time(b, 0),
                                 "bucket_seconds": bucket_seconds, "client": tf["client"], "host": tf["host"],
                                 "domain": tf["domain"], "app": tf["app"], "category": tf["category"],
                                 "ndpi_proto": ndpi, "flows": 0, "packets": 0, "bytes_up": 0, "bytes_down": 0,
                                 "first": ts, "last": ts}
            if i == 0:
                r["flows"] += 1
            r["packets"] += 1
            r["bytes_down" if d else "bytes_up"] += n
            r["first"] = min(r["first"], ts)
            r["last"] = max(r["last"], ts)
    out = []
    for key in sorted(recs, key=lambda k: (k[0], k[1], str(k[2]), k[3])):
        r = recs[key]
        r["first_seen"] = tl.fmt_time(r.pop("first"), 3)
        r["last_seen"] = tl.fmt_time(r.pop("last"), 3)
        out.append(r)
    return out


def mutate(kind, truth, flows, sums):
    v = victim(truth)
    vkey = tl.flow_key(v["proto"], v["client"], v["client_port"], v["server"], v["server_port"])
    fi = next(i for i, r in enumerate(flows)
              if tl.flow_key(r["proto"], r["client"], r["client_port"], r["server"], r["server_port"]) == vkey)
    si = next(i for i, r in enumerate(sums) if r["client"] == v["client"] and r["host"] == v["host"])
    if kind == "flow-bytes":
        flows[fi]["bytes_up"] += 1
    elif kind == "flow-packets":
        flows[fi]["packets_down"] -= 1
    elif kind == "flow-host":
        flows[fi]["host"] = "evil.example.com"
    elif kind == "flow-app":
        flows[fi]["app"] = None
    elif kind == "flow-drop":
        del flows[fi]
    elif kind == "flow-extra":
        r = dict(flows[fi])
        r["client_port"] = (r["client_port"] + 1) % 65536
        flows.append(r)
    elif kind == "flow-swap":
        r = flows[fi]
        r["client"], r["server"] = r["server"], r["client"]
        r["client_port"], r["server_port"] = r["server_port"], r["client_port"]
    elif kind == "flow-time":
        flows[fi]["first_seen"] = tl.fmt_time(tl.parse_time(flows[fi]["first_seen"]) - 1000, 3)
    elif kind == "sum-bytes":
        sums[si]["bytes_down"] += 1
    elif kind == "sum-flows":
        sums[si]["flows"] += 1
    elif kind == "sum-host":
        sums[si]["host"] = "evil.example.com"
    elif kind == "sum-drop":
        del sums[si]
    elif kind == "sum-extra":
        r = dict(sums[si])
        r["client"] = "10.99.99.99"
        sums.append(r)
    elif kind == "sum-bucket":
        sums[si]["bucket_start"] = tl.fmt_time(tl.parse_time(sums[si]["bucket_start"]) + tl.USEC, 0)
    elif kind == "sum-time":
        sums[si]["last_seen"] = tl.fmt_time(tl.parse_time(sums[si]["last_seen"]) - 1000, 3)
    else:
        raise SystemExit("unknown mutation %r" % kind)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Perfect agent outputs from a shadowgen truth (checker tests).")
    ap.add_argument("truth")
    ap.add_argument("--flows", required=True)
    ap.add_argument("--summaries", required=True)
    ap.add_argument("--bucket-seconds", type=int, default=300)
    ap.add_argument("--split", action="store_true")
    ap.add_argument("--mutate", choices=MUTATIONS)
    a = ap.parse_args(argv)
    truth = tl.load_truth(a.truth)
    flows = make_flows(truth, a.split)
    sums = make_summaries(truth, a.bucket_seconds, a.split)
    if a.mutate:
        mutate(a.mutate, truth, flows, sums)
    for path, recs in ((a.flows, flows), (a.summaries, sums)):
        with open(path, "w") as f:
            for r in recs:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
