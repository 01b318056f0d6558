#!/usr/bin/python3
"""Every server name in a set of captures, read from the bytes alone (not by
the agent): the TLS ClientHello SNI over TCP, the SNI of QUIC Initials
(decrypted for IETF QUIC, Google's T05x and Q050; cleartext CHLO for older
gQUIC), the HTTP/1.x Host header (and a CONNECT request's authority) and DNS
question names (UDP and TCP port 53; mDNS and LLMNR are left out and counted).
tests/integration/signatures_corpus_names.sh checks the names against the
reviewed tests/golden/corpus_names.tsv.

usage: corpus_names.py [--stats FILE] CAPTURE_OR_DIR...

Prints one row per distinct name, sorted: name<TAB>kinds<TAB>captures, kinds
among sni, quic, http, dns, comma-separated; captures by file name. Names
are normalised (lower case, no trailing dot, no port); IP literals, names
without a dot, reverse-lookup names (*.arpa) and anything that is not a
host name (bytes outside letters, digits, '-' and '_', such as a DNS
question for "*.example.com") are left out and counted. The one-off names
a DNS tunnel asks for (32 or more DNS-only names under one parent) are
listed once, as their parent domain. The figures (per kind, what was left
out, QUIC flows not read) go to standard error or to --stats FILE.

Reads classic pcap and pcapng; Ethernet (802.1Q/QinQ, PPPoE, MPLS), Linux
cooked v1/v2, raw IP, BSD null/loop. TCP streams are reassembled per
direction by sequence number (in or out of order, retransmissions and
overlaps: the first copy wins); IPv4 and IPv6 fragments are joined.
"""
import argparse
import collections
import ipaddress
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'gen'))
import iptotals  # noqa: E402  (pcap and pcapng record readers)
import shadowgen as sg  # noqa: E402  (HKDF and QUIC Initial key schedule)

CAPTURE_RE = re.compile(r'\.(pcap|pcapng|cap)$')
STREAM_MAX = 1 << 20          # bytes of a TCP direction kept from its start
DNS_PORTS = {53}
LOCAL_DNS_PORTS = {5353: 'mdns', 5355: 'llmnr'}
HOST_RE = re.compile(r'^[a-z0-9_-]+(\.[a-z0-9_-]+)*$')
TUNNEL_MIN = 32               # one-off DNS names under one parent: a tunnel

# ---------------------------------------------------------------- link layer


def ip_of_frame(linktype, d):
    """The IP packet in a frame, or None."""
    def by_ethertype(t, d):
        for _ in range(8):
            if t in (0x0800, 0x86dd):
                return d
            if t in (0x8100, 0x88a8, 0x9100) and len(d) >= 4:
                t, d = struct.unpack('>H', d[2:4])[0], d[4:]
            elif t == 0x8864 and len(d) >= 8:
                ppp = struct.unpack('>H', d[6:8])[0]
                t, d = {0x0021: 0x0800, 0x0057: 0x86dd}.get(ppp, 0), d[8:]
            elif t in (0x8847, 0x8848):
                while len(d) >= 4:
                    bottom, d = d[2] & 1, d[4:]
                    if bottom:
                        break
                return d if d and d[0] >> 4 in (4, 6) else None
            else:
                return None
        return None

    if linktype == 1:
        return by_ethertype(struct.unpack('>H', d[12:14])[0], d[14:]) if len(d) >= 14 else None
    if linktype == 113:
        return by_ethertype(struct.unpack('>H', d[14:16])[0], d[16:]) if len(d) >= 16 else None
    if linktype == 276:
        return by_ethertype(struct.unpack('>H', d[0:2])[0], d[20:]) if len(d) >= 20 else None
    if linktype in (101, 12, 14, 228, 229):
        return d
    if linktype in (0, 108):
        return d[4:] if len(d) >= 4 and d[4:5] and d[4] >> 4 in (4, 6) else None
    raise ValueError('link type %d not supported' % linktype)


def frames(path, stats):
    """(link type, frame bytes) of every record; a file cut short is counted."""
    with open(path, 'rb') as f:
        head = f.read(24)
        if head[:4] == b'\x0a\x0d\x0d\x0a':
            f.seek(0)
            gen = iptotals.pcapng(f, f.read(8))
        else:
            gen = iptotals.classic(f, head)
        try:
            for linktype, d, _ in gen:
                yield linktype, d
        except EOFError:
            stats['captures cut short (read up to the cut)'] += 1


