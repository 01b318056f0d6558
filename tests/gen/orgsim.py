#!/usr/bin/python3
"""
orgsim: a month of traffic for a sample organisation (Acme Widgets, about
300 people), with its ground truth and the gaps it was designed to have.

    /usr/bin/python3 tests/gen/orgsim.py --out DIR [--users 300] [--days 30]
        [--start 2026-10-01] [--agents 2] [--seed 1] [--slice 128] [--gro 16]
        [--no-dns] [--catalog FILE]
    /usr/bin/python3 tests/gen/orgsim.py --out DIR --verify

writes DIR/agent-N.pcap (one capture per site), DIR/truth.jsonl (per day,
client and host) and DIR/org.json (the design: period, users, apps, the
catalog, the gaps it must show and the categories that must show none).
--verify reads the captures again (pcapcheck.analyse) and compares them
with the truth.

The packets come from shadowgen.py's builders (real TCP, TLS ClientHellos,
QUIC Initials, HTTP, DNS). Which host belongs to which app is this file's
own table (APPS below), written by hand from signatures/apps/*.yaml, so the
truth does not depend on the code under test. report_expect.py turns the
truth and the catalog (tests/gen/sample-org/catalog.yaml) into the figures
a correct report must show. See tests/gen/README.md.

For speed, this process (never shadowgen.py itself) swaps shadowgen's
checksum for an equal, faster one (checked at start), remembers MAC
addresses, and names 10/8 and fd00::/8 its client networks.
"""

import argparse
import datetime
import functools
import ipaddress
import json
import os
import random
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import shadowgen as sg  # noqa: E402
import report_expect  # noqa: E402

USEC = sg.USEC
DAY = 86400 * USEC

# Client networks are ours: give clients their own MAC addresses in the
# Ethernet headers (shadowgen's default local network is 10.20.0.0/24).
sg.LOCAL_NETS[:] = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
# The same address always gets the same MAC: remember them (a month of
# packets asks a million times).
sg.mac_of = functools.lru_cache(maxsize=None)(sg.mac_of)


def fast_csum(data):
    """shadowgen.csum, computed as the value of the data mod 0xFFFF (the
    ones' complement sum of 16-bit words is that, with 0xFFFF for 0 when
    any bit is set): the same results, five times as fast on big segments.
    main() checks the two agree before it uses this one."""
    if len(data) & 1:
        data += b"\0"
    n = int.from_bytes(data, "big")
    r = n % 0xFFFF
    if r == 0 and n:
        r = 0xFFFF
    return (~r) & 0xFFFF


def use_fast_csum():
    rng = random.Random("csum")
    cases = [b"", b"\0", b"\xff\xff", b"\xff\xfe\x00\x01", bytes(40), b"\xff" * 41]
    cases += [rng.randbytes(rng.randrange(1, 3000)) for _ in range(200)]
    for d in cases:
        if fast_csum(d) != sg.csum(d):
            raise SystemExit("orgsim: fast checksum differs from shadowgen.csum on %r" % d[:16])
    sg.csum = fast_csum

ORGANISATION = "Acme Widgets"

# --------------------------------------------------------------------------
# The apps: slug -> (category, hosts, transport). Written by hand from
# signatures/apps/*.yaml (slugs, categories and domains as they stand
# there); each host is under one of the app's domains and under no longer
# domain of another app (gist.github.com, for one, is github-gist). No host
# is under a domain of the PSL's private section (githubusercontent.com,
# github.io), so the registrable domain is the last two labels (three for
# com.au / co.uk). transport: "tls", "quic" (Google serves most over QUIC:
# a share of the flows), "http" (plain HTTP for a share of the flows).
# --------------------------------------------------------------------------

