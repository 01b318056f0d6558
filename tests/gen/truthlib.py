"""
Shared helpers of the shadowgen checkers: reading the ground truth and the
agent's JSON-lines outputs, normalising addresses, protocols and times.
stdlib only.
"""

import ipaddress
import json
import re
import sys

USEC = 1000000

PROTO_BY_NUMBER = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
ICMP_PROTOS = ("icmp", "icmpv6")

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$")


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_time(s):
    """RFC 3339 -> integer microseconds since the epoch (UTC). Extra
    fraction digits beyond 6 are truncated. Raises ValueError."""
    if not isinstance(s, str):
        raise ValueError("not a time string: %r" % (s,))
    m = _RFC3339.match(s)
    if not m:
        raise ValueError("not RFC 3339: %r" % (s,))
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:6].ljust(6, "0")
    tz = m.group(8)
    off = 0
    if tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        off = sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off
    return secs * USEC + int(frac)


def fmt_time(usec, digits=3):
    secs, frac = divmod(usec, USEC)
    days, sod = divmod(secs, 86400)
    # civil from days
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (m <= 2)
    base = "%04d-%02d-%02dT%02d:%02d:%02d" % (y, m, d, sod // 3600, sod // 60 % 60, sod % 60)
    if digits == 6:
        return "%s.%06dZ" % (base, frac)
    if digits == 3:
        return "%s.%03dZ" % (base, frac // 1000)
    return base + "Z"


def norm_ip(s):
    if s is None:
        return None
    try:
        return str(ipaddress.ip_address(str(s).strip("[]")))
    except ValueError:
        return str(s)


def norm_proto(p):
    if isinstance(p, int):
        return PROTO_BY_NUMBER.get(p, str(p))
    s = str(p).strip().lower()
    if s.isdigit():
        return PROTO_BY_NUMBER.get(int(s), s)
    return {"icmp6": "icmpv6", "ipv6-icmp": "icmpv6"}.get(s, s)


def flow_key(proto, client, cport, server, sport):
    proto = norm_proto(proto)
    if proto in ICMP_PROTOS:
        cport = sport = 0  # ICMP "ports" are a convention of each tool: ignored
    return (proto, norm_ip(client), int(cport or 0), norm_ip(server), int(sport or 0))


def fmt_key(k):
    proto, c, cp, s, sp = k

    def ep(a, p):
        a = "[%s]" % a if a and ":" in a else a
        return "%s:%d" % (a, p) if proto not in ICMP_PROTOS else str(a)

    return "%s %s -> %s" % (proto, ep(c, cp), ep(s, sp))


def load_truth(path):
    with open(path) as f:
        t = json.load(f)
    for k in ("flows", "totals"):
        if k not in t:
            raise SystemExit("%s: not a shadowgen truth file (no %r)" % (path, k))
    return t


def load_jsonl(path, what):
    """Returns [(line_number, object)]; exits with a clear error on bad JSON."""
    out = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise SystemExit("%s:%d: %s is not JSON: %s" % (path, i, what, e))
            if not isinstance(obj, dict):
                raise SystemExit("%s:%d: %s is not a JSON object" % (path, i, what))
            out.append((i, obj))
    return out


GEO_FIELDS = ("country", "asn", "as_org")


class GeoTable:
    """What the agent must say of a server's country and network with the
    test databases that tests/tools/mkmmdb.pl builds from the same table
    (tests/tools/geo_networks.tsv): per field, the most specific network
    that has a value. GeoTable(None) expects null everywhere (no databases)."""

    def __init__(self, path):
        self.rows = []
        if path is None:
            return
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) != 4:
                    raise SystemExit("%s:%d: expected 4 tab-separated fields" % (path, n))
                net, cc, asn, org = (None if p == "-" else p for p in parts)
                self.rows.append((ipaddress.ip_network(net), cc, int(asn) if asn else None, org))

    def lookup(self, addr):
        """(country, asn, as_org) of addr, None where unknown."""
        if addr is None:
            return (None, None, None)
        a = ipaddress.ip_address(str(addr).strip("[]"))
        best_cc = best_asn = None
        for net, cc, asn, org in self.rows:
            if net.version != a.version or a not in net:
                continue
            if cc is not None and (best_cc is None or net.prefixlen > best_cc[0]):
                best_cc = (net.prefixlen, cc)
            if asn is not None and (best_asn is None or net.prefixlen > best_asn[0]):
                best_asn = (net.prefixlen, asn, org)
        return (best_cc[1] if best_cc else None,
                best_asn[1] if best_asn else None,
                best_asn[2] if best_asn else None)


class Report:
    """Collects failures; prints them and the verdict."""

    def __init__(self, name, limit=200):
        self.name = name
        self.problems = []
        self.limit = limit

    def fail(self, msg):
        self.problems.append(msg)

    def finish(self, summary):
        for p in self.problems[:self.limit]:
            print("FAIL " + p)
        if len(self.problems) > self.limit:
            print("FAIL ... and %d more" % (len(self.problems) - self.limit))
        if self.problems:
            print("%s: FAILED: %d problem(s); %s" % (self.name, len(self.problems), summary))
            return 1
        print("%s: OK: %s" % (self.name, summary))
        return 0


def eprint(*a):
    print(*a, file=sys.stderr)
