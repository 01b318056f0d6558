#!/usr/bin/python3
"""Concatenates classic pcap files (Ethernet) into one, shifting each file's
time stamps so that it starts one second after the previous one ended: the
result plays the inputs one after another with time always moving forward.

usage: mkbig.py OUT.pcap IN.pcap...
"""
import struct
import sys


def records(path):
    with open(path, 'rb') as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack('<I', head[:4])[0]
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            endian = '<'
        elif magic in (0xd4c3b2a1, 0x4d3cb2a1):
            endian = '>'
        else:
            raise SystemExit(f'{path}: not a classic pcap file')
        nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
        linktype = struct.unpack(endian + 'I', head[20:24])[0]
        if linktype != 1:
            raise SystemExit(f'{path}: link type {linktype}, only Ethernet (1) is merged')
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, orig = struct.unpack(endian + 'IIII', h)
            data = f.read(incl)
            if len(data) < incl:
                return
            usec = frac // 1000 if nano else frac
            yield sec * 1000000 + usec, orig, data


def main():
    out, inputs = sys.argv[1], sys.argv[2:]
    clock = 1_700_000_000 * 1000000  # 2023-11-14, any fixed start will do
    n = 0
    with open(out, 'wb') as o:
        o.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for path in inputs:
            prev_in = None
            t = clock
            for ts, orig, data in records(path):
                # keep the capture's own pacing, but not its jumps: a
                # backwards step or a gap over 10 minutes becomes 1 ms
                if prev_in is not None:
                    gap = ts - prev_in
                    t += gap if 0 <= gap <= 600 * 1000000 else 1000
                prev_in = ts
                o.write(struct.pack('<IIII', t // 1000000, t % 1000000, len(data), orig))
                o.write(data)
                n += 1
            clock = t + 1000000
    print(n)


if __name__ == '__main__':
    main()