# ------------------------------------------------------------------ IP layer


class Reassembly:
    """IPv4 and IPv6 fragments -> whole datagrams."""

    def __init__(self):
        self.parts = {}

    def add(self, key, off, more, data):
        p = self.parts.setdefault(key, {'chunks': {}, 'end': None})
        p['chunks'].setdefault(off, data)
        if not more:
            p['end'] = off + len(data)
        if p['end'] is None:
            return None
        out = b''
        for o in sorted(p['chunks']):
            if o > len(out):
                return None
            out += p['chunks'][o][len(out) - o:]
        if len(out) < p['end']:
            return None
        del self.parts[key]
        return out[:p['end']]


def transport(ip, frags):
    """(src, dst, proto, l4 bytes) of a whole datagram, or None."""
    if len(ip) < 20:
        return None
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack('>H', ip[2:4])[0] or len(ip)
        ident, ff = struct.unpack('>HH', ip[4:8])
        proto, src, dst = ip[9], ip[12:16], ip[16:20]
        l4 = ip[ihl:total]
        off, more = (ff & 0x1fff) * 8, bool(ff & 0x2000)
        if off or more:
            l4 = frags.add((src, dst, proto, ident), off, more, l4)
            if l4 is None:
                return None
        return src, dst, proto, l4
    if ip[0] >> 4 == 6 and len(ip) >= 40:
        plen = struct.unpack('>H', ip[4:6])[0]
        nh, src, dst = ip[6], ip[8:24], ip[24:40]
        rest = ip[40:40 + plen] if plen else ip[40:]
        for _ in range(8):
            if nh in (0, 43, 60) and len(rest) >= 8:
                nh, rest = rest[0], rest[8 + rest[1] * 8:]
            elif nh == 44 and len(rest) >= 8:
                fnh = rest[0]
                fo = struct.unpack('>H', rest[2:4])[0]
                ident = struct.unpack('>I', rest[4:8])[0]
                whole = frags.add((src, dst, 'v6', ident), fo & 0xfff8, bool(fo & 1), rest[8:])
                if whole is None:
                    return None
                nh, rest = fnh, whole
            else:
                break
        return src, dst, nh, rest
    return None


# ----------------------------------------------------------------- the names

def normalise(name):
    """A normalised server name, or (None, reason)."""
    n = name.strip().rstrip('.').lower()
    if n.startswith('[') and ']' in n:
        n = n[1:n.index(']')]          # [v6]:port
    elif n.count(':') == 1:
        n = n.split(':', 1)[0]          # host:port
    if not n:
        return None, 'empty'
    if any(c < '!' or c > '~' for c in n):
        return None, 'not printable ASCII'
    if not HOST_RE.match(n):
        return None, 'not a host name'
    try:
        ipaddress.ip_address(n)
        return None, 'IP address'
    except ValueError:
        pass
    if '.' not in n:
        return None, 'no dot'
    if n.endswith('.arpa'):
        return None, 'reverse lookup (.arpa)'
    return n, None


class Names:
    def __init__(self):
        self.seen = collections.defaultdict(lambda: (set(), set()))
        self.stats = collections.Counter()

    def add(self, raw, kind, capture):
        if isinstance(raw, bytes):
            raw = raw.decode('latin-1')
        name, why = normalise(raw)
        if name is None:
            self.stats['%s names left out: %s' % (kind, why)] += 1
            return
        kinds, caps = self.seen[name]
        kinds.add(kind)
        caps.add(capture)


# ---------------------------------------------------------------------- TLS

def sni_of_client_hello(hs):
    """The host_name of a whole ClientHello handshake message (type,
    length, body), '' when it has none; ValueError when malformed."""
    if len(hs) < 4 or hs[0] != 1:
        raise ValueError('not a ClientHello')
    end = 4 + int.from_bytes(hs[1:4], 'big')
    if len(hs) < end:
        raise ValueError('short')
    p = 4 + 2 + 32
    p += 1 + hs[p]
    p += 2 + struct.unpack_from('>H', hs, p)[0]
    p += 1 + hs[p]
    if p == end:
        return ''
    ext_end = p + 2 + struct.unpack_from('>H', hs, p)[0]
    if ext_end > end:
        raise ValueError('extensions overrun')
    p += 2
    while p + 4 <= ext_end:
        t, n = struct.unpack_from('>HH', hs, p)
        if t == 0:
            q, body_end = p + 4 + 2, p + 4 + n
            while q + 3 <= body_end:
                typ, ln = hs[q], struct.unpack_from('>H', hs, q + 1)[0]
                if typ == 0:
                    return hs[q + 3:q + 3 + ln].decode('latin-1')
                q += 3 + ln
            return ''
        p += 4 + n
    return ''


