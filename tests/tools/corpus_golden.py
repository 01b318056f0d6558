#!/usr/bin/python3
"""Golden files for the shared nDPI corpus: per capture, every flow as the
agent sees it next to what Debian's ndpiReader (nDPI 4.2, the same library
the agent links) says, and why they differ where they do.

The point is twofold. The agent must name at least every flow ndpiReader
names (a protocol other than Unknown, or a host name); and any change in
what the agent finds on real traffic shows up as a diff against a reviewed
file instead of passing silently.

Flows are matched on (protocol, unordered endpoints); both tools may split
one 5-tuple into several flows (idle timeouts, port reuse), so each side of
a row is the sorted set of what that tool said for the key.

usage:
  corpus_golden.py check  --agent BIN --signatures DIR CORPUS GOLDEN_DIR
  corpus_golden.py update --agent BIN --signatures DIR CORPUS GOLDEN_DIR
check exits 1 with one line per problem; update rewrites the golden files,
keeping every hand-written reason whose row did not change.
"""
import argparse
import ipaddress
import json
import os
import re
import subprocess
import sys

CAPTURE_RE = re.compile(r'\.(pcap|pcapng|cap)$')
# "  12  TCP 1.2.3.4:5 <-> 6.7.8.9:443 [proto: 91.203/TLS.Github]..."
FLOW_RE = re.compile(r'^\s+\d+\s+(\S+)\s+(\S+)\s+(?:<->|->)\s+(\S+)\s+\[proto: ([^\]]*)\]')
HOST_RE = re.compile(r'\[Hostname/SNI: ([^\]]*)\]')
IP_PROTO = {'TCP': 'tcp', 'UDP': 'udp', 'ICMP': 'icmp', 'ICMPV6': 'icmpv6', 'IGMP': '2'}
NDPI_NAME_MAX = 79  # nDPI 4.2 keeps at most this many characters of a name
HEADER = ('# proto\tendpoint_a\tendpoint_b\tndpireader\tagent\twhy\n'
          '# ndpireader: PROTO host; agent: PROTO host app (name source); '
          '"-" for none; several flows of one key are joined by " | "\n')


def endpoint(text):
    """'1.2.3.4:80' or '[2001:db8::1]:80' -> (addr, port), the address in
    RFC 5952 form. ndpiReader 4.2 prints some IPv6 addresses in forms no
    parser reads ("2600:1901::7a0b::"): those stay as printed and are
    matched loosely (fix_unparsed)."""
    addr, _, port = text.rpartition(':')
    addr = addr.strip('[]')
    try:
        addr = ipaddress.ip_address(addr).compressed
    except ValueError:
        pass
    return addr, int(port)


def parses(addr):
    try:
        ipaddress.ip_address(addr)
        return True
    except ValueError:
        return False


def fix_unparsed(nd, ag):
    """Moves ndpiReader keys with an unreadable address onto the one agent
    key of the same protocol, ports and other address."""
    for k in [k for k in nd if k not in ag]:
        ends = [e.rpartition(':') for e in k[1:]]
        if all(parses(a) for a, _, _ in ends):
            continue
        cands = []
        for j in ag:
            if j[0] != k[0] or j in nd:
                continue
            jends = [e.rpartition(':') for e in j[1:]]
            if sorted(p for _, _, p in jends) != sorted(p for _, _, p in ends):
                continue
            good = {(a, p) for a, _, p in ends if parses(a)}
            if good <= {(a, p) for a, _, p in jends}:
                cands.append(j)
        if len(cands) == 1:
            nd[cands[0]] = nd.pop(k)


def key_of(proto, a, b):
    ends = sorted([a, b], key=lambda e: (e[0], e[1]))
    return (proto, '%s:%d' % ends[0], '%s:%d' % ends[1])


def ndpireader_flows(path):
    out = subprocess.run(['ndpiReader', '-i', path, '-v', '2'], capture_output=True,
                         text=True, errors='replace').stdout
    flows = {}
    for line in out.splitlines():
        m = FLOW_RE.match(line)
        if not m:
            continue
        proto = IP_PROTO.get(m.group(1), m.group(1).lower())
        k = key_of(proto, endpoint(m.group(2)), endpoint(m.group(3)))
        name = m.group(4).split('/', 1)[-1]
        h = HOST_RE.search(line)
        flows.setdefault(k, set()).add((name, h.group(1) if h and h.group(1) else None))
    return flows


def agent_flows(agent, sigs, path):
    r = subprocess.run([agent, '-q', '--signatures', sigs, '-r', path, '-o', '-',
                        '--flows', '/dev/stderr'], capture_output=True, text=True)
    flows, summaries, errors = {}, [], []
    for line in r.stderr.splitlines():
        if not line.startswith('{'):
            errors.append(line)
            continue
        f = json.loads(line)
        a = (f['client'], f['client_port'])
        b = (f['server'], f['server_port'])
        k = key_of(f['proto'], a, b)
        flows.setdefault(k, set()).add((f['ndpi_proto'] or 'Unknown', f['host'], f['app'],
                                        f['name_source']))
    for line in r.stdout.splitlines():
        summaries.append(json.loads(line))
    return r.returncode, flows, summaries, errors


