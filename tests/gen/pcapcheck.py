#!/usr/bin/python3
"""
pcapcheck: an independent reading of a shadowgen capture, to validate the
generator (and to show agent engineers a reference of the intended
semantics). It parses the pcap from its bytes only (any link type shadowgen
writes), checks every IPv4 header checksum and every TCP/UDP/ICMP checksum
of packets captured whole, rebuilds bidirectional flows (IPv4 fragments
joined to their datagram's flow by IP id), names them (TLS SNI from the
reassembled client stream, QUIC SNI from decrypted Initials, HTTP Host or
CONNECT authority, else the DNS cache built from the DNS answers seen), then
judges its own result with check_flows and check_summaries against the truth.

    pcapcheck.py CAPTURE.pcap TRUTH.json [--counts-only]

--counts-only: for captures cut by a small snaplen (names cannot be read):
only the flows, their directions, packet/byte counts and times are judged.
"""

import argparse
import ipaddress
import json
import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import truthlib as tl  # noqa: E402
import shadowgen as sg  # noqa: E402  (crypto, checksum and naming tables)
import check_flows  # noqa: E402
import check_summaries  # noqa: E402


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
        magic = struct.unpack_from(">I", data, 0)[0]
    else:
        raise SystemExit("%s: not a classic pcap file" % path)
    nsec = magic == 0xA1B23C4D
    _, _, _, _, snaplen, linktype = struct.unpack_from(e + "HHiIII", data, 4)
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(e + "IIII", data, off)
        off += 16
        frame = data[off:off + incl]
        off += incl
        yield sec * 1000000 + (frac // 1000 if nsec else frac), linktype, frame, orig


def strip_link(linktype, frame):
    """Returns (ip bytes, bytes of link header) or (None, reason)."""
    if linktype == 1:
        et = struct.unpack_from("!H", frame, 12)[0]
        off = 14
        while et in (0x8100, 0x88A8):
            et = struct.unpack_from("!H", frame, off + 2)[0]
            off += 4
        return (frame[off:], off) if et in (0x0800, 0x86DD) else (None, "ethertype %#x" % et)
    if linktype in (101, 12, 14):
        return frame, 0
    if linktype == 0:
        af = struct.unpack_from("<I", frame, 0)[0]
        if af not in (2, 24, 28, 30):
            af = struct.unpack_from(">I", frame, 0)[0]
        return (frame[4:], 4) if af in (2, 24, 28, 30) else (None, "AF %d" % af)
    if linktype == 113:
        et = struct.unpack_from("!H", frame, 14)[0]
        return (frame[16:], 16) if et in (0x0800, 0x86DD) else (None, "protocol %#x" % et)
    if linktype == 276:
        et = struct.unpack_from("!H", frame, 0)[0]
        return (frame[20:], 20) if et in (0x0800, 0x86DD) else (None, "protocol %#x" % et)
    raise SystemExit("link type %d not supported" % linktype)


class FlowState:
    def __init__(self, key, client, cport, server, sport, proto):
        self.key = key
        self.client, self.cport, self.server, self.sport, self.proto = client, cport, server, sport, proto
        self.packets = []
        self.cstream = {}  # seq offset -> bytes (TCP, client side)
        self.isn = None
        self.name = None
        self.quic_dcid = None
        self.quic_version = None
        self.crypto = {}
        self.tried = False


def tls_sni_stream(data):
    """SNI from a TLS client stream: None when incomplete/absent, '' when absent."""
    hs = b""
    off = 0
    while off + 5 <= len(data):
        if data[off] != 0x16:
            return ""
        n = struct.unpack_from("!H", data, off + 3)[0]
        hs += data[off + 5:off + 5 + n]
        off += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            return sg.sni_from_handshake(hs) or ""
    return None


def http_host(data):
    text = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 3 or not parts[2].startswith("HTTP/1."):
        return None
    if parts[0] == "CONNECT":
        auth = parts[1]
        return auth.rsplit(":", 1)[0] if auth.count(":") == 1 else auth
    for ln in lines[1:]:
        if ln.lower().startswith("host:"):
            h = ln[5:].strip()
            return h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    return None


def dns_parse(msg):
    """Response -> (qname, [(addr, ttl)]) following the CNAME chain."""
    def name_at(off):
        labels, jumps, end = [], 0, None
        while True:
            n = msg[off]
            if n & 0xC0 == 0xC0:
                if end is None:
                    end = off + 2
                off = ((n & 0x3F) << 8) | msg[off + 1]
                jumps += 1
                if jumps > 20:
                    raise ValueError("loop")
                continue
            if n == 0:
                return ".".join(labels).lower(), (end if end is not None else off + 1)
            labels.append(msg[off + 1:off + 1 + n].decode("latin-1"))
            off += 1 + n

    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", msg, 0)
    if not flags & 0x8000 or flags & 0xF or qd != 1:
        return None
    qname, off = name_at(12)
    off += 4
    rrs = []
    for _ in range(an):
        owner, off = name_at(off)
        typ, cls, ttl, rdlen = struct.unpack_from("!HHIH", msg, off)
        off += 10
        rd = msg[off:off + rdlen]
        if typ == 5:
            rrs.append((owner, "CNAME", ttl, name_at(off)[0]))
        elif typ in (1, 28):
            rrs.append((owner, "A", ttl, ipaddress.ip_address(rd)))
        off += rdlen
    names, cur = {qname}, qname
    for _ in range(16):
        nxt = [v for o, t, _, v in rrs if o == cur and t == "CNAME"]
        if not nxt:
            break
        cur = nxt[0]
        names.add(cur)
    return qname, [(v, ttl) for o, t, ttl, v in rrs if t == "A" and o in names]


def l4_checksum_ok(src, dst, proto, l4):
    if proto == 1:
        return sg.csum(l4) == 0
    return sg.csum(sg.pseudo_header(src, dst, proto, len(l4)) + l4) == 0


def analyse(pcap):
    flows, order = {}, []
    frags = {}
    dns_log = []
    stats = {"frames": 0, "bad_ipv4_csum": 0, "bad_l4_csum": 0, "l4_checked": 0, "truncated": 0,
             "not_ip": 0, "vlan": 0}
    for ts, linktype, frame, orig in pcap:
        stats["frames"] += 1
        ip, hl = strip_link(linktype, frame)
        if ip is None:
            stats["not_ip"] += 1
            continue
        if linktype == 1 and hl > 14:
            stats["vlan"] += 1
        whole = len(frame) == orig
        if not whole:
            stats["truncated"] += 1
        v = ip[0] >> 4
        if v == 4:
            ihl = (ip[0] & 0xF) * 4
            ip_len, ident, ff, proto = struct.unpack_from("!H", ip, 2)[0], struct.unpack_from("!H", ip, 4)[0], \
                struct.unpack_from("!H", ip, 6)[0], ip[9]
            if len(ip) >= ihl and sg.csum(ip[:ihl]) != 0:
                stats["bad_ipv4_csum"] += 1
            src, dst = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
            foff, more = (ff & 0x1FFF) * 8, bool(ff & 0x2000)
            l4 = ip[ihl:ip_len]
        else:
            ip_len = struct.unpack_from("!H", ip, 4)[0] + 40
            proto = ip[6]
            src, dst = ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40])
            foff, more, ident = 0, False, None
            l4 = ip[40:ip_len]
        fragkey = (src, dst, proto, ident)
        if foff:
            if fragkey not in frags:
                raise SystemExit("fragment at offset %d before its first fragment" % foff)
            sport, dport = frags[fragkey]
            l4 = b""
        else:
            if proto in (6, 17):
                sport, dport = struct.unpack_from("!HH", l4, 0)
            else:
                sport = dport = 0
            if more:
                frags[fragkey] = (sport, dport)
            elif whole:
                stats["l4_checked"] += 1
                if not l4_checksum_ok(src, dst, proto, l4):
                    stats["bad_l4_csum"] += 1
        a, b = (src, sport), (dst, dport)
        key = (proto,) + (a + b if a <= b else b + a)
        f = flows.get(key)
        if f is None:
            client_is_src = True
            if proto == 6:
                flags = l4[13]
                if flags & 0x02:
                    client_is_src = not flags & 0x10
                else:
                    client_is_src = sport > dport  # mid-stream: the ephemeral port is the client's
            if client_is_src:
                f = FlowState(key, src, sport, dst, dport, proto)
            else:
                f = FlowState(key, dst, dport, src, sport, proto)
            flows[key] = f
            order.append(f)
        d = 0 if (src, sport) == (f.client, f.cport) else 1
        f.packets.append((ts, d, ip_len))
        if not whole or foff or more:
            continue
        # ---- naming from payload
        if proto == 6:
            flags = l4[13]
            doff = (l4[12] >> 4) * 4
            seq = struct.unpack_from("!I", l4, 4)[0]
            payload = l4[doff:]
            if d == 0:
                if flags & 0x02:
                    f.isn = (seq + 1) & 0xFFFFFFFF
                elif f.isn is None:
                    f.isn = seq
                if payload and f.name is None and not f.tried:
                    rel = (seq - f.isn) & 0xFFFFFFFF
                    if rel < 65536:
                        f.cstream[rel] = payload
                    data = b""
                    for o in sorted(f.cstream):
                        if o != len(data):
                            break
                        data += f.cstream[o]
                    if data:
                        if data[0] == 0x16:
                            r = tls_sni_stream(data)
                            if r is not None:
                                f.tried = True
                                f.name = (r, "sni") if r else None
                        elif b"\r\n\r\n" in data:
                            f.tried = True
                            h = http_host(data)
                            f.name = (h, "http") if h else None
                        else:
                            f.tried = len(data) > 32
        elif proto == 17:
            payload = l4[8:]
            if 53 in (sport, dport) and d == 1:
                try:
                    r = dns_parse(payload)
                except (ValueError, IndexError, struct.error):
                    r = None
                if r:
                    dns_log.append((ts, f.client, r[0], [(addr, ttl, ttl) for addr, ttl in r[1]]))
            elif d == 0 and f.name is None and not f.tried and payload and payload[0] & 0x80:
                quic_datagram(f, payload)
    return order, dns_log, stats


