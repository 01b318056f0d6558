#!/usr/bin/python3
"""
Checks a standalone HTML report (shadowmap-report --format html):

    check_report_html.py REPORT.html [--json REPORT.json] [--tables id,id,...]
        [--text STRING]...

- well-formed: every element that is not void is closed, in order
  (python's html.parser; SVG's self-closed elements count as closed);
- asks no other host for anything: no src, srcset, poster, data, no
  <link href>, no SVG <use>/<image> href, no form action, no @import or
  url() in styles that is not a data: URL; one <script> and no on*
  attribute anywhere (a name that was not escaped would show as one);
- has the Content-Security-Policy meta tag;
- has the tables named by --tables, and the --text strings as text;
- with --json (the same report as JSON): the apps table and the
  categories table show the JSON's users and bytes, row by row.

Prints ok:/FAIL: lines; exit status 1 on a failure.
"""

import argparse
import html.parser
import json
import re
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}
FETCHING = {"src", "srcset", "poster", "data", "background", "formaction"}

failures = 0


def ok(msg):
    print("ok: " + msg)


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.errors = []
        self.fetches = []
        self.handlers = []
        self.scripts = 0
        self.csp = None
        self.ids = set()
        self.text = []
        self.style = []
        self.in_style = False
        # table id -> {row key -> {column -> value}}
        self.tables = {}
        self.table = None
        self.cols = []
        self.row = None
        self.cell = None
        self.in_thead = False

    def handle_starttag(self, tag, attrs):
        self._tag(tag, attrs)
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        self._tag(tag, attrs)  # <rect .../>: opened and closed
        if tag == "tr":
            self.row = None

    def _tag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.handlers.append("%s %s=%r at %s" % (tag, name, value[:60], self.getpos()))
            if name in FETCHING and not value.startswith("data:"):
                self.fetches.append("%s %s=%r" % (tag, name, value[:80]))
            if name in ("href", "xlink:href") and tag in ("link", "use", "image", "base") \
                    and not value.startswith(("data:", "#")):
                self.fetches.append("%s href=%r" % (tag, value[:80]))
            if name == "action" and tag == "form":
                self.fetches.append("form action=%r" % value[:80])
            if name == "id":
                self.ids.add(value)
        if tag == "script":
            self.scripts += 1
        if tag == "style":
            self.in_style = True
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = a.get("content")
        if tag == "table":
            self.table = a.get("id")
            self.tables[self.table] = {}
            self.cols = []
        if tag == "thead":
            self.in_thead = True
        if tag == "th" and self.in_thead:
            self.cols.append(a.get("data-col"))
        if tag == "tr" and self.table and not self.in_thead:
            key = a.get("data-app") or a.get("data-category") or a.get("data-domain")
            self.row = {} if key is not None else None
            if key is not None:
                self.tables[self.table][key] = self.row
            self.cellno = 0
        if tag == "td" and self.row is not None:
            col = self.cols[self.cellno] if self.cellno < len(self.cols) else None
            self.cellno += 1
            self.cell = col
            if col and "data-value" in a:
                self.row[col] = a["data-value"]

    def handle_endtag(self, tag):
        self._end(tag)

    def _end(self, tag):
        if tag in VOID:
            return
        if not self.stack:
            self.errors.append("</%s> with nothing open at %s" % (tag, self.getpos()))
            return
        open_tag, pos = self.stack.pop()
        if open_tag != tag:
            self.errors.append("<%s> of %s closed by </%s> at %s" % (open_tag, pos, tag,
                                                                     self.getpos()))
        if tag == "style":
            self.in_style = False
        if tag == "thead":
            self.in_thead = False
        if tag == "table":
            self.table = None
        if tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.in_style:
            self.style.append(data)
        else:
            self.text.append(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("html")
    ap.add_argument("--json")
    ap.add_argument("--tables", default="")
    ap.add_argument("--text", action="append", default=[])
    args = ap.parse_args()
    doc = open(args.html, encoding="utf-8").read()

    c = Checker()
    c.feed(doc)
    c.close()
    if c.errors or c.stack:
        fail("not well-formed: %s" % (c.errors[:5] + ["<%s> of %s never closed" % s
                                                      for s in c.stack[:5]]))
    else:
        ok("well-formed: every element closed, in order")
    style = "".join(c.style)
    for m in re.finditer(r"@import|url\(\s*['\"]?([^'\")]*)", style):
        if m.group(0) == "@import" or not m.group(1).startswith("data:"):
            c.fetches.append("style: " + m.group(0)[:60])
    if c.fetches:
        fail("fetches from elsewhere: %s" % c.fetches[:5])
    else:
        ok("no src, stylesheet link, @import or url() that would fetch anything")
    if re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", doc, re.I) and \
            re.search(r"""<(img|script|link|iframe|object|embed|audio|video|source)[^>]*(https?:)?//""",
                      doc, re.I):
        fail("an element that loads a URL")
    if c.scripts == 1 and not c.handlers:
        ok("one script (the report's own), no on* attribute")
    else:
        fail("%d scripts, handlers %s" % (c.scripts, c.handlers[:5]))
    if c.csp and "default-src 'none'" in c.csp:
        ok("Content-Security-Policy meta: %s" % c.csp)
    else:
        fail("no Content-Security-Policy meta tag (%r)" % c.csp)
    want = [t for t in args.tables.split(",") if t]
    missing = [t for t in want if t not in c.tables]
    if missing:
        fail("tables missing: %s (have %s)" % (missing, sorted(k for k in c.tables if k)))
    elif want:
        ok("tables: %s" % ", ".join(want))
    text = "".join(c.text)
    for t in args.text:
        if t in text:
            ok("shown as text: %r" % t[:60])
        else:
            fail("not in the text: %r" % t[:60])

    if args.json:
        rep = json.load(open(args.json))
        apps = {a["app"]: a for a in rep["apps"]}
        rows = c.tables.get("apps-table", {})
        bad = []
        if set(rows) != set(apps):
            bad.append("apps differ: %s" % sorted(set(rows) ^ set(apps))[:5])
        for app, row in rows.items():
            a = apps.get(app)
            for col in ("users", "flows", "bytes_up", "bytes_down"):
                if a and int(row.get(col, -1)) != a[col]:
                    bad.append("%s.%s %s != %s" % (app, col, row.get(col), a[col]))
        if bad:
            fail("apps table vs JSON: %s" % bad[:8])
        else:
            ok("apps table: users, flows, bytes of %d apps = the JSON report" % len(rows))
        cats = {x["category"]: x for x in rep["categories"]}
        rows = c.tables.get("categories-table", {})
        bad = []
        if set(rows) != set(cats):
            bad.append("categories differ: %s" % sorted(set(rows) ^ set(cats))[:5])
        for cat, row in rows.items():
            x = cats.get(cat)
            for col in ("users", "served_users", "elsewhere_users", "unserved_users",
                        "bytes_up", "bytes_down"):
                if x and col in x and int(row.get(col, -1)) != x[col]:
                    bad.append("%s.%s %s != %s" % (cat, col, row.get(col), x[col]))
        if bad:
            fail("categories table vs JSON: %s" % bad[:8])
        else:
            ok("categories table: users (all, sanctioned, elsewhere, only elsewhere) and "
               "bytes of %d categories = the JSON report" % len(rows))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
