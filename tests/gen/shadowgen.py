#!/usr/bin/python3
"""
shadowgen: writes a synthetic packet capture and its ground truth for the
shadowmap integration tests.

    /usr/bin/python3 tests/gen/shadowgen.py --scenario basic --seed 1 \
        --pcap out.pcap --truth out.json [--linktype ether|sll|sll2|raw|null]
        [--start 2026-03-02T09:00:00Z] [--snaplen 65535]
    /usr/bin/python3 tests/gen/shadowgen.py --self-test

Every packet is built here byte by byte: IPv4/IPv6 headers with real lengths
and checksums, TCP with consistent sequence and acknowledgement numbers,
UDP, ICMP, DNS messages, TLS ClientHellos (Chrome-like, with GREASE and a
X25519MLKEM768 key share), QUIC v1/v2 Initial packets protected as RFC 9001
and RFC 9369 say, HTTP/1.1. Nothing is copied from a capture.

A scenario is a table of flow specs (SCENARIOS below); each spec names a
kind (a builder function in BUILDERS) and its parameters. The truth (names,
apps, per-packet sizes) is computed from what was written, and a DNS cache
simulation decides the names of flows that carry none of their own.
See tests/gen/README.md for the truth format and the conventions.

Only Debian's /usr/bin/python3 is assumed: stdlib plus python3-cryptography
(for AES-GCM and AES-ECB).
"""

import argparse
import datetime
import hashlib
import hmac
import ipaddress
import json
import random
import struct
import sys

try:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:  # pragma: no cover
    sys.stderr.write("shadowgen: needs python3-cryptography (use /usr/bin/python3)\n")
    sys.exit(2)

USEC = 1000000
DNS_TTL_FLOOR = 300  # what the truth assumes the agent keeps an answer for, at least

# --------------------------------------------------------------------------
# Names -> registrable domain -> app (the truth's own small tables)
# --------------------------------------------------------------------------

# The public suffixes (ICANN section of the PSL) that the names used here
# end in. Longest match wins; the registrable domain is one label more.
PUBLIC_SUFFIXES = {
    "com", "net", "org", "io", "us", "so", "uk", "co.uk", "au", "com.au", "ai",
}

# App signatures the truth expects the agent's signature DB to hold:
# domain suffix -> (app slug, category). Longest suffix wins.
APPS = {
    "slack.com": ("slack", "messaging"),
    "zoom.us": ("zoom", "video-conferencing"),
    "dropbox.com": ("dropbox", "file-sharing"),
    "dropboxapi.com": ("dropbox", "file-sharing"),
    "wetransfer.com": ("wetransfer", "file-sharing"),
    "chatgpt.com": ("chatgpt", "genai"),
    "api.openai.com": ("openai-api", "genai"),
    "notion.so": ("notion", "notes-wiki"),
    "figma.com": ("figma", "design"),
    "github.com": ("github", "developer-tools"),
    "docs.google.com": ("google-docs", "office-suite"),
    "drive.google.com": ("google-drive", "file-sharing"),
    "deepl.com": ("deepl", "translation"),
    "pastebin.com": ("pastebin", "paste-sites"),
}


def normalize_host(name):
    if name is None:
        return None
    n = name.strip().rstrip(".").lower()
    return n or None


def registrable_domain(host):
    if host is None:
        return None
    labels = host.split(".")
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        if suffix in PUBLIC_SUFFIXES:
            if i == 0:
                return None  # the name is a public suffix itself
            return ".".join(labels[i - 1:])
    # unknown TLD: treat the last label as the suffix (PSL's "*" rule)
    return ".".join(labels[-2:]) if len(labels) >= 2 else None


def app_of(host):
    if host is None:
        return None, None
    labels = host.split(".")
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        if suffix in APPS:
            return APPS[suffix]
    return None, None


# --------------------------------------------------------------------------
# Crypto helpers: HKDF (RFC 5869) with SHA-256, TLS 1.3 HKDF-Expand-Label
# --------------------------------------------------------------------------

def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def hkdf_expand_label(secret, label, context, length):
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + bytes([len(context)]) + context
    return hkdf_expand(secret, info, length)


QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF
QUIC_PARAMS = {
    # version: (initial salt, label prefix, long-header type bits: Initial, 0-RTT, Handshake, Retry)
    QUIC_V1: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic ",
              {"initial": 0, "0rtt": 1, "handshake": 2, "retry": 3}),
    QUIC_V2: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), b"quicv2 ",
              {"initial": 1, "0rtt": 2, "handshake": 3, "retry": 0}),
}


class QuicKeys:
    def __init__(self, version, dcid, side):
        salt, prefix, _ = QUIC_PARAMS[version]
        initial = hkdf_extract(salt, dcid)
        self.secret = hkdf_expand_label(initial, b"client in" if side == "client" else b"server in", b"", 32)
        self.key = hkdf_expand_label(self.secret, prefix + b"key", b"", 16)
        self.iv = hkdf_expand_label(self.secret, prefix + b"iv", b"", 12)
        self.hp = hkdf_expand_label(self.secret, prefix + b"hp", b"", 16)
        self.aead = AESGCM(self.key)
        self.ecb = Cipher(algorithms.AES(self.hp), modes.ECB()).encryptor()

    def nonce(self, pn):
        return bytes(a ^ b for a, b in zip(self.iv, pn.to_bytes(12, "big")))

    def mask(self, sample):
        return self.ecb.update(sample)


def qvarint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack("!H", 0x4000 | v)
    if v < 0x40000000:
        return struct.pack("!I", 0x80000000 | v)
    return struct.pack("!Q", 0xC000000000000000 | v)


def qvarint_read(b, off):
    first = b[off]
    n = 1 << (first >> 6)
    v = first & 0x3F
    for i in range(1, n):
        v = (v << 8) | b[off + i]
    return v, off + n


def quic_protect_long(version, ptype, dcid, scid, token, pn, pn_len, payload, keys):
    """One protected long-header packet (Initial when token is not None)."""
    tbits = QUIC_PARAMS[version][2][ptype]
    first = 0xC0 | (tbits << 4) | (pn_len - 1)
    hdr = bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    if ptype == "initial":
        hdr += qvarint(len(token)) + token
    length = pn_len + len(payload) + 16
    hdr += struct.pack("!H", 0x4000 | length)
    pn_off = len(hdr)
    aad = hdr + (pn & ((1 << (8 * pn_len)) - 1)).to_bytes(pn_len, "big")
    ct = keys.aead.encrypt(keys.nonce(pn), payload, aad)
    pkt = bytearray(aad + ct)
    mask = keys.mask(bytes(pkt[pn_off + 4:pn_off + 20]))
    pkt[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        pkt[pn_off + i] ^= mask[1 + i]
    return bytes(pkt)


def quic_unprotect_initial(pkt, keys_for_dcid):
    """Inverse of quic_protect_long for Initial packets (used by the self-test).
    Returns (dcid, pn, plaintext, packet length)."""
    off = 5
    dl = pkt[off]
    dcid = pkt[off + 1:off + 1 + dl]
    off += 1 + dl
    sl = pkt[off]
    off += 1 + sl
    tl, off = qvarint_read(pkt, off)
    off += tl
    length, off = qvarint_read(pkt, off)
    pn_off = off
    keys = keys_for_dcid(dcid)
    mask = keys.mask(bytes(pkt[pn_off + 4:pn_off + 20]))
    first = pkt[0] ^ (mask[0] & 0x0F)
    pn_len = (first & 3) + 1
    pnb = bytes(pkt[pn_off + i] ^ mask[1 + i] for i in range(pn_len))
    pn = int.from_bytes(pnb, "big")
    hdr = bytes([first]) + pkt[1:pn_off] + pnb
    ct = pkt[pn_off + pn_len:pn_off + length]
    pt = keys.aead.decrypt(keys.nonce(pn), ct, hdr)
    return dcid, pn, pt, pn_off + length


# --------------------------------------------------------------------------
# Checksums, IP, TCP, UDP, ICMP
# --------------------------------------------------------------------------

def csum(data):
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def pseudo_header(src, dst, proto, length):
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, proto, length)
    return src.packed + dst.packed + struct.pack("!IxxxB", length, proto)


PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6 = 6, 17, 1, 58
PROTO_NAMES = {PROTO_TCP: "tcp", PROTO_UDP: "udp", PROTO_ICMP: "icmp", PROTO_ICMPV6: "icmpv6"}

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp_segment(src, dst, sport, dport, seq, ack, flags, win, payload=b"", opts=b""):
    assert len(opts) % 4 == 0
    off = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      off << 4, flags, win, 0, 0) + opts
    seg = hdr + payload
    c = csum(pseudo_header(src, dst, PROTO_TCP, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp_datagram(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    d = struct.pack("!HHHH", sport, dport, length, 0) + payload
    c = csum(pseudo_header(src, dst, PROTO_UDP, length) + d)
    if c == 0:
        c = 0xFFFF
    return d[:6] + struct.pack("!H", c) + d[8:]


def icmp_echo(src, dst, v6, reply, ident, seq, data):
    if v6:
        typ = 129 if reply else 128
        m = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + data
        c = csum(pseudo_header(src, dst, PROTO_ICMPV6, len(m)) + m)
    else:
        typ = 0 if reply else 8
        m = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + data
        c = csum(m)
    return m[:2] + struct.pack("!H", c) + m[4:]


def ipv4_header(src, dst, proto, payload_len, ident, ttl, flags_frag, tos=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, ident, flags_frag, ttl, proto, 0,
                    src.packed, dst.packed)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def ipv6_header(src, dst, nh, payload_len, hlim, label):
    return struct.pack("!IHBB", (6 << 28) | (label & 0xFFFFF), payload_len, nh, hlim) + src.packed + dst.packed


# --------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------

def grease(rng):
    n = rng.randrange(16)
    return (n << 12) | 0x0A00 | (n << 4) | 0x0A


def u8l(b):
    return bytes([len(b)]) + b


def u16l(b):
    return struct.pack("!H", len(b)) + b


def u24(n):
    return struct.pack("!I", n)[1:]


def ext(t, body):
    return struct.pack("!HH", t, len(body)) + body


def alpn_list(protos):
    return u16l(b"".join(u8l(p.encode()) for p in protos))


def quic_transport_params(rng, scid):
    def tp(i, v):
        return qvarint(i) + qvarint(len(v)) + v

    def tpi(i, n):
        return tp(i, qvarint(n))

    g = 31 * rng.randrange(1, 1000) + 27  # a reserved (GREASE) parameter id
    params = [
        tpi(0x01, 30000), tpi(0x03, 1472), tpi(0x04, 15728640), tpi(0x05, 6291456),
        tpi(0x06, 6291456), tpi(0x07, 6291456), tpi(0x08, 100), tpi(0x09, 103),
        tp(0x0F, scid), tp(0x20, qvarint(65535)), tp(g, rng.randbytes(rng.randrange(1, 16))),
        tp(0x4752, struct.pack("!I", QUIC_V1)),
        tp(0x11, struct.pack("!I", QUIC_V1) + struct.pack("!II", QUIC_V1, QUIC_V2)),
    ]
    rng.shuffle(params)
    return b"".join(params)


def client_hello(rng, sni, alpn, mlkem=True, ech_grease=True, quic_tp=None, chrome=True):
    """A TLS 1.3 ClientHello handshake message (type 1, with its header).

    chrome: GREASE, many extensions in a shuffled order, an X25519MLKEM768
    key share (1216 bytes) when mlkem. quic_tp: the QUIC transport
    parameters (then no TLS 1.2 suites, empty session id, h3). sni None:
    no server_name extension at all."""
    g_cs, g_ext1, g_ext2, g_grp, g_ver = (grease(rng) for _ in range(5))
    while g_ext2 == g_ext1:
        g_ext2 = grease(rng)
    quic = quic_tp is not None
    if quic:
        suites = [0x1301, 0x1302, 0x1303]
    else:
        suites = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8,
                  0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
    if chrome:
        suites = [g_cs] + suites
    groups = ([g_grp] if chrome else []) + ([0x11EC] if mlkem else []) + [0x001D, 0x0017, 0x0018]
    shares = []
    if chrome:
        shares.append(struct.pack("!H", g_grp) + u16l(b"\0"))
    if mlkem:
        shares.append(struct.pack("!H", 0x11EC) + u16l(rng.randbytes(1184 + 32)))
    shares.append(struct.pack("!H", 0x001D) + u16l(rng.randbytes(32)))
    versions = ([g_ver] if chrome else []) + [0x0304] + ([] if quic else [0x0303])
    exts = []
    if sni is not None:
        name = sni.encode()
        exts.append(ext(0x0000, u16l(b"\0" + u16l(name))))
    exts += [
        ext(0x000A, u16l(b"".join(struct.pack("!H", x) for x in groups))),
        ext(0x000D, u16l(bytes.fromhex("040308040401050308050501080606010201"))),
        ext(0x0010, alpn_list(alpn)),
        ext(0x0033, u16l(b"".join(shares))),
        ext(0x002D, b"\x01\x01"),
        ext(0x002B, u8l(b"".join(struct.pack("!H", x) for x in versions))),
    ]
    if chrome:
        exts += [
            ext(0x001B, b"\x02\x00\x02"),                         # compress_certificate: brotli
            ext(0x44CD, u16l(u8l(alpn[0].encode()))),              # application_settings
        ]
    if not quic:
        exts += [
            ext(0x0017, b""),                                      # extended_master_secret
            ext(0xFF01, b"\x00"),                                  # renegotiation_info
            ext(0x000B, b"\x01\x00"),                              # ec_point_formats
            ext(0x0023, b""),                                      # session_ticket
            ext(0x0005, b"\x01\x00\x00\x00\x00"),                  # status_request
            ext(0x0012, b""),                                      # signed_certificate_timestamp
        ]
    else:
        exts.append(ext(0x0039, quic_tp))
    if ech_grease:
        enc = rng.randbytes(32)
        payload = rng.randbytes(rng.choice([144, 176, 208, 240]))
        exts.append(ext(0xFE0D, b"\x00" + struct.pack("!HH", 1, 1) + bytes([rng.randrange(256)])
                        + u16l(enc) + u16l(payload)))
    if chrome:
        rng.shuffle(exts)
        exts = [ext(g_ext1, b"")] + exts + [ext(g_ext2, b"\x00")]
    body = (b"\x03\x03" + rng.randbytes(32) + u8l(b"" if quic else rng.randbytes(32))
            + u16l(b"".join(struct.pack("!H", s) for s in suites)) + b"\x01\x00"
            + u16l(b"".join(exts)))
    return b"\x01" + u24(len(body)) + body


def server_hello(rng, session_id=b"", mlkem=False):
    if mlkem:
        share = struct.pack("!H", 0x11EC) + u16l(rng.randbytes(1088 + 32))
    else:
        share = struct.pack("!H", 0x001D) + u16l(rng.randbytes(32))
    exts = ext(0x002B, b"\x03\x04") + ext(0x0033, share)
    body = b"\x03\x03" + rng.randbytes(32) + u8l(session_id) + b"\x13\x01\x00" + u16l(exts)
    return b"\x02" + u24(len(body)) + body


def tls_record(ctype, data):
    return bytes([ctype]) + b"\x03\x03" + u16l(data)


def tls_app_stream(rng, n):
    """n bytes (n >= 22) of TLS 1.3 application-data records (random ciphertext)."""
    out = []
    while n > 0:
        size = min(n, 16384 + 17 + 5)
        if 0 < n - size < 22:  # keep the last record at least minimal
            size = n - 22
        out.append(b"\x17\x03\x03" + struct.pack("!H", size - 5) + rng.randbytes(size - 5))
        n -= size
    return b"".join(out)


def tls_server_flight(rng, ch_session_id, mlkem, cert_bytes):
    """ServerHello, ChangeCipherSpec, encrypted handshake records."""
    out = tls_record(0x16, server_hello(rng, ch_session_id, mlkem)) + tls_record(0x14, b"\x01")
    for n in (rng.randrange(30, 120), cert_bytes, rng.randrange(260, 300), 53):
        out += tls_record(0x17, rng.randbytes(n))
    return out


def tls_client_finish(rng):
    return tls_record(0x14, b"\x01") + tls_record(0x17, rng.randbytes(53))


def ch_session_id(ch):
    """The legacy_session_id of a ClientHello handshake message."""
    n = ch[38]
    return ch[39:39 + n]


# --------------------------------------------------------------------------
# DNS messages
# --------------------------------------------------------------------------

QTYPES = {"A": 1, "AAAA": 28, "CNAME": 5}


class DnsWriter:
    def __init__(self):
        self.buf = bytearray()
        self.names = {}

    def name(self, name):
        labels = name.rstrip(".").split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            if suffix in self.names:
                self.buf += struct.pack("!H", 0xC000 | self.names[suffix])
                return
            if len(self.buf) < 0x3FFF:
                self.names[suffix] = len(self.buf)
            lab = labels[i].encode()
            self.buf += bytes([len(lab)]) + lab
        self.buf += b"\0"


def dns_message(ident, response, questions, answers=(), edns=True):
    """questions: [(name, qtype)]; answers: [(owner, type, ttl, rdata_value)]
    where rdata_value is an address string (A/AAAA) or a name (CNAME)."""
    flags = 0x8180 if response else 0x0120
    w = DnsWriter()
    w.buf += struct.pack("!HHHHHH", ident, flags, len(questions), len(answers), 0, 1 if edns else 0)
    for name, qt in questions:
        w.name(name)
        w.buf += struct.pack("!HH", QTYPES[qt], 1)
    for owner, typ, ttl, value in answers:
        w.name(owner)
        w.buf += struct.pack("!HHI", QTYPES[typ], 1, ttl)
        at = len(w.buf)
        w.buf += b"\0\0"
        if typ in ("A", "AAAA"):
            w.buf += ipaddress.ip_address(value).packed
        else:
            w.name(value)
        struct.pack_into("!H", w.buf, at, len(w.buf) - at - 2)
    if edns:
        w.buf += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return bytes(w.buf)


# --------------------------------------------------------------------------
# The capture being built
# --------------------------------------------------------------------------

def parse_time(s):
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    dt = datetime.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    delta = dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * USEC + delta.microseconds


def fmt_time(usec, digits=6):
    secs, frac = divmod(usec, USEC)
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 6:
        return "%s.%06dZ" % (base, frac)
    if digits == 3:
        return "%s.%03dZ" % (base, frac // 1000)
    return base + "Z"


LOCAL_NETS = [ipaddress.ip_network("10.20.0.0/24"), ipaddress.ip_network("fd00:20::/64")]
GATEWAY_MAC = bytes.fromhex("025a00000001")


def mac_of(ip):
    if any(ip in n for n in LOCAL_NETS):
        return b"\x02\x5a" + hashlib.sha256(ip.packed).digest()[:4]
    return GATEWAY_MAC


class Flow:
    def __init__(self, cap, spec, proto, client, cport, server, sport):
        self.cap = cap
        self.spec = spec
        self.proto = proto
        self.client = client
        self.cport = cport
        self.server = server
        self.sport = sport
        self.v6 = client.version == 6
        self.packets = []  # (ts, dir, ip_len)
        self.payload_name = None  # (host, source) from the flow's own bytes
        self.label = [cap.rng.randrange(1 << 20), cap.rng.randrange(1 << 20)]
        self.ttl = [64, cap.rng.randrange(48, 60)]
        self.vlan = spec.get("vlan")

    def ends(self, d):
        return (self.client, self.server) if d == 0 else (self.server, self.client)

    def ports(self, d):
        return (self.cport, self.sport) if d == 0 else (self.sport, self.cport)

    def ip(self, ts, d, proto, l4, df=True):
        src, dst = self.ends(d)
        if self.v6:
            pkt = ipv6_header(src, dst, proto, len(l4), self.ttl[d], self.label[d]) + l4
        else:
            ident = self.cap.next_ipid(src)
            pkt = ipv4_header(src, dst, proto, len(l4), ident, self.ttl[d], 0x4000 if df else 0) + l4
        self.add(ts, d, pkt)

    def ip_fragments(self, ts, d, proto, l4, mtu=1500, gap=20):
        """An IPv4 datagram split into fragments (8-byte aligned), in order."""
        assert not self.v6
        src, dst = self.ends(d)
        ident = self.cap.next_ipid(src)
        step = (mtu - 20) // 8 * 8
        off = 0
        while off < len(l4):
            chunk = l4[off:off + step]
            more = off + step < len(l4)
            ff = (0x2000 if more else 0) | (off // 8)
            self.add(ts, d, ipv4_header(src, dst, proto, len(chunk), ident, self.ttl[d], ff) + chunk)
            off += step
            ts += gap
        return ts

    def add(self, ts, d, pkt):
        self.packets.append((ts, d, len(pkt)))
        src, dst = self.ends(d)
        self.cap.frames.append((ts, len(self.cap.frames), pkt, self.vlan, mac_of(src), mac_of(dst), d))

    def udp(self, ts, d, payload):
        sp, dp = self.ports(d)
        src, dst = self.ends(d)
        self.ip(ts, d, PROTO_UDP, udp_datagram(src, dst, sp, dp, payload))


class Capture:
    def __init__(self, seed, start_usec):
        self.seed = seed
        self.rng = random.Random("shadowgen:%s" % seed)
        self.start = start_usec
        self.frames = []
        self.flows = []
        self.ipid = {}
        self.ports = {}
        self.dns_log = []  # (ts, client, qname, [(addr, ttl_a, ttl_chain)])

    def next_ipid(self, ip):
        v = self.ipid.get(ip)
        if v is None:
            v = random.Random("ipid:%s:%s" % (self.seed, ip)).randrange(1 << 16)
        v = (v + 1) & 0xFFFF
        self.ipid[ip] = v
        return v

    def ephemeral_port(self, client, rng):
        used = self.ports.setdefault(client, set())
        while True:
            p = rng.randrange(49152, 65535)
            if p not in used:
                used.add(p)
                return p

    def flow_rng(self, spec):
        return random.Random("flow:%s:%s" % (self.seed, spec["id"]))


# --------------------------------------------------------------------------
# TCP connections
# --------------------------------------------------------------------------

class Tcp:
    """A TCP connection seen from a tap near the client: client packets are
    seen when sent, the server's ACK of them one RTT later."""

    def __init__(self, flow, rng, rtt_us, mss=None):
        self.f = flow
        self.rng = rng
        self.rtt = rtt_us
        self.snd = [rng.randrange(1 << 32), rng.randrange(1 << 32)]
        self.win = [rng.choice([501, 502, 512, 1024]), rng.choice([283, 285, 501, 64240 >> 7])]
        self.mss = mss or (1440 if flow.v6 else 1460)

    def seg(self, ts, d, flags, payload=b"", ack=None, opts=b""):
        f = self.f
        src, dst = f.ends(d)
        sp, dp = f.ports(d)
        if ack is None:
            ack = self.snd[1 - d] if flags & TCP_ACK else 0
        f.ip(ts, d, PROTO_TCP, tcp_segment(src, dst, sp, dp, self.snd[d], ack, flags, self.win[d],
                                           payload, opts))
        self.snd[d] = (self.snd[d] + len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)) & 0xFFFFFFFF

    def syn_opts(self):
        return struct.pack("!BBH", 2, 4, self.mss) + b"\x01\x03\x03\x07" + b"\x01\x01\x04\x02"

    def handshake(self, t):
        self.seg(t, 0, TCP_SYN, opts=self.syn_opts())
        t += self.rtt
        self.seg(t, 1, TCP_SYN | TCP_ACK, opts=self.syn_opts())
        t += self.rng.randrange(40, 120)
        self.seg(t, 0, TCP_ACK)
        return t

    def send(self, t, d, data, rate_bps=50e6):
        """d sends data starting at t; the receiver ACKs every second
        segment and the last. Returns the time after the last packet."""
        n = len(data)
        if n == 0:
            return t
        gap = max(20, int(self.mss * 8 / rate_bps * USEC))
        ack_delay = self.rtt if d == 0 else self.rng.randrange(30, 90)
        segs = []
        off = 0
        ts = t
        while off < n:
            chunk = data[off:off + self.mss]
            last = off + len(chunk) >= n
            self.seg(ts, d, TCP_ACK | (TCP_PSH if last else 0), chunk)
            segs.append((ts, self.snd[d]))
            off += len(chunk)
            ts += gap + self.rng.randrange(0, 15)
        end = segs[-1][0]
        for i, (sts, end_seq) in enumerate(segs):
            if i % 2 == 1 or i == len(segs) - 1:
                ats = sts + ack_delay + self.rng.randrange(0, 20)
                self.seg(ats, 1 - d, TCP_ACK, ack=end_seq)
                end = max(end, ats)
        return end + 1

    def close(self, t, d=0):
        """d closes first; the other side answers with its own FIN."""
        delay = self.rtt if d == 0 else self.rng.randrange(30, 90)
        self.seg(t, d, TCP_FIN | TCP_ACK)
        t += delay
        self.seg(t, 1 - d, TCP_FIN | TCP_ACK)
        t += self.rtt if d == 1 else self.rng.randrange(30, 90)
        self.seg(t, d, TCP_ACK)
        return t


# --------------------------------------------------------------------------
# Flow builders (one per kind). Each gets (cap, spec, rng, t0) and returns
# the Flow. spec keys shared by all: id, kind, at (seconds from start),
# client, server (address), expect (the host the truth must come out with).
# --------------------------------------------------------------------------

def new_flow(cap, spec, rng, proto, sport, cport=None):
    client = ipaddress.ip_address(spec["client"])
    server = ipaddress.ip_address(spec["server"])
    if cport is None:
        cport = cap.ephemeral_port(client, rng) if proto in (PROTO_TCP, PROTO_UDP) else 0
    f = Flow(cap, spec, proto, client, cport, server, sport)
    cap.flows.append(f)
    return f


def exchanges(spec, rng):
    """spec["x"]: [(up_bytes, down_bytes, pause_seconds_after), ...]"""
    return spec.get("x", [(600, 4000, 0.5)])


def build_tls(cap, spec, rng, t):
    """TLS over TCP: handshake, ClientHello (with or without SNI), server
    flight, application data exchanges, FIN close. spec: sni (bool, default
    true), host, mlkem (default true), x, rtt_ms, port, midstream."""
    f = new_flow(cap, spec, rng, PROTO_TCP, spec.get("port", 443))
    tcp = Tcp(f, rng, int(spec.get("rtt_ms", 20) * 1000))
    rate = spec.get("rate_mbps", 60) * 1e6
    t = tcp.handshake(t)
    t += rng.randrange(200, 900)
    t = tls_handshake(f, tcp, rng, t, spec, spec.get("sni", True))
    t = tls_exchanges(tcp, rng, t, spec, rate)
    tcp.close(t + rng.randrange(1000, 50000), 0)
    return f


def tls_handshake(f, tcp, rng, t, spec, with_sni):
    host = spec["host"]
    mlkem = spec.get("mlkem", True)
    ch = client_hello(rng, host if with_sni else None, ["h2", "http/1.1"], mlkem=mlkem,
                      ech_grease=spec.get("ech_grease", True), chrome=spec.get("chrome", True))
    if with_sni:
        f.payload_name = (host, "sni")
    t = tcp.send(t, 0, tls_record(0x16, ch)) + tcp.rtt
    flight = tls_server_flight(rng, ch_session_id(ch), mlkem, rng.randrange(2800, 4800))
    t = tcp.send(t, 1, flight) + rng.randrange(500, 3000)
    t = tcp.send(t, 0, tls_client_finish(rng))
    return t


def tls_exchanges(tcp, rng, t, spec, rate):
    for up, down, pause in exchanges(spec, rng):
        if up:
            t = tcp.send(t, 0, tls_app_stream(rng, up), rate)
        if down:
            t += tcp.rtt + rng.randrange(1000, 30000)
            t = tcp.send(t, 1, tls_app_stream(rng, down), rate)
        t += int(pause * USEC) + rng.randrange(0, 5000)
    return t


def build_tls_midstream(cap, spec, rng, t):
    """A TLS connection that was open before the capture began: no SYN,
    no ClientHello; the first packet seen is server data."""
    f = new_flow(cap, spec, rng, PROTO_TCP, spec.get("port", 443))
    tcp = Tcp(f, rng, int(spec.get("rtt_ms", 20) * 1000))
    for up, down, pause in exchanges(spec, rng):
        if down:
            t = tcp.send(t, 1, tls_app_stream(rng, down))
        if up:
            t += rng.randrange(1000, 20000)
            t = tcp.send(t, 0, tls_app_stream(rng, up))
        t += int(pause * USEC) + rng.randrange(0, 5000)
    tcp.close(t, 0)
    return f


def build_http(cap, spec, rng, t):
    """HTTP/1.1 on TCP: spec["requests"]: [(method, path, host_header,
    body_len, response_len, status)], keep-alive, then close."""
    f = new_flow(cap, spec, rng, PROTO_TCP, spec.get("port", 80))
    tcp = Tcp(f, rng, int(spec.get("rtt_ms", 20) * 1000))
    t = tcp.handshake(t) + rng.randrange(100, 500)
    first = True
    for method, path, host_hdr, body_len, resp_len, status in spec["requests"]:
        body = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(body_len)).encode()
        req = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, host_hdr)
        req += ("User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
                "Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n")
        if body_len:
            req += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n" % body_len
        req += "Connection: keep-alive\r\n\r\n"
        if first:
            f.payload_name = (normalize_host(host_hdr.rsplit(":", 1)[0] if host_hdr.count(":") == 1
                                             else host_hdr), "http")
            first = False
        t = tcp.send(t, 0, req.encode() + body) + tcp.rtt + rng.randrange(2000, 40000)
        rbody = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz<>/=\" \n") for _ in range(resp_len)).encode()
        reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found"}.get(status, "OK")
        resp = ("HTTP/1.1 %d %s\r\nDate: Mon, 02 Mar 2026 09:00:00 GMT\r\nServer: nginx\r\n"
                "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
                "Connection: keep-alive\r\n\r\n" % (status, reason, resp_len)).encode() + rbody
        t = tcp.send(t, 1, resp) + rng.randrange(200000, 2000000)
    tcp.close(t, 0)
    return f


