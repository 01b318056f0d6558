#!/usr/bin/python3
"""
check_flows: judges the agent's per-flow output against a shadowgen truth.

    check_flows.py AGENT_FLOWS.jsonl TRUTH.json [--no-times] [--ignore-extra] [--geo TABLE|null]

AGENT_FLOWS.jsonl: one JSON object per line with at least proto, client,
client_port, server, server_port, host, domain, app, category, packets_up,
packets_down, bytes_up, bytes_down, first_seen, last_seen.

Agent flows are matched to truth flows by (proto, client, client_port,
server, server_port); ICMP ports are ignored. Several agent records with the
same 5-tuple (a flow split by an idle/active timeout) are summed; each must
name the flow like the truth. Every truth flow must be found with equal
naming (host, domain, app, category), exact packet and byte counts both
ways, and the same first/last seen at millisecond precision (truncated);
agent flows that match no truth flow are failures too.

--geo TABLE: every record must also carry its server's country, asn and
as_org as the test databases' table (tests/tools/geo_networks.tsv) gives
them; --geo null: all three must be null (no databases).

Exit 0 when all is equal, 1 with the differences (or on unreadable input).
"""

import argparse
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truthlib as tl  # noqa: E402

NAMING = ("host", "domain", "app", "category")
COUNTS = ("packets_up", "packets_down", "bytes_up", "bytes_down")
REQUIRED = ("proto", "client", "client_port", "server", "server_port") + NAMING + COUNTS


def check(agent_path, truth_path, times=True, ignore_extra=False, geo=None):
    truth = tl.load_truth(truth_path)
    rep = tl.Report("check_flows")
    tflows = {}
    for tf in truth["flows"]:
        k = tl.flow_key(tf["proto"], tf["client"], tf["client_port"], tf["server"], tf["server_port"])
        if k in tflows:
            raise SystemExit("%s: two truth flows share %s" % (truth_path, tl.fmt_key(k)))
        tflows[k] = tf

    groups = {}
    for line, rec in tl.load_jsonl(agent_path, "a flow record"):
        missing = [f for f in REQUIRED if f not in rec]
        if missing:
            rep.fail("%s:%d: missing field(s) %s" % (agent_path, line, ", ".join(missing)))
            continue
        try:
            k = tl.flow_key(rec["proto"], rec["client"], rec["client_port"], rec["server"], rec["server_port"])
        except (TypeError, ValueError) as e:
            rep.fail("%s:%d: bad 5-tuple: %s" % (agent_path, line, e))
            continue
        groups.setdefault(k, []).append((line, rec))

    matched = 0
    for k, tf in tflows.items():
        label = "%s (truth %s)" % (tl.fmt_key(k), tf.get("id", "?"))
        recs = groups.get(k)
        if not recs:
            rk = (k[0], k[3], k[4], k[1], k[2])
            if rk in groups:
                rep.fail("%s: found with client and server swapped (agent client %s)" % (label, k[3]))
            else:
                rep.fail("%s: missing (truth host %r, %d packets)" %
                         (label, tf["host"], tf["packets_up"] + tf["packets_down"]))
            continue
        matched += 1
        where = dict(zip(tl.GEO_FIELDS, geo.lookup(tf["server"]))) if geo else {}
        for line, rec in recs:
            for f in NAMING:
                got = rec.get(f)
                if got != tf[f]:
                    rep.fail("%s: %s: agent %r, truth %r (%s:%d)" % (label, f, got, tf[f], agent_path, line))
            for f, want in where.items():
                if f not in rec:
                    rep.fail("%s: no %s field (%s:%d)" % (label, f, agent_path, line))
                elif rec[f] != want:
                    rep.fail("%s: %s: agent %r, expected %r (%s:%d)" % (label, f, rec[f], want, agent_path, line))
        for f in COUNTS:
            try:
                got = sum(int(r[f]) for _, r in recs)
            except (TypeError, ValueError):
                rep.fail("%s: %s is not a number" % (label, f))
                continue
            if got != tf[f]:
                split = " (summed over %d records)" % len(recs) if len(recs) > 1 else ""
                rep.fail("%s: %s: agent %d, truth %d, diff %+d%s" % (label, f, got, tf[f], got - tf[f], split))
        if times:
            try:
                first = min(tl.parse_time(r["first_seen"]) for _, r in recs) // 1000
                last = max(tl.parse_time(r["last_seen"]) for _, r in recs) // 1000
            except (KeyError, ValueError) as e:
                rep.fail("%s: first_seen/last_seen: %s" % (label, e))
                continue
            tfirst = tl.parse_time(tf["first_seen"]) // 1000
            tlast = tl.parse_time(tf["last_seen"]) // 1000
            if first != tfirst:
                rep.fail("%s: first_seen: agent %s, truth %s" % (label, tl.fmt_time(first * 1000),
                                                                 tl.fmt_time(tfirst * 1000)))
            if last != tlast:
                rep.fail("%s: last_seen: agent %s, truth %s" % (label, tl.fmt_time(last * 1000),
                                                               tl.fmt_time(tlast * 1000)))
    extra = [k for k in groups if k not in tflows]
    if not ignore_extra:
        for k in sorted(extra, key=str):
            rk = (k[0], k[3], k[4], k[1], k[2])
            if rk in tflows:
                continue  # already reported as swapped
            for line, rec in groups[k]:
                rep.fail("extra agent flow %s: host %r, %s packets (%s:%d)" % (
                    tl.fmt_key(k), rec.get("host"),
                    int(rec.get("packets_up", 0) or 0) + int(rec.get("packets_down", 0) or 0), agent_path, line))
    nrec = sum(len(v) for v in groups.values())
    return rep.finish("%d truth flows, %d matched, %d agent records, %d extra 5-tuples"
                      % (len(tflows), matched, nrec, len(extra)))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare the agent's per-flow JSON lines with a shadowgen truth.")
    ap.add_argument("agent_flows")
    ap.add_argument("truth")
    ap.add_argument("--no-times", action="store_true", help="do not compare first_seen/last_seen")
    ap.add_argument("--ignore-extra", action="store_true", help="agent flows absent from the truth are not failures")
    ap.add_argument("--geo", metavar="TABLE|null",
                    help="check the server's country and network (null: expect none)")
    a = ap.parse_args(argv)
    try:
        geo = tl.GeoTable(None if a.geo == "null" else a.geo) if a.geo else None
        return check(a.agent_flows, a.truth, times=not a.no_times, ignore_extra=a.ignore_extra, geo=geo)
    except OSError as e:
        print("check_flows: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
