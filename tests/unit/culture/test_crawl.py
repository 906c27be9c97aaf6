"""The crawler against a real HTTP server on 127.0.0.1, started and stopped by the test."""

import http.server
import os
import socket
import threading
import time
from collections import Counter
from typing import ClassVar

import pytest

from jobs import crawl as crawl_job
from jobs.config import CrawlConf
from jobs.culture.crawler import Crawler
from jobs.culture.encodings import decode, detect_encoding
from jobs.culture.html_text import parse_html
from jobs.culture.urls import file_path, is_public_address, normalise_url, read_seeds

BIG = 20_000


class Site(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[Counter] = Counter()
    headers_seen: ClassVar[dict] = {}
    flaky_left: ClassVar[dict] = {"n": 1}
    robots: ClassVar[dict] = {"mode": "normal"}  # normal, 500, 404, redirect, crawl-delay
    other: ClassVar[dict] = {"url": None}  # an origin on another port, for the scope tests

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _send(self, status, body=b"", ctype="text/html; charset=utf-8", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        Site.hits[path] += 1
        Site.headers_seen[path] = dict(self.headers)

        def page(body):
            return f"<html><head><title>{path}</title></head><body><nav>Menu Home</nav><p>{body}</p></body></html>".encode()

        port = self.server.server_address[1]
        mode = Site.robots["mode"]
        if path == "/robots.txt" and mode == "500":
            self._send(500, b"robots broken")
        elif path == "/robots.txt" and mode == "404":
            self._send(404, b"no robots")
        elif path == "/robots.txt" and mode == "redirect":
            self._send(301, extra={"Location": "/robots-moved.txt"})
        elif path == "/robots-moved.txt":
            self._send(200, b"User-agent: *\nDisallow: /a.html\n", "text/plain")
        elif path == "/robots.txt" and mode == "crawl-delay":
            self._send(200, b"User-agent: *\nCrawl-delay: 2\n", "text/plain")
        elif path == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif path == "/":
            links = [
                "/a.html",
                "/a-copy.html",
                "/private/secret.html",
                "/missing.html",
                "/error.html",
                "/loop1",
                "/slow.html",
                "/big.html",
                "/binary.html",
                "/broken.html",
                "/latin1.html",
                "/flaky.html",
                "/etag.html",
                "/redirect-out",
                "/redirect-localhost",
                f"http://localhost:{port}/a.html",
                "http://other.example/x.html",
                f"http://127.0.0.2:{port}/",
                "/a.html#top",
                "/A.html?b=2&a=1",
                "/notes.txt",
                "mailto:x@example.org",
                "/slowish.html",
                "/chunked-big.html",
                "/image.png",
                "/latin1-undeclared.html",
                "/utf16.html",
                "/chain/0",
                "/to-private",
                "/deep1.html",
                "http://bad-port.example:99999/",
            ]
            self._send(200, page(" ".join(f'<a href="{h}">x</a>' for h in links)))
        elif path in ("/a.html", "/a-copy.html"):
            self._send(200, page("The same words about Kalo Mira on two URLs."))
        elif path == "/A.html?a=1&b=2":
            self._send(200, page("Query page."))
        elif path == "/missing.html":
            self._send(404, b"nope")
        elif path == "/error.html":
            self._send(500, b"boom")
        elif path == "/loop1":
            self._send(302, extra={"Location": "/loop2"})
        elif path == "/loop2":
            self._send(302, extra={"Location": "/loop1"})
        elif path == "/redirect-out":
            self._send(302, extra={"Location": "http://169.254.169.254/latest/meta-data"})
        elif path == "/redirect-localhost":
            self._send(302, extra={"Location": f"http://localhost:{port}/a.html"})
        elif path == "/slow.html":  # headers later than the read timeout
            time.sleep(1.5)
            self._send(200, page("too late"))
        elif path == "/slowish.html":  # headers later than the connect timeout, within the read timeout
            time.sleep(0.5)
            self._send(200, page("Worth the wait."))
        elif path == "/trickle.html":  # headers at once, then one byte every 0.2 s
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                time.sleep(0.2)
        elif path == "/chunked-big.html":  # no Content-Length: only counting while streaming finds the size
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(6):
                chunk = b"<p>" + b"y" * 4000 + b"</p>"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True
        elif path == "/image.png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
        elif path == "/latin1-undeclared.html":  # no charset in the header or the page
            body = "<html><body><p>Mot\u00f6rhead played the caf\u00e9 in Z\u00fcrich.</p></body></html>"
            self._send(200, body.encode("latin-1"), "text/html")
        elif path == "/utf16.html":
            self._send(200, "<p>\u00c9t\u00e9 \u00e0 Montr\u00e9al</p>".encode("utf-16"), "text/html")
        elif path.startswith("/chain/"):  # a chain of redirects longer than the cap, no loop
            self._send(302, extra={"Location": f"/chain/{int(path.rsplit('/', 1)[1]) + 1}"})
        elif path == "/to-private":  # a redirect into a path robots.txt disallows
            self._send(302, extra={"Location": "/private/secret.html"})
        elif path in ("/deep1.html", "/deep2.html", "/deep3.html"):
            n = int(path[5])
            self._send(200, page(f'Depth {n} <a href="/deep{n + 1}.html">deeper</a> of the site.'))
        elif path == "/ports.html":
            other = Site.other["url"]
            self._send(200, page(f'Another port: <a href="{other}">there</a>, <a href="/to-other">via a redirect</a>.'))
        elif path == "/to-other":
            self._send(302, extra={"Location": Site.other["url"]})
        elif path == "/big.html":
            self._send(200, b"<p>" + b"x" * BIG + b"</p>")
        elif path == "/binary.html":
            self._send(200, bytes(range(256)) * 4)
        elif path == "/broken.html":
            self._send(200, b"<html><body><p>Unclosed <b>bold <div>Kalo Mira rocks<p>still text</body")
        elif path == "/latin1.html":
            self._send(200, "<p>Caf\u00e9 na\u00efve Bj\u00f6rk</p>".encode("latin-1"), "text/html; charset=iso-8859-1")
        elif path == "/flaky.html":
            if Site.flaky_left["n"] > 0:
                Site.flaky_left["n"] -= 1
                self._send(503, b"busy")
            else:
                self._send(200, page("Back after a retry."))
        elif path == "/etag.html":
            if self.headers.get("If-None-Match") == '"v1"':
                self._send(304)
            else:
                self._send(200, page("Versioned page."), extra={"ETag": '"v1"'})
        elif path == "/notes.txt":
            self._send(200, b"Plain text notes.", "text/plain; charset=utf-8")
        else:
            self._send(404, b"unknown")


def _serve(handler):
    server = QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def site():
    Site.hits.clear()
    Site.flaky_left["n"] = 1
    Site.robots["mode"] = "normal"
    Site.other["url"] = None
    server = _serve(Site)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the crawler hangs up on slow and big pages on purpose
        pass


CONF = CrawlConf(
    allowed_domains=("127.0.0.1", "localhost"),
    delay_seconds=0,
    connect_timeout_seconds=0.3,
    read_timeout_seconds=1.0,
    max_bytes=BIG // 2,
    max_retries=1,
    backoff_seconds=0.01,
    max_depth=2,
)


def _crawl(site, conf=CONF, previous=None, seed="/"):
    rows, counts = Crawler(conf, [normalise_url(site + seed)], previous).run()
    by_path = {
        r["url"].split(site.split("//")[1], 1)[-1] if site.split("//")[1] in r["url"] else r["url"]: r for r in rows
    }
    return rows, counts, by_path


def test_every_hostile_page_ends_as_the_rules_say(site):
    _, counts, by = _crawl(site)
    outcome = {k: v["outcome"] for k, v in by.items()}
    assert outcome["/"] == "ok"
    assert outcome["/a.html"] == "ok"
    assert outcome["/a-copy.html"] == "duplicate_content" and by["/a-copy.html"]["text"] is None
    assert outcome["/private/secret.html"] == "robots_disallowed"
    assert outcome["/missing.html"] == "http_4xx" and by["/missing.html"]["status"] == 404
    assert outcome["/error.html"] == "http_5xx" and by["/error.html"]["status"] == 500
    assert outcome["/loop1"] == "redirect_loop"
    assert outcome["/slow.html"] == "timeout"  # headers after the read timeout (1.0 s)
    assert outcome["/slowish.html"] == "ok"  # headers after the connect timeout (0.3 s), within the read timeout
    assert outcome["/big.html"] == "too_large"
    assert outcome["/binary.html"] == "binary_content"
    assert outcome["/broken.html"] == "ok" and "Kalo Mira rocks" in by["/broken.html"]["text"]
    assert outcome["/latin1.html"] == "ok" and "Café naïve Björk" in by["/latin1.html"]["text"]
    assert outcome["/flaky.html"] == "ok" and Site.hits["/flaky.html"] == 2  # one 503, one retry
    assert outcome["/redirect-out"] == "redirect_not_allowed_host"  # the cloud metadata address
    assert outcome["/redirect-localhost"] == "redirect_private_address"  # allowed name, loopback address
    local = [k for k in outcome if k.startswith("http://localhost")]
    assert local and outcome[local[0]] == "private_address"
    assert outcome["http://other.example/x.html"] == "not_allowed_host"
    assert outcome["/notes.txt"] == "ok" and by["/notes.txt"]["text"] == "Plain text notes."
    assert outcome["/A.html?a=1&b=2"] == "ok"  # query parameters sorted, case of the path kept
    other_loopback = [k for k in outcome if k.startswith("http://127.0.0.2")]
    assert other_loopback and outcome[other_loopback[0]] == "not_allowed_host"
    # never requested: the disallowed path, the other hosts; the 500 was retried once, the fragment deduplicated
    assert Site.hits["/private/secret.html"] == 0
    assert Site.hits["/error.html"] == 2
    assert Site.hits["/a.html"] == 1 and counts["duplicate_url"] >= 1
    assert outcome["/chunked-big.html"] == "too_large"  # chunked, no Content-Length
    assert outcome["/image.png"] == "not_html" and by["/image.png"]["content_type"] == "image/png"
    assert by["/latin1-undeclared.html"]["text"] == "Motörhead played the café in Zürich."
    assert by["/utf16.html"]["text"] == "Été à Montréal"  # byte-order mark
    assert outcome["/chain/0"] == "too_many_redirects" and Site.hits["/chain/5"] == 1 and Site.hits["/chain/6"] == 0
    assert outcome["/to-private"] == "redirect_robots_disallowed"
    assert outcome["/deep1.html"] == outcome["/deep2.html"] == "ok" and "/deep3.html" not in outcome  # max_depth 2
    assert Site.hits["/deep3.html"] == 0
    assert "http://bad-port.example:99999/" not in outcome  # a malformed link is skipped, the crawl goes on
    assert "Menu Home" not in by["/a.html"]["text"]  # navigation is boilerplate
    assert by["/a.html"]["title"] == "/a.html"
    assert Site.headers_seen["/a.html"]["User-Agent"].startswith("DiscoverWeeklyBot/")


def test_recrawl_sends_conditional_get_and_reuses_the_text(site):
    rows, _, by = _crawl(site, seed="/etag.html")
    previous = {r["url"]: {**r, "links": []} for r in rows if r["outcome"] == "ok"}
    _, _, again = _crawl(site, previous=previous, seed="/etag.html")
    assert Site.headers_seen["/etag.html"].get("If-None-Match") == '"v1"'
    assert again["/etag.html"]["outcome"] == "not_modified"
    assert again["/etag.html"]["text"] == by["/etag.html"]["text"]


def test_delay_between_requests_to_one_host(site):
    conf = CrawlConf(
        allowed_domains=("127.0.0.1",), delay_seconds=0.3, max_pages=3, max_depth=1, connect_timeout_seconds=1
    )
    start = time.monotonic()
    _, counts, _ = _crawl(site, conf)
    elapsed = time.monotonic() - start
    assert counts["ok"] >= 2
    # robots.txt + 3 pages = 4 requests to the host, 3 gaps of at least 0.3 s
    assert elapsed >= 0.9


def test_private_addresses_are_refused_unless_a_seed_is_there(site):
    strict = CrawlConf(allowed_domains=("127.0.0.1",), allow_private_seeds=False, connect_timeout_seconds=0.5)
    _, counts, _ = _crawl(site, strict)
    assert counts == {"private_address": 1} and Site.hits["/"] == 0
    assert Crawler(CONF, ["http://example.org/"]).refusal("http://10.0.0.1/") == "not_allowed_host"


def test_file_seeds_obey_robots_and_stay_in_their_folder(tmp_path):
    web = tmp_path / "web"
    (web / "private").mkdir(parents=True)
    (web / "index.html").write_text(
        '<a href="private/x.html">p</a> <a href="../outside.html">o</a> <a href="b.html">b</a>'
    )
    (web / "b.html").write_text("<p>Bee page</p>")
    (web / "private" / "x.html").write_text("<p>secret</p>")
    (tmp_path / "outside.html").write_text("<p>outside</p>")
    (web / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (web / "seeds.txt").write_text("index.html\n")
    seeds = read_seeds(web, ())
    rows, _ = Crawler(CONF, seeds).run()
    outcome = {r["url"].rsplit("/", 1)[-1]: r["outcome"] for r in rows}
    assert outcome == {
        "index.html": "ok",
        "x.html": "robots_disallowed",
        "outside.html": "not_allowed_host",
        "b.html": "ok",
    }


def test_normalise_url():
    assert normalise_url("HTTP://Example.ORG:80/a/../b?z=1&a=2#frag") == "http://example.org/a/../b?a=2&z=1"
    assert normalise_url("https://example.org") == "https://example.org/"
    assert normalise_url("https://example.org:8443/x") == "https://example.org:8443/x"


def test_an_empty_crawl_writes_an_empty_table(tmp_path):
    from tests.conftest import make_config

    (tmp_path / "data" / "web").mkdir(parents=True)
    metrics = crawl_job.run(make_config(tmp_path / "data", tmp_path / "wh"), "2026-W47")
    assert metrics["rows"] == 0
    import pandas as pd

    assert pd.read_parquet(tmp_path / "wh" / "pages" / "week=2026-W47").empty


def test_a_trickled_body_ends_at_the_read_deadline(site):
    # headers at once, then a byte every 0.2 s: each read alone is quick, the whole body is not
    conf = CrawlConf(allowed_domains=("127.0.0.1",), delay_seconds=0, read_timeout_seconds=1.0, max_retries=0)
    start = time.monotonic()
    got = Crawler(conf, [site + "/"]).fetch(site + "/trickle.html")
    elapsed = time.monotonic() - start
    assert got.outcome == "timeout" and got.status == 200
    assert 0.9 <= elapsed < 2.0  # about read_timeout_seconds, not 40 x 0.2 s


def test_the_connect_timeout_bounds_a_connection_nobody_accepts():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue until a connect times out: the next SYN is dropped as well
            filler = socket.socket()
            filler.settimeout(0.2)
            fillers.append(filler)
            try:
                filler.connect(listener.getsockname())
            except TimeoutError:
                break
        else:
            pytest.skip("the accept queue never filled")
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        conf = CrawlConf(delay_seconds=0, connect_timeout_seconds=0.3, read_timeout_seconds=5.0, max_retries=0)
        start = time.monotonic()
        got = Crawler(conf, [url]).fetch(url)
        assert got.outcome == "timeout" and time.monotonic() - start < 1.5
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_page_and_depth_limits(site):
    conf = CrawlConf(allowed_domains=("127.0.0.1",), delay_seconds=0, max_pages=3, read_timeout_seconds=1.0)
    _, counts, by = _crawl(site, conf)
    requested = sum(n for path, n in Site.hits.items() if path != "/robots.txt")
    assert requested == 3 and counts["page_limit"] >= 10
    assert [by[p]["outcome"] for p in ("/", "/a.html", "/a-copy.html")] == ["ok", "ok", "duplicate_content"]
    assert by["/notes.txt"]["outcome"] == "page_limit"
    rows, _ = Crawler(CrawlConf(allowed_domains=("127.0.0.1",), delay_seconds=0, max_depth=0), [site + "/"]).run()
    assert [r["outcome"] for r in rows] == ["ok"]  # depth 0: the seed alone


@pytest.mark.parametrize(
    ("mode", "expected", "robots_hits"),
    [
        ("500", {"/a.html": "robots_disallowed", "/notes.txt": "robots_disallowed"}, 2),  # RFC 9309: disallow all
        ("404", {"/a.html": "ok", "/notes.txt": "ok"}, 1),  # 4xx: no rules
        ("redirect", {"/a.html": "robots_disallowed", "/notes.txt": "ok"}, 1),  # the moved file's rules apply
    ],
)
def test_robots_txt_status_and_redirects(site, mode, expected, robots_hits):
    Site.robots["mode"] = mode
    rows, _ = Crawler(CONF, [site + "/a.html", site + "/notes.txt"]).run()
    assert {r["url"][len(site) :]: r["outcome"] for r in rows} == expected
    assert Site.hits["/robots.txt"] == robots_hits  # fetched once per site (a 500 is retried once)
    assert Site.hits["/a.html"] == (expected["/a.html"] == "ok")


def test_crawl_delay_from_robots_txt(site):
    Site.robots["mode"] = "crawl-delay"
    slept = []
    Crawler(CONF, [site + "/a.html", site + "/notes.txt"], sleep=slept.append).run()
    assert slept and 1.5 < max(slept) <= 2.0  # Crawl-delay: 2 beats delay_seconds = 0


class Other(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[Counter] = Counter()

    def log_message(self, *args):
        pass

    def do_GET(self):
        Other.hits[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"Redis would answer here.")


def test_a_loopback_seed_opens_its_own_origin_not_other_ports(site):
    Other.hits.clear()
    other = _serve(Other)
    try:
        Site.other["url"] = f"http://127.0.0.1:{other.server_address[1]}/"
        _, _, by = _crawl(site, seed="/ports.html")
        assert by["/ports.html"]["outcome"] == "ok"
        assert by[Site.other["url"]]["outcome"] == "private_address"  # same host, allowed name, another port
        assert by["/to-other"]["outcome"] == "redirect_private_address"
        assert not Other.hits
    finally:
        other.shutdown()
        other.server_close()


def test_address_rules_after_resolution(monkeypatch):
    table = {
        "public.example": ["93.184.216.34"],
        "cgnat.example": ["100.64.1.2"],  # carrier-grade NAT: not global, not "private" by the old flags
        "mixed.example": ["93.184.216.34", "10.0.0.7"],
        "mapped.example": ["::ffff:127.0.0.1"],
        "nat64.example": ["64:ff9b::a00:1"],  # 10.0.0.1 through NAT64
        "v6.example": ["2606:2800:220:1::1"],
    }

    def resolve(host):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    monkeypatch.setattr("jobs.culture.crawler.resolve_host", resolve)
    conf = CrawlConf(allowed_domains=("example",))
    crawler = Crawler(conf, ["http://public.example/"])
    # every name below is on the allow-list: the refusals come from the address check
    assert crawler.refusal("http://public.example/x") is None
    assert crawler.refusal("https://v6.example/") is None
    for host in ("cgnat", "mixed", "mapped", "nat64"):
        assert crawler.refusal(f"http://{host}.example/") == "private_address", host
    assert crawler.refusal("http://gone.example/") == "dns_error"
    # a seed on a private address opens its origin only
    seeded = Crawler(conf, ["http://cgnat.example:8000/"])
    assert seeded.refusal("http://cgnat.example:8000/a") is None
    assert seeded.refusal("http://cgnat.example:6379/") == "private_address"
    assert seeded.refusal("https://cgnat.example:8000/") == "private_address"
    strict = Crawler(CrawlConf(allowed_domains=("example",), allow_private_seeds=False), ["http://cgnat.example/"])
    assert strict.refusal("http://cgnat.example/") == "private_address"


def test_the_connection_goes_to_the_checked_address(site, monkeypatch):
    # "pinned.test" resolves only through the crawler's checked resolver: a second DNS lookup would fail
    port = site.rsplit(":", 1)[1]
    monkeypatch.setattr(
        "jobs.culture.crawler.resolve_host", lambda host: ["127.0.0.1"] if host == "pinned.test" else []
    )
    seed = f"http://pinned.test:{port}/a.html"
    rows, _ = Crawler(CrawlConf(allowed_domains=("pinned.test",), delay_seconds=0), [seed]).run()
    assert rows[0]["outcome"] == "ok"
    assert Site.headers_seen["/a.html"]["Host"] == f"pinned.test:{port}"


def test_file_urls_cannot_climb_out_of_the_seed_folder(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "x.html").write_text("<p>top secret too</p>")
    os.symlink(tmp_path / "secret.txt", web / "link.txt")
    os.symlink(tmp_path / "outdir", web / "linkdir")
    (web / "inside.html").write_text("<p>Inside page</p>")
    os.symlink(web / "inside.html", web / "alias.html")  # a link that stays inside is fine
    (web / "index.html").write_text(
        " ".join(
            f'<a href="{h}">x</a>'
            for h in ("%2e%2e/secret.txt", "../secret.txt", ".%2E/secret.txt", "link.txt", "linkdir/x.html")
        )
        + ' <a href="alias.html">a</a> <p>Index page</p>'
    )
    (web / "seeds.txt").write_text("index.html\n")
    rows, counts = Crawler(CONF, read_seeds(web, ())).run()
    assert counts == {"ok": 2, "not_allowed_host": 4, "duplicate_url": 1}  # the two encodings of ".." are one URL
    assert {r["url"].rsplit("/", 1)[-1] for r in rows if r["outcome"] == "ok"} == {"index.html", "alias.html"}
    assert not any("secret" in (r["text"] or "") for r in rows)


BOILERPLATE_PAGE = """<!DOCTYPE html><html><head><title>Kalo Mira live</title><style>p { color: red }</style></head>
<body>
<div class="cookie-banner">We use cookies to improve your experience. <a href="/privacy">Privacy</a> Accept all.</div>
<div id="top-menu"><a href="/">Home</a> <a href="/news">News</a> <a href="/shop">Shop</a></div>
<ul class="breadcrumbs"><li><a href="/">Home</a></li><li><a href="/music">Music</a></li></ul>
<main>
  <article class="post-content">
    <h1>Kalo Mira live in Berlin</h1>
    <p>Kalo Mira played a hypnotic techno set in a Berlin warehouse.</p>
    <p>The crowd stayed until dawn; read our <a href="/review">full review</a> of the night.</p>
    <div class="share-buttons">Share on Facebook. Share by email.</div>
  </article>
  <section id="comments"><h2>Comments</h2><p>Great gig!! posted by fan99</p></section>
</main>
<div class="sidebar"><h3>Popular now</h3><p>Trending: the synth-pop revival.</p></div>
<div><h4>More stories</h4><ul>
  <li><a href="/a">Best albums of the year</a></li><li><a href="/b">Ten drummers to know</a></li>
  <li><a href="/c">The festival guide</a></li>
</ul>Also read: <a href="/d">our jazz issue</a> and <a href="/e">the summer playlists</a></div>
<div class="ad-slot">Buy cheap tickets now!</div>
<p class="subscribe">Subscribe to our newsletter.</p>
<div style="display: none">Hidden text.</div>
</body></html>"""


def test_main_text_without_boilerplate_known_answer():
    title, text, links = parse_html(BOILERPLATE_PAGE)
    assert title == "Kalo Mira live"
    assert text == (
        "Kalo Mira live in Berlin\n"
        "Kalo Mira played a hypnotic techno set in a Berlin warehouse.\n"
        "The crowd stayed until dawn; read our full review of the night."
    )
    # every link is still found (navigation is followed, only its text is dropped)
    assert links == ["/privacy", "/", "/news", "/shop", "/", "/music", "/review", "/a", "/b", "/c", "/d", "/e"]


def test_text_survives_deeply_nested_broken_html():
    _, text, _ = parse_html("<div>" * 5000 + "Kalo Mira, deep inside." + "<p>still text")
    assert text == "Kalo Mira, deep inside.\nstill text"


def test_encoding_detection_order():
    cafe = "<p>Caf\u00e9 na\u00efve</p>"
    assert detect_encoding(b"\xef\xbb\xbf" + cafe.encode(), "iso-8859-1") == "utf-8-sig"  # BOM first
    assert decode(cafe.encode("utf-16"), "utf-8") == cafe
    assert detect_encoding(cafe.encode("latin-1"), "iso-8859-1") == "iso-8859-1"  # then the header
    meta = b'<meta charset="koi8-r"><p>' + "\u041f\u0440\u0438\u0432\u0435\u0442".encode("koi8-r")
    assert detect_encoding(meta, None) == "koi8-r"  # then <meta>
    assert detect_encoding(cafe.encode(), "no-such-charset") == "utf-8"  # then UTF-8
    # then charset_normalizer, whose ties go to Windows-1252 (its first guess here is cp1250: "naďve")
    assert decode(cafe.encode("cp1252"), None) == cafe
    russian = "\u042d\u0442\u043e \u043f\u0440\u043e\u0441\u0442\u043e\u0439 \u0442\u0435\u043a\u0441\u0442 \u043e \u043c\u0443\u0437\u044b\u043a\u0435."
    assert decode(russian.encode("cp1251"), None) == russian


def test_hostile_urls_and_seeds_never_stop_the_crawl(tmp_path):
    """A NUL in a link's host is no URL at all; a bad seeds.txt line is skipped with its line named."""
    with pytest.raises(ValueError):
        normalise_url("http://93.184.215.14\x00.example.com/p")
    web = tmp_path / "web"
    web.mkdir()
    (web / "a.html").write_text("<html><title>A</title><p>x</p></html>")
    (web / "seeds.txt").write_text("http://h:99999/\nhttp://[::1\na.html\n")
    assert read_seeds(web, ()) == [(web / "a.html").resolve().as_uri()]


@pytest.mark.parametrize("address", ["::7f00:1", "fec0::1", "2002:7f00:1::", "2002:a00:1::", "240.0.0.1"])
def test_reserved_site_local_and_6to4_private_addresses_are_not_public(address):
    assert not is_public_address(address)


def test_a_folder_seed_is_its_own_root(tmp_path):
    web = tmp_path / "data" / "web"
    web.mkdir(parents=True)
    assert file_path(web.as_uri() + "/", parent=True) == web.resolve()
    assert file_path((web / "index.html").as_uri(), parent=True) == web.resolve()


def test_an_unclosed_title_does_not_swallow_the_page():
    title, text, _ = parse_html("<html><head><title>Kalo Mira<body><p>The whole article.</p></body></html>")
    assert title == "Kalo Mira" and "The whole article." in text