APPS = {
    # what IT offers (tests/gen/sample-org/catalog.yaml)
    "outlook": ("email", ["outlook.office.com", "outlook.office365.com"], "tls"),
    "microsoft-teams": ("video-conferencing", ["teams.microsoft.com"], "tls"),
    "microsoft-365": ("office-suite", ["www.office.com", "word-edit.officeapps.live.com",
                                       "excel.officeapps.live.com"], "tls"),
    "onedrive": ("file-sharing", ["onedrive.live.com", "storage.live.com"], "tls"),
    "onenote": ("notes-wiki", ["www.onenote.com"], "tls"),
    "github": ("developer-tools", ["github.com", "api.github.com"], "tls"),
    "figma": ("design", ["www.figma.com"], "tls"),
    "asana": ("project-management", ["app.asana.com"], "tls"),
    "deepl": ("translation", ["www.deepl.com"], "tls"),
    "salesforce": ("crm", ["acmewidgets.my.salesforce.com", "login.salesforce.com"], "tls"),
    "workday": ("hr", ["wd3.myworkday.com"], "tls"),
    "docusign": ("e-signature", ["app.docusign.com"], "tls"),
    # everything else people use
    "gmail": ("email", ["mail.google.com"], "quic"),
    "zoom": ("video-conferencing", ["zoom.us", "us05web.zoom.us"], "tls"),
    "webex": ("video-conferencing", ["www.webex.com"], "tls"),
    "slack": ("messaging", ["app.slack.com"], "tls"),
    "whatsapp": ("messaging", ["web.whatsapp.com"], "tls"),
    "wetransfer": ("file-sharing", ["wetransfer.com", "www.wetransfer.com"], "tls"),
    "dropbox": ("file-sharing", ["www.dropbox.com", "content.dropboxapi.com"], "tls"),
    "google-drive": ("file-sharing", ["drive.google.com"], "quic"),
    "google-docs": ("office-suite", ["docs.google.com"], "quic"),
    "ilovepdf": ("office-suite", ["www.ilovepdf.com"], "tls"),
    "notion": ("notes-wiki", ["www.notion.so"], "tls"),
    "evernote": ("notes-wiki", ["www.evernote.com"], "tls"),
    "gitlab": ("developer-tools", ["gitlab.com"], "tls"),
    "chatgpt": ("genai", ["chatgpt.com"], "tls"),
    "openai-api": ("genai", ["api.openai.com"], "tls"),
    "claude": ("genai", ["claude.ai"], "tls"),
    "gemini": ("genai", ["gemini.google.com"], "quic"),
    "perplexity": ("genai", ["www.perplexity.ai"], "tls"),
    "microsoft-copilot": ("genai", ["copilot.microsoft.com"], "tls"),
    "deepseek": ("genai", ["chat.deepseek.com"], "tls"),
    "pastebin": ("paste-sites", ["pastebin.com"], "http"),
    "canva": ("design", ["www.canva.com"], "tls"),
    "trello": ("project-management", ["trello.com"], "tls"),
    "google-translate": ("translation", ["translate.google.com"], "quic"),
    "hubspot": ("crm", ["app.hubspot.com"], "tls"),
}

# Names no signature knows: the subsidiary's intranet, a supplier, small
# tools. Their registrable domains are what the report lists as unknown.
UNKNOWN = {
    "intranet": ["portal.acme-widgets-intranet.com.au"],
    "timesheets": ["timesheets.acme-widgets-intranet.com.au"],
    "quokka": ["app.quokka-expenses-demo.com"],
    "tiny-startup": ["cdn.tiny-startup-example.co.uk"],
    "kestrel": ["files.kestrel-transfer-test.net"],
    "wombat": ["api.wombat-metrics-sandbox.io"],
}

# Registrable domains: the public suffixes the hosts above end in.
PUBLIC_SUFFIXES = {"com", "net", "org", "io", "so", "us", "ai", "com.au", "co.uk"}


def registrable_domain(host):
    labels = host.split(".")
    for i in range(len(labels)):
        if ".".join(labels[i:]) in PUBLIC_SUFFIXES:
            return ".".join(labels[i - 1:]) if i > 0 else None
    return ".".join(labels[-2:])


HOST_APP = {}
for _slug, (_cat, _hosts, _tr) in APPS.items():
    for _h in _hosts:
        assert _h not in HOST_APP, _h
        HOST_APP[_h] = (_slug, _cat)

# --------------------------------------------------------------------------
# Who uses what. Roles share the staff; an adoption rule picks exactly
# round(share x role size) people of each role (an int is a head count), so
# that the proportions the gaps depend on hold for any seed. prefer_not:
# pick mostly people who do NOT use that app (they go elsewhere instead).
# p: chance of use on a working day; n: flows on such a day (lo, hi);
# size: the traffic profile of a flow.
# --------------------------------------------------------------------------

ROLES = [("eng", 0.15), ("sales", 0.12), ("design", 0.08), ("pm", 0.05), ("people", 0.05)]
# the rest are "staff"

ALL = "*"