def fmt_ndpi(vals):
    return ' | '.join('%s %s' % (p, h or '-') for p, h in sorted(vals, key=str)) if vals else '-'


def fmt_agent(vals):
    return ' | '.join('%s %s %s (%s)' % (p, h or '-', a or '-', s or '-')
                      for p, h, a, s in sorted(vals, key=str)) if vals else '-'


def named_by_ndpi(vals):
    return any(p != 'Unknown' or h for p, h in vals)


def named_by_agent(vals):
    return any(p != 'Unknown' or h or a for p, h, a, _ in vals)


# ndpiReader's "Hostname" for these protocols is not the name of the server
# the client talks to; the agent gives such flows no host.
NOT_A_SERVER_NAME = [
    (('DNS',), 'a DNS query name, not the server\'s name (the agent reads the '
               'answers into its DNS cache instead)'),
    (('MDNS', 'LLMNR', 'NetBIOS'), 'a local name-service query or the sender\'s '
                                   'own name, not a server name'),
    (('DHCP', 'DHCPV6'), 'the DHCP client\'s own host name, not a server name'),
    (('SSH',), 'the SSH version banner, not a name'),
    (('STUN',), 'a name from a STUN attribute; the agent reads no STUN names '
                '(its app comes from nDPI\'s verdict)'),
    (('SMTP', 'SMTPS', 'POP3', 'IMAP'), 'the mail server\'s greeting, which the '
                                        'agent does not read'),
]


def auto_reason(nd, ag):
    """The reason for a disagreement when it is one of the known kinds;
    None when a person has to write one."""
    if len(nd) != 1 or len(ag) != 1:
        return None
    (n_proto, n_host), = nd
    (a_proto, a_host, _, source), = ag
    reasons = []
    if n_host != a_host:
        family = n_proto.split('.')[0]
        if n_host and a_host and len(a_host) > NDPI_NAME_MAX and \
                a_host.startswith(n_host):
            reasons.append('nDPI 4.2 cuts names at %d characters' % NDPI_NAME_MAX)
        elif n_host and parses(n_host):
            why = 'ndpiReader\'s "name" is an address literal; the agent keeps names only'
            if a_host and source == 'cert':
                why += ' and takes this one from the server certificate'
            reasons.append(why)
        elif n_host and family == 'DNS' and source == 'dns':
            reasons.append('ndpiReader gives the query name; the agent the server\'s own '
                           'name from an earlier DNS answer')
        elif n_host and not a_host:
            for families, why in NOT_A_SERVER_NAME:
                if family in families:
                    reasons.append(why)
                    break
            else:
                return None
        elif not n_host and source == 'dns':
            reasons.append('name from a DNS answer seen earlier (nDPI keeps no DNS cache)')
        elif not n_host and source == 'quic':
            reasons.append('QUIC SNI from reassembled Initials (nDPI 4.2 misses it)')
        elif not n_host and source == 'cert':
            reasons.append('no SNI; the agent takes the name from the server certificate')
        elif not n_host and source in ('sni', 'http'):
            reasons.append('the agent reassembles the TCP stream (nDPI 4.2 gave up on it)')
        else:
            return None
    if n_proto != a_proto:
        carrier = n_proto.split('.')[0]
        if a_host and source in ('sni', 'quic', 'http', 'dns') and \
                a_proto.startswith(carrier + '.') and \
                (n_proto == carrier or not n_host):
            reasons.append('nDPI\'s host rules on that name give %s, which beats %s'
                           % (a_proto.split('.', 1)[1],
                              'a guess by address' if n_proto != carrier else
                              'no application (ndpiReader 4.2 does not apply them here)'))
        else:
            return None
    return '; '.join(reasons)


