#!/usr/bin/python3
"""
check_summaries: judges the agent's usage summaries against a shadowgen truth.

    check_summaries.py SUMMARIES.jsonl TRUTH.json [--bucket-seconds 300] [--counts-only]
        [--geo TABLE|null]

--counts-only groups by (bucket_start, client) alone: for captures cut by a
short snaplen, where no name can be read but every count must still hold.

--geo TABLE adds the server's country, asn and as_org to the key: the truth's
from its flows' server addresses through the table of the test databases
(tests/tools/geo_networks.tsv), the agent's from its records, which must
carry the three fields. --geo null: the agent ran without databases, so
all three must be null.

SUMMARIES.jsonl: one usage record per line (schema "shadowmap.usage/1":
bucket_start, bucket_seconds, client, host, domain, app, category,
ndpi_proto, flows, packets, bytes_up, bytes_down, first_seen, last_seen,
optional untracked).

The truth is aggregated from its per-packet lists: every packet counts in
the bucket floor(ts / bucket) * bucket (UTC) under the key (bucket_start,
client, host, app); a flow counts once in "flows", in the bucket of its
first packet; first/last seen are the min/max packet times. Agent records
are grouped by the same key (summing over ndpi_proto, which the truth does
not know) and compared: flows, packets, bytes_up, bytes_down, first_seen
and last_seen at millisecond precision (truncated), and domain/category.
Also: every record has the schema field, the expected bucket_seconds, a
bucket_start aligned to the bucket length, its times inside its bucket; the
sums of all records' packets and bytes equal the truth's totals (every IP
packet of the capture).

Exit 0 when all is equal, 1 with the differences (or on unreadable input).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truthlib as tl  # noqa: E402

SCHEMA = "shadowmap.usage/1"
REQUIRED = ("schema", "bucket_start", "bucket_seconds", "client", "host", "domain", "app", "category",
            "flows", "packets", "bytes_up", "bytes_down", "first_seen", "last_seen")
NUMBERS = ("flows", "packets", "bytes_up", "bytes_down")


def truth_groups(truth, bucket_usec, names=True, geo=None):
    groups = {}
    for tf in truth["flows"]:
        client = tl.norm_ip(tf["client"])
        pk = tf["packets"]
        if not pk:
            continue
        where = geo.lookup(tf["server"]) if geo else ()
        for i, (ts, d, n) in enumerate(pk):
            b = ts // bucket_usec * bucket_usec
            key = ((b, client, tf["host"], tf["app"]) if names else (b, client, None, None)) + where
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"flows": 0, "packets": 0, "bytes_up": 0, "bytes_down": 0,
                                   "first": ts, "last": ts, "domain": tf["domain"], "category": tf["category"],
                                   "ids": set()}
            if i == 0:
                g["flows"] += 1  # a flow counts in the bucket of its first packet
            g["packets"] += 1
            g["bytes_down" if d else "bytes_up"] += n
            g["first"] = min(g["first"], ts)
            g["last"] = max(g["last"], ts)
            g["ids"].add(tf.get("id", "?"))
    return groups


def fmt_gkey(k):
    where = " country %r asn %r as_org %r" % k[4:7] if len(k) > 4 else ""
    return "[%s client %s host %r app %r%s]" % (tl.fmt_time(k[0], 0), k[1], k[2], k[3], where)


def check(path, truth_path, bucket_seconds, names=True, geo=None):
    truth = tl.load_truth(truth_path)
    bucket_usec = bucket_seconds * tl.USEC
    rep = tl.Report("check_summaries")
    tgroups = truth_groups(truth, bucket_usec, names, geo)
    required = REQUIRED + (tl.GEO_FIELDS if geo else ())
    agroups = {}
    tot_p = tot_b = 0
    nrec = 0
    for line, rec in tl.load_jsonl(path, "a usage record"):
        nrec += 1
        where = "%s:%d" % (path, line)
        missing = [f for f in required if f not in rec]
        if missing:
            rep.fail("%s: missing field(s) %s" % (where, ", ".join(missing)))
            if any(f in missing for f in ("bucket_start", "packets", "bytes_up", "bytes_down", "first_seen",
                                          "last_seen", "flows")):
                continue
        if rec.get("schema") != SCHEMA:
            rep.fail("%s: schema %r, expected %r" % (where, rec.get("schema"), SCHEMA))
        if rec.get("bucket_seconds") != bucket_seconds:
            rep.fail("%s: bucket_seconds %r, expected %d" % (where, rec.get("bucket_seconds"), bucket_seconds))
        try:
            b = tl.parse_time(rec["bucket_start"])
            first = tl.parse_time(rec["first_seen"])
            last = tl.parse_time(rec["last_seen"])
            nums = {f: int(rec[f]) for f in NUMBERS}
        except (TypeError, ValueError) as e:
            rep.fail("%s: %s" % (where, e))
            continue
        if b % bucket_usec:
            rep.fail("%s: bucket_start %s is not aligned to %d s" % (where, rec["bucket_start"], bucket_seconds))
        if not (b <= first <= last < b + bucket_usec):
            rep.fail("%s: first/last seen %s .. %s outside the bucket %s" % (where, rec["first_seen"],
                                                                           rec["last_seen"], rec["bucket_start"]))
        if rec.get("untracked") is not None:
            rep.fail("%s: untracked packets (%r): %d packets, %d bytes" % (
                where, rec["untracked"], nums["packets"], nums["bytes_up"] + nums["bytes_down"]))
        tot_p += nums["packets"]
        tot_b += nums["bytes_up"] + nums["bytes_down"]
        key = (b, tl.norm_ip(rec.get("client")), rec.get("host") if names else None,
               rec.get("app") if names else None)
        if geo:
            key += tuple(rec.get(f) for f in tl.GEO_FIELDS)
        g = agroups.get(key)
        if g is None:
            g = agroups[key] = {"flows": 0, "packets": 0, "bytes_up": 0, "bytes_down": 0, "first": first,
                                "last": last, "domain": set(), "category": set(), "ndpi": set(), "lines": []}
        for f in NUMBERS:
            g[f] += nums[f]
        g["first"] = min(g["first"], first)
        g["last"] = max(g["last"], last)
        g["domain"].add(rec.get("domain"))
        g["category"].add(rec.get("category"))
        g["ndpi"].add(rec.get("ndpi_proto"))
        g["lines"].append(line)

    # Per-key comparison. For a missing/extra key, show the truth/agent
    # groups of the same bucket and client: a naming difference shows up
    # as one missing and one extra group with equal counts.
    for key in sorted(tgroups, key=lambda k: (k[0], k[1]) + tuple(str(x) for x in k[2:])):
        tg = tgroups[key]
        ag = agroups.get(key)
        label = fmt_gkey(key)
        if ag is None:
            rep.fail("%s: missing: truth flows=%d packets=%d up=%d down=%d (truth flow %s)" % (
                label, tg["flows"], tg["packets"], tg["bytes_up"], tg["bytes_down"], ",".join(sorted(tg["ids"]))))
            continue
        for f in NUMBERS:
            if ag[f] != tg[f]:
                rep.fail("%s: %s: agent %d, truth %d, diff %+d (lines %s)" % (
                    label, f, ag[f], tg[f], ag[f] - tg[f], ",".join(map(str, ag["lines"][:8]))))
        for f in ("domain", "category") if names else ():
            if ag[f] != {tg[f]}:
                rep.fail("%s: %s: agent %s, truth %r" % (label, f, sorted(ag[f], key=str), tg[f]))
        if ag["first"] // 1000 != tg["first"] // 1000:
            rep.fail("%s: first_seen: agent %s, truth %s" % (label, tl.fmt_time(ag["first"]),
                                                             tl.fmt_time(tg["first"])))
        if ag["last"] // 1000 != tg["last"] // 1000:
            rep.fail("%s: last_seen: agent %s, truth %s" % (label, tl.fmt_time(ag["last"]),
                                                            tl.fmt_time(tg["last"])))
    extra = [k for k in agroups if k not in tgroups]
    for key in sorted(extra, key=lambda k: (k[0],) + tuple(str(x) for x in k[1:])):
        ag = agroups[key]
        rep.fail("%s: extra: agent flows=%d packets=%d up=%d down=%d ndpi %s (lines %s)" % (
            fmt_gkey(key), ag["flows"], ag["packets"], ag["bytes_up"], ag["bytes_down"],
            sorted(ag["ndpi"], key=str), ",".join(map(str, ag["lines"][:8]))))

    totals = truth["totals"]
    if tot_p != totals["ip_packets"]:
        rep.fail("total packets: agent %d, truth %d, diff %+d" % (tot_p, totals["ip_packets"],
                                                                  tot_p - totals["ip_packets"]))
    if tot_b != totals["ip_bytes"]:
        rep.fail("total bytes: agent %d, truth %d, diff %+d" % (tot_b, totals["ip_bytes"], tot_b - totals["ip_bytes"]))
    return rep.finish("%d truth groups, %d agent groups from %d records; %d packets, %d bytes"
                      % (len(tgroups), len(agroups), nrec, tot_p, tot_b))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare the agent's usage summaries with a shadowgen truth.")
    ap.add_argument("summaries")
    ap.add_argument("truth")
    ap.add_argument("--bucket-seconds", type=int, default=300)
    ap.add_argument("--counts-only", action="store_true")
    ap.add_argument("--geo", metavar="TABLE|null",
                    help="also key by the server's country and network (null: expect none)")
    a = ap.parse_args(argv)
    if a.bucket_seconds <= 0:
        ap.error("--bucket-seconds must be positive")
    try:
        geo = None
        if a.geo:
            geo = tl.GeoTable(None if a.geo == "null" else a.geo)
        return check(a.summaries, a.truth, a.bucket_seconds, not a.counts_only, geo)
    except OSError as e:
        print("check_summaries: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
