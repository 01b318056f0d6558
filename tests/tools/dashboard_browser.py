#!/usr/bin/python3
"""
Drives Debian's headless Chromium through chromedriver's WebDriver HTTP API
(W3C, plain urllib: no Selenium) over the collector's dashboard:

    dashboard_browser.py --url http://127.0.0.1:PORT --token-file READER
        --from 2026-03-01 --to 2026-03-31 --shots DIR

logs in through the form with the reader token, loads every page, checks
the figures the pages show against the JSON API for the same days, checks
that no page asked any other host for anything (Chromium's network log)
and that the browser reported no error (CSP violations included), sorts a
table by a click, logs out, and saves a full-page screenshot of each page
in DIR. Prints "ok: ..." / "FAIL: ..." lines; exit status 1 on a failure.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

failures = 0


def ok(msg):
    print("ok: " + msg, flush=True)


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg, flush=True)


class WebDriver:
    """The few WebDriver commands this test needs."""

    def __init__(self, driver_bin, chromium_bin, log_path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [driver_bin, "--port=%d" % self.port, "--allowed-ips=127.0.0.1"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = "http://127.0.0.1:%d" % self.port
        for _ in range(100):
            try:
                self._call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("chromedriver did not come up")
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_bin,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1400,1000",
                    "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
                    # nothing of the browser's own goes out: what the
                    # network log shows is the page's
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-extensions", "--disable-default-apps",
                    "--disable-client-side-phishing-detection", "--metrics-recording-only",
                    "--no-pings", "--lang=en-GB",
                ],
            },
            "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"},
        }
        r = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.sid = r["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.load(resp)["value"]
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise RuntimeError("webdriver %s %s: %s %s" % (method, path, e.code, detail[:500]))

    def cmd(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.sid, path), body)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def url(self):
        return self.cmd("GET", "/url")

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        r = self.cmd("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(r.values()))

    def type(self, css, text):
        self.cmd("POST", "/element/%s/value" % self.find(css), {"text": text})

    def click(self, css):
        self.cmd("POST", "/element/%s/click" % self.find(css), {})

    def submit(self, css):
        """Clicks a button that loads a new page, and waits for the page."""
        self.js("window.__old_page = true;")
        self.click(css)
        for _ in range(200):
            try:
                if self.js("return !window.__old_page && document.readyState === 'complete';"):
                    return
            except RuntimeError:
                pass  # between two pages
            time.sleep(0.05)
        raise RuntimeError("no new page after a click on " + css)

    def logs(self, kind):
        return self.cmd("POST", "/se/log", {"type": kind})

    def cookies(self):
        return self.cmd("GET", "/cookie")

    def screenshot(self, path):
        """The whole page: the window made as tall as the document."""
        height = self.js("return Math.ceil(document.documentElement.scrollHeight);")
        self.cmd("POST", "/window/rect", {"width": 1400, "height": min(max(height, 600), 12000)})
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        self.cmd("POST", "/window/rect", {"width": 1400, "height": 1000})

    def quit(self):
        try:
            self._call("DELETE", "/session/%s" % self.sid)
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def api(args, path, token):
    q = urllib.parse.urlencode({"from": args.from_day, "to": args.to_day})
    req = urllib.request.Request("%s%s?%s" % (args.url, path, q),
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def page_url(args, path):
    return "%s/dashboard%s?from=%s&to=%s" % (args.url, path, args.from_day, args.to_day)


# The rows of a table as {key: {column: data-value or text}}, the columns
# named by the headers' data-col.
TABLE_JS = """
const [sel, keyAttr] = arguments;
const t = document.querySelector(sel);
if (!t) return null;
const cols = Array.from(t.tHead.rows[0].cells).map(c => c.getAttribute('data-col'));
const out = {};
for (const tr of t.tBodies[0].rows) {
  const row = {};
  Array.from(tr.cells).forEach((td, i) => {
    const v = td.getAttribute('data-value');
    row[cols[i]] = v === null ? td.textContent.trim() : v;
  });
  out[tr.getAttribute(keyAttr)] = row;
}
return out;
"""


# The users column of the apps table, top to bottom.
USERS_JS = """
const t = document.querySelector('#apps-table');
const i = Array.from(t.tHead.rows[0].cells).findIndex(c => c.dataset.col === 'users');
return Array.from(t.tBodies[0].rows).map(tr => +tr.cells[i].dataset.value);
"""


def check_requests(wd, args, page):
    """Every request the page made went to the collector (or was data:)."""
    origin = urllib.parse.urlsplit(args.url).netloc
    n = 0
    for entry in wd.logs("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") != "Network.requestWillBeSent":
            continue
        url = msg["params"]["request"]["url"]
        n += 1
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "data":
            continue
        if parts.scheme not in ("http", "https") or parts.netloc != origin:
            fail("%s: asked another host: %s" % (page, url[:200]))
    errors = [e for e in wd.logs("browser") if e.get("level") == "SEVERE"]
    for e in errors:
        fail("%s: browser error: %s" % (page, e.get("message", "")[:300]))
    return n


def near(a, b):
    return int(a) == int(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--agent-token-file")
    ap.add_argument("--from", dest="from_day", required=True)
    ap.add_argument("--to", dest="to_day", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--chromedriver",
                    default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = ap.parse_args()
    token = open(args.token_file).read().strip()
    os.makedirs(args.shots, exist_ok=True)

    apps_api = {a["app"]: a for a in api(args, "/api/v1/apps", token)["apps"] if a["app"]}
    cats_api = {c["category"]: c for c in api(args, "/api/v1/categories", token)["categories"]
                if c["category"]}
    doms_api = {d["domain"]: d for d in api(args, "/api/v1/unknown-domains", token)["domains"]}
    clients_api = [c for c in api(args, "/api/v1/clients", token)["clients"] if c["client"]]
    if not apps_api:
        fail("the API shows no app for %s..%s: no data to compare" % (args.from_day, args.to_day))
        return 1

    wd = WebDriver(args.chromedriver, args.chromium, os.path.join(args.workdir, "chromedriver.log"))
    try:
        # 1. a page without a session goes to the log-in form
        wd.get(page_url(args, "/apps"))
        if wd.url().endswith("/dashboard/login"):
            ok("no session: the browser is sent to the log-in form")
        else:
            fail("no session: at %s" % wd.url())
        wd.screenshot(os.path.join(args.shots, "login.png"))

        # 2. a wrong token is refused, a good one lets in
        wd.type("#token", "smk_" + "A" * 43)
        wd.submit("button[type=submit]")
        text = wd.js("return document.body.innerText;")
        if "Unknown or revoked token" in text and not wd.cookies():
            ok("a wrong token is refused, no cookie set")
        else:
            fail("wrong token: page says %r, cookies %r" % (text[:200], wd.cookies()))
        wd.screenshot(os.path.join(args.shots, "login-refused.png"))
        wd.type("#token", token)
        wd.submit("button[type=submit]")
        cookies = wd.cookies()
        sess = [c for c in cookies if c["name"] == "shadowmap_session"]
        if wd.url().endswith("/dashboard/") and sess and sess[0].get("httpOnly") \
                and sess[0].get("sameSite") == "Strict" and sess[0].get("path") == "/dashboard":
            ok("logged in: session cookie HttpOnly, SameSite=Strict, Path=/dashboard")
        else:
            fail("log-in: at %s with cookies %r" % (wd.url(), cookies))
        cookie_value = sess[0]["value"] if sess else ""
        if not wd.js("return document.cookie;"):
            ok("the page's script cannot read the session cookie")
        else:
            fail("document.cookie shows %r" % wd.js("return document.cookie;"))
        wd.logs("performance")
        wd.logs("browser")

        pages = [("overview", "/"), ("categories", "/categories"), ("apps", "/apps"),
                 ("unknown-domains", "/unknown-domains")]
        top_app = max(apps_api.values(), key=lambda a: (a["users"], a["bytes_up"] + a["bytes_down"]))
        pages.append(("app-" + top_app["app"], "/apps/" + urllib.parse.quote(top_app["app"])))
        for name, path in pages:
            wd.get(page_url(args, path))
            title = wd.js("return document.title;")
            h2 = wd.js("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);")
            n = check_requests(wd, args, name)
            if wd.js("return window.__pwned === undefined;") is not True:
                fail("%s: a hostile name ran as a script" % name)
            if h2:
                ok("%s: loaded (%s; %d requests, all to the collector)" % (name, title, n))
            else:
                fail("%s: no content (%s)" % (name, title))
            wd.screenshot(os.path.join(args.shots, name + ".png"))

            if name == "overview":
                users = wd.js("return document.querySelector('#kpi-users .v').getAttribute('data-value');")
                if users is not None and int(users) == len(clients_api):
                    ok("overview: %s users = client addresses in /api/v1/clients" % users)
                else:
                    fail("overview: %s users, /api/v1/clients has %d" % (users, len(clients_api)))
                svg = wd.js("return document.querySelectorAll('#chart-demand svg rect').length;")
                if svg and svg > 3:
                    ok("overview: the demand chart has %d bars" % svg)
                else:
                    fail("overview: demand chart has %r rects" % svg)
            elif name == "apps":
                rows = wd.js(TABLE_JS, "#apps-table", "data-app") or {}
                if any(a.startswith("<script>") for a in rows):
                    ok("apps: an app named <script>... is listed as text")
                if set(rows) == set(apps_api):
                    ok("apps: the same %d apps as /api/v1/apps" % len(rows))
                else:
                    fail("apps: page %s, API %s" % (sorted(set(rows) - set(apps_api)),
                                                    sorted(set(apps_api) - set(rows))))
                bad = []
                for app, row in rows.items():
                    a = apps_api.get(app)
                    if not a:
                        continue
                    for col in ("users", "flows", "bytes_up", "bytes_down"):
                        if not near(row[col], a[col]):
                            bad.append("%s.%s %s != %s" % (app, col, row[col], a[col]))
                if not bad:
                    ok("apps: users, flows, bytes up and down of every app = /api/v1/apps")
                else:
                    fail("apps: " + "; ".join(bad[:10]))
                # sorting: a click on Users sorts by users, most first
                wd.click("#apps-table th[data-col=users]")
                col = wd.js(USERS_JS)
                if col == sorted(col, reverse=True):
                    ok("apps: a click on Users sorts the table by users")
                else:
                    fail("apps: after a click on Users: %r" % col[:10])
                wd.click("#apps-table th[data-col=users]")
                col = wd.js(USERS_JS)
                if col == sorted(col):
                    ok("apps: a second click sorts the other way")
                else:
                    fail("apps: after a second click: %r" % col[:10])
            elif name == "categories":
                rows = wd.js(TABLE_JS, "#categories-table", "data-category") or {}
                missing = sorted(set(cats_api) - set(rows))
                if not missing:
                    ok("categories: every category of /api/v1/categories is there (%d rows)"
                       % len(rows))
                else:
                    fail("categories: missing %s" % missing)
                bad, compared = [], 0
                for cat, row in rows.items():
                    c = cats_api.get(cat)
                    if not c:
                        continue
                    # a category's own apps; a sanctioned service covering
                    # it from another category adds its users to the page's
                    # figure (docs/reports.md), never takes any away
                    elsewhere_sanctioned = [s for s in c["sanctioned_apps"]
                                            if apps_api.get(s, {}).get("category", cat) != cat]
                    if elsewhere_sanctioned:
                        if int(row["users"]) < c["users"]:
                            bad.append("%s.users %s < %s" % (cat, row["users"], c["users"]))
                        continue
                    compared += 1
                    for col in ("users", "bytes_up", "bytes_down"):
                        if not near(row[col], c[col]):
                            bad.append("%s.%s %s != %s" % (cat, col, row[col], c[col]))
                if not bad and compared:
                    ok("categories: users and bytes of %d categories = /api/v1/categories"
                       % compared)
                else:
                    fail("categories: %s (compared %d)" % ("; ".join(bad[:10]), compared))
                svg = wd.js("return document.querySelectorAll('svg polygon').length;")
                if svg:
                    ok("categories: %d trend areas drawn" % svg)
                else:
                    fail("categories: no trend chart")
            elif name == "unknown-domains":
                rows = wd.js(TABLE_JS, "#domains-table", "data-domain") or {}
                bad = []
                for dom, row in rows.items():
                    d = doms_api.get(dom)
                    if not d:
                        bad.append("%s not in the API" % dom)
                        continue
                    for col in ("users", "bytes_up", "bytes_down"):
                        if not near(row[col], d[col]):
                            bad.append("%s.%s %s != %s" % (dom, col, row[col], d[col]))
                hostile = [r for r in rows.values() if "<img src=x" in r.get("network", "")]
                shown = [r for r in rows.values() if r.get("network", "\u2013") != "\u2013"]
                if hostile:
                    ok("unknown domains: a network owner that is markup is shown as text")
                elif shown:
                    fail("unknown domains: the hostile network owner is not shown as text")
                elif any(d.get("network") for d in doms_api.values()):
                    fail("unknown domains: no network owner shown, the API has some")
                if rows and not bad:
                    ok("unknown domains: %d rows, users and bytes = /api/v1/unknown-domains"
                       % len(rows))
                else:
                    fail("unknown domains: %d rows; %s" % (len(rows), "; ".join(bad[:10])))
            elif name.startswith("app-"):
                vals = wd.js("""return ['#kpi-app-users','#kpi-app-up','#kpi-app-down'].map(
                    s => document.querySelector(s + ' .v').getAttribute('data-value'));""")
                want = [top_app["users"], top_app["bytes_up"], top_app["bytes_down"]]
                if [int(v) for v in vals] == want:
                    ok("%s: users, uploaded, downloaded = /api/v1/apps (%s)" % (name, want))
                else:
                    fail("%s: page %s, API %s" % (name, vals, want))

        # the range form: a preset link and the form itself
        wd.get(page_url(args, "/"))
        wd.submit("form.range .presets a:nth-of-type(1)")
        if "from=" in wd.url() and wd.js("return document.querySelector('form.range input[name=from]').value;"):
            ok("the 'last 7 days' preset opens %s" % wd.url().split("?", 1)[1])
        else:
            fail("preset: at %s" % wd.url())
        check_requests(wd, args, "last-7-days")

        # 3. log out: the cookie goes, and the old one opens nothing
        wd.get(page_url(args, "/"))
        wd.submit("form.logout button")
        if wd.url().endswith("/dashboard/login") and not [
                c for c in wd.cookies() if c["name"] == "shadowmap_session"]:
            ok("logged out: back at the log-in form, cookie gone")
        else:
            fail("log-out: at %s, cookies %r" % (wd.url(), wd.cookies()))
        req = urllib.request.Request(page_url(args, "/"),
                                     headers={"Cookie": "shadowmap_session=" + cookie_value})

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        try:
            urllib.request.build_opener(NoRedirect).open(req, timeout=30)
            fail("the logged-out cookie still opens the overview")
        except urllib.error.HTTPError as e:
            if e.code == 303 and e.headers.get("Location", "").endswith("/dashboard/login"):
                ok("the logged-out cookie no longer works (303 to the log-in form)")
            else:
                fail("logged-out cookie: %d %s" % (e.code, e.headers.get("Location")))
    finally:
        wd.quit()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