def build_connect(cap, spec, rng, t):
    """An HTTP proxy CONNECT to spec["host"]:443, then TLS inside."""
    f = new_flow(cap, spec, rng, PROTO_TCP, spec.get("port", 3128))
    tcp = Tcp(f, rng, int(spec.get("rtt_ms", 2) * 1000))
    t = tcp.handshake(t) + rng.randrange(100, 500)
    host = spec["host"]
    req = ("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\nProxy-Connection: keep-alive\r\n"
           "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/133.0.0.0 Safari/537.36\r\n\r\n" % (host, host)).encode()
    f.payload_name = (host, "http")
    t = tcp.send(t, 0, req) + tcp.rtt + rng.randrange(20000, 60000)
    t = tcp.send(t, 1, b"HTTP/1.1 200 Connection established\r\n\r\n") + rng.randrange(200, 900)
    t = tls_handshake(f, tcp, rng, t, spec, True)
    f.payload_name = (host, "http")  # the CONNECT names the flow first
    t = tls_exchanges(tcp, rng, t, spec, 40e6)
    tcp.close(t, 0)
    return f


def build_tcp_raw(cap, spec, rng, t):
    """A TCP flow that carries no name (SSH-like: banners, then random)."""
    f = new_flow(cap, spec, rng, PROTO_TCP, spec.get("port", 22))
    tcp = Tcp(f, rng, int(spec.get("rtt_ms", 20) * 1000))
    t = tcp.handshake(t) + rng.randrange(100, 500)
    t = tcp.send(t, 1, b"SSH-2.0-babeld-8405f9f3\r\n") + rng.randrange(100, 500)
    t = tcp.send(t, 0, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n") + rng.randrange(100, 500)
    for up, down, pause in exchanges(spec, rng):
        if up:
            t = tcp.send(t, 0, rng.randbytes(up))
        if down:
            t += tcp.rtt
            t = tcp.send(t, 1, rng.randbytes(down))
        t += int(pause * USEC)
    tcp.close(t, 1)
    return f


def build_udp_raw(cap, spec, rng, t):
    """Periodic UDP both ways with no name in it (media-like).
    spec: port, duration_s, interval_ms, up_size, down_size; large sizes
    make IPv4 fragments (frag: true)."""
    f = new_flow(cap, spec, rng, PROTO_UDP, spec["port"])
    end = t + int(spec.get("duration_s", 30) * USEC)
    interval = int(spec.get("interval_ms", 200) * 1000)
    frag = spec.get("frag", False)
    while t < end:
        for d, size in ((0, spec.get("up_size", 200)), (1, spec.get("down_size", 900))):
            n = max(20, size + rng.randrange(-size // 10 - 1, size // 10 + 1))
            payload = b"\x05" + rng.randbytes(n - 1)
            if frag and 28 + n > 1500:
                src, dst = f.ends(d)
                sp, dp = f.ports(d)
                f.ip_fragments(t, d, PROTO_UDP, udp_datagram(src, dst, sp, dp, payload))
            else:
                f.udp(t, d, payload)
            t += rng.randrange(500, 5000) if d == 0 else 0
        t += interval + rng.randrange(-interval // 10, interval // 10 + 1)
    return f


def build_icmp(cap, spec, rng, t):
    f = new_flow(cap, spec, rng, PROTO_ICMPV6 if ":" in spec["client"] else PROTO_ICMP, 0, 0)
    ident = rng.randrange(1, 65535)
    data = bytes(range(0x10, 0x38))
    proto = f.proto
    for seq in range(1, spec.get("count", 4) + 1):
        payload = struct.pack("!II", t // USEC, t % USEC) + data
        f.ip(t, 0, proto, icmp_echo(f.client, f.server, f.v6, False, ident, seq, payload))
        f.ip(t + int(spec.get("rtt_ms", 3) * 1000), 1, proto,
             icmp_echo(f.server, f.client, f.v6, True, ident, seq, payload))
        t += USEC + rng.randrange(0, 3000)
    return f


def build_dns(cap, spec, rng, t):
    """One UDP DNS exchange per question (same socket), answers from the
    scenario zone, or spec["answers"] overriding it. Logged for the DNS cache
    simulation that names flows without a name of their own."""
    f = new_flow(cap, spec, rng, PROTO_UDP, 53)
    zone = cap.zone
    for qname, qtype in spec["q"]:
        ident = rng.randrange(1 << 16)
        f.udp(t, 0, dns_message(ident, False, [(qname, qtype)]))
        t += int(spec.get("rtt_ms", 12) * 1000) + rng.randrange(0, 4000)
        entry = spec.get("answers", {}).get(qname) or zone[qname]
        answers, owner, chain_ttl = [], qname, None
        for target, ttl in entry.get("cname", []):
            answers.append((owner, "CNAME", ttl, target))
            chain_ttl = ttl if chain_ttl is None else min(chain_ttl, ttl)
            owner = target
        addrs = []
        for addr, ttl in entry.get(qtype, []):
            answers.append((owner, qtype, ttl, addr))
            addrs.append((ipaddress.ip_address(addr), ttl, ttl if chain_ttl is None else min(ttl, chain_ttl)))
        f.udp(t, 1, dns_message(ident, True, [(qname, qtype)], answers))
        cap.dns_log.append((t, f.client, normalize_host(qname), addrs))
        t += rng.randrange(100, 3000)
    return f


def quic_split_frames(rng, crypto, npackets, capacities, chaos):
    """Distributes the CRYPTO stream over packets: pieces in a shuffled order
    (the first packet starts with a later offset) with PING and PADDING frames
    between them. Returns a list of frame byte strings, one per packet."""
    n = len(crypto)
    if chaos:
        k = rng.randrange(4, 8)
        cuts = sorted(rng.sample(range(40, n - 40), k - 1))
        bounds = [0] + cuts + [n]
        pieces = [(bounds[i], bounds[i + 1]) for i in range(k)]
        while True:
            rng.shuffle(pieces)
            if pieces[0][0] != 0:
                break
    else:
        pieces = [(0, n)]
    frames = [[] for _ in range(npackets)]
    used = [0] * npackets
    pi = 0
    for lo, hi in pieces:
        while lo < hi:
            while pi < npackets and capacities[pi] - used[pi] < 24:
                pi += 1
            if pi >= npackets:
                raise ValueError("ClientHello does not fit the Initial packets")
            room = capacities[pi] - used[pi] - 8
            take = min(hi - lo, room)
            fr = b"\x06" + qvarint(lo) + qvarint(take) + crypto[lo:lo + take]
            frames[pi].append(fr)
            used[pi] += len(fr)
            lo += take
    out = []
    for fl in frames:
        if chaos:
            extra = [b"\x01"] * rng.randrange(1, 4) + [b"\x00" * rng.randrange(1, 12) for _ in range(rng.randrange(1, 4))]
            fl = fl + extra
            rng.shuffle(fl)
        out.append(b"".join(fl))
    return out


def build_quic(cap, spec, rng, t):
    """QUIC: the client's first flight of Initial packets carrying the
    ClientHello (chaos: split and shuffled CRYPTO frames; coalesce: two
    Initials in the first datagram), the server's Initial + Handshake, the
    client's Initial ACK + Handshake, then 1-RTT packets both ways.
    spec: host, version (1 or 2), chrome (default true: MLKEM, GREASE,
    chaos), coalesce, scid_len, pn_len, x (1-RTT exchanges), rtt_ms."""
    f = new_flow(cap, spec, rng, PROTO_UDP, spec.get("port", 443))
    version = QUIC_V2 if spec.get("version", 1) == 2 else QUIC_V1
    chrome = spec.get("chrome", True)
    rtt = int(spec.get("rtt_ms", 20) * 1000)
    dcid = rng.randbytes(8)
    scid = rng.randbytes(spec.get("scid_len", 0))
    server_cid = rng.randbytes(8)
    ckeys = QuicKeys(version, dcid, "client")
    skeys = QuicKeys(version, dcid, "server")
    host = spec["host"]
    ch = client_hello(rng, host, ["h3"], mlkem=spec.get("mlkem", chrome), ech_grease=chrome,
                      quic_tp=quic_transport_params(rng, scid), chrome=chrome)
    f.payload_name = (host, "quic")
    dgram = spec.get("datagram", 1250)
    pn_len = spec.get("pn_len", 1)
    hdr_len = 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2
    per_pkt = hdr_len + pn_len + 16
    coalesce = spec.get("coalesce", False)
    reserve = 48 if chrome else 0  # room for the PING / PADDING frames mixed in
    layouts = [[1], [1, 1], [1, 1, 1]] if not coalesce else [[2], [2, 1], [2, 1, 1]]
    for layout in layouts:
        caps = []
        for npk_in_dgram in layout:
            share = (dgram - per_pkt * npk_in_dgram) // npk_in_dgram
            caps += [share - reserve] * npk_in_dgram
        if sum(caps) - 16 * len(caps) >= len(ch) + (8 * 8 if chrome else 8):
            break
    npk = len(caps)
    frames = quic_split_frames(rng, ch, npk, caps, chaos=chrome)
    pn = 1 if chrome else 0
    fi = 0
    for npk_in_dgram in layout:
        pkts = []
        for j in range(npk_in_dgram):
            payload = frames[fi]
            fi += 1
            if j == npk_in_dgram - 1:
                have = sum(len(p) for p in pkts) + per_pkt + len(payload)
                payload += b"\x00" * max(0, dgram - have)
            pkts.append(quic_protect_long(version, "initial", dcid, scid, b"", pn, pn_len, payload, ckeys))
            pn += 1
        f.udp(t, 0, b"".join(pkts))
        t += rng.randrange(30, 200)
    client_last_pn = pn - 1
    # server: Initial (ACK + ServerHello) coalesced with Handshake, then more Handshake
    t += rtt
    sh = server_hello(rng, b"", mlkem=False)
    s_payload = (b"\x02" + qvarint(client_last_pn) + qvarint(rng.randrange(0, 40)) + b"\x00"
                 + qvarint(client_last_pn - (1 if chrome else 0)) + b"\x06\x00" + qvarint(len(sh)) + sh)
    s_init = quic_protect_long(version, "initial", scid, server_cid, b"", 0, 2, s_payload, skeys)
    hs_sizes = [1250 - len(s_init) - 30, 1220, rng.randrange(300, 900)]
    for i, n in enumerate(hs_sizes):
        pkt = quic_long_random(rng, version, "handshake", scid, server_cid, n)
        f.udp(t, 1, (s_init + pkt) if i == 0 else pkt)
        t += rng.randrange(20, 200)
    # client: Initial ACK (to the server's CID, still the Initial keys of the
    # first DCID) + Handshake (Finished), padded
    t += rng.randrange(300, 2000)
    hs = quic_long_random(rng, version, "handshake", server_cid, scid, rng.randrange(60, 90))
    c_payload = b"\x02\x00" + qvarint(rng.randrange(0, 40)) + b"\x00\x00"
    c_hdr = 1 + 4 + 1 + len(server_cid) + 1 + len(scid) + 1 + 2
    c_payload += b"\x00" * max(0, dgram - len(hs) - c_hdr - pn_len - 16 - len(c_payload))
    c_init = quic_protect_long(version, "initial", server_cid, scid, b"", pn, pn_len, c_payload, ckeys)
    f.udp(t, 0, c_init + hs)
    t += rng.randrange(100, 400)
    # 1-RTT
    for up, down, pause in exchanges(spec, rng):
        t = quic_short_burst(f, rng, t, 0, (server_cid, scid), up)
        t += rtt + rng.randrange(1000, 20000)
        t = quic_short_burst(f, rng, t, 1, (server_cid, scid), down)
        t += rng.randrange(100, 600)
        quic_short(f, rng, t, 0, server_cid, rng.randrange(30, 45))  # ACK
        t += int(pause * USEC) + rng.randrange(1000, 9000)
    return f


def quic_long_random(rng, version, ptype, dcid, scid, total):
    tbits = QUIC_PARAMS[version][2][ptype]
    hdr = bytes([0xC0 | (tbits << 4) | rng.randrange(16)]) + struct.pack("!I", version)
    hdr += bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    body_len = max(24, total - len(hdr) - 2)
    return hdr + struct.pack("!H", 0x4000 | body_len) + rng.randbytes(body_len)


def quic_short(f, rng, t, d, dcid, size):
    f.udp(t, d, bytes([0x40 | rng.randrange(64)]) + dcid + rng.randbytes(max(20, size - 1 - len(dcid))))


def quic_short_burst(f, rng, t, d, cids, nbytes):
    """nbytes of 1-RTT payload from d in full-size datagrams; the other side
    ACKs every few. cids[d]: the DCID that side d puts in its packets."""
    i = 0
    while nbytes > 0:
        n = min(nbytes, 1232)
        quic_short(f, rng, t, d, cids[d], n)
        nbytes -= n
        i += 1
        t += rng.randrange(60, 300)
        if i % 4 == 0 and nbytes > 0:
            quic_short(f, rng, t, 1 - d, cids[1 - d], rng.randrange(30, 45))
            t += rng.randrange(20, 80)
    return t


BUILDERS = {
    "tls": build_tls,
    "tls_midstream": build_tls_midstream,
    "http": build_http,
    "connect": build_connect,
    "tcp_raw": build_tcp_raw,
    "udp_raw": build_udp_raw,
    "icmp": build_icmp,
    "dns": build_dns,
    "quic": build_quic,
}


# --------------------------------------------------------------------------
# Scenarios: data tables. Addresses of servers are in the documentation
# ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) so
# that no IP-based classification (nDPI's lists, signature IP ranges) can
# name or classify them: names come from the traffic only.
# --------------------------------------------------------------------------

CLIENTS = {
    "c1": "10.20.0.11", "c2": "10.20.0.12", "c3": "10.20.0.13", "c4": "10.20.0.14",
    "c5": "10.20.0.15", "c6": "fd00:20::21", "c7": "fd00:20::22",
}
RESOLVER4, RESOLVER6, PROXY = "10.20.0.53", "fd00:20::53", "10.20.0.8"

ZONE = {
    "slack.com": {"A": [("192.0.2.10", 300)]},
    "app.slack.com": {"A": [("192.0.2.11", 60), ("192.0.2.12", 60)]},
    "files.slack.com": {"cname": [("files-slack-com.edge.example-cdn.net", 300), ("e5721.a.example-cdn.net", 120)],
                        "A": [("192.0.2.20", 120), ("192.0.2.21", 120), ("192.0.2.22", 120)]},
    "edgeapi.slack.com": {"A": [("192.0.2.30", 600)]},
    "zoom.us": {"A": [("192.0.2.40", 3600)]},
    "us05web.zoom.us": {"cname": [("us05web-zoom-us.lb.example-lb.net", 600)], "A": [("192.0.2.41", 60)]},
    "www.dropbox.com": {"cname": [("www-env.dropbox-dns.com", 300)], "A": [("192.0.2.50", 300)],
                        "AAAA": [("2001:db8:50::2", 300)]},
    "content.dropboxapi.com": {"A": [("192.0.2.51", 120)], "AAAA": [("2001:db8:50::1", 900)]},
    "wetransfer.com": {"A": [("192.0.2.60", 60)]},
    "chatgpt.com": {"A": [("192.0.2.65", 300)], "AAAA": [("2001:db8:60::10", 300), ("2001:db8:60::11", 300)]},
    "api.openai.com": {"A": [("192.0.2.70", 60)]},
    "github.com": {"A": [("192.0.2.80", 60)], "AAAA": [("2001:db8:80::1", 600)]},
    "api.github.com": {"A": [("192.0.2.81", 60)]},
    "docs.google.com": {"A": [("192.0.2.90", 3600)]},
    "drive.google.com": {"A": [("192.0.2.90", 3600)]},
    "www.deepl.com": {"A": [("192.0.2.100", 600)]},
    "pastebin.com": {"A": [("192.0.2.110", 60)]},
    "www.figma.com": {"A": [("192.0.2.120", 300)]},
    "cdn.tiny-startup-example.co.uk": {"A": [("198.51.100.20", 3600)]},
    "portal.unknown-saas-example.com.au": {"AAAA": [("2001:db8:70::5", 900)]},
}

BASIC_FLOWS = [
    # ---- 09:00 bucket -------------------------------------------------------
    {"id": "mid-stream", "kind": "tls_midstream", "at": 0.2, "client": "c3", "server": "203.0.113.80",
     "x": [(900, 2400, 3.0), (300, 12000, 6.0), (500, 800, 0)], "expect": None},
    {"id": "dns-slack", "kind": "dns", "at": 1.0, "client": "c1", "server": RESOLVER4,
     "q": [("slack.com", "A"), ("app.slack.com", "A")]},
    {"id": "tls-slack", "kind": "tls", "at": 1.3, "client": "c1", "server": "192.0.2.10", "host": "slack.com",
     "x": [(700, 9000, 0.4), (900, 25000, 1.0)]},
    {"id": "tls-app-slack", "kind": "tls", "at": 1.6, "client": "c1", "server": "192.0.2.11", "host": "app.slack.com",
     "x": [(800, 60000, 2.0), (1500, 4000, 5.0), (600, 30000, 0)]},
    {"id": "dns-files-slack", "kind": "dns", "at": 30.0, "client": "c2", "server": RESOLVER4,
     "q": [("files.slack.com", "A")]},
    {"id": "tls-files-slack", "kind": "tls", "at": 30.2, "client": "c2", "server": "192.0.2.21",
     "host": "files.slack.com", "x": [(900, 800000, 0)]},
    {"id": "dns-openai", "kind": "dns", "at": 35.0, "client": "c2", "server": RESOLVER4,
     "q": [("api.openai.com", "A")]},
    {"id": "tls-nosni-openai", "kind": "tls", "at": 36.0, "client": "c2", "server": "192.0.2.70",
     "host": "api.openai.com", "sni": False, "x": [(2400, 8000, 1.0), (3000, 16000, 0)],
     "expect": "api.openai.com"},
    {"id": "dns-edgeapi", "kind": "dns", "at": 39.5, "client": "c3", "server": RESOLVER4,
     "q": [("edgeapi.slack.com", "A")]},
    {"id": "tls-long-edgeapi", "kind": "tls", "at": 40.0, "client": "c3", "server": "192.0.2.30",
     "host": "edgeapi.slack.com", "x": [(120, 160, 25.0)] * 28 + [(400, 900, 0)]},
    {"id": "dns-docs-c4", "kind": "dns", "at": 58.0, "client": "c4", "server": RESOLVER4,
     "q": [("docs.google.com", "A")]},
    {"id": "tls-docs", "kind": "tls", "at": 58.5, "client": "c4", "server": "192.0.2.90", "host": "docs.google.com",
     "x": [(1200, 45000, 3.0), (5000, 2000, 0)]},
    {"id": "quic-docs", "kind": "quic", "at": 62.0, "client": "c4", "server": "192.0.2.91",
     "host": "docs.google.com", "pn_len": 1, "x": [(1400, 30000, 1.0), (800, 5000, 0)]},
    {"id": "icmp-gw", "kind": "icmp", "at": 100.0, "client": "c2", "server": "10.20.0.1", "count": 4, "rtt_ms": 1},
    {"id": "icmp6", "kind": "icmp", "at": 110.0, "client": "c6", "server": "2001:db8:ffff::1", "count": 3},
    {"id": "dns-wetransfer", "kind": "dns", "at": 119.0, "client": "c1", "server": RESOLVER4,
     "q": [("wetransfer.com", "A")]},
    {"id": "tls-wetransfer-upload", "kind": "tls", "at": 119.5, "client": "c1", "server": "192.0.2.60",
     "host": "wetransfer.com", "rate_mbps": 80, "x": [(2000, 6000, 0.5), (5000000, 1200, 0)]},
    {"id": "dns-pastebin", "kind": "dns", "at": 149.0, "client": "c2", "server": RESOLVER4,
     "q": [("pastebin.com", "A")]},
    {"id": "http-pastebin", "kind": "http", "at": 150.0, "client": "c2", "server": "192.0.2.110",
     "requests": [("GET", "/raw/Xk3p9LmQ", "pastebin.com", 0, 3100, 200),
                  ("POST", "/api/api_post.php", "pastebin.com", 1800, 60, 200)]},
    {"id": "dns-dropbox-c5", "kind": "dns", "at": 189.0, "client": "c5", "server": RESOLVER4,
     "q": [("www.dropbox.com", "A")]},
    {"id": "tls-dropbox-www", "kind": "tls", "at": 189.4, "client": "c5", "server": "192.0.2.50",
     "host": "www.dropbox.com", "x": [(1500, 70000, 1.0)]},
    {"id": "dns6-dropbox", "kind": "dns", "at": 199.0, "client": "c6", "server": RESOLVER6,
     "q": [("content.dropboxapi.com", "A"), ("content.dropboxapi.com", "AAAA")]},
    {"id": "tls6-dropbox-upload", "kind": "tls", "at": 199.5, "client": "c6", "server": "2001:db8:50::1",
     "host": "content.dropboxapi.com", "rate_mbps": 60, "x": [(3000000, 900, 0)]},
    {"id": "quic2-drive", "kind": "quic", "at": 240.0, "client": "c2", "server": "192.0.2.92",
     "host": "drive.google.com", "version": 2, "pn_len": 2, "scid_len": 8, "x": [(2000, 40000, 0)]},
    {"id": "dns-zoom", "kind": "dns", "at": 248.0, "client": "c4", "server": RESOLVER4,
     "q": [("zoom.us", "A"), ("us05web.zoom.us", "A")]},
    {"id": "quic-zoom-simple", "kind": "quic", "at": 290.0, "client": "c3", "server": "192.0.2.40",
     "host": "zoom.us", "chrome": False, "pn_len": 4, "scid_len": 8, "datagram": 1200,
     "x": [(600, 9000, 0)]},
    # ---- 09:05 bucket -------------------------------------------------------
    {"id": "dns6-chatgpt", "kind": "dns", "at": 329.0, "client": "c6", "server": RESOLVER6,
     "q": [("chatgpt.com", "AAAA"), ("chatgpt.com", "A")]},
    {"id": "tls6-chatgpt", "kind": "tls", "at": 329.5, "client": "c6", "server": "2001:db8:60::10",
     "host": "chatgpt.com", "x": [(3000, 24000, 6.0), (4200, 60000, 10.0), (2500, 31000, 0)]},
    {"id": "quic6-chatgpt", "kind": "quic", "at": 335.0, "client": "c6", "server": "2001:db8:60::11",
     "host": "chatgpt.com", "coalesce": True, "pn_len": 2, "x": [(3000, 20000, 2.0), (1500, 9000, 0)]},
    {"id": "dns-github", "kind": "dns", "at": 399.0, "client": "c5", "server": RESOLVER4,
     "q": [("github.com", "A"), ("api.github.com", "A")]},
    {"id": "tls-github", "kind": "tls", "at": 400.0, "client": "c5", "server": "192.0.2.80",
     "host": "github.com", "x": [(2000, 1000000, 0)]},
    {"id": "ssh-github", "kind": "tcp_raw", "at": 402.0, "client": "c5", "server": "192.0.2.80", "port": 22,
     "x": [(1500, 1100, 0.1), (800, 40000, 0.2), (200, 300, 0)], "expect": "github.com"},
    {"id": "tls-api-github", "kind": "tls", "at": 405.0, "client": "c5", "server": "192.0.2.81",
     "host": "api.github.com", "x": [(900, 3000, 0)]},
    {"id": "http-deepl", "kind": "http", "at": 420.0, "client": "c4", "server": "192.0.2.100", "port": 8080,
     "requests": [("POST", "/v2/translate", "WWW.DeepL.com:8080", 900, 700, 200)]},
    {"id": "connect-notion", "kind": "connect", "at": 450.0, "client": "c1", "server": PROXY,
     "host": "www.notion.so", "x": [(1500, 40000, 1.0), (800, 12000, 0)]},
    {"id": "udp-zoom-media", "kind": "udp_raw", "at": 450.0, "client": "c4", "server": "192.0.2.41",
     "port": 8801, "duration_s": 50, "interval_ms": 400, "up_size": 300, "down_size": 1100,
     "expect": "us05web.zoom.us", "note": "named thanks to the 300 s DNS TTL floor (answer TTL 60 s, 200 s earlier)"},
    {"id": "udp-zoom-frag", "kind": "udp_raw", "at": 460.0, "client": "c4", "server": "192.0.2.40",
     "port": 8801, "duration_s": 6, "interval_ms": 600, "up_size": 3000, "down_size": 2600, "frag": True,
     "expect": "zoom.us"},
    {"id": "http6-github", "kind": "http", "at": 470.0, "client": "c7", "server": "2001:db8:80::1",
     "requests": [("GET", "/", "github.com", 0, 180, 301), ("GET", "/login", "github.com", 0, 9000, 200)]},
    {"id": "dns-figma", "kind": "dns", "at": 499.0, "client": "c2", "server": RESOLVER4,
     "q": [("www.figma.com", "A")]},
    {"id": "tls-figma-vlan", "kind": "tls", "at": 500.0, "client": "c2", "server": "192.0.2.120",
     "host": "www.figma.com", "vlan": 100, "x": [(1100, 90000, 2.0), (2000, 4000, 0)]},
    {"id": "tls-tiny-startup", "kind": "tls", "at": 520.0, "client": "c3", "server": "198.51.100.20",
     "host": "cdn.tiny-startup-example.co.uk", "mlkem": False, "chrome": False, "ech_grease": False,
     "x": [(500, 14000, 0)]},
    {"id": "dns6-unknown-saas", "kind": "dns", "at": 559.0, "client": "c7", "server": RESOLVER6,
     "q": [("portal.unknown-saas-example.com.au", "AAAA")]},
    {"id": "quic6-unknown-saas", "kind": "quic", "at": 560.0, "client": "c7", "server": "2001:db8:70::5",
     "host": "portal.unknown-saas-example.com.au", "scid_len": 8, "pn_len": 4, "x": [(1000, 7000, 0)]},
    {"id": "dns-docs-c5", "kind": "dns", "at": 600.0, "client": "c5", "server": RESOLVER4,
     "q": [("docs.google.com", "A")]},
    # ---- 09:10 bucket -------------------------------------------------------
    {"id": "dns-wetransfer-short", "kind": "dns", "at": 610.0, "client": "c3", "server": RESOLVER4,
     "q": [("wetransfer.com", "A")], "answers": {"wetransfer.com": {"A": [("192.0.2.250", 30)]}}},
    {"id": "dns-drive-c4", "kind": "dns", "at": 650.0, "client": "c4", "server": RESOLVER4,
     "q": [("drive.google.com", "A")]},
    {"id": "tls-nosni-c4-google", "kind": "tls", "at": 700.0, "client": "c4", "server": "192.0.2.90",
     "host": "drive.google.com", "sni": False, "x": [(1300, 20000, 0)], "expect": "drive.google.com",
     "note": "192.0.2.90 answered docs.google.com then drive.google.com to this client: the latest wins"},
    {"id": "tls-nosni-c5-google", "kind": "tls", "at": 710.0, "client": "c5", "server": "192.0.2.90",
     "host": "docs.google.com", "sni": False, "x": [(1300, 20000, 0)], "expect": "docs.google.com",
     "note": "this client's own answer wins over a later answer to another client"},
    {"id": "tls-nosni-c3-google", "kind": "tls", "at": 720.0, "client": "c3", "server": "192.0.2.90",
     "host": "drive.google.com", "sni": False, "x": [(1300, 20000, 0)], "expect": "drive.google.com",
     "note": "no answer to this client: the latest answer to anyone"},
    {"id": "dns-deepl", "kind": "dns", "at": 779.0, "client": "c1", "server": RESOLVER4,
     "q": [("www.deepl.com", "A")]},
    {"id": "tls-deepl", "kind": "tls", "at": 780.0, "client": "c1", "server": "192.0.2.100",
     "host": "www.deepl.com", "x": [(4000, 9000, 20.0), (3000, 7000, 0)]},
    {"id": "dns-dropbox-c1", "kind": "dns", "at": 839.0, "client": "c1", "server": RESOLVER4,
     "q": [("content.dropboxapi.com", "A")]},
    {"id": "tls-dropbox-upload-v4", "kind": "tls", "at": 840.0, "client": "c1", "server": "192.0.2.51",
     "host": "content.dropboxapi.com", "rate_mbps": 40, "x": [(1000000, 700, 0)]},
    {"id": "http-pastebin-late", "kind": "http", "at": 880.0, "client": "c3", "server": "192.0.2.110",
     "requests": [("GET", "/raw/Q2w3E4r5", "pastebin.com:80", 0, 1200, 200)]},
    # ---- two hours later ----------------------------------------------------
    {"id": "tls-nosni-expired", "kind": "tls", "at": 610.0 + 7200, "client": "c3", "server": "192.0.2.250",
     "host": "wetransfer.com", "sni": False, "x": [(800, 3000, 0)], "expect": None,
     "note": "the only answer for this address (TTL 30 s) is 2 hours old: beyond any floor"},
]

SMOKE_FLOWS = [
    {"id": "dns-slack", "kind": "dns", "at": 1.0, "client": "c1", "server": RESOLVER4,
     "q": [("slack.com", "A"), ("api.openai.com", "A")]},
    {"id": "tls-slack", "kind": "tls", "at": 1.3, "client": "c1", "server": "192.0.2.10", "host": "slack.com",
     "x": [(700, 9000, 0)]},
    {"id": "tls-nosni-openai", "kind": "tls", "at": 2.0, "client": "c1", "server": "192.0.2.70",
     "host": "api.openai.com", "sni": False, "x": [(1200, 3000, 0)], "expect": "api.openai.com"},
    {"id": "quic-docs", "kind": "quic", "at": 3.0, "client": "c2", "server": "192.0.2.91",
     "host": "docs.google.com", "x": [(1000, 5000, 0)]},
    {"id": "http-pastebin", "kind": "http", "at": 4.0, "client": "c2", "server": "192.0.2.110",
     "requests": [("GET", "/raw/Xk3p9LmQ", "pastebin.com", 0, 900, 200)]},
    {"id": "icmp-gw", "kind": "icmp", "at": 5.0, "client": "c2", "server": "10.20.0.1", "count": 2, "rtt_ms": 1},
]

# Where traffic goes (tests/integration/agent_geo.sh): one name served from
# three networks of the test databases (tests/tools/geo_networks.tsv: US,
# GB, NL) to one client within one bucket, and one from a network with a
# country but no AS; the summaries must keep them apart.
GEO_FLOWS = [
    {"id": "tls-slack-us", "kind": "tls", "at": 1.0, "client": "c1", "server": "192.0.2.11",
     "host": "app.slack.com", "x": [(900, 7000, 0)]},
    {"id": "tls-slack-gb", "kind": "tls", "at": 2.0, "client": "c1", "server": "198.51.100.11",
     "host": "app.slack.com", "x": [(800, 6000, 0)]},
    {"id": "tls6-slack-nl", "kind": "tls", "at": 3.0, "client": "c6", "server": "2001:db8:50::11",
     "host": "app.slack.com", "x": [(700, 5000, 0)]},
    {"id": "tls-slack-us-again", "kind": "tls", "at": 4.0, "client": "c1", "server": "192.0.2.12",
     "host": "app.slack.com", "x": [(600, 4000, 0)]},
    {"id": "tls-fr-noasn", "kind": "tls", "at": 5.0, "client": "c2", "server": "203.0.113.80",
     "host": "www.figma.com", "x": [(500, 3000, 0)]},
    {"id": "icmp-gw", "kind": "icmp", "at": 6.0, "client": "c2", "server": "10.20.0.1", "count": 2, "rtt_ms": 1},
]

SCENARIOS = {
    "basic": {"zone": ZONE, "flows": BASIC_FLOWS},
    "smoke": {"zone": ZONE, "flows": SMOKE_FLOWS},
    "geo": {"zone": ZONE, "flows": GEO_FLOWS},
}


# --------------------------------------------------------------------------
# DNS cache simulation (the truth's model of the agent's cache, dns.h)
# --------------------------------------------------------------------------

def dns_lookup(log, client, server, when, floor, chain_ttl=False):
    """The name of the latest live answer for server that this client
    received, else the latest live answer anyone received, else None.
    An answer lives max(ttl, floor) seconds."""
    best_own = best_any = None
    for ts, cl, qname, addrs in log:
        if ts > when:
            continue
        for addr, ttl_a, ttl_c in addrs:
            if addr != server:
                continue
            ttl = ttl_c if chain_ttl else ttl_a
            if when >= ts + max(ttl, floor) * USEC:
                continue
            if cl == client and (best_own is None or ts >= best_own[0]):
                best_own = (ts, qname)
            if best_any is None or ts >= best_any[0]:
                best_any = (ts, qname)
    best = best_own or best_any
    return best[1] if best else None


# --------------------------------------------------------------------------
# Running a scenario, writing pcap and truth
# --------------------------------------------------------------------------

def build(scenario, seed, start_usec):
    sc = SCENARIOS[scenario]
    cap = Capture(seed, start_usec)
    cap.zone = sc["zone"]
    seen = set()
    for spec0 in sc["flows"]:
        spec = dict(spec0)
        assert spec["id"] not in seen, spec["id"]
        seen.add(spec["id"])
        spec["client"] = CLIENTS.get(spec["client"], spec["client"])
        rng = cap.flow_rng(spec)
        t = start_usec + int(spec["at"] * USEC) + rng.randrange(0, 50000)
        f = BUILDERS[spec["kind"]](cap, spec, rng, t)
        f.spec = spec
    return cap


def flow_truth(cap, f):
    pk = sorted(f.packets)
    rec = {"id": f.spec["id"], "kind": f.spec["kind"], "proto": PROTO_NAMES[f.proto],
           "client": str(f.client), "client_port": f.cport, "server": str(f.server), "server_port": f.sport}
    first = pk[0][0]
    if f.payload_name:
        host, source = normalize_host(f.payload_name[0]), f.payload_name[1]
    else:
        host = dns_lookup(cap.dns_log, f.client, f.server, first, DNS_TTL_FLOOR)
        source = "dns" if host else None
        alt = dns_lookup(cap.dns_log, f.client, f.server, first, DNS_TTL_FLOOR, chain_ttl=True)
        if alt != host:
            raise SystemExit("shadowgen: %s: the name depends on which TTL of a CNAME chain counts" % f.spec["id"])
        if f.spec.get("kind") == "dns" and host:
            raise SystemExit("shadowgen: %s: a DNS server address is also a DNS answer" % f.spec["id"])
    if "expect" in f.spec and normalize_host(f.spec["expect"]) != host:
        raise SystemExit("shadowgen: %s: truth host %r, the table expects %r" % (f.spec["id"], host, f.spec["expect"]))
    app, cat = app_of(host)
    rec.update({"host": host, "name_source": source, "domain": registrable_domain(host), "app": app,
                "category": cat})
    up = [p for p in pk if p[1] == 0]
    down = [p for p in pk if p[1] == 1]
    rec.update({"packets_up": len(up), "packets_down": len(down),
                "bytes_up": sum(p[2] for p in up), "bytes_down": sum(p[2] for p in down),
                "first_seen": fmt_time(first), "last_seen": fmt_time(pk[-1][0])})
    if f.spec.get("note"):
        rec["note"] = f.spec["note"]
    if f.spec.get("vlan"):
        rec["vlan"] = f.spec["vlan"]
    rec["packets"] = [[ts, d, n] for ts, d, n in pk]
    return rec


LINKTYPES = {"ether": 1, "null": 0, "raw": 101, "sll": 113, "sll2": 276}


def link_header(linktype, ip, vlan, smac, dmac, d):
    v6 = (ip[0] >> 4) == 6
    etype = 0x86DD if v6 else 0x0800
    if linktype == "ether":
        if vlan:
            return dmac + smac + struct.pack("!HHH", 0x8100, vlan & 0xFFF, etype)
        return dmac + smac + struct.pack("!H", etype)
    if linktype == "raw":
        return b""
    if linktype == "null":
        return struct.pack("<I", 30 if v6 else 2)  # AF_INET6 as on macOS; host (little-endian) order
    ptype = 0 if d == 0 else 4  # up: to us (PACKET_HOST), down: PACKET_OUTGOING
    if linktype == "sll":
        return struct.pack("!HHH", ptype, 1, 6) + smac + b"\0\0" + struct.pack("!H", etype)
    if linktype == "sll2":
        return struct.pack("!HHIHBB", etype, 0, 2, 1, ptype, 6) + smac + b"\0\0"
    raise ValueError(linktype)


def write_pcap(cap, path, linktype, snaplen):
    frames = sorted(cap.frames, key=lambda x: (x[0], x[1]))
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPES[linktype]))
        for ts, _, ip, vlan, smac, dmac, d in frames:
            frame = link_header(linktype, ip, vlan, smac, dmac, d) + ip
            incl = frame[:snaplen]
            out.write(struct.pack("<IIII", ts // USEC, ts % USEC, len(incl), len(frame)))
            out.write(incl)
    return len(frames)


def write_truth(cap, path, scenario, seed, start_usec, linktype, snaplen):
    flows = [flow_truth(cap, f) for f in cap.flows]
    flows.sort(key=lambda r: (r["packets"][0][0], r["id"]))
    total_p = sum(r["packets_up"] + r["packets_down"] for r in flows)
    total_b = sum(r["bytes_up"] + r["bytes_down"] for r in flows)
    assert total_p == len(cap.frames)
    head = {
        "scenario": scenario, "seed": seed, "start": fmt_time(start_usec, 0),
        "generator": "tests/gen/shadowgen.py", "linktype": linktype, "snaplen": snaplen,
        "dns_ttl_floor_assumed": DNS_TTL_FLOOR,
        "conventions": [
            "bytes are IP-layer bytes: IPv4 total length, IPv6 payload length + 40; every fragment counts",
            "client = the side that sent the SYN / first datagram; without a SYN, the side on the ephemeral port",
            "ICMP flows have ports 0 (checkers ignore ICMP ports); host null",
            "DNS flows to the resolver have host null (the resolver is the server; its question names other flows)",
            "names: TLS SNI > QUIC SNI > HTTP Host or CONNECT authority (port removed, lowercased) > DNS cache",
            "DNS cache: the latest live answer this client received for the server address, "
            "else the latest live answer anyone received; an answer lives max(ttl, dns_ttl_floor_assumed) s",
            "server addresses are in documentation ranges: no IP-based classification applies",
        ],
        "totals": {"ip_packets": total_p, "ip_bytes": total_b, "flows": len(flows)},
    }
    with open(path, "w") as out:
        body = json.dumps(head, indent=1)
        out.write(body[:-2] + ',\n "flows": [\n')
        for i, r in enumerate(flows):
            out.write("  " + json.dumps(r, separators=(",", ":")) + (",\n" if i < len(flows) - 1 else "\n"))
        out.write(" ]\n}\n")
    return flows


# --------------------------------------------------------------------------
# Self-test: RFC 9001 Appendix A and RFC 9369 Appendix A vectors, and the
# round trip of what the generator writes.
# --------------------------------------------------------------------------

RFC9001_DCID = bytes.fromhex("8394c8f03e515708")
RFC9001_CRYPTO = bytes.fromhex("""
060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868
04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578
616d706c652e636f6dff01000100000a 00080006001d00170018001000070005
04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba
baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400
0d0010000e0403050306030203080408 050806002d00020101001c0002400100
3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000
75300901100f088394c8f03e51570806 048000ffff""".replace("\n", "").replace(" ", ""))
RFC9001_PROTECTED = bytes.fromhex("""
c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11
d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399
1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c
8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212
30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5
457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208
4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec
4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3
485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db
059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c
7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8
9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556
be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74
68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a
c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00
f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632
291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964
25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd
14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff
ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198
e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd
c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73
203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f
cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e
fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade
a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047
90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2
162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4
40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0
6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e
8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0
be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400
54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab
760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9
f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4
056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064
7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241
e221af44860018ab0856972e194cd934""".replace("\n", ""))
RFC9001_SERVER_PAYLOAD = bytes.fromhex(
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
    "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
    "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304")
RFC9001_SERVER_PROTECTED = bytes.fromhex(
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a"
    "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3"
    "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84"
    "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4"
    "2158407dd074ee")
RFC9369_PROTECTED_PREFIX = bytes.fromhex(
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485")


def sni_from_handshake(hs):
    """Minimal ClientHello parser (self-test only): the server_name."""
    assert hs[0] == 1
    p = 4 + 2 + 32
    p += 1 + hs[p]
    p += 2 + struct.unpack_from("!H", hs, p)[0]
    p += 1 + hs[p]
    end = p + 2 + struct.unpack_from("!H", hs, p)[0]
    p += 2
    while p < end:
        t, n = struct.unpack_from("!HH", hs, p)
        if t == 0:
            ln = struct.unpack_from("!H", hs, p + 7)[0]
            return hs[p + 9:p + 9 + ln].decode()
        p += 4 + n
    return None


def self_test():
    ok = True

    def check(what, got, want):
        nonlocal ok
        if got != want:
            ok = False
            print("FAIL %s:\n  got  %s\n  want %s" % (what, got.hex() if isinstance(got, bytes) else got,
                                                     want.hex() if isinstance(want, bytes) else want))
        else:
            print("ok   %s" % what)

    # RFC 9001 A.1
    c = QuicKeys(QUIC_V1, RFC9001_DCID, "client")
    s = QuicKeys(QUIC_V1, RFC9001_DCID, "server")
    check("rfc9001 A.1 client_initial_secret", c.secret.hex(),
          "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
    check("rfc9001 A.1 client key/iv/hp", (c.key + c.iv + c.hp).hex(),
          "1f369613dd76d5467730efcbe3b1a22d" "fa044b2f42a3fd3b46fb255c" "9f50449e04a0e810283a1e9933adedd2")
    check("rfc9001 A.1 server_initial_secret", s.secret.hex(),
          "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b")
    check("rfc9001 A.1 server key/iv/hp", (s.key + s.iv + s.hp).hex(),
          "cf3a5331653c364c88f0f379b6067e37" "0ac1493ca1905853b0bba03e" "c206b8d9b9f0f37644430b490eeaa314")
    # RFC 9001 A.2: the whole protected client Initial
    check("rfc9001 A.2 crypto frame length", len(RFC9001_CRYPTO), 245)
    payload = RFC9001_CRYPTO + b"\0" * (1162 - len(RFC9001_CRYPTO))
    pkt = quic_protect_long(QUIC_V1, "initial", RFC9001_DCID, b"", b"", 2, 4, payload, c)
    check("rfc9001 A.2 protected client Initial (1200 bytes)", pkt, RFC9001_PROTECTED)
    dc, pn, pt, _ = quic_unprotect_initial(pkt, lambda d: QuicKeys(QUIC_V1, d, "client"))
    check("rfc9001 A.2 unprotect round trip", (pn, pt), (2, payload))
    # RFC 9001 A.3: the server Initial
    spkt = quic_protect_long(QUIC_V1, "initial", b"", bytes.fromhex("f067a5502a4262b5"), b"", 1, 2,
                             RFC9001_SERVER_PAYLOAD, s)
    check("rfc9001 A.3 protected server Initial", spkt, RFC9001_SERVER_PROTECTED)
    # RFC 9369 A.1 / A.2
    c2 = QuicKeys(QUIC_V2, RFC9001_DCID, "client")
    s2 = QuicKeys(QUIC_V2, RFC9001_DCID, "server")
    check("rfc9369 A.1 client_initial_secret", c2.secret.hex(),
          "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b")
    check("rfc9369 A.1 client key/iv/hp", (c2.key + c2.iv + c2.hp).hex(),
          "8b1a0bc121284290a29e0971b5cd045d" "91f73e2351d8fa91660e909f" "45b95e15235d6f45a6b19cbcb0294ba9")
    check("rfc9369 A.1 server key/iv/hp", (s2.key + s2.iv + s2.hp).hex(),
          "82db637861d55e1d011f19ea71d5d2a7" "dd13c276499c0249d3310652" "edf6d05c83121201b436e16877593c3a")
    pkt2 = quic_protect_long(QUIC_V2, "initial", RFC9001_DCID, b"", b"", 2, 4, payload, c2)
    check("rfc9369 A.2 protected client Initial (first 32 bytes)", pkt2[:32], RFC9369_PROTECTED_PREFIX)
    # checksums: a known IPv4 header
    h = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    check("ipv4 header checksum", csum(h), 0xB861)
    # round trip of generated Chrome-like QUIC first flights: decrypt,
    # reassemble CRYPTO frames, parse the SNI
    for version in (QUIC_V1, QUIC_V2):
        for coalesce in (False, True):
            cap = Capture(7, parse_time("2026-03-02T09:00:00Z"))
            cap.zone = ZONE
            spec = {"id": "t", "kind": "quic", "client": "10.20.0.11", "server": "192.0.2.1",
                    "host": "files.slack.com", "version": 2 if version == QUIC_V2 else 1,
                    "coalesce": coalesce, "x": []}
            build_quic(cap, spec, cap.flow_rng(spec), cap.start)
            first_dcid = None
            stream = {}
            n_initial = 0
            for fr in cap.frames:
                if fr[6] != 0:
                    continue
                dg = fr[2][28:]
                off = 0
                while off < len(dg) and dg[off] & 0x80:
                    if (dg[off] >> 4) & 3 != QUIC_PARAMS[version][2]["initial"]:
                        break
                    if first_dcid is None:
                        first_dcid = dg[off + 6:off + 6 + dg[off + 5]]
                    keys = QuicKeys(version, first_dcid, "client")
                    _, pn, pt, plen = quic_unprotect_initial(dg[off:], lambda d: keys)
                    n_initial += 1
                    p = 0
                    while p < len(pt):
                        typ = pt[p]
                        if typ in (0, 1):
                            p += 1
                        elif typ == 2:
                            p += 1
                            for _ in range(4):
                                _, p = qvarint_read(pt, p)
                        elif typ == 6:
                            o, p = qvarint_read(pt, p + 1)
                            ln, p = qvarint_read(pt, p)
                            stream[o] = pt[p:p + ln]
                            p += ln
                        else:
                            raise AssertionError("frame type %d" % typ)
                    off += plen
                if len(dg) < 1200 and off:
                    ok = False
                    print("FAIL client datagram with an Initial shorter than 1200 bytes")
            data = b""
            for o in sorted(stream):
                assert o == len(data), "CRYPTO gap"
                data += stream[o]
            check("quic v%d coalesce=%s: %d Initials, ClientHello %d bytes, SNI" %
                  (1 if version == QUIC_V1 else 2, coalesce, n_initial, len(data)),
                  sni_from_handshake(data), "files.slack.com")
    # TLS ClientHello over two segments
    rng = random.Random(1)
    ch = client_hello(rng, "files.slack.com", ["h2", "http/1.1"])
    check("tls ClientHello > 1460 bytes (two TCP segments)", len(ch) + 5 > 1460, True)
    check("tls ClientHello SNI", sni_from_handshake(ch), "files.slack.com")
    check("registrable domain co.uk", registrable_domain("cdn.tiny-startup-example.co.uk"),
          "tiny-startup-example.co.uk")
    check("registrable domain com.au", registrable_domain("portal.unknown-saas-example.com.au"),
          "unknown-saas-example.com.au")
    check("app of content.dropboxapi.com", app_of("content.dropboxapi.com"), ("dropbox", "file-sharing"))
    print("self-test: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pcap")
    ap.add_argument("--truth")
    ap.add_argument("--linktype", choices=sorted(LINKTYPES), default="ether")
    ap.add_argument("--start", default="2026-03-02T09:00:00Z")
    ap.add_argument("--snaplen", type=int, default=65535)
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args(argv)
    if a.self_test:
        return self_test()
    if not (a.scenario and a.pcap and a.truth):
        ap.error("--scenario, --pcap and --truth are required")
    if a.snaplen < 16 or a.snaplen > 262144:
        ap.error("--snaplen must be 16..262144")
    start = parse_time(a.start)
    cap = build(a.scenario, a.seed, start)
    n = write_pcap(cap, a.pcap, a.linktype, a.snaplen)
    flows = write_truth(cap, a.truth, a.scenario, a.seed, start, a.linktype, a.snaplen)
    sys.stderr.write("shadowgen: %s seed %d: %d packets, %d flows -> %s, %s\n"
                     % (a.scenario, a.seed, n, len(flows), a.pcap, a.truth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
