#!/usr/bin/python3
"""
A batch of usage whose names are attacks on whatever shows them: an app
name that is a script (agents name flows no signature knows), a network
owner that is an image with an onerror handler, a right-to-left override.
The reports and the dashboard must show them as text.

    hostile_batch.py --day 2026-03-02 > batch.json

posted as an agent would (POST /api/v1/batches).
"""

import argparse
import json
import uuid

SCRIPT_APP = "<script>window.__pwned=1</script>\u202eevil"
IMG_ORG = "<img src=x onerror=\"window.__pwned=2\">'&amp;"
DOMAIN = "xss-test-example.net"


def record(day, client, **kw):
    r = {"schema": "shadowmap.usage/1", "bucket_start": day + "T10:00:00Z",
         "bucket_seconds": 300, "client": client, "host": None, "domain": None,
         "app": None, "category": None, "ndpi_proto": "TLS", "flows": 1, "packets": 10,
         "bytes_up": 1000, "bytes_down": 2000, "first_seen": day + "T10:00:01Z",
         "last_seen": day + "T10:00:02Z", "country": None, "asn": None, "as_org": None}
    r.update(kw)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--day", required=True)
    day = ap.parse_args().day
    recs = [
        record(day, "10.99.0.1", app=SCRIPT_APP, category="genai", bytes_up=5000),
        record(day, "10.99.0.2", host="cdn." + DOMAIN, domain=DOMAIN, country="NL",
               asn=64512, as_org=IMG_ORG, bytes_up=70000, bytes_down=90000),
    ]
    print(json.dumps({"schema": "shadowmap.batch/1", "batch_id": str(uuid.uuid4()),
                      "created": day + "T10:10:00Z", "records": recs}))


if __name__ == "__main__":
    main()
