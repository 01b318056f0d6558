#!/usr/bin/env python3
"""Measure how well the signatures name hosts they were not written from.

An expectations file lists real host names, each with the main address of
the app it belongs to (the host where a user opens that product, such as
slack.com or mail.google.com) or "-" for a name that must stay unnamed
(CDNs, OS services, trackers, customers' sites on a vendor's domain).
Writing the main address instead of a slug keeps the file independent of
how the knowledge base names its apps: a row is right when the host gets
the same app as its main address does.

usage: scripts/measure-names.py [--agent PATH] [--signatures DIR] [--rows] FILE...
  FILE     tab-separated: host, main address or "-", product (for people)
  --rows   also list every row that is not right (never on a held-out set:
           reading its misses makes it a training set)
"""
import argparse
import collections
import re
import subprocess
import sys

# Shared sign-in stays unnamed by project convention (the golden coverage
# table); a row on it is out of scope whatever its label says.
SHARED_SIGNIN = re.compile(
    r'^(.*\.)?(accounts\.google\.[a-z.]+|login\.microsoftonline\.[a-z.]+'
    r'|login\.live\.com|login\.windows\.net)$')


def read_rows(path):
    rows, dropped = [], 0
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            fields = line.rstrip('\n').split('\t')
            if not line.strip() or line.startswith('#'):
                continue
            if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
                sys.exit(f'{path}:{lineno}: expected "host<TAB>main address or -"')
            host = fields[0].strip().lower().rstrip('.')
            if SHARED_SIGNIN.match(host):
                dropped += 1
                continue
            rows.append((host, fields[1].strip().lower(),
                         fields[2].strip() if len(fields) > 2 else ''))
    return rows, dropped


def alternatives(address):
    # A writer may give the bare domain of a product whose knowledge-base
    # entry lists only its www or app host.
    return [address, 'www.' + address, 'app.' + address]


def lookup(agent, sigdir, names):
    apps = {}
    names = sorted(names)
    for i in range(0, len(names), 2000):
        cmd = [agent, '--signatures-cache', '', '--lookup'] + names[i:i + 2000]
        if sigdir:
            cmd[1:1] = ['--signatures', sigdir]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f'{agent} --lookup failed: {out.stderr.strip()}')
        for line in out.stdout.splitlines():
            fields = line.split('\t')
            apps[fields[0]] = fields[1]
    return apps


def measure(path, rows, dropped, apps, show_rows):
    c = collections.Counter()
    per_app = collections.defaultdict(lambda: [0, 0])
    misses = []
    for host, want_addr, product in rows:
        got = apps.get(host, '-')
        if want_addr == '-':
            c['negative'] += 1
            if got != '-':
                c['named'] += 1
                misses.append(('NAMED', host, want_addr, product, got))
            continue
        c['saas'] += 1
        per_app[want_addr][1] += 1
        want = next((apps[a] for a in alternatives(want_addr) if apps.get(a, '-') != '-'), '-')
        if want == '-':
            c['missing'] += 1
            misses.append(('MISSING-APP', host, want_addr, product, got))
        elif got == want:
            c['right'] += 1
            per_app[want_addr][0] += 1
        elif got == '-':
            c['unnamed'] += 1
            misses.append(('KNOWN-UNNAMED', host, want_addr, product, got))
        else:
            c['other'] += 1
            misses.append(('OTHER-APP', host, want_addr, product, f'{got} want {want}'))
    saas = c['saas'] or 1
    print(f"{path}: SaaS right {c['right']}/{c['saas']} = {100 * c['right'] / saas:.2f}%; "
          f"unnamed-known-app {c['unnamed']}, missing-app {c['missing']}, other-app {c['other']}; "
          f"must-stay-unnamed named {c['named']}/{c['negative']}"
          + (f"; {dropped} shared sign-in rows left out" if dropped else ''))
    if per_app:
        mean = sum(r / n for r, n in per_app.values()) / len(per_app)
        whole = sum(1 for r, n in per_app.values() if r == n)
        print(f"  per app (each expected app weighs the same): {100 * mean:.2f}% of rows right "
              f"on average; {whole}/{len(per_app)} apps with every row right")
    if show_rows:
        for miss in misses:
            print('\t'.join(miss))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--agent', default='build/shadowmap-agent')
    ap.add_argument('--signatures', help='signature directory (default: the agent\'s own)')
    ap.add_argument('--rows', action='store_true')
    ap.add_argument('files', nargs='+')
    args = ap.parse_args()
    sets = [(path,) + read_rows(path) for path in args.files]
    names = set()
    for _, rows, _ in sets:
        for host, addr, _ in rows:
            names.add(host)
            if addr != '-':
                names.update(alternatives(addr))
    apps = lookup(args.agent, args.signatures, names)
    for path, rows, dropped in sets:
        measure(path, rows, dropped, apps, args.rows)


if __name__ == '__main__':
    main()