TLS_RECORD_RE = re.compile(rb'\x16\x03[\x00-\x04]..\x01', re.S)


def tls_client_hello_at(data, off):
    """The SNI of a ClientHello whose TLS records start at off: a string ('' for
    none), or None when the records do not hold a whole, valid one."""
    hs = b''
    while off + 5 <= len(data) and data[off] == 0x16 and data[off + 1] == 3:
        n = struct.unpack_from('>H', data, off + 3)[0]
        if off + 5 + n > len(data):
            return None
        hs += data[off + 5:off + 5 + n]
        off += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], 'big'):
            try:
                return sni_of_client_hello(hs)
            except (ValueError, IndexError, struct.error):
                return None
    return None


def tls_snis(stream):
    """SNIs of the ClientHellos in a TCP direction: at its start, or later
    (after STARTTLS or an HTTP CONNECT)."""
    out = []
    for m in TLS_RECORD_RE.finditer(stream):
        s = tls_client_hello_at(stream, m.start())
        if s:
            out.append(s)
    return out


# --------------------------------------------------------------------- HTTP

REQUEST_RE = re.compile(rb'(?:^|\n)([A-Z][A-Z-]{2,16}) (\S+) HTTP/1\.[019]\r?\n')


def http_hosts(stream):
    """(kind, host) of every HTTP/1.x request in a TCP direction."""
    out = []
    for m in REQUEST_RE.finditer(stream):
        method, target = m.group(1), m.group(2)
        head = stream[m.end():m.end() + 16384].split(b'\r\n\r\n', 1)[0]
        host = None
        for line in head.split(b'\n'):
            if line[:5].lower() == b'host:':
                host = line[5:].strip()
                break
        if host:
            out.append(host)
        elif method == b'CONNECT':
            out.append(target)
        elif target.startswith(b'http://'):
            out.append(target[7:].split(b'/', 1)[0])
    return out


# ---------------------------------------------------------------------- DNS

def dns_questions(msg):
    """The question names of a DNS message (query or response)."""
    if len(msg) < 12:
        return []
    qd = struct.unpack_from('>H', msg, 4)[0]
    if qd == 0 or qd > 16 or msg[2] & 0x78:       # only standard queries (opcode 0)
        return []
    off, names = 12, []
    for _ in range(qd):
        labels, p, jumps, end = [], off, 0, None
        while True:
            if p >= len(msg):
                return names
            n = msg[p]
            if n & 0xc0 == 0xc0:
                if p + 1 >= len(msg) or jumps > 16:
                    return names
                if end is None:
                    end = p + 2
                p, jumps = ((n & 0x3f) << 8) | msg[p + 1], jumps + 1
                continue
            if n & 0xc0:
                return names
            if n == 0:
                end = end if end is not None else p + 1
                break
            labels.append(msg[p + 1:p + 1 + n])
            p += 1 + n
        names.append(b'.'.join(labels))
        off = end + 4
    return names


# --------------------------------------------------------------------- QUIC

SALTS = {
    'v1': '38762cf7f55934b34d179ae6a4c80cadccbb7f0a',
    'v2': '0dede3def700a6db819381be6e269dcbf9bd2ed9',
    'd23': 'c3eef712c72ebb5a11a7d2432bb46365bef9f502',
    'd29': 'afbfec289993d24c9e9786f19c6111e04390a899',
    'q050': '504574efd066fe2f9d945cfcdbd3a7f0d3b56b45',
    't050': '7ff579e5acd072915580304c43a2367c60488310',
    't051': '7a4edef4e7ccee5fa4506c19124fc8ccda6e033d',
}
# version -> (salt, label prefix, Initial packet type, frames, hello)
QUIC_VERSIONS = {
    0x00000001: ('v1', b'quic ', 0, 'ietf', 'tls'),
    0x6b3343cf: ('v2', b'quicv2 ', 1, 'ietf', 'tls'),
    0xfaceb002: ('d23', b'quic ', 0, 'ietf', 'tls'),
    0x54303530: ('t050', b'quic ', 0, 'google', 'tls'),
    0x54303531: ('t051', b'quic ', 0, 'google', 'tls'),
    0x51303530: ('q050', b'quic ', 0, 'google', 'chlo'),
}
for _d in range(0x1b, 0x23):
    QUIC_VERSIONS[0xff000000 | _d] = ('d23' if _d < 0x1d else 'd29' if _d < 0x21 else 'v1',
                                      b'quic ', 0, 'ietf', 'tls')