USAGE = [
    # app, adoption [(roles, share or count)], p, n, size, options
    ("outlook", [(ALL, 1.0)], 0.92, (1, 1), "mail", {}),
    ("microsoft-teams", [(ALL, 1.0)], 0.88, (1, 1), "chat", {}),
    ("microsoft-365", [(ALL, 0.85)], 0.55, (1, 1), "doc", {}),
    ("onedrive", [(ALL, 0.60)], 0.35, (1, 1), "files", {}),
    ("workday", [(ALL, 1.0)], 0.05, (1, 1), "doc", {}),
    ("onenote", [(ALL, 0.25)], 0.25, (1, 1), "doc", {}),
    ("github", [("eng", 1.0), ("pm", 0.3)], 0.85, (1, 2), "dev", {}),
    ("figma", [("design", 1.0), ("pm", 0.6), ("eng", 0.2)], 0.6, (1, 2), "doc", {}),
    ("asana", [(ALL, 0.35), ("pm", 1.0)], 0.5, (1, 1), "chat", {}),
    ("deepl", [(ALL, 0.15)], 0.2, (1, 1), "ai", {}),
    ("salesforce", [("sales", 1.0)], 0.9, (1, 2), "doc", {}),
    ("docusign", [("sales", 0.5), ("people", 1.0)], 0.12, (1, 1), "doc", {}),
    # unmet demand: generative AI, nothing sanctioned
    ("chatgpt", [(ALL, 0.35)], 0.45, (1, 2), "ai", {}),
    ("claude", [("eng", 0.4), (ALL, 0.06)], 0.4, (1, 2), "ai", {}),
    ("gemini", [(ALL, 0.08)], 0.3, (1, 1), "ai", {}),
    ("perplexity", [(ALL, 0.05)], 0.3, (1, 1), "ai", {}),
    ("microsoft-copilot", [(ALL, 0.10)], 0.3, (1, 1), "ai", {}),
    ("openai-api", [("eng", 6)], 0.5, (1, 3), "ai", {}),
    ("deepseek", [(ALL, 2)], 0.15, (1, 1), "ai", {}),
    # file sharing: OneDrive is offered, many send files elsewhere instead
    ("wetransfer", [(ALL, 0.14), ("design", 0.4)], 0.12, (1, 1), "files",
     {"prefer_not": "onedrive", "heavy": 3, "heavy_roles": ("design", "sales")}),
    ("dropbox", [(ALL, 0.09)], 0.2, (1, 1), "files", {"prefer_not": "onedrive"}),
    ("google-drive", [(ALL, 0.05)], 0.2, (1, 1), "files", {"prefer_not": "onedrive"}),
    # notes: OneNote is offered, Notion is what people picked
    ("notion", [("eng", 0.45), ("design", 0.5), ("pm", 0.5), (ALL, 0.12)], 0.45, (1, 2), "doc",
     {"prefer_not": "onenote"}),
    ("evernote", [(ALL, 2)], 0.2, (1, 1), "doc", {}),
    # a banned paste site, two developers
    ("pastebin", [("eng", 2)], 0.08, (1, 1), "paste", {}),
    # categories served well: a little use elsewhere, below every threshold
    ("zoom", [(ALL, 0.08)], 0.2, (1, 1), "chat", {}),
    ("webex", [(ALL, 2)], 0.1, (1, 1), "chat", {}),
    ("slack", [("eng", 2)], 0.3, (1, 1), "chat", {}),
    ("whatsapp", [(ALL, 2)], 0.3, (1, 1), "chat", {}),
    ("gmail", [(ALL, 2)], 0.3, (1, 1), "mail", {}),
    ("google-docs", [(ALL, 0.05)], 0.2, (1, 1), "doc", {}),
    ("ilovepdf", [(ALL, 0.03)], 0.1, (1, 1), "doc", {}),
    ("gitlab", [("eng", 2)], 0.3, (1, 1), "dev", {}),
    ("canva", [("design", 3)], 0.2, (1, 1), "doc", {}),
    ("trello", [(ALL, 0.04)], 0.3, (1, 1), "chat", {}),
    ("google-translate", [(ALL, 2)], 0.2, (1, 1), "ai", {}),
    ("hubspot", [("sales", 2)], 0.2, (1, 1), "doc", {}),
    # unknown names
    ("intranet", [(ALL, 0.6)], 0.3, (1, 1), "doc", {}),
    ("timesheets", [(ALL, 1.0)], 0.0, (1, 1), "mail", {"fridays": 0.8}),
    ("quokka", [("people", 1.0), (ALL, 10)], 0.1, (1, 1), "doc", {}),
    ("tiny-startup", [(ALL, 5)], 0.2, (1, 1), "chat", {}),
    ("kestrel", [("design", 2)], 0.05, (1, 1), "upload", {}),
    ("wombat", [("eng", 8)], 0.4, (1, 2), "chat", {}),
]

# Traffic profiles: exchanges per flow (lo, hi); bytes up and down per
# exchange, log-uniform in [lo, hi]; pause after each exchange (s).
PROFILES = {
    "mail": ((1, 1), (600, 4000), (3000, 25000), (0.3, 4.0)),
    "chat": ((1, 2), (500, 3000), (1500, 15000), (0.5, 8.0)),
    "doc": ((1, 2), (1000, 8000), (4000, 40000), (0.5, 6.0)),
    "dev": ((1, 2), (600, 4000), (5000, 60000), (0.3, 3.0)),
    "ai": ((1, 3), (1000, 8000), (2000, 20000), (2.0, 15.0)),
    "files": ((1, 1), (5000, 250000), (3000, 120000), (0.5, 2.0)),
    "upload": ((1, 1), (400000, 2500000), (2000, 8000), (0.5, 2.0)),
    "paste": ((1, 1), (300, 2500), (1000, 6000), (0.2, 1.0)),
}