def load_golden(path):
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path) as fp:
        for n, line in enumerate(fp, 1):
            if line.startswith('#') or not line.strip():
                continue
            cols = line.rstrip('\n').split('\t')
            if len(cols) != 6:
                raise SystemExit('%s:%d: expected 6 tab-separated columns' % (path, n))
            rows[tuple(cols[:3])] = (cols[3], cols[4], cols[5], n)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['check', 'update'])
    ap.add_argument('--agent', required=True)
    ap.add_argument('--signatures', required=True)
    ap.add_argument('--iptotals', default=os.path.join(os.path.dirname(__file__), 'iptotals.py'))
    ap.add_argument('corpus')
    ap.add_argument('golden')
    args = ap.parse_args()

    captures = sorted(f for f in os.listdir(args.corpus) if CAPTURE_RE.search(f))
    problems = []
    stats = {'captures': 0, 'flows': 0, 'ndpi_named': 0, 'agent_named': 0,
             'agent_only': 0, 'differ': 0}
    seen_golden = set()
    for cap in captures:
        path = os.path.join(args.corpus, cap)
        stats['captures'] += 1
        rc, ag, summaries, errors = agent_flows(args.agent, args.signatures, path)
        if rc != 0:
            problems.append('%s: agent exited %d: %s' % (cap, rc, ' / '.join(errors)))
        # every IP byte counted once: the summaries against an independent count
        tot = subprocess.run([sys.executable, args.iptotals, path], capture_output=True,
                             text=True).stdout.split()
        got_p = sum(s['packets'] for s in summaries)
        got_b = sum(s['bytes_up'] + s['bytes_down'] for s in summaries)
        if len(tot) != 2 or (got_p, got_b) != (int(tot[0]), int(tot[1])):
            problems.append('%s: summaries hold %d packets / %d bytes, the capture %s'
                            % (cap, got_p, got_b, ' packets / '.join(tot) + ' bytes'))
        nd = ndpireader_flows(path)
        fix_unparsed(nd, ag)
        gpath = os.path.join(args.golden, cap + '.tsv')
        seen_golden.add(os.path.basename(gpath))
        old = load_golden(gpath)
        rows = []
        for k in sorted(set(nd) | set(ag)):
            n_vals, a_vals = nd.get(k, set()), ag.get(k, set())
            stats['flows'] += 1
            n_named, a_named = named_by_ndpi(n_vals), named_by_agent(a_vals)
            stats['ndpi_named'] += n_named
            stats['agent_named'] += a_named
            if n_named and not a_named:
                problems.append('%s: %s %s <-> %s: ndpiReader names it (%s), the agent '
                                'does not' % (cap, k[0], k[1], k[2], fmt_ndpi(n_vals)))
            n_txt, a_txt = fmt_ndpi(n_vals), fmt_agent(a_vals)
            agree = ({p for p, _ in n_vals} == {p for p, _, _, _ in a_vals} and
                     {h for _, h in n_vals} == {h for _, h, _, _ in a_vals})
            why = ''
            if not agree:
                stats['agent_only' if a_named and not n_named else 'differ'] += 1
                prev = old.get(k)
                if prev and prev[0] == n_txt and prev[1] == a_txt and prev[2]:
                    why = prev[2]
                else:
                    why = auto_reason(n_vals, a_vals) or ''
            rows.append((k, n_txt, a_txt, why))
        if args.mode == 'update':
            os.makedirs(args.golden, exist_ok=True)
            with open(gpath, 'w') as fp:
                fp.write('# %s\n' % cap + HEADER)
                for k, n_txt, a_txt, why in rows:
                    fp.write('\t'.join(k + (n_txt, a_txt, why)) + '\n')
            continue
        if not old:
            problems.append('%s: no golden file %s' % (cap, gpath))
            continue
        for k, n_txt, a_txt, why in rows:
            prev = old.pop(k, None)
            where = '%s %s %s <-> %s' % (cap, k[0], k[1], k[2])
            if prev is None:
                problems.append('%s: new flow: ndpireader %s, agent %s' % (where, n_txt, a_txt))
                continue
            if prev[1] != a_txt:
                problems.append('%s:%d: agent now says "%s", golden "%s"'
                                % (gpath, prev[3], a_txt, prev[1]))
            if prev[0] != n_txt:
                problems.append('%s:%d: ndpiReader now says "%s", golden "%s"'
                                % (gpath, prev[3], n_txt, prev[0]))
            if n_txt != '-' and needs_reason(n_txt, a_txt) and not prev[2]:
                problems.append('%s:%d: tools disagree and the golden file does not say why'
                                % (gpath, prev[3]))
        for k, prev in old.items():
            problems.append('%s:%d: flow %s no longer seen' % (gpath, prev[3], ' '.join(k)))

    if args.mode == 'update':
        unexplained = 0
        for cap in captures:
            for k, v in load_golden(os.path.join(args.golden, cap + '.tsv')).items():
                if not v[2] and v[0] != '-' and needs_reason(v[0], v[1]):
                    unexplained += 1
                    print('needs a reason: %s %s' % (cap, ' '.join(k)))
        print('updated %d golden files; %d rows need a hand-written reason'
              % (len(captures), unexplained))
    for p in problems:
        print(p)
    print('corpus: %(captures)d captures, %(flows)d flow keys; ndpiReader names %(ndpi_named)d, '
          'the agent %(agent_named)d; the agent alone names %(agent_only)d; '
          'they name %(differ)d differently' % stats)
    return 1 if problems else 0


def needs_reason(n_txt, a_txt):
    """A row whose two sides name the flow differently."""
    def parts(txt, n):
        return sorted(tuple(x.split(' ')[:n]) for x in txt.split(' | '))
    return parts(n_txt, 2) != parts(a_txt, 2)


if __name__ == '__main__':
    sys.exit(main())