def quic_datagram(f, dg):
    off = 0
    while off + 7 < len(dg) and dg[off] & 0x80:
        version = struct.unpack_from("!I", dg, off + 1)[0]
        if version not in sg.QUIC_PARAMS:
            f.tried = True
            return
        ptype = (dg[off] >> 4) & 3
        dl = dg[off + 5]
        dcid = dg[off + 6:off + 6 + dl]
        if ptype != sg.QUIC_PARAMS[version][2]["initial"]:
            # skip this long-header packet
            p = off + 6 + dl
            p += 1 + dg[p]
            ln, p = sg.qvarint_read(dg, p)
            off = p + ln
            continue
        if f.quic_dcid is None:
            f.quic_dcid, f.quic_version = dcid, version
        keys = sg.QuicKeys(f.quic_version, f.quic_dcid, "client")
        try:
            _, _, pt, plen = sg.quic_unprotect_initial(dg[off:], lambda d: keys)
        except Exception:  # noqa: BLE001 - not decryptable: not our Initial
            f.tried = True
            return
        p = 0
        while p < len(pt):
            t = pt[p]
            if t in (0, 1):
                p += 1
            elif t in (2, 3):
                p += 1
                largest, p = sg.qvarint_read(pt, p)
                _, p = sg.qvarint_read(pt, p)
                cnt, p = sg.qvarint_read(pt, p)
                _, p = sg.qvarint_read(pt, p)
                for _ in range(2 * cnt):
                    _, p = sg.qvarint_read(pt, p)
                if t == 3:
                    for _ in range(3):
                        _, p = sg.qvarint_read(pt, p)
            elif t == 6:
                o, p = sg.qvarint_read(pt, p + 1)
                ln, p = sg.qvarint_read(pt, p)
                f.crypto[o] = pt[p:p + ln]
                p += ln
            else:
                break
        off += plen
    data = b""
    for o in sorted(f.crypto):
        chunk = f.crypto[o]
        if o > len(data):
            break
        if o + len(chunk) > len(data):
            data += chunk[len(data) - o:]
    if len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[1:4], "big"):
        f.tried = True
        s = sg.sni_from_handshake(data)
        f.name = (s, "quic") if s else None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Independent reading of a shadowgen capture, judged against its truth.")
    ap.add_argument("pcap")
    ap.add_argument("truth")
    ap.add_argument("--counts-only", action="store_true")
    ap.add_argument("--bucket-seconds", type=int, default=300)
    a = ap.parse_args(argv)
    truth = tl.load_truth(a.truth)
    flows, dns_log, stats = analyse(read_pcap(a.pcap))
    print("pcapcheck: %s" % json.dumps(stats, sort_keys=True))
    bad = stats["bad_ipv4_csum"] + stats["bad_l4_csum"] + stats["not_ip"]
    tkeys = {tl.flow_key(t["proto"], t["client"], t["client_port"], t["server"], t["server_port"]): t
             for t in truth["flows"]}
    tmp = tempfile.mkdtemp(prefix="pcapcheck.")
    fpath, spath, tpath = (os.path.join(tmp, n) for n in ("flows.jsonl", "summaries.jsonl", "truth.json"))
    recs = []
    pseudo = dict(truth)
    pseudo["flows"] = []
    for f in flows:
        pk = sorted(f.packets)
        if f.name:
            host = sg.normalize_host(f.name[0])
        else:
            host = sg.dns_lookup(dns_log, f.client, f.server, pk[0][0], truth.get("dns_ttl_floor_assumed", 300))
        app, cat = sg.app_of(host)
        rec = {"proto": sg.PROTO_NAMES[f.proto], "client": str(f.client), "client_port": f.cport,
               "server": str(f.server), "server_port": f.sport, "host": host,
               "domain": sg.registrable_domain(host), "app": app, "category": cat}
        if a.counts_only:
            t = tkeys.get(tl.flow_key(rec["proto"], rec["client"], rec["client_port"], rec["server"],
                                      rec["server_port"]))
            if t:
                rec.update({k: t[k] for k in ("host", "domain", "app", "category")})
        up = [p for p in pk if p[1] == 0]
        down = [p for p in pk if p[1] == 1]
        rec.update({"packets_up": len(up), "packets_down": len(down), "bytes_up": sum(p[2] for p in up),
                    "bytes_down": sum(p[2] for p in down), "first_seen": tl.fmt_time(pk[0][0], 6),
                    "last_seen": tl.fmt_time(pk[-1][0], 6)})
        recs.append(rec)
        pseudo["flows"].append(dict(rec, id="pcap", kind="?", packets=pk))
    with open(fpath, "w") as out:
        for r in recs:
            out.write(json.dumps(r) + "\n")
    # summaries of what was read, via the perfect-output writer
    with open(tpath, "w") as out:
        json.dump(pseudo, out)
    import truth_to_outputs  # noqa: E402
    truth_to_outputs.main([tpath, "--flows", os.devnull, "--summaries", spath,
                           "--bucket-seconds", str(a.bucket_seconds)])
    rc1 = check_flows.check(fpath, a.truth)
    rc2 = check_summaries.check(spath, a.truth, a.bucket_seconds)
    for p in (fpath, spath, tpath):
        os.unlink(p)
    os.rmdir(tmp)
    if bad:
        print("pcapcheck: FAILED: %d bad checksums or non-IP frames" % bad)
    ok = not (bad or rc1 or rc2)
    print("pcapcheck: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