class Keys:
    """Client Initial keys (RFC 9001 5.2) for a DCID."""

    def __init__(self, salt_name, prefix, dcid):
        salt = bytes.fromhex(SALTS[salt_name])
        secret = sg.hkdf_expand_label(sg.hkdf_extract(salt, dcid), b'client in', b'', 32)
        key = sg.hkdf_expand_label(secret, prefix + b'key', b'', 16)
        self.iv = sg.hkdf_expand_label(secret, prefix + b'iv', b'', 12)
        hp = sg.hkdf_expand_label(secret, prefix + b'hp', b'', 16)
        self.aead = sg.AESGCM(key)
        self.ecb = sg.Cipher(sg.algorithms.AES(hp), sg.modes.ECB()).encryptor()


def open_initial(pkt, pn_off, length, keys):
    mask = keys.ecb.update(bytes(pkt[pn_off + 4:pn_off + 20]))
    first = pkt[0] ^ (mask[0] & 0x0f)
    pn_len = (first & 3) + 1
    pnb = bytes(pkt[pn_off + i] ^ mask[1 + i] for i in range(pn_len))
    pn = int.from_bytes(pnb, 'big')
    nonce = bytes(a ^ b for a, b in zip(keys.iv, pn.to_bytes(12, 'big')))
    aad = bytes([first]) + pkt[1:pn_off] + pnb
    return keys.aead.decrypt(nonce, pkt[pn_off + pn_len:pn_off + length], aad)


def crypto_frames(pt, framing):
    """(offset, data) of the CRYPTO frames of an Initial's plaintext."""
    out, p = [], 0
    rd = sg.qvarint_read
    try:
        while p < len(pt):
            t = pt[p]
            if framing == 'google':
                if t == 0:
                    break                       # PADDING: the rest of the packet
                if t == 7:
                    p += 1
                elif t == 8:
                    o, p = rd(pt, p + 1)
                    n, p = rd(pt, p)
                    out.append((o, pt[p:p + n]))
                    p += n
                else:
                    break
                continue
            if t in (0, 1):
                p += 1
            elif t in (2, 3):
                _, p = rd(pt, p + 1)
                _, p = rd(pt, p)
                cnt, p = rd(pt, p)
                _, p = rd(pt, p)
                for _ in range(2 * cnt + (3 if t == 3 else 0)):
                    _, p = rd(pt, p)
            elif t == 6:
                o, p = rd(pt, p + 1)
                n, p = rd(pt, p)
                out.append((o, pt[p:p + n]))
                p += n
            else:
                break
    except IndexError:
        pass
    return out


def chlo_sni(data):
    """The SNI tag of a gQUIC CHLO message somewhere in data: '' for a CHLO
    without one, None when there is no whole CHLO."""
    i = data.find(b'CHLO')
    while i >= 0:
        try:
            ntags = struct.unpack_from('<H', data, i + 4)[0]
            base = i + 8 + 8 * ntags
            prev = 0
            for k in range(ntags):
                tag, end = struct.unpack_from('<4sI', data, i + 8 + 8 * k)
                if end < prev or base + end > len(data):
                    break
                if tag == b'SNI\x00':
                    return data[base + prev:base + end]
                prev = end
            else:
                if ntags:
                    return ''
        except struct.error:
            pass
        i = data.find(b'CHLO', i + 4)
    return None


class QuicFlow:
    def __init__(self):
        self.version = None
        self.keys = {}           # dcid -> Keys
        self.first_dcid = None
        self.crypto = {}
        self.done = False
        self.opened = False
        self.port443 = False


