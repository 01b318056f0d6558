#!/usr/bin/python3
"""Counts the IP packets and IP-layer bytes of a capture, independently of
the agent's C decoder: the judge of the agent's "every IP packet counted
exactly once" rule on captures we did not make.

Reads classic pcap and pcapng (any number of interfaces, either byte
order), link types Ethernet (with 802.1Q/QinQ, PPPoE, MPLS), Linux cooked
v1/v2, raw IP, IPv4, IPv6, BSD null and loop. Bytes come from the IP length
fields (IPv4 total length; IPv6 payload length + 40; the wire length minus
the link header when the field is 0), as docs/usage-format.md defines.

usage: iptotals.py FILE   -> prints "packets bytes" (IP only); exit 1 on a
                             damaged file after printing what was read
"""
import struct
import sys

ETHER, NULL, RAW_BSD, RAW, SLL, LOOP, IPV4, IPV6, SLL2 = 1, 0, 12, 101, 113, 108, 228, 229, 276


def ip_len(data, wire_left):
    """(is_ip, length) for bytes that start at an IP header."""
    if len(data) < 1:
        return False, 0
    v = data[0] >> 4
    if v == 4:
        if len(data) < 4:
            return True, None
        n = struct.unpack('>H', data[2:4])[0]
        return True, n if n else wire_left
    if v == 6:
        if len(data) < 6:
            return True, None
        n = struct.unpack('>H', data[4:6])[0]
        return True, n + 40 if n else wire_left
    return True, None  # claimed IP but neither version: malformed, no length


def by_ethertype(t, d, wire):
    for _ in range(8):
        if t in (0x0800, 0x86dd):
            return ip_len(d, wire)
        if t in (0x8100, 0x88a8, 0x9100):
            if len(d) < 4:
                return False, 0
            t, d, wire = struct.unpack('>H', d[2:4])[0], d[4:], wire - 4
            continue
        if t == 0x8864:
            if len(d) < 8:
                return False, 0
            ppp = struct.unpack('>H', d[6:8])[0]
            d, wire = d[8:], wire - 8
            if ppp == 0x0021:
                t = 0x0800
            elif ppp == 0x0057:
                t = 0x86dd
            else:
                return False, 0
            continue
        if t in (0x8847, 0x8848):
            for _ in range(16):
                if len(d) < 4:
                    return False, 0
                bottom = d[2] & 1
                d, wire = d[4:], wire - 4
                if bottom:
                    break
            else:
                return False, 0
            if d and d[0] >> 4 in (4, 6):
                return ip_len(d, wire)
            return False, 0
        return False, 0
    return False, 0


def frame_ip(linktype, d, wire):
    if linktype == ETHER:
        if len(d) < 14:
            return False, 0
        t = struct.unpack('>H', d[12:14])[0]
        if t < 0x600:
            return False, 0
        return by_ethertype(t, d[14:], wire - 14)
    if linktype == SLL:
        if len(d) < 16:
            return False, 0
        return by_ethertype(struct.unpack('>H', d[14:16])[0], d[16:], wire - 16)
    if linktype == SLL2:
        if len(d) < 20:
            return False, 0
        return by_ethertype(struct.unpack('>H', d[0:2])[0], d[20:], wire - 20)
    if linktype in (RAW, RAW_BSD, IPV4, IPV6, 14):
        return ip_len(d, wire)
    if linktype in (NULL, LOOP):
        if len(d) < 4:
            return False, 0
        be = struct.unpack('>I', d[:4])[0]
        le = struct.unpack('<I', d[:4])[0]
        fam = be if (linktype == LOOP or be < 256) else le
        if fam in (2, 10, 24, 28, 30):
            return ip_len(d[4:], wire - 4)
        return False, 0
    raise SystemExit(f'unsupported link type {linktype}')


def classic(f, head):
    magic = struct.unpack('<I', head[:4])[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    linktype = struct.unpack(e + 'I', head[20:24])[0] & 0x0fffffff
    while True:
        h = f.read(16)
        if not h:
            return
        if len(h) < 16:
            raise EOFError('truncated record header')
        _, _, incl, orig = struct.unpack(e + 'IIII', h)
        d = f.read(incl)
        if len(d) < incl:
            raise EOFError('truncated packet')
        yield linktype, d, orig


def pcapng(f, first):
    links = []
    e = '<'
    block = first
    while True:
        if block is None:
            block = f.read(8)
            if not block:
                return
            if len(block) < 8:
                raise EOFError('truncated block header')
        btype = struct.unpack(e + 'I', block[:4])[0]
        if btype == 0x0A0D0D0A:
            bom = f.read(4)
            e = '<' if bom == b'\x4d\x3c\x2b\x1a' else '>'
            blen = struct.unpack(e + 'I', block[4:8])[0]
            rest = bom + f.read(blen - 12)
            links = []
        else:
            blen = struct.unpack(e + 'I', block[4:8])[0]
            rest = f.read(blen - 8)
        if blen < 12 or len(rest) < blen - 8:
            raise EOFError('truncated block')
        body = rest[:-4]
        if btype == 1:
            links.append(struct.unpack(e + 'H', body[:2])[0])
        elif btype == 6:
            ifid, _, _, cap, orig = struct.unpack(e + 'IIIII', body[:20])
            yield links[ifid], body[20:20 + cap], orig
        elif btype == 3:
            orig = struct.unpack(e + 'I', body[:4])[0]
            yield links[0], body[4:4 + orig], orig
        block = None


def main():
    packets = nbytes = 0
    status = 0
    with open(sys.argv[1], 'rb') as f:
        head = f.read(24)
        try:
            if head[:4] == b'\x0a\x0d\x0d\x0a':
                f.seek(0)
                gen = pcapng(f, f.read(8))
            else:
                gen = classic(f, head)
            for linktype, d, orig in gen:
                is_ip, n = frame_ip(linktype, d, orig)
                if is_ip and n is not None:
                    packets += 1
                    nbytes += n
        except EOFError as exc:
            print(f'{sys.argv[1]}: {exc}', file=sys.stderr)
            status = 1
    print(packets, nbytes)
    sys.exit(status)


if __name__ == '__main__':
    main()