# What the catalog (sample-org/catalog.yaml) and the usage above were built
# to show; checked against the truth at the end of every run.
EXPECTED_GAPS = [
    {"verdict": "offer", "category": "genai",
     "why": "more than half of the staff use ChatGPT, Claude, Copilot, Gemini, Perplexity...; "
            "nothing sanctioned covers genai"},
    {"verdict": "improve", "category": "file-sharing",
     "why": "OneDrive is sanctioned; about a third of file-sharing users send files with WeTransfer, "
            "Dropbox or Google Drive"},
    {"verdict": "move-off", "app": "wetransfer", "category": "file-sharing",
     "why": "unsanctioned, risky (76 with the facts in signatures/ today, 71 with none known), "
            "about 50 users, and OneDrive covers file-sharing"},
    {"verdict": "improve", "category": "notes-wiki",
     "why": "OneNote is sanctioned; most notes-wiki users use Notion"},
    {"verdict": "consider-sanctioning", "app": "notion", "category": "notes-wiki",
     "why": "tolerated, low risk (48 with the facts in signatures/ today, 56 with none known), "
            "used by more than half of the notes-wiki users"},
    {"verdict": "move-off", "app": "pastebin", "category": "paste-sites",
     "why": "banned, used by two developers"},
]
NO_GAP_CATEGORIES = ["video-conferencing", "messaging", "email", "office-suite", "developer-tools",
                     "design", "project-management", "translation", "crm", "hr", "e-signature"]

WORK_START = (7 * 3600, 9 * 3600)      # a working day starts (UTC) between ...
WORK_END = (16 * 3600, 18 * 3600)      # ... and ends between
WEEKEND_HOURS = (10 * 3600, 20 * 3600)
WEEKEND_SHARE = 0.08                   # people active on a weekend day
ABSENT = 0.04                          # people away on a working day
FLOW_MAX = 240 * USEC                  # every flow ends within 4 minutes
IPV6_EVERY = 25                        # at the last site, one person in 25 is IPv6-only

# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------


