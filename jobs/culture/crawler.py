"""The crawler: breadth-first from the seeds, one request at a time, every rule checked on every hop.

:class:`Crawler` ``.run()`` returns one page row per URL tried (the ``pages`` columns but ``week``)
and counts per outcome; :class:`Fetched` is one response (or the reason there is none). The rules it
keeps:

* **robots.txt** (RFC 9309) is fetched per site (scheme, host and port) and obeyed for
  the crawler's user agent (``crawl.user_agent``), on every redirect hop too (a redirect
  into a disallowed path is ``redirect_robots_disallowed`` and is never requested).
  Up to 5 redirects of robots.txt itself are followed (address rules apply to them, the
  allow-list does not); a 4xx answer (or more redirects) means no rules; a 5xx answer, a
  timeout or a refused connection means "disallow everything on that site" for the run.
  ``Crawl-delay`` is honoured when it is longer than ``crawl.delay_seconds`` (capped at
  ``MAX_CRAWL_DELAY``, 30 s). A ``file://`` site's root is the seed's folder.
* **Politeness**: ``crawl.delay_seconds`` between requests to one host; recrawls send
  ``If-None-Match``/``If-Modified-Since`` from the previous week's pages and reuse the
  stored text on ``304 Not Modified``.
* **Bounds**: ``crawl.connect_timeout_seconds`` for the TCP connect (and TLS handshake);
  then ``crawl.read_timeout_seconds`` is a deadline for the whole response (headers and
  body): every socket read gets only the time left, so a server that trickles bytes ends
  as ``timeout`` after about ``read_timeout_seconds`` (see ``connections``). Also bytes per
  page (Content-Length or counted while streaming), pages per run, link depth, redirects per
  URL (a loop is reported as one), retries of 5xx and timeouts with exponential backoff.
* **Scope**: only hosts in ``crawl.allowed_domains`` (default: the seeds' hosts) are
  fetched, redirects included. Every host is resolved once per run; an address that is
  not globally routable (``not ip.is_global``: loopback, private, CGNAT 100.64/10,
  link-local, reserved, ...; IPv4-mapped and NAT64 addresses are unwrapped; see
  ``urls.is_public_address``) or is multicast is refused as ``private_address`` unless the
  URL has the same origin (scheme, host, port) as a seed (``crawl.allow_private_seeds``): a
  seed at ``127.0.0.1:8000`` does not open ``127.0.0.1:6379``. A name that does not resolve
  is ``dns_error``. The connection goes to the address that was checked (the name is
  resolved once, then pinned; TLS still verifies the certificate for the name), so DNS
  rebinding cannot swap in another address. Proxies from the environment
  (``HTTP(S)_PROXY``) are not used, since they would resolve names themselves.
  ``file://`` URLs must resolve (``..``, percent-encoded dots and symlinks followed) to
  a path under a ``file://`` seed's folder, and are never followed from ``http(s)``
  pages or redirects.
* **Content**: only HTML and plain text are kept (``KEEP_TYPES``); the encoding comes from
  ``encodings.decode`` and the main text from ``html_text.parse_html``. URLs are normalised
  and visited once; pages whose text hashes equal an earlier page's are kept as
  ``duplicate_content`` without text.

Reads the network, the ``file://`` seeds' folders and the previous pages it is given; writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import re
import ssl
import time
import urllib.parse
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.config import CrawlConf
from jobs.culture.connections import DeadlineSSLSocket, PinnedConnection
from jobs.culture.encodings import decode, looks_binary
from jobs.culture.html_text import parse_html
from jobs.culture.urls import (
    DEFAULT_PORTS,
    file_path,
    host_of,
    is_public_address,
    normalise_url,
    origin_of,
    resolve_host,
)
from schemas.vocab import REDIRECT_HOP

KEEP_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_ROBOTS_REDIRECTS = 5
MAX_CRAWL_DELAY = 30.0  # seconds; a longer robots.txt Crawl-delay is honoured only up to this


@dataclass
class Fetched:
    url: str
    final_url: str
    status: int | None
    content_type: str | None
    body: bytes = b""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    outcome: str = "ok"
    location: str | None = None
    redirects: list[str] = field(default_factory=list)


class Crawler:
    """One crawl run; ``fetch`` and the politeness state live here, decisions in pure helpers."""

    def __init__(
        self,
        conf: CrawlConf,
        seeds: list[str],
        previous: dict[str, dict[str, Any]] | None = None,
        clock: Any = time.monotonic,
        sleep: Any = time.sleep,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.conf = conf
        self.seeds = seeds
        self.previous = previous or {}
        self.clock, self.sleep = clock, sleep
        self.allowed = {d.lower() for d in conf.allowed_domains} or {host_of(s) for s in seeds if host_of(s)}
        self.seed_origins = {origin_of(s) for s in seeds if urllib.parse.urlsplit(s).scheme in DEFAULT_PORTS}
        self.file_roots = [p for p in (file_path(s, parent=True) for s in seeds if s.startswith("file:")) if p]
        self.last_hit: dict[str, float] = {}
        self.robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self.addresses: dict[str, list[str] | None] = {}  # host -> checked addresses (None: did not resolve)
        self._tls = tls

    # -- scope ----------------------------------------------------------------

    def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be fetched, or None."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file":
            return None if self.file_target(url) else "not_allowed_host"
        if parts.scheme not in DEFAULT_PORTS:
            return "unsupported_scheme"
        host = host_of(url)
        if not host or not any(host == d or host.endswith("." + d) for d in self.allowed):
            return "not_allowed_host"
        return self.address_refusal(url)

    def address_refusal(self, url: str) -> str | None:
        """``dns_error``, ``private_address`` or None, from the host's addresses (resolved once per run)."""
        host = host_of(url)
        if host not in self.addresses:
            try:
                self.addresses[host] = resolve_host(host) or None
            except (OSError, UnicodeError):
                self.addresses[host] = None
        addresses = self.addresses[host]
        if addresses is None:
            return "dns_error"
        if all(is_public_address(a) for a in addresses):
            return None
        if self.conf.allow_private_seeds and origin_of(url) in self.seed_origins:
            return None
        return "private_address"

    def file_target(self, url: str) -> tuple[Path, Path] | None:
        """(resolved path, its seed folder) when a ``file://`` URL lies under a seed's folder."""
        path = file_path(url)
        root = next((r for r in self.file_roots if path and path.is_relative_to(r)), None)
        return (path, root) if path and root else None

    # -- robots ---------------------------------------------------------------

    def _robots_key(self, url: str) -> tuple[str, str]:
        """(robots.txt URL, the path to ask it about)."""
        if url.startswith("file:"):
            found = self.file_target(url)
            if not found:
                return "", url
            path, root = found
            return root.as_uri() + "/robots.txt", "/" + path.relative_to(root).as_posix()
        parts = urllib.parse.urlsplit(url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", "")), url

    def allowed_by_robots(self, url: str) -> bool:
        robots_url, target = self._robots_key(url)
        if not robots_url:
            return False
        if robots_url not in self.robots:
            self.robots[robots_url] = self._load_robots(robots_url)
        return self.robots[robots_url].can_fetch(self.conf.user_agent, target)

    def _load_robots(self, robots_url: str) -> urllib.robotparser.RobotFileParser:
        """RFC 9309: 2xx parsed; 4xx or more than 5 redirects = no rules; 5xx or unreachable = disallow all."""
        parser = urllib.robotparser.RobotFileParser(robots_url)
        current = robots_url
        for _ in range(MAX_ROBOTS_REDIRECTS + 1):
            got = self._with_retries(current, {})
            if got.outcome != REDIRECT_HOP:
                break
            try:
                target = normalise_url(urllib.parse.urljoin(current, got.location or ""))
            except ValueError:
                break
            if urllib.parse.urlsplit(target).scheme not in DEFAULT_PORTS or self.address_refusal(target):
                parser.disallow_all = True
                return parser
            current = target
        if got.outcome == "ok" and got.status and 200 <= got.status < 300:
            parser.parse(decode(got.body, got.charset).splitlines())
        elif got.outcome in ("http_5xx", "timeout", "connection_error", "dns_error", "private_address"):
            parser.disallow_all = True
        else:  # 4xx, too many redirects, too large: unavailable, so no rules
            parser.allow_all = True
        return parser

    # -- one request ----------------------------------------------------------

    def _wait_politely(self, url: str) -> None:
        host = host_of(url) or "file"
        delay = 0.0 if url.startswith("file:") else self.conf.delay_seconds
        robots = self.robots.get(self._robots_key(url)[0]) if not url.startswith("file:") else None
        crawl_delay = robots.crawl_delay(self.conf.user_agent) if robots else None
        if crawl_delay:
            delay = max(delay, min(float(crawl_delay), MAX_CRAWL_DELAY))
        last = self.last_hit.get(host)
        if last is not None and delay > 0:
            wait = last + delay - self.clock()
            if wait > 0:
                self.sleep(wait)
        self.last_hit[host] = self.clock()

    def _fetch_once(self, url: str, headers: dict[str, str]) -> Fetched:
        self._wait_politely(url)
        if url.startswith("file:"):
            found = self.file_target(url)
            if not found:
                return Fetched(url, url, None, None, outcome="not_allowed_host")
            path = found[0]
            if not path.is_file():
                return Fetched(url, url, 404, None, outcome="http_4xx")
            with path.open("rb") as f:
                body = f.read(self.conf.max_bytes + 1)
            if len(body) > self.conf.max_bytes:
                return Fetched(url, url, 200, None, outcome="too_large")
            ctype = "text/plain" if path.suffix in (".txt", "") else "text/html"
            return Fetched(url, url, 200, ctype, body)
        return self._fetch_http(url, headers)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        self._tls.sslsocket_class = DeadlineSSLSocket
        return self._tls

    def _fetch_http(self, url: str, headers: dict[str, str]) -> Fetched:
        """One GET to the checked address: connect timeout, then one deadline for headers and body."""
        refusal = self.address_refusal(url)
        if refusal:
            return Fetched(url, url, None, None, outcome=refusal)
        parts = urllib.parse.urlsplit(url)
        scheme, host, port = origin_of(url)
        tls = self._tls_context() if scheme == "https" else None
        addresses = self.addresses[host] or []
        conn = None
        try:
            conn = PinnedConnection(host, port or 80, addresses, self.conf.connect_timeout_seconds, tls)
            conn.connect()
            conn.start_deadline(self.conf.read_timeout_seconds)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            request_headers = {
                "User-Agent": self.conf.user_agent,
                "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
                "Accept-Encoding": "identity",
                "Connection": "close",
                **headers,
            }
            conn.request("GET", target, headers=request_headers)
            with conn.getresponse() as resp:
                return self._read(url, resp)
        except TimeoutError:
            return Fetched(url, url, None, None, outcome="timeout")
        except (OSError, http.client.HTTPException, ValueError):
            return Fetched(url, url, None, None, outcome="connection_error")
        finally:
            if conn is not None:
                conn.close()

    def _read(self, url: str, resp: http.client.HTTPResponse) -> Fetched:
        status = resp.status
        if status in REDIRECT_CODES:
            return Fetched(url, url, status, None, outcome=REDIRECT_HOP, location=resp.getheader("Location"))
        if status == 304:
            return Fetched(url, url, 304, None, outcome="not_modified")
        if not 200 <= status < 300:
            return Fetched(url, url, status, None, outcome="http_5xx" if status >= 500 else "http_4xx")
        ctype_full = resp.getheader("Content-Type") or ""
        ctype = ctype_full.split(";")[0].strip().lower() or None
        m = re.search(r"charset=[\"']?([\w-]+)", ctype_full, re.IGNORECASE)
        got = Fetched(
            url,
            url,
            status,
            ctype,
            charset=m.group(1) if m else None,
            etag=resp.getheader("ETag"),
            last_modified=resp.getheader("Last-Modified"),
        )
        length = resp.getheader("Content-Length")
        if length and length.isdigit() and int(length) > self.conf.max_bytes:
            got.outcome = "too_large"
            return got
        chunks, size = [], 0
        try:
            while chunk := resp.read(16384):
                size += len(chunk)
                if size > self.conf.max_bytes:
                    got.outcome = "too_large"
                    return got
                chunks.append(chunk)
        except TimeoutError:
            got.outcome = "timeout"
            return got
        got.body = b"".join(chunks)
        return got

    def fetch(self, url: str) -> Fetched:
        """GET with retries (5xx, timeouts) and manual redirects, each hop checked against the scope and
        robots.txt."""
        prev = self.previous.get(url, {})
        headers = {}
        if prev.get("etag"):
            headers["If-None-Match"] = prev["etag"]
        if prev.get("last_modified"):
            headers["If-Modified-Since"] = prev["last_modified"]
        current, seen = url, [url]
        for _ in range(self.conf.max_redirects + 1):
            got = self._with_retries(current, headers if current == url else {})
            if got.outcome != REDIRECT_HOP:
                got.url, got.redirects = url, seen[1:]
                return got
            try:
                target = normalise_url(urllib.parse.urljoin(current, got.location or ""))
            except ValueError:
                return Fetched(url, current, got.status, None, outcome="bad_redirect", redirects=seen[1:])
            if target in seen:
                return Fetched(url, target, got.status, None, outcome="redirect_loop", redirects=seen[1:])
            refusal = "unsupported_scheme" if not target.startswith(("http:", "https:")) else self.refusal(target)
            if not refusal and not self.allowed_by_robots(target):
                refusal = "robots_disallowed"
            if refusal:
                return Fetched(url, target, got.status, None, outcome=f"redirect_{refusal}", redirects=seen[1:])
            seen.append(target)
            current = target
        return Fetched(url, current, None, None, outcome="too_many_redirects", redirects=seen[1:])

    def _with_retries(self, url: str, headers: dict[str, str]) -> Fetched:
        for attempt in range(self.conf.max_retries + 1):
            got = self._fetch_once(url, headers)
            if got.outcome not in ("http_5xx", "timeout", "connection_error") or attempt == self.conf.max_retries:
                return got
            self.sleep(self.conf.backoff_seconds * 2**attempt)
        return got

    # -- the crawl ------------------------------------------------------------

    def run(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Breadth-first from the seeds; returns page rows and counts per outcome."""
        queue: deque[tuple[str, int]] = deque((s, 0) for s in self.seeds)
        seen_urls: set[str] = set()
        hashes: set[str] = set()
        rows: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        fetched_pages = 0

        def record(row: dict[str, Any]) -> None:
            rows.append(row)
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1

        while queue:
            url, depth = queue.popleft()
            if url in seen_urls:
                counts["duplicate_url"] = counts.get("duplicate_url", 0) + 1
                continue
            seen_urls.add(url)
            base = {
                "url": url,
                "final_url": url,
                "status": None,
                "fetched_at": None,
                "content_type": None,
                "title": None,
                "text": None,
                "content_hash": None,
                "etag": None,
                "last_modified": None,
            }
            if fetched_pages >= self.conf.max_pages:
                record({**base, "outcome": "page_limit"})
                continue
            refusal = self.refusal(url)
            if refusal:
                record({**base, "outcome": refusal})
                continue
            if not self.allowed_by_robots(url):
                record({**base, "outcome": "robots_disallowed"})
                continue
            fetched_pages += 1
            got = self.fetch(url)
            row = {
                **base,
                "final_url": got.final_url,
                "status": got.status,
                "fetched_at": dt.datetime.now(dt.UTC),
                "content_type": got.content_type,
                "etag": got.etag if got.outcome == "ok" else None,
                "last_modified": got.last_modified,
            }
            if got.outcome == "not_modified" and url in self.previous:
                prev = self.previous[url]
                row.update(
                    {k: prev.get(k) for k in ("title", "text", "content_hash", "content_type", "etag", "last_modified")}
                )
                record({**row, "outcome": "not_modified"})
                links = prev.get("links") or []
            elif got.outcome != "ok":
                record({**row, "outcome": got.outcome})
                continue
            else:
                if got.content_type and got.content_type not in KEEP_TYPES:
                    record({**row, "outcome": "not_html"})
                    continue
                if looks_binary(got.body):
                    record({**row, "outcome": "binary_content"})
                    continue
                text_all = decode(got.body, got.charset)
                if got.content_type == "text/plain":
                    title, text, links = "", text_all.strip(), []
                else:
                    title, text, links = parse_html(text_all)
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                row.update({"title": title, "content_hash": digest})
                if digest in hashes:
                    record({**row, "outcome": "duplicate_content"})
                    continue
                hashes.add(digest)
                record({**row, "text": text, "outcome": "ok", "links": None})
            if depth < self.conf.max_depth:
                resolved = []
                for href in links:
                    if href.startswith(("mailto:", "javascript:", "#", "tel:")):
                        continue
                    try:
                        target = normalise_url(urllib.parse.urljoin(got.final_url, href))
                    except ValueError:  # a malformed link (bad port, broken IPv6 literal) is skipped
                        continue
                    resolved.append(target)
                    local = target.startswith("file:") and not got.final_url.startswith("file:")
                    if target not in seen_urls and not local:  # web pages never lead to local files
                        queue.append((target, depth + 1))
                rows[-1]["links"] = json.dumps(resolved)
        return rows, counts
