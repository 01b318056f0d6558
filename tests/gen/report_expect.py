#!/usr/bin/python3
"""
report_expect: the figures a correct shadowmap report must show for a
period, computed from orgsim's ground truth and the service catalog only
(no shadowmap code), and a judge of a report's JSON against them.

    /usr/bin/python3 tests/gen/report_expect.py --truth DIR/truth.jsonl \
        --catalog tests/gen/sample-org/catalog.yaml --from 2026-10-01 --to 2026-10-31 \
        [--check report.json] [--org DIR/org.json] [--print] [--emit-report FILE]
        [--strict-gaps]

--check prints one MISMATCH line per difference and, last,
"report_expect: N figures checked, M mismatches"; exit 1 on any mismatch.
--org also checks that every gap the organisation was built with is in the
report's gaps[] and that the categories built to have none say no-action.
--print shows the expected tables; --emit-report writes them as a report
JSON (what a perfect report would hold), to test this judge with.

Definitions (a record belongs to [from, to) by its first_seen; a "user" is
a client address):
  apps[]        per app slug: users (distinct clients), flows, bytes_up,
                bytes_down, status (the catalog's, else not-in-catalog),
                category, first_seen, last_seen.
  categories[]  per category C with use. S = apps the catalog sanctions
                whose covers include C (covers default: the app's own
                category). served = clients of any app in S; E = apps of C
                not in S; elsewhere = clients of any app in E; users =
                clients of any app of C or of S; unserved = elsewhere
                minus served.
  unknown_domains[]  per registrable domain of hosts with no app: users,
                bytes_up, bytes_down.
The gaps predicted from these (--print, --strict-gaps) follow the rules of
the brief with the report's default thresholds. Risk scores come from the
signatures' facts, which this script does not read: --strict-gaps takes
each app's score from the report (apps[].risk.score); --print shows the
score an app would have with no known fact (its category's base + 41,
signatures/RISK.md), so its gaps are indicative only.

stdlib only; the catalog's small YAML subset is parsed here.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truthlib  # noqa: E402

USEC = 1000000
DAY = 86400 * USEC

STATUSES = ("sanctioned", "tolerated", "unsanctioned", "banned")
VERDICTS = ("offer", "improve", "consider-sanctioning", "move-off")

# Thresholds (reports/report.h defaults, the brief's rules)
MIN_USERS = 3
BYPASS_PERCENT = 20
ADOPTION_PERCENT = 20
RISKY_SCORE = 60

# signatures/RISK.md: category bases; every other category 15. With no
# known fact, each factor counts half its weight, rounded half up:
# no_sso 15 -> 8, no_mfa 10 -> 5, no_certification 15 -> 8,
# trains_on_customer_data 20 -> 10, no_residency 10 -> 5,
# public_link_sharing 10 -> 5 (no_e2ee and hq_country weigh 0): 41.
CATEGORY_BASE = {
    "paste-sites": 40, "remote-access": 35, "vpn-proxy": 35, "file-sharing": 30, "genai": 30,
    "password-manager": 25, "transcription": 25, "translation": 25,
    "cloud-infrastructure": 20, "developer-tools": 20, "email": 20, "forms-surveys": 20,
    "messaging": 20, "social-media": 20, "analytics-bi": 10, "scheduling": 10, "streaming-media": 5,
}
DEFAULT_BASE = 15
UNKNOWN_WEIGHTS = (15, 10, 15, 20, 10, 10)


def risk_unknown_facts(category):
    return min(100, CATEGORY_BASE.get(category, DEFAULT_BASE) + sum((w * 50 + 50) // 100 for w in UNKNOWN_WEIGHTS))


# --------------------------------------------------------------------------
# The catalog (signatures/CATALOG.md), a small YAML subset
# --------------------------------------------------------------------------

class CatalogError(Exception):
    pass


def _strip_comment(line):
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _scalar(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def _flow_list(s, where):
    s = s.strip()
    if not (s.startswith("[") and s.endswith("]")):
        raise CatalogError("%s: expected a list [a, b], not %r" % (where, s))
    inner = s[1:-1].strip()
    return [_scalar(x) for x in inner.split(",")] if inner else []


def load_catalog(path):
    """-> {"organisation": str or None, "apps": {slug: {"status", "covers"
    (list or None), "alternatives", "line"}}}. Raises SystemExit with
    FILE:LINE: reason on what the subset does not allow."""
    try:
        with open(path) as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise SystemExit("report_expect: %s: %s" % (path, e.strerror))
    cat = {"organisation": None, "apps": {}}
    item = None          # the app being read
    item_indent = None   # indentation of its keys
    list_key = None      # a key whose block list is being read
    block_indent = None  # a block scalar / continued scalar being skipped
    in_apps = False

    def finish():
        if item is None:
            return
        where = "%s:%d" % (path, item["line"])
        for k in ("app", "status"):
            if k not in item:
                raise SystemExit("%s: app entry without %s" % (where, k))
        if item["status"] not in STATUSES:
            raise SystemExit('%s: unknown status "%s" (expected sanctioned, tolerated, unsanctioned or banned)'
                             % (where, item["status"]))
        if item.get("covers") is not None and item["status"] != "sanctioned":
            raise SystemExit('%s: covers: only a sanctioned app covers categories ("%s" is %s)'
                             % (where, item["app"], item["status"]))
        if item["app"] in cat["apps"]:
            raise SystemExit('%s: app "%s" is listed twice (first on line %d)'
                             % (where, item["app"], cat["apps"][item["app"]]["line"]))
        cat["apps"][item["app"]] = {"status": item["status"], "covers": item.get("covers"),
                                    "alternatives": item.get("alternatives", []), "line": item["line"]}

    for n, raw in enumerate(lines, 1):
        where = "%s:%d" % (path, n)
        line = _strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        text = line.strip()
        if block_indent is not None:
            if indent > block_indent:
                continue
            block_indent = None
        if list_key is not None:
            if indent > item_indent - 2 and text.startswith("- ") and indent >= item_indent:
                item[list_key].append(_scalar(text[2:]))
                continue
            list_key = None
        if indent == 0:
            finish()
            item = None
            in_apps = False
            m = re.match(r"^([a-z_]+):\s*(.*)$", text)
            if not m:
                raise SystemExit("%s: expected a top-level key" % where)
            key, val = m.group(1), m.group(2)
            if key == "organisation":
                cat["organisation"] = _scalar(val)
                block_indent = 0
            elif key == "apps":
                if val not in ("", "[]"):
                    raise SystemExit("%s: apps must be a block list" % where)
                in_apps = True
            else:
                raise SystemExit('%s: unknown key "%s" (expected organisation or apps)' % (where, key))
            continue
        if not in_apps:
            raise SystemExit("%s: unexpected indentation" % where)
        if text.startswith("- "):
            finish()
            item = {"line": n}
            item_indent = indent + 2
            text = text[2:].strip()
            indent = item_indent
        if item is None or indent != item_indent:
            raise SystemExit("%s: unexpected indentation" % where)
        m = re.match(r"^([a-z_]+):\s*(.*)$", text)
        if not m:
            raise SystemExit("%s: expected key: value" % where)
        key, val = m.group(1), m.group(2).strip()
        if key in item:
            raise SystemExit('%s: key "%s" given twice' % (where, key))
        if key in ("app", "status"):
            item[key] = _scalar(val)
        elif key in ("covers", "alternatives"):
            if val:
                try:
                    item[key] = _flow_list(val, where)
                except CatalogError as e:
                    raise SystemExit(str(e))
            else:
                item[key] = []
                list_key = key
        elif key in ("owner", "notes"):
            item[key] = val
            block_indent = item_indent  # a multi-line value: skip what is indented deeper
        else:
            raise SystemExit('%s: unknown key "%s" (expected app, status, covers, owner, alternatives or notes)'
                             % (where, key))
    finish()
    return cat


# --------------------------------------------------------------------------
# The expected tables
# --------------------------------------------------------------------------

def load_truth(path):
    return [obj for _, obj in truthlib.load_jsonl(path, "truth record")]


def compute(records, catalog, t_from, t_to, app_categories=None):
    """The tables of [t_from, t_to) (usec). app_categories: slug ->
    category for apps the truth may not show (unused sanctioned apps)."""
    apps = {}
    domains = {}
    for r in records:
        first = truthlib.parse_time(r["first_seen"])
        if not t_from <= first < t_to:
            continue
        last = truthlib.parse_time(r["last_seen"])
        client = truthlib.norm_ip(r["client"])
        if r.get("app"):
            a = apps.get(r["app"])
            if a is None:
                a = apps[r["app"]] = {"app": r["app"], "category": r["category"], "clients": set(),
                                      "flows": 0, "bytes_up": 0, "bytes_down": 0,
                                      "first": first, "last": last}
            elif a["category"] != r["category"]:
                raise SystemExit("report_expect: app %s has categories %s and %s in the truth"
                                 % (r["app"], a["category"], r["category"]))
            a["clients"].add(client)
            a["flows"] += r["flows"]
            a["bytes_up"] += r["bytes_up"]
            a["bytes_down"] += r["bytes_down"]
            a["first"] = min(a["first"], first)
            a["last"] = max(a["last"], last)
        elif r.get("host") and r.get("domain"):
            d = domains.get(r["domain"])
            if d is None:
                d = domains[r["domain"]] = {"domain": r["domain"], "clients": set(), "hosts": set(),
                                            "flows": 0, "bytes_up": 0, "bytes_down": 0}
            d["clients"].add(client)
            d["hosts"].add(r["host"])
            d["flows"] += r["flows"]
            d["bytes_up"] += r["bytes_up"]
            d["bytes_down"] += r["bytes_down"]

    cat_of = dict(app_categories or {})
    cat_of.update({s: a["category"] for s, a in apps.items()})
    capps = catalog["apps"]
    warnings = []

    def covers(slug):
        c = capps[slug]["covers"]
        if c is not None:
            return c
        if slug in cat_of:
            return [cat_of[slug]]
        warnings.append("sanctioned app %s has no use in the period and no covers: its category is "
                        "unknown here, it is taken to cover nothing" % slug)
        return []

    sanctioned = {s: covers(s) for s, e in sorted(capps.items()) if e["status"] == "sanctioned"}
    used_cats = {a["category"] for a in apps.values()}
    for s, cv in sanctioned.items():
        if s in apps:
            used_cats.update(cv)
    categories = []
    for c in sorted(used_cats):
        S = sorted(s for s, cv in sanctioned.items() if c in cv)
        E = sorted(s for s, a in apps.items() if a["category"] == c and s not in S)
        served = set().union(*(apps[s]["clients"] for s in S if s in apps))
        elsewhere = set().union(*(apps[s]["clients"] for s in E))
        own = set().union(*(a["clients"] for a in apps.values() if a["category"] == c))
        users = own | served
        categories.append({"category": c, "users": len(users), "served_users": len(served),
                           "elsewhere_users": len(elsewhere), "unserved_users": len(elsewhere - served),
                           "sanctioned": S, "elsewhere_apps": E,
                           "_users": users})
    app_rows = []
    for s, a in apps.items():
        st = capps[s]["status"] if s in capps else "not-in-catalog"
        app_rows.append({"app": s, "category": a["category"], "status": st, "users": len(a["clients"]),
                         "flows": a["flows"], "bytes_up": a["bytes_up"], "bytes_down": a["bytes_down"],
                         "first_seen": truthlib.fmt_time(a["first"], 6),
                         "last_seen": truthlib.fmt_time(a["last"], 6),
                         "risk_unknown_facts": risk_unknown_facts(a["category"])})
    app_rows.sort(key=lambda r: (-r["users"], -(r["bytes_up"] + r["bytes_down"]), r["app"]))
    dom_rows = [{"domain": d["domain"], "users": len(d["clients"]), "hosts": len(d["hosts"]),
                 "flows": d["flows"], "bytes_up": d["bytes_up"], "bytes_down": d["bytes_down"]}
                for d in domains.values()]
    dom_rows.sort(key=lambda r: (-(r["bytes_up"] + r["bytes_down"]), r["domain"]))
    return {"from": t_from, "to": t_to, "apps": app_rows, "categories": categories,
            "unknown_domains": dom_rows, "warnings": warnings}


def predict_gaps(tables, risk=None):
    """The gaps the brief's rules give, with the default thresholds. risk:
    slug -> score (the report's own, which this script cannot compute from
    the signatures' facts); for an app without one, risk_unknown_facts.
    move-off counts an app of status "unsanctioned" (not a tolerated or
    uncatalogued one)."""
    risk = risk or {}
    cats = {c["category"]: c for c in tables["categories"]}
    gaps = []
    for c in tables["categories"]:
        if not c["sanctioned"] and c["users"] >= MIN_USERS:
            gaps.append({"verdict": "offer", "category": c["category"], "app": None})
        if (c["sanctioned"] and c["elsewhere_users"] >= MIN_USERS
                and c["elsewhere_users"] * 100 >= BYPASS_PERCENT * c["users"]):
            gaps.append({"verdict": "improve", "category": c["category"], "app": None})
    for a in tables["apps"]:
        c = cats[a["category"]]
        score = risk.get(a["app"], a["risk_unknown_facts"])
        if a["status"] == "banned":
            gaps.append({"verdict": "move-off", "category": a["category"], "app": a["app"]})
        elif (a["status"] == "unsanctioned" and score >= RISKY_SCORE and c["sanctioned"]
              and a["users"] >= MIN_USERS):
            gaps.append({"verdict": "move-off", "category": a["category"], "app": a["app"]})
        if (a["status"] not in ("sanctioned", "banned") and a["users"] >= MIN_USERS
                and a["users"] * 100 >= ADOPTION_PERCENT * c["users"] and score < RISKY_SCORE):
            gaps.append({"verdict": "consider-sanctioning", "category": a["category"], "app": a["app"]})
    order = {"move-off": 0, "offer": 1, "improve": 2, "consider-sanctioning": 3}
    gaps.sort(key=lambda g: (order[g["verdict"]], -cats[g["category"]]["users"], g["category"], g["app"] or ""))
    return gaps


def emit_report(tables, gaps):
    """A report JSON with the expected figures (for testing this judge).
    Ranks follow predict_gaps' order, which is only illustrative."""
    verdict_of, rank_of = {}, {}
    for i, g in enumerate(gaps, 1):
        g["rank"] = i
        verdict_of.setdefault(g["category"], g["verdict"])
        rank_of.setdefault(g["category"], i)
    cats = []
    for c in tables["categories"]:
        cats.append({k: c[k] for k in ("category", "users", "served_users", "elsewhere_users", "unserved_users")})
        cats[-1]["rank"] = rank_of.get(c["category"], 0)
        cats[-1]["verdict"] = verdict_of.get(c["category"], "no-action")
    cats.sort(key=lambda c: (c["rank"] or 1 << 30, -c["users"], c["category"]))
    apps = []
    for a in tables["apps"]:
        apps.append({k: a[k] for k in ("app", "category", "status", "users", "flows", "bytes_up", "bytes_down")})
        apps[-1]["name"] = a["app"]
        apps[-1]["first_seen"] = a["first_seen"][:23] + "Z"
        apps[-1]["last_seen"] = a["last_seen"][:23] + "Z"
    return {"from": truthlib.fmt_time(tables["from"], 0), "to": truthlib.fmt_time(tables["to"], 0),
            "apps": apps, "categories": cats,
            "unknown_domains": [{k: d[k] for k in ("domain", "users", "bytes_up", "bytes_down")}
                                for d in tables["unknown_domains"]],
            "gaps": [{"rank": g["rank"], "verdict": g["verdict"], "category": g["category"], "app": g["app"]}
                     for g in gaps]}


# --------------------------------------------------------------------------
# Judging a report
# --------------------------------------------------------------------------

class Judge:
    def __init__(self):
        self.checked = 0
        self.mismatches = []

    def eq(self, what, got, want):
        self.checked += 1
        if got != want:
            self.mismatches.append("MISMATCH %s: report %s, expected %s" % (what, json.dumps(got), json.dumps(want)))

    def fail(self, msg):
        self.checked += 1
        self.mismatches.append("MISMATCH " + msg)

    def time_eq(self, what, got, want_usec):
        """got: the report's RFC 3339 time. Both are compared truncated to
        milliseconds (what the agent's summaries carry), or to the
        precision the report writes when that is coarser."""
        self.checked += 1
        try:
            g = truthlib.parse_time(got)
        except ValueError:
            self.mismatches.append("MISMATCH %s: report %s is not an RFC 3339 time" % (what, json.dumps(got)))
            return
        m = re.search(r"\.(\d+)", got)
        digits = min(3, len(m.group(1))) if m else 0
        unit = 10 ** (6 - digits)
        g = g // unit * unit
        want = want_usec // unit * unit
        if g != want:
            text = truthlib.fmt_time(want, 6)
            text = text[:20 + digits] if digits else text[:19]
            self.mismatches.append("MISMATCH %s: report %s, expected %sZ" % (what, got, text))


def rows_by(judge, report, table, key):
    rows = report.get(table)
    if not isinstance(rows, list):
        judge.fail("%s: missing or not a list" % table)
        return {}
    out = {}
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            judge.fail("%s[%d]: not an object" % (table, i))
            continue
        k = r.get(key)
        if k is None and table == "apps":
            continue  # usage with no app, if a report lists it
        if k in out:
            judge.fail("%s: %s %s listed twice" % (table, key, k))
        out[k] = r
    return out


def check_report(report, tables, org=None, strict_gaps=False, top_unknown=50):
    j = Judge()
    if isinstance(report.get("report"), dict) and "apps" not in report:
        report = report["report"]
    # apps[]
    got = rows_by(j, report, "apps", "app")
    want = {a["app"]: a for a in tables["apps"]}
    for slug, a in sorted(want.items()):
        r = got.get(slug)
        if r is None:
            j.fail("apps[%s]: missing (users %d, flows %d)" % (slug, a["users"], a["flows"]))
            continue
        for f in ("category", "status", "users", "flows", "bytes_up", "bytes_down"):
            j.eq("apps[%s].%s" % (slug, f), r.get(f), a[f])
        for f in ("first_seen", "last_seen"):
            if f in r:
                j.time_eq("apps[%s].%s" % (slug, f), r[f], truthlib.parse_time(a[f]))
            else:
                j.fail("apps[%s].%s: missing" % (slug, f))
    for slug in sorted(set(got) - set(want)):
        j.fail("apps[%s]: not in the truth for this period (users %s)" % (slug, got[slug].get("users")))
    # categories[]
    got = rows_by(j, report, "categories", "category")
    want = {c["category"]: c for c in tables["categories"]}
    for name, c in sorted(want.items()):
        r = got.get(name)
        if r is None:
            j.fail("categories[%s]: missing (users %d)" % (name, c["users"]))
            continue
        for f in ("users", "served_users", "elsewhere_users", "unserved_users"):
            j.eq("categories[%s].%s" % (name, f), r.get(f), c[f])
    for name in sorted(set(got) - set(want)):
        j.fail("categories[%s]: no use of it in the truth (users %s)" % (name, got[name].get("users")))
    # unknown_domains[]: the report keeps the top_unknown first by bytes
    got = rows_by(j, report, "unknown_domains", "domain")
    want_list = tables["unknown_domains"]
    must = {d["domain"] for d in want_list[:top_unknown]}
    want = {d["domain"]: d for d in want_list}
    for name, d in sorted(want.items()):
        r = got.get(name)
        if r is None:
            if name in must:
                j.fail("unknown_domains[%s]: missing (users %d)" % (name, d["users"]))
            continue
        for f in ("users", "bytes_up", "bytes_down"):
            j.eq("unknown_domains[%s].%s" % (name, f), r.get(f), d[f])
    for name in sorted(set(got) - set(want)):
        j.fail("unknown_domains[%s]: not an unknown domain in the truth" % name)
    # gaps[]: well formed, ranked 1..n
    gaps = report.get("gaps")
    if not isinstance(gaps, list):
        j.fail("gaps: missing or not a list")
        gaps = []
    for i, g in enumerate(gaps):
        if not isinstance(g, dict):
            j.fail("gaps[%d]: not an object" % i)
            continue
        if g.get("verdict") not in VERDICTS:
            j.fail("gaps[%d].verdict: %s is not one of %s" % (i, json.dumps(g.get("verdict")), ", ".join(VERDICTS)))
        j.eq("gaps[%d].rank" % i, g.get("rank"), i + 1)
    gap_keys = {(g.get("verdict"), g.get("category"), g.get("app")) for g in gaps if isinstance(g, dict)}
    if org is not None:
        cat_rows = rows_by(Judge(), report, "categories", "category")
        for e in org.get("expected_gaps", []):
            app = e.get("app")
            j.checked += 1
            hit = [g for g in gaps if isinstance(g, dict) and g.get("verdict") == e["verdict"]
                   and (g.get("app") == app if app else (g.get("category") == e["category"] and not g.get("app")))]
            if not hit:
                j.mismatches.append("MISMATCH gaps: the expected gap %s %s is missing" %
                                    (e["verdict"], "app " + app if app else "category " + e["category"]))
            elif app and e.get("category") and hit[0].get("category") != e["category"]:
                j.mismatches.append("MISMATCH gaps: %s app %s has category %s, expected %s" %
                                    (e["verdict"], app, hit[0].get("category"), e["category"]))
        for c in org.get("no_gap_categories", []):
            r = cat_rows.get(c)
            if r is None:
                if not any(x["category"] == c for x in tables["categories"]):
                    j.fail("categories[%s]: missing (built to have use and no gap)" % c)
                continue
            j.eq("categories[%s].verdict" % c, r.get("verdict"), "no-action")
            j.checked += 1
            extra = sorted("%s%s" % (g.get("verdict"), " " + g["app"] if g.get("app") else "")
                           for g in gaps if isinstance(g, dict) and g.get("category") == c)
            if extra:
                j.mismatches.append("MISMATCH gaps: category %s was built to have no gap, the report has %s"
                                    % (c, ", ".join(extra)))
    if strict_gaps:
        risk = {}
        for r in report.get("apps") or []:
            if isinstance(r, dict) and r.get("app"):
                sc = r.get("risk")
                sc = sc.get("score") if isinstance(sc, dict) else sc
                if isinstance(sc, int):
                    risk[r["app"]] = sc
        pred = {(g["verdict"], g["category"], g["app"]) for g in predict_gaps(tables, risk)}
        for k in sorted(pred - gap_keys, key=str):
            j.fail("gaps: predicted %s %s%s is missing" % (k[0], k[1], " app " + k[2] if k[2] else ""))
        for k in sorted(gap_keys - pred, key=str):
            j.fail("gaps: %s %s%s is not predicted by the rules" % (k[0], k[1], " app " + str(k[2]) if k[2] else ""))
    return j


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------

def print_tables(tables, gaps, out=sys.stdout):
    w = out.write
    w("period %s .. %s\n\n" % (truthlib.fmt_time(tables["from"], 0), truthlib.fmt_time(tables["to"], 0)))
    w("%-20s %-20s %-15s %5s %6s %12s %12s %4s\n" % ("app", "category", "status", "users", "flows",
                                                    "bytes_up", "bytes_down", "risk"))
    for a in tables["apps"]:
        w("%-20s %-20s %-15s %5d %6d %12d %12d %4d\n" % (a["app"], a["category"], a["status"], a["users"],
                                                         a["flows"], a["bytes_up"], a["bytes_down"],
                                                         a["risk_unknown_facts"]))
    w("\n%-20s %5s %6s %9s %8s  %s\n" % ("category", "users", "served", "elsewhere", "unserved", "sanctioned"))
    for c in tables["categories"]:
        share = 100.0 * c["elsewhere_users"] / c["users"] if c["users"] else 0
        w("%-20s %5d %6d %9d %8d  %s (elsewhere %.0f%%)\n" % (c["category"], c["users"], c["served_users"],
                                                              c["elsewhere_users"], c["unserved_users"],
                                                              ",".join(c["sanctioned"]) or "-", share))
    w("\n%-36s %5s %12s %12s\n" % ("unknown domain", "users", "bytes_up", "bytes_down"))
    for d in tables["unknown_domains"]:
        w("%-36s %5d %12d %12d\n" % (d["domain"], d["users"], d["bytes_up"], d["bytes_down"]))
    w("\ngaps by the rules (order illustrative):\n")
    for g in gaps:
        w("  %-21s %-20s %s\n" % (g["verdict"], g["category"], g["app"] or ""))
    for msg in tables["warnings"]:
        w("warning: %s\n" % msg)


def parse_day(s, what):
    """YYYY-MM-DD or an RFC 3339 time at a UTC midnight -> usec."""
    if re.match(r"^\d{4}-\d{2}-\d{2}$", s):
        s += "T00:00:00Z"
    try:
        t = truthlib.parse_time(s)
    except ValueError:
        raise SystemExit("report_expect: %s %r is not a date (YYYY-MM-DD) or RFC 3339 time" % (what, s))
    if t % DAY:
        raise SystemExit("report_expect: %s %s is not a UTC midnight (the truth is per day)" % (what, s))
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--truth", required=True)
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--from", dest="t_from", required=True)
    ap.add_argument("--to", dest="t_to", required=True)
    ap.add_argument("--check", metavar="REPORT_JSON")
    ap.add_argument("--org", metavar="ORG_JSON", help="also check the gaps the organisation was built with")
    ap.add_argument("--strict-gaps", action="store_true",
                    help="gaps[] must be exactly the gaps the rules predict")
    ap.add_argument("--top-unknown", type=int, default=50,
                    help="unknown domains the report keeps (the first by bytes must be there)")
    ap.add_argument("--print", dest="do_print", action="store_true")
    ap.add_argument("--emit-report", metavar="FILE", help="write the expected figures as a report JSON")
    a = ap.parse_args(argv)
    t_from, t_to = parse_day(a.t_from, "--from"), parse_day(a.t_to, "--to")
    if t_to <= t_from:
        ap.error("--to must be after --from")
    org = None
    app_categories = {}
    if a.org:
        with open(a.org) as f:
            org = json.load(f)
        app_categories = {x["app"]: x["category"] for x in org.get("apps", [])}
    catalog = load_catalog(a.catalog)
    tables = compute(load_truth(a.truth), catalog, t_from, t_to, app_categories)
    gaps = predict_gaps(tables)
    if a.do_print:
        print_tables(tables, gaps)
    if a.emit_report:
        with open(a.emit_report, "w") as f:
            json.dump(emit_report(tables, gaps), f, indent=1)
            f.write("\n")
    if a.check:
        try:
            with open(a.check) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit("report_expect: %s: %s" % (a.check, e))
        if not isinstance(report, dict):
            raise SystemExit("report_expect: %s: not a JSON object" % a.check)
        j = check_report(report, tables, org, a.strict_gaps, a.top_unknown)
        for m in j.mismatches:
            print(m)
        print("report_expect: %d figures checked, %d mismatches" % (j.checked, len(j.mismatches)))
        return 1 if j.mismatches else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