def server_addresses(hosts):
    """Each host its own address in the documentation ranges, v4 and v6."""
    nets = ["192.0.2.", "198.51.100.", "203.0.113."]
    out = {}
    for i, h in enumerate(sorted(hosts)):
        out[h] = ("%s%d" % (nets[i // 250], 2 + i % 250), "2001:db8:%x::10" % (i + 1))
    return out


class Person:
    def __init__(self, uid, agent, addr, role):
        self.uid = uid
        self.agent = agent
        self.addr = addr
        self.v6 = ":" in addr
        self.role = role
        self.apps = set()
        self.heavy = set()
        self.start = self.end = 0


def make_people(n_users, n_agents, rng):
    roles = []
    for r, share in ROLES:
        roles += [r] * round(share * n_users)
    roles = (roles + ["staff"] * n_users)[:n_users]
    rng.shuffle(roles)
    people = []
    for uid in range(n_users):
        agent = uid * n_agents // n_users + 1
        first = -(-(agent - 1) * n_users // n_agents)
        j = uid - first
        if agent == n_agents and j % IPV6_EVERY == IPV6_EVERY - 3:
            addr = "fd00:%x::%x" % (agent, 0x100 + j)
        else:
            addr = "10.%d.%d.%d" % (agent, j // 200, 20 + j % 200)
        p = Person(uid, agent, addr, roles[uid])
        p.start = rng.randrange(*WORK_START)
        p.end = rng.randrange(*WORK_END)
        people.append(p)
    return people


def adopt(people, rng):
    """Applies the adoption rules of USAGE in order."""
    users_of = {}
    for app, rules, _p, _n, _size, opt in USAGE:
        chosen = set()
        for roles, share in rules:
            pool = [p for p in people if (roles == ALL or p.role == roles) and p not in chosen]
            base = [p for p in people if roles == ALL or p.role == roles]
            n = share if isinstance(share, int) else round(share * len(base))
            n = min(n, len(pool))
            avoid = opt.get("prefer_not")
            if avoid:
                # three in four of them do not use the offered service
                others = [p for p in pool if p not in users_of.get(avoid, ())]
                mine = [p for p in pool if p in users_of.get(avoid, ())]
                k = min(len(others), round(n * 0.75))
                pick = rng.sample(others, k) + rng.sample(mine, min(len(mine), n - k))
            else:
                pick = rng.sample(pool, n)
            chosen.update(pick)
        users_of[app] = chosen
        for p in chosen:
            p.apps.add(app)
        if opt.get("heavy"):
            cand = sorted((p for p in chosen if p.role in opt["heavy_roles"]), key=lambda p: p.uid)
            for p in rng.sample(cand, min(opt["heavy"], len(cand))):
                p.heavy.add(app)
    return users_of


# --------------------------------------------------------------------------
# The plan: who uses what when (cheap), then the packets (day by day)
# --------------------------------------------------------------------------

def plan(people, days, start_usec, rng):
    """-> {day index: [(person, app, n_flows)]}. Every adopted app is used
    at least once in the period."""
    by_day = {d: [] for d in range(days)}
    used = set()
    rules = {u[0]: u for u in USAGE}
    workdays = []
    for d in range(days):
        wd = weekday(start_usec + d * DAY)
        weekend = wd >= 5
        if not weekend:
            workdays.append(d)
        for p in people:
            if weekend:
                if rng.random() >= WEEKEND_SHARE:
                    continue
            elif rng.random() < ABSENT:
                continue
            for app in sorted(p.apps):
                _a, _r, prob, n, _s, opt = rules[app]
                if weekend:
                    prob = 0.7 if app == "outlook" else prob * 0.15
                elif opt.get("fridays") and wd == 4:
                    prob = opt["fridays"]
                if rng.random() < prob:
                    by_day[d].append((p, app, rng.randint(*n) if not weekend else 1))
                    used.add((p.uid, app))
    days_for_missing = workdays or list(range(days))
    for p in people:
        for app in sorted(p.apps):
            if (p.uid, app) not in used:
                by_day[rng.choice(days_for_missing)].append((p, app, 1))
    return by_day


def weekday(usec):
    """0 = Monday, in UTC."""
    return (usec // DAY + 3) % 7  # 1970-01-01 was a Thursday


def loguniform(rng, lo, hi):
    return int(lo * (hi / lo) ** rng.random())


def exchanges_for(rng, profile, heavy):
    (xlo, xhi), up, down, pause = PROFILES[profile]
    if heavy and rng.random() < 0.6:
        return [(loguniform(rng, 2000000, 8000000), rng.randrange(1500, 6000), 0.5)]
    out = []
    for _ in range(rng.randint(xlo, xhi)):
        out.append((loguniform(rng, *up), loguniform(rng, *down), round(rng.uniform(*pause), 3)))
    return out


def hosts_of(app):
    if app in APPS:
        return APPS[app][1]
    return UNKNOWN[app]


# --------------------------------------------------------------------------
# Builders: shadowgen's, plus a lighter TLS connection (a resumed TLS 1.3
# session most of the time: ServerHello, CCS and a short encrypted flight
# in one segment) so that a month stays small and quick to write.
# --------------------------------------------------------------------------

def build_tls_lite(cap, spec, rng, t):
    f = sg.new_flow(cap, spec, rng, sg.PROTO_TCP, 443)
    tcp = sg.Tcp(f, rng, int(spec.get("rtt_ms", 20) * 1000))
    t = tcp.handshake(t) + rng.randrange(200, 900)
    host = spec["host"]
    ch = sg.client_hello(rng, host, ["h2", "http/1.1"], mlkem=False, ech_grease=False, chrome=False)
    f.payload_name = (host, "sni")
    t = tcp.send(t, 0, sg.tls_record(0x16, ch)) + tcp.rtt
    if spec.get("full_handshake"):
        flight = sg.tls_server_flight(rng, sg.ch_session_id(ch), False, rng.randrange(2800, 4800))
    else:
        flight = (sg.tls_record(0x16, sg.server_hello(rng, sg.ch_session_id(ch))) + sg.tls_record(0x14, b"\x01")
                  + sg.tls_record(0x17, rng.randbytes(rng.randrange(60, 140))))
    t = tcp.send(t, 1, flight) + rng.randrange(500, 3000)
    t = tcp.send(t, 0, sg.tls_client_finish(rng))
    cap.bulk = True
    tcp.mss *= cap.gro  # application data as a capture with receive offload shows it
    t = sg.tls_exchanges(tcp, rng, t, spec, spec.get("rate_mbps", 60) * 1e6)
    cap.bulk = False
    tcp.close(t + rng.randrange(1000, 50000), 0)
    return f


def build_quic(cap, spec, rng, t):
    cap.quic = True
    try:
        return sg.build_quic(cap, spec, rng, t)
    finally:
        cap.quic = False


BUILDERS = {"tls": build_tls_lite, "quic": build_quic, "http": sg.build_http, "dns": sg.build_dns}


class FrameSink:
    """Takes the frames shadowgen's Flow.add appends: builds the Ethernet
    frame and keeps it, cut to `slice_len` bytes when it carries encrypted
    application data (TLS records after the handshake, QUIC short-header
    packets). Handshakes, QUIC Initials, HTTP and DNS stay whole, so that
    every name can be read from the capture."""

    def __init__(self, cap, slice_len):
        self.cap = cap
        self.slice_len = slice_len
        self.frames = []

    def __len__(self):
        return len(self.frames)

    def append(self, fr):
        ts, idx, ip, vlan, smac, dmac, d = fr
        frame = sg.link_header("ether", ip, vlan, smac, dmac, d) + ip
        cut = False
        if self.slice_len:
            if self.cap.bulk:
                cut = True
            elif self.cap.quic:
                off = 14 + (48 if ip[0] >> 4 == 6 else 28)
                cut = len(frame) > off and not frame[off] & 0x80
        incl = frame[:self.slice_len] if cut else frame
        self.frames.append((ts, idx, incl, len(frame)))


class DayCapture(sg.Capture):
    """One site's capture of one day. IPv4 ids go on from day to day."""

    def __init__(self, seed, start_usec, ipid, zone, slice_len, gro):
        super().__init__(seed, start_usec)
        self.ipid = ipid
        self.zone = zone
        self.bulk = False
        self.quic = False
        self.gro = gro
        self.frames = FrameSink(self, slice_len)


def pcap_header():
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_start(s):
    try:
        d = datetime.date.fromisoformat(s)
    except ValueError:
        raise SystemExit("orgsim: --start must be a date YYYY-MM-DD, not %r" % s)
    return sg.parse_time(d.isoformat() + "T00:00:00Z")


def day_flows(people_plan, day, day_start, rng, servers, resolvers, dns=True):
    """Flow specs of one day: per active person, one DNS exchange at the
    start of the day for some of the names used, then the app flows."""
    specs = []
    per_person = {}
    for p, app, n in people_plan:
        per_person.setdefault(p.uid, (p, []))[1].append((app, n))
    weekend = weekday(day_start) >= 5
    for uid in sorted(per_person):
        p, uses = per_person[uid]
        lo, hi = (WEEKEND_HOURS if weekend else (p.start, p.end))
        lo += rng.randrange(0, 900)
        names = []
        k = 0
        for app, n in uses:
            for _ in range(n):
                host = rng.choice(hosts_of(app))
                at = rng.randrange(lo + 60, hi - 600)
                spec = {"id": "d%d-u%d-%d" % (day, uid, k), "client": p.addr, "host": host,
                        "agent": p.agent, "at_usec": day_start + at * USEC}
                k += 1
                v4, v6 = servers[host]
                spec["server"] = v6 if p.v6 else v4
                transport = APPS[app][2] if app in APPS else "tls"
                profile = [u for u in USAGE if u[0] == app][0][4]
                heavy = app in p.heavy
                if transport == "quic" and rng.random() < 0.7:
                    spec.update(kind="quic", pn_len=rng.choice([1, 2]), scid_len=rng.choice([0, 8]),
                                chrome=False)
                elif transport == "http" and rng.random() < 0.5:
                    path = "/raw/" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
                                             for _ in range(8))
                    reqs = [("GET", path, host, 0, rng.randrange(800, 4000), 200)]
                    if rng.random() < 0.5:
                        reqs.append(("POST", "/api/api_post.php", host, rng.randrange(400, 2500), 60, 200))
                    spec.update(kind="http", requests=reqs)
                else:
                    spec.update(kind="tls", full_handshake=rng.random() < 0.15)
                if spec["kind"] != "http":
                    spec["x"] = exchanges_for(rng, profile, heavy)
                    if heavy:
                        spec["rate_mbps"] = 80
                specs.append(spec)
                if host not in names:
                    names.append(host)
        if names and dns:
            qtype = "AAAA" if p.v6 else "A"
            qs = [(h, qtype) for h in rng.sample(names, min(len(names), 3))]
            specs.append({"id": "d%d-u%d-dns" % (day, uid), "kind": "dns", "client": p.addr,
                          "server": resolvers[p.agent][1 if p.v6 else 0], "q": qs, "host": None,
                          "agent": p.agent, "at_usec": day_start + lo * USEC})
    return specs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--verify", action="store_true",
                    help="do not generate: read the captures in --out again and compare them with its truth")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--start", default="2026-10-01", help="first day, YYYY-MM-DD (UTC)")
    ap.add_argument("--agents", type=int, default=2, help="sites, one capture each")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slice", type=int, default=128, metavar="N",
                    help="cut packets of encrypted application data to N bytes (0: keep whole); "
                         "the truth counts IP length fields, so it does not change")
    ap.add_argument("--gro", type=int, default=16, metavar="N",
                    help="TLS application data in segments of up to N x MSS bytes, as a capture on a host "
                         "with receive/segmentation offload shows them (1: MSS-sized segments)")
    ap.add_argument("--no-dns", action="store_true",
                    help="leave out the DNS lookups (one per person and day, to the site's resolver)")
    ap.add_argument("--catalog", default=os.path.join(HERE, "sample-org", "catalog.yaml"))
    a = ap.parse_args(argv)
    if a.verify:
        return 1 if verify(a.out) else 0
    if not 10 <= a.users <= 5000:
        ap.error("--users must be 10..5000")
    if not 1 <= a.days <= 366:
        ap.error("--days must be 1..366")
    if not 1 <= a.agents <= 20 or a.agents > a.users:
        ap.error("--agents must be 1..20 (and at most --users)")
    if not 1 <= a.gro <= 44:
        ap.error("--gro must be 1..44 (an IP packet holds at most 64 KiB)")
    if a.slice and a.slice < 96:
        ap.error("--slice must be 0 or at least 96 (the headers must stay)")
    t_begin = time.time()
    use_fast_csum()
    start = parse_start(a.start)
    os.makedirs(a.out, exist_ok=True)

    rng = random.Random("orgsim:%d" % a.seed)
    people = make_people(a.users, a.agents, rng)
    users_of = adopt(people, rng)
    schedule = plan(people, a.days, start, rng)

    hosts = sorted(set(HOST_APP) | {h for v in UNKNOWN.values() for h in v})
    servers = server_addresses(hosts)
    zone = {h: {"A": [(servers[h][0], 300)], "AAAA": [(servers[h][1], 300)]} for h in hosts}
    resolvers = {k: ("10.%d.0.53" % k, "fd00:%x::53" % k) for k in range(1, a.agents + 1)}

    pcaps = {}
    counts = {}
    for k in range(1, a.agents + 1):
        path = os.path.join(a.out, "agent-%d.pcap" % k)
        pcaps[k] = open(path, "wb")
        pcaps[k].write(pcap_header())
        counts[k] = [0, 0]  # packets, flows
    ipids = {k: {} for k in pcaps}
    truth = {}
    for day in range(a.days):
        day_start = start + day * DAY
        day_rng = random.Random("orgsim:%d:day:%d" % (a.seed, day))
        specs = day_flows(schedule[day], day, day_start, day_rng, servers, resolvers, not a.no_dns)
        by_agent = {k: [] for k in pcaps}
        for s in specs:
            by_agent[s["agent"]].append(s)
        for k, agent_specs in by_agent.items():
            cap = DayCapture("%d:%d" % (a.seed, k), day_start, ipids[k], zone, a.slice, a.gro)
            for spec in agent_specs:
                frng = cap.flow_rng(spec)
                t = spec["at_usec"] + frng.randrange(0, USEC)
                f = BUILDERS[spec["kind"]](cap, spec, frng, t)
                f.spec = spec
            for f in cap.flows:
                pk = f.packets
                first = min(p[0] for p in pk)
                last = max(p[0] for p in pk)
                if last - first > FLOW_MAX or last >= day_start + DAY or first < day_start:
                    raise SystemExit("orgsim: flow %s lasts %.1f s or leaves its day" %
                                     (f.spec["id"], (last - first) / USEC))
                host = f.spec["host"]
                if f.payload_name:
                    assert sg.normalize_host(f.payload_name[0]) == host, f.spec["id"]
                key = (day, str(f.client), host)
                r = truth.get(key)
                if r is None:
                    r = truth[key] = {"agent": k, "flows": 0, "packets": 0, "bytes_up": 0, "bytes_down": 0,
                                      "first": first, "last": last}
                r["flows"] += 1
                r["packets"] += len(pk)
                for ts, d, n in pk:
                    r["bytes_up" if d == 0 else "bytes_down"] += n
                r["first"] = min(r["first"], first)
                r["last"] = max(r["last"], last)
            frames = cap.frames.frames
            frames.sort(key=lambda x: (x[0], x[1]))
            out = pcaps[k]
            buf = []
            for ts, _, incl, orig in frames:
                buf.append(struct.pack("<IIII", ts // USEC, ts % USEC, len(incl), orig))
                buf.append(incl)
            out.write(b"".join(buf))
            counts[k][0] += len(frames)
            counts[k][1] += len(cap.flows)
    for fh in pcaps.values():
        fh.close()

    truth_path = os.path.join(a.out, "truth.jsonl")
    records = []
    for (day, client, host), r in sorted(truth.items(), key=lambda kv: (kv[0][0], sort_addr(kv[0][1]),
                                                                           kv[0][2] or "")):
        app, cat = HOST_APP.get(host, (None, None)) if host else (None, None)
        rec = {"day": sg.fmt_time(start + day * DAY)[:10], "agent": "agent-%d" % r["agent"],
               "client": client, "host": host, "app": app, "category": cat,
               "domain": registrable_domain(host) if host else None,
               "flows": r["flows"], "packets": r["packets"],
               "bytes_up": r["bytes_up"], "bytes_down": r["bytes_down"],
               "first_seen": sg.fmt_time(r["first"]), "last_seen": sg.fmt_time(r["last"])}
        records.append(rec)
    with open(truth_path, "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")

    # the design, checked against the truth with report_expect's own rules
    period_from, period_to = start, start + a.days * DAY
    catalog = report_expect.load_catalog(a.catalog)
    tables = report_expect.compute(records, catalog, period_from, period_to)
    predicted = report_expect.predict_gaps(tables)
    failures = design_failures(predicted, tables)

    top = os.path.dirname(os.path.dirname(HERE))  # the repository
    catalog_rel = os.path.relpath(os.path.abspath(a.catalog), top)
    org = {
        "organisation": ORGANISATION,
        "generator": "tests/gen/orgsim.py",
        "seed": a.seed,
        "period": {"from": sg.fmt_time(period_from, 0), "to": sg.fmt_time(period_to, 0)},
        "days": a.days,
        "users": a.users,
        "user_definition": "a client address",
        "agents": [{"name": "agent-%d" % k, "pcap": "agent-%d.pcap" % k,
                    "users": sum(1 for p in people if p.agent == k),
                    "ipv6_users": sum(1 for p in people if p.agent == k and p.v6),
                    "networks": ["10.%d.0.0/16" % k, "fd00:%x::/64" % k],
                    "resolver": list(resolvers[k]),
                    "packets": counts[k][0], "flows": counts[k][1]} for k in sorted(pcaps)],
        "catalog": catalog_rel if not catalog_rel.startswith("..") else os.path.abspath(a.catalog),
        "apps": [{"app": app, "category": APPS[app][0], "hosts": APPS[app][1],
                  "status": catalog["apps"].get(app, {}).get("status", "not-in-catalog"),
                  "adopted_by": len(users_of.get(app, ()))} for app in APPS],
        "unknown_hosts": sorted(h for v in UNKNOWN.values() for h in v),
        "expected_gaps": [{k: v for k, v in g.items()} for g in EXPECTED_GAPS],
        "no_gap_categories": NO_GAP_CATEGORIES,
        "design_check": {"ok": not failures, "failures": failures,
                         "predicted_gaps": predicted},
        "totals": {"flows": sum(c[1] for c in counts.values()),
                   "packets": sum(c[0] for c in counts.values()),
                   "truth_records": len(records)},
    }
    for g in org["expected_gaps"]:
        g.setdefault("app", None)
    with open(os.path.join(a.out, "org.json"), "w") as fh:
        json.dump(org, fh, indent=1)
        fh.write("\n")
    for msg in failures:
        sys.stderr.write("orgsim: warning: the design does not hold: %s\n" % msg)
    sys.stderr.write("orgsim: %d users, %d days, %d agents: %d flows, %d packets, %d truth records in %.1f s -> %s\n"
                     % (a.users, a.days, a.agents, org["totals"]["flows"], org["totals"]["packets"],
                        len(records), time.time() - t_begin, a.out))
    return 0


def verify(out_dir):
    """An independent reading of the captures (pcapcheck.analyse, day by
    day: no flow crosses midnight) against truth.jsonl: every (day, client,
    host) with its flows, packets, bytes and times; every checksum of the
    packets captured whole. Returns the number of differences."""
    import pcapcheck
    want = {}
    with open(os.path.join(out_dir, "truth.jsonl")) as fh:
        for line in fh:
            r = json.loads(line)
            want[(r["day"], r["client"], r["host"])] = r
    with open(os.path.join(out_dir, "org.json")) as fh:
        org = json.load(fh)
    got = {}
    stats_all = {}
    for ag in org["agents"]:
        day_frames, day = [], None

        def flush():
            flows, _dns, stats = pcapcheck.analyse(iter(day_frames))
            for k, v in stats.items():
                stats_all[k] = stats_all.get(k, 0) + v
            for f in flows:
                pk = sorted(f.packets)
                host = sg.normalize_host(f.name[0]) if f.name else None
                key = (day, str(f.client), host)
                r = got.setdefault(key, {"flows": 0, "packets": 0, "bytes_up": 0, "bytes_down": 0,
                                         "first_seen": pk[0][0], "last_seen": pk[-1][0]})
                r["flows"] += 1
                r["packets"] += len(pk)
                r["bytes_up"] += sum(p[2] for p in pk if p[1] == 0)
                r["bytes_down"] += sum(p[2] for p in pk if p[1] == 1)
                r["first_seen"] = min(r["first_seen"], pk[0][0])
                r["last_seen"] = max(r["last_seen"], pk[-1][0])

        for rec in pcapcheck.read_pcap(os.path.join(out_dir, ag["pcap"])):
            d = sg.fmt_time(rec[0])[:10]
            if d != day and day_frames:
                flush()
                day_frames = []
            day = d
            day_frames.append(rec)
        if day_frames:
            flush()
    bad = 0
    for key in sorted(set(want) | set(got), key=lambda k: (k[0], k[1], k[2] or "")):
        w, g = want.get(key), got.get(key)
        if w is None or g is None:
            bad += 1
            print("FAIL %s %s %s: %s" % (key[0], key[1], key[2],
                                         "not in the truth" if w is None else "not in the pcap"))
            continue
        for f in ("flows", "packets", "bytes_up", "bytes_down"):
            if w[f] != g[f]:
                bad += 1
                print("FAIL %s %s %s: %s pcap %d truth %d" % (key + (f, g[f], w[f])))
        for f in ("first_seen", "last_seen"):
            if sg.parse_time(w[f]) != g[f]:
                bad += 1
                print("FAIL %s %s %s: %s pcap %s truth %s" % (key + (f, sg.fmt_time(g[f]), w[f])))
    bad += stats_all.get("bad_ipv4_csum", 0) + stats_all.get("bad_l4_csum", 0) + stats_all.get("not_ip", 0)
    print("orgsim: verify: %d truth records, %d read from the captures; %s; %d differences"
          % (len(want), len(got), json.dumps(stats_all, sort_keys=True), bad))
    return bad


def sort_addr(s):
    ip = ipaddress.ip_address(s)
    return (ip.version, ip.packed)


def design_failures(predicted, tables):
    """Each expected gap must be predicted by the rules; no other gap may
    fall in a category built to have none."""
    have = {(g["verdict"], g["category"], g.get("app")) for g in predicted}
    out = []
    for g in EXPECTED_GAPS:
        key = (g["verdict"], g["category"], g.get("app"))
        if key not in have:
            out.append("expected gap %s %s%s is not there" %
                       (g["verdict"], g["category"], " " + g["app"] if g.get("app") else ""))
    cats = {c["category"] for c in tables["categories"]}
    for c in NO_GAP_CATEGORIES:
        if c not in cats:
            out.append("category %s has no use" % c)
        for g in predicted:
            if g["category"] == c:
                out.append("category %s was built to have no gap, has %s%s" %
                           (c, g["verdict"], " " + g["app"] if g.get("app") else ""))
    return out


if __name__ == "__main__":
    sys.exit(main())