def quic_datagram(q, dg):
    """Reads the client Initials of one datagram into the flow q; returns
    the SNI when the ClientHello (or CHLO) is whole, else None."""
    if q.done or not dg or not dg[0] & 0x80:
        # gQUIC's public header (before Q046): flags without 0x80, version at 9
        if not q.done and len(dg) > 13 and dg[0] & 0x01 and dg[9:11] == b'Q0':
            q.version = q.version or dg[9:13].decode('latin-1')
            s = chlo_sni(dg)
            if s is not None:
                q.done = True
                return s
        return None
    off = 0
    while off + 7 < len(dg) and dg[off] & 0x80:
        version = struct.unpack_from('>I', dg, off + 1)[0]
        if dg[off + 1:off + 3] == b'Q0' and version not in QUIC_VERSIONS:
            q.version = q.version or dg[off + 1:off + 5].decode('latin-1')
            s = chlo_sni(dg[off:])          # Q046 and before: cleartext
            if s is not None:
                q.done = True
            return s
        if version not in QUIC_VERSIONS:
            q.version = q.version or '%#010x' % version
            return None
        q.version = q.version or '%#010x' % version
        salt, prefix, initial_type, framing, hello = QUIC_VERSIONS[version]
        p = off + 5
        dcid = dg[p + 1:p + 1 + dg[p]]
        p += 1 + dg[p]
        p += 1 + dg[p]
        ptype = (dg[off] >> 4) & 3
        if ptype == initial_type:
            tl, p = sg.qvarint_read(dg, p)
            p += tl
        length, p = sg.qvarint_read(dg, p)
        pkt = dg[off:p + length]
        pn_off = p - off
        off = p + length
        if ptype != initial_type:
            continue
        if q.first_dcid is None:
            q.first_dcid = dcid
        pt = None
        for cand in (q.first_dcid, dcid):
            if cand not in q.keys:
                q.keys[cand] = Keys(salt, prefix, cand)
            try:
                pt = open_initial(pkt, pn_off, length, q.keys[cand])
                break
            except Exception:  # noqa: BLE001 - not ours (a server Initial), or a Retry's new keys
                continue
        if pt is None:
            continue
        q.opened = True
        for o, data in crypto_frames(pt, framing):
            if o < 65536:
                q.crypto.setdefault(o, data)
        stream = b''
        for o in sorted(q.crypto):
            if o > len(stream):
                break
            stream += q.crypto[o][len(stream) - o:]
        if hello == 'chlo':
            s = chlo_sni(stream)
            if s is not None:
                q.done = True
                return s
        elif len(stream) >= 4 and len(stream) >= 4 + int.from_bytes(stream[1:4], 'big'):
            q.done = True
            try:
                return sni_of_client_hello(stream) or ''
            except (ValueError, IndexError, struct.error):
                return ''
    return None


# ---------------------------------------------------------------- a capture

def tcp_stream(segs):
    """Contiguous bytes of one TCP direction from its first byte."""
    isn = segs['isn']
    chunks = {}
    for seq, data in segs['data']:
        rel = (seq - isn) & 0xffffffff
        if rel < STREAM_MAX:
            chunks.setdefault(rel, data)
    out = bytearray()
    for o in sorted(chunks):
        if o > len(out):
            break                       # a hole: what follows is not read
        out += chunks[o][len(out) - o:]
    return bytes(out)


