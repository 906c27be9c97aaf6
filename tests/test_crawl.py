"""The crawler against a real HTTP server on 127.0.0.1, started and stopped by the test."""

import http.server
import threading
import time
from collections import Counter
from typing import ClassVar

import pytest

from jobs import crawl
from jobs.common.config import CrawlConf

BIG = 20_000


class Site(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[Counter] = Counter()
    headers_seen: ClassVar[dict] = {}
    flaky_left: ClassVar[dict] = {"n": 1}

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
        if path == "/robots.txt":
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
        elif path == "/slow.html":
            time.sleep(1.5)
            self._send(200, page("too late"))
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


@pytest.fixture
def site():
    Site.hits.clear()
    Site.flaky_left["n"] = 1
    server = QuietServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the crawler hangs up on slow and big pages on purpose
        pass


CONF = CrawlConf(
    allowed_domains=("127.0.0.1", "localhost"),
    delay_seconds=0,
    connect_timeout_seconds=0.8,
    read_timeout_seconds=0.8,
    max_bytes=BIG // 2,
    max_retries=1,
    backoff_seconds=0.01,
    max_depth=2,
)


def _crawl(site, conf=CONF, previous=None):
    rows, counts = crawl.Crawler(conf, [crawl.normalise_url(site + "/")], previous).run()
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
    assert outcome["/slow.html"] == "timeout"
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
    assert "Menu Home" not in by["/a.html"]["text"]  # navigation is boilerplate
    assert by["/a.html"]["title"] == "/a.html"
    assert Site.headers_seen["/a.html"]["User-Agent"].startswith("DiscoverWeeklyBot/")


def test_recrawl_sends_conditional_get_and_reuses_the_text(site):
    rows, _, by = _crawl(site)
    previous = {r["url"]: {**r, "links": []} for r in rows if r["outcome"] == "ok"}
    _, _, again = _crawl(site, previous=previous)
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
    assert crawl.Crawler(CONF, ["http://example.org/"]).refusal("http://10.0.0.1/") == "not_allowed_host"


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
    seeds = crawl.read_seeds(web, ())
    rows, _ = crawl.Crawler(CONF, seeds).run()
    outcome = {r["url"].rsplit("/", 1)[-1]: r["outcome"] for r in rows}
    assert outcome == {
        "index.html": "ok",
        "x.html": "robots_disallowed",
        "outside.html": "not_allowed_host",
        "b.html": "ok",
    }


def test_normalise_url():
    assert crawl.normalise_url("HTTP://Example.ORG:80/a/../b?z=1&a=2#frag") == "http://example.org/a/../b?a=2&z=1"
    assert crawl.normalise_url("https://example.org") == "https://example.org/"
    assert crawl.normalise_url("https://example.org:8443/x") == "https://example.org:8443/x"


def test_an_empty_crawl_writes_an_empty_table(tmp_path):
    from tests.conftest import make_config

    (tmp_path / "data" / "web").mkdir(parents=True)
    metrics = crawl.run(make_config(tmp_path / "data", tmp_path / "wh"), "2026-W47")
    assert metrics["rows"] == 0
    import pandas as pd

    assert pd.read_parquet(tmp_path / "wh" / "pages" / "week=2026-W47").empty