def read_capture(path, names, stats):
    cap = os.path.basename(path)
    frags = Reassembly()
    tcp = {}
    quic = {}
    for linktype, frame in frames(path, stats):
        ip = ip_of_frame(linktype, frame)
        if ip is None:
            continue
        t = transport(ip, frags)
        if t is None:
            continue
        src, dst, proto, l4 = t
        if proto == 6 and len(l4) >= 20:
            sport, dport, seq = struct.unpack_from('>HHI', l4, 0)
            flags, doff = l4[13], (l4[12] >> 4) * 4
            key = (src, sport, dst, dport)
            d = tcp.setdefault(key, {'isn': None, 'data': []})
            if flags & 0x02:
                d['isn'] = (seq + 1) & 0xffffffff
            payload = l4[doff:]
            if payload:
                if d['isn'] is None:
                    d['isn'] = seq
                elif (seq - d['isn']) & 0xffffffff > 0x7fffffff:
                    d['isn'] = seq      # mid-stream: an earlier byte than the first seen
                d['data'].append((seq, payload))
        elif proto == 17 and len(l4) >= 8:
            sport, dport = struct.unpack_from('>HH', l4, 0)
            payload = l4[8:]
            if sport in LOCAL_DNS_PORTS or dport in LOCAL_DNS_PORTS:
                kind = LOCAL_DNS_PORTS.get(dport) or LOCAL_DNS_PORTS[sport]
                stats['%s messages left out' % kind] += 1
                continue
            if sport in DNS_PORTS or dport in DNS_PORTS:
                for n in dns_questions(payload):
                    names.add(n, 'dns', cap)
                continue
            if payload and (payload[0] & 0x80 or (len(payload) > 13 and payload[9:11] == b'Q0')):
                a, b = (src, sport), (dst, dport)
                fk = (a, b) if a <= b else (b, a)
                q = quic.setdefault(fk, QuicFlow())
                q.port443 = q.port443 or 443 in (sport, dport)
                try:
                    s = quic_datagram(q, payload)
                except (IndexError, struct.error):
                    s = None            # not QUIC after all (RTP, STUN...), or damaged
                if s:
                    names.add(s, 'quic', cap)
                    stats['QUIC flows named'] += 1
                elif s == '':
                    stats['QUIC flows whose hello names no server'] += 1
    for fk, q in quic.items():
        if q.version is None or q.done:
            continue
        if q.opened:
            stats['QUIC flows with Initials opened but no whole ClientHello (%s)' % q.version] += 1
        elif q.version.startswith('Q0'):
            stats['gQUIC flows without a CHLO read (%s)' % q.version] += 1
        elif q.keys:
            stats['QUIC flows whose Initials did not open (%s)' % q.version] += 1
        elif q.port443:
            stats['UDP 443 flows of an unknown QUIC version (%s)' % q.version] += 1
    for key, d in tcp.items():
        if not d['data']:
            continue
        stream = tcp_stream(d)
        if key[1] in DNS_PORTS or key[3] in DNS_PORTS:
            p = 0
            while p + 2 <= len(stream):
                n = struct.unpack_from('>H', stream, p)[0]
                for name in dns_questions(stream[p + 2:p + 2 + n]):
                    names.add(name, 'dns', cap)
                p += 2 + n
            continue
        for s in tls_snis(stream):
            names.add(s, 'sni', cap)
        for h in http_hosts(stream):
            names.add(h, 'http', cap)


def collapse_tunnels(names, stats):
    """A DNS tunnel (iodine and the like) asks for hundreds of one-off names
    under its domain: they carry data, they name no server. Names seen only
    in DNS questions whose parent has TUNNEL_MIN or more such children are
    listed once, as the parent."""
    children = collections.defaultdict(list)
    for name, (kinds, _) in names.seen.items():
        if kinds == {'dns'} and name.count('.') >= 2:
            children[name.split('.', 1)[1]].append(name)
    for parent, kids in children.items():
        if len(kids) < TUNNEL_MIN:
            continue
        kinds, caps = names.seen[parent]
        kinds.add('dns')
        for k in kids:
            caps |= names.seen.pop(k)[1]
        stats['dns names under %s (a tunnel) listed once as %s' % (parent, parent)] += len(kids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--stats', help='write the figures here instead of standard error')
    ap.add_argument('paths', nargs='+')
    args = ap.parse_args()
    files = []
    for p in args.paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if CAPTURE_RE.search(f))
        else:
            files.append(p)
    names, stats = Names(), collections.Counter()
    for path in files:
        read_capture(path, names, stats)
    stats.update(names.stats)
    collapse_tunnels(names, stats)
    out = sys.stdout
    for name in sorted(names.seen):
        kinds, caps = names.seen[name]
        out.write('%s\t%s\t%s\n' % (name, ','.join(sorted(kinds)), ','.join(sorted(caps))))
    by_kind = collections.Counter()
    for kinds, _ in names.seen.values():
        for k in kinds:
            by_kind[k] += 1
    lines = ['%d captures, %d distinct names' % (len(files), len(names.seen))]
    lines += ['names seen as %s: %d' % (k, by_kind[k]) for k in ('sni', 'quic', 'http', 'dns')]
    lines += ['%s: %d' % (k, v) for k, v in sorted(stats.items())]
    text = ''.join(line + '\n' for line in lines)
    if args.stats:
        with open(args.stats, 'w') as f:
            f.write(text)
    else:
        sys.stderr.write(text)


if __name__ == '__main__':
    main()
