"""Crawl: a polite, bounded web crawler that collects pages about artists.

Starts from the seeds in ``<data>/web/seeds.txt`` (``http(s)://`` and ``file://`` URLs;
relative lines are files under ``<data>/web/``) plus ``crawl.seeds``, and writes the
``pages`` table (``week=W``): ``url, final_url, status, fetched_at, content_type, title,
text, content_hash, etag, last_modified, outcome``, one row per URL tried, with
counts per outcome in ``run_metrics/week=W/crawl.json``.

The rules it keeps:

* **robots.txt** is fetched per site and obeyed for the crawler's user agent
  (``crawl.user_agent``); a ``file://`` site's root is the seed's folder.
* **Politeness**: ``crawl.delay_seconds`` between requests to one host; recrawls send
  ``If-None-Match``/``If-Modified-Since`` from the previous week's pages and reuse the
  stored text on ``304 Not Modified``.
* **Bounds**: connect and read timeouts, bytes per page, pages per run, link depth,
  redirects per URL (a loop is reported as one), retries of 5xx and timeouts with
  exponential backoff.
* **Scope**: only hosts in ``crawl.allowed_domains`` (default: the seeds' hosts) are
  fetched, redirects included; loopback, private, link-local and reserved addresses
  are refused (after DNS resolution, so a name cannot smuggle one in) unless a seed
  itself is on such an address (``crawl.allow_private_seeds``).
* **Content**: only HTML and plain text are kept; main text is extracted with
  boilerplate (navigation, headers, footers, scripts, forms) removed; the encoding
  comes from the HTTP header, then ``<meta charset>``, then UTF-8 with a Windows-1252
  fallback. URLs are normalised and visited once; pages whose text hashes equal an
  earlier page's are kept as ``duplicate_content`` without text.

A crawl that finds nothing writes an empty table and a warning; it never fails the run.

Run alone::

    python -m jobs.crawl --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.common.cli import week_job
from jobs.common.config import Config, CrawlConf
from jobs.common.io import write_week_table
from jobs.common.paths import table_dir, week_dir

log = logging.getLogger("crawl")

KEEP_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
BOILERPLATE = {"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "svg", "button"}
BLOCK = {
    "p",
    "div",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "td",
    "th",
    "tr",
    "br",
    "article",
    "section",
    "blockquote",
    "dd",
    "dt",
    "pre",
    "ol",
    "ul",
    "table",
    "main",
    "title",
}


# ----------------------------------------------------------------------------- URLs


def normalise_url(url: str) -> str:
    """Canonical form for de-duplication: lower-case scheme and host, no default port, no fragment,
    ``/`` for an empty path, sorted query parameters."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = urllib.parse.quote(urllib.parse.unquote(parts.path or "/"), safe="/%:@!$&'()*+,;=-._~")
    query = urllib.parse.urlencode(sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    return urllib.parse.urlunsplit((scheme, host, path, query, ""))


def host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return "" if parts.scheme == "file" else (parts.hostname or "").lower()


def is_public_host(host: str) -> bool:
    """True when every address ``host`` resolves to is a public one (not loopback, private, ...)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if (
            addr.is_private
            or addr.is_loopback
            or addr.is_link_local
            or addr.is_reserved
            or addr.is_multicast
            or addr.is_unspecified
        ):
            return False
    return True


def read_seeds(web_dir: Path, extra: tuple[str, ...]) -> list[str]:
    """Seed URLs from ``web/seeds.txt`` (relative lines are files under ``web_dir``) plus ``extra``."""
    seeds = list(extra)
    path = web_dir / "seeds.txt"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            seeds.append(line if "://" in line else (web_dir / line).resolve().as_uri())
    return [normalise_url(s) for s in seeds]


# ----------------------------------------------------------------------------- HTML


class _Extractor(HTMLParser):
    """Title, links and main text of an HTML page, boilerplate elements skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.links: list[str] = []
        self.chunks: list[str] = []
        self._skip = 0
        self._in_title = False
        self.meta_charset: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in BOILERPLATE:
            self._skip += 1
        if tag == "title":
            self._in_title = True
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "meta":
            if a.get("charset"):
                self.meta_charset = a["charset"]
            elif (a.get("http-equiv") or "").lower() == "content-type":
                m = re.search(r"charset=([\w-]+)", a.get("content") or "")
                if m:
                    self.meta_charset = m.group(1)
        if tag in BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in BOILERPLATE and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        if tag in BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if not self._skip:
            self.chunks.append(data)


def parse_html(html_text: str) -> tuple[str, str, list[str]]:
    """(title, main text, hrefs). Tolerates broken HTML: whatever parses is kept."""
    p = _Extractor()
    try:
        p.feed(html_text)
        p.close()
    except Exception:  # noqa: BLE001 - html.parser rarely raises; a broken page keeps what was read
        pass
    lines = [re.sub(r"\s+", " ", line).strip() for line in "".join(p.chunks).split("\n")]
    text = "\n".join(line for line in lines if line)
    return re.sub(r"\s+", " ", p.title).strip(), text, p.links


def decode(body: bytes, header_charset: str | None) -> str:
    """Text of a response: the header's charset, else ``<meta charset>``, else UTF-8, else Windows-1252."""
    for candidate in (header_charset, _meta_charset(body)):
        if candidate:
            try:
                return body.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _meta_charset(body: bytes) -> str | None:
    m = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", body[:4096], re.IGNORECASE)
    return m.group(1).decode("ascii") if m else None


def looks_binary(body: bytes) -> bool:
    """NUL bytes or mostly non-text bytes in the first KiB."""
    head = body[:1024]
    if b"\x00" in head:
        return True
    if not head:
        return False
    text = sum(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in head)
    return text / len(head) < 0.85


# ----------------------------------------------------------------------------- fetching


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Crawler:
    """One crawl run; ``fetch`` and the politeness state live here, decisions in pure helpers."""

    def __init__(
        self,
        conf: CrawlConf,
        seeds: list[str],
        previous: dict[str, dict[str, Any]] | None = None,
        clock: Any = time.monotonic,
        sleep: Any = time.sleep,
    ) -> None:
        self.conf = conf
        self.seeds = seeds
        self.previous = previous or {}
        self.clock, self.sleep = clock, sleep
        self.allowed = {d.lower() for d in conf.allowed_domains} or {host_of(s) for s in seeds if host_of(s)}
        self.seed_hosts = {host_of(s) for s in seeds if host_of(s)}
        self.file_roots = [s.rsplit("/", 1)[0] + "/" for s in seeds if s.startswith("file:")]
        self.last_hit: dict[str, float] = {}
        self.robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._public: dict[str, bool] = {}
        self.opener = urllib.request.build_opener(_NoRedirect())

    # -- scope ----------------------------------------------------------------

    def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be fetched, or None."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file":
            inside = any(url.startswith(root) for root in self.file_roots)
            return None if inside else "not_allowed_host"
        if parts.scheme not in ("http", "https"):
            return "unsupported_scheme"
        host = host_of(url)
        if not any(host == d or host.endswith("." + d) for d in self.allowed):
            return "not_allowed_host"
        if host not in self._public:
            self._public[host] = is_public_host(host)
        if not self._public[host] and not (self.conf.allow_private_seeds and host in self.seed_hosts):
            return "private_address"
        return None

    # -- robots ---------------------------------------------------------------

    def _robots_url(self, url: str) -> str:
        if url.startswith("file:"):
            root = next((r for r in self.file_roots if url.startswith(r)), url.rsplit("/", 1)[0] + "/")
            return root + "robots.txt"
        parts = urllib.parse.urlsplit(url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))

    def allowed_by_robots(self, url: str) -> bool:
        robots_url = self._robots_url(url)
        if robots_url not in self.robots:
            got = self._fetch_once(robots_url, {})
            parser = None
            if got.status == 200 and got.body:
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(decode(got.body, got.charset).splitlines())
            elif got.status in (401, 403):
                parser = urllib.robotparser.RobotFileParser()
                parser.disallow_all = True
            self.robots[robots_url] = parser
        parser = self.robots[robots_url]
        if parser is None:
            return True
        target = url
        if url.startswith("file:"):
            root = robots_url[: -len("robots.txt")]
            target = "/" + url[len(root) :]
        return parser.can_fetch(self.conf.user_agent, target)

    # -- one request ----------------------------------------------------------

    def _wait_politely(self, url: str) -> None:
        host = host_of(url) or "file"
        delay = 0.0 if url.startswith("file:") else self.conf.delay_seconds
        last = self.last_hit.get(host)
        if last is not None and delay > 0:
            wait = last + delay - self.clock()
            if wait > 0:
                self.sleep(wait)
        self.last_hit[host] = self.clock()

    def _fetch_once(self, url: str, headers: dict[str, str]) -> Fetched:
        self._wait_politely(url)
        if url.startswith("file:"):
            path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
            if not path.is_file():
                return Fetched(url, url, 404, None, outcome="http_4xx")
            body = path.read_bytes()[: self.conf.max_bytes + 1]
            if len(body) > self.conf.max_bytes:
                return Fetched(url, url, 200, None, outcome="too_large")
            ctype = "text/plain" if path.suffix in (".txt", "") else "text/html"
            return Fetched(url, url, 200, ctype, body)
        request = urllib.request.Request(url, headers={"User-Agent": self.conf.user_agent, **headers})
        start = self.clock()
        try:
            with self.opener.open(request, timeout=self.conf.connect_timeout_seconds) as resp:
                return self._read(url, resp, start)
        except urllib.error.HTTPError as err:
            status = err.code
            if status in (301, 302, 303, 307, 308):
                return Fetched(url, url, status, None, outcome="redirect", location=err.headers.get("Location"))
            if status == 304:
                return Fetched(url, url, 304, None, outcome="not_modified")
            return Fetched(url, url, status, None, outcome="http_5xx" if status >= 500 else "http_4xx")
        except TimeoutError:
            return Fetched(url, url, None, None, outcome="timeout")
        except urllib.error.URLError as err:
            outcome = "timeout" if isinstance(err.reason, TimeoutError | socket.timeout) else "connection_error"
            return Fetched(url, url, None, None, outcome=outcome)
        except (ConnectionError, OSError):
            return Fetched(url, url, None, None, outcome="connection_error")

    def _read(self, url: str, resp: Any, start: float) -> Fetched:
        ctype_full = resp.headers.get("Content-Type") or ""
        ctype = ctype_full.split(";")[0].strip().lower() or None
        m = re.search(r"charset=([\w-]+)", ctype_full)
        got = Fetched(
            url,
            url,
            resp.status,
            ctype,
            charset=m.group(1) if m else None,
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
        )
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.conf.max_bytes:
            got.outcome = "too_large"
            return got
        chunks, size = [], 0
        while True:
            if self.clock() - start > self.conf.read_timeout_seconds:
                got.outcome = "timeout"
                return got
            chunk = resp.read(16384)
            if not chunk:
                break
            size += len(chunk)
            if size > self.conf.max_bytes:
                got.outcome = "too_large"
                return got
            chunks.append(chunk)
        got.body = b"".join(chunks)
        return got

    def fetch(self, url: str) -> Fetched:
        """GET with retries (5xx, timeouts) and manual redirects, each hop checked against the scope."""
        prev = self.previous.get(url, {})
        headers = {}
        if prev.get("etag"):
            headers["If-None-Match"] = prev["etag"]
        if prev.get("last_modified"):
            headers["If-Modified-Since"] = prev["last_modified"]
        current, seen = url, [url]
        for _ in range(self.conf.max_redirects + 1):
            got = self._with_retries(current, headers if current == url else {})
            if got.outcome != "redirect":
                got.url, got.redirects = url, seen[1:]
                return got
            target = normalise_url(urllib.parse.urljoin(current, got.location or ""))
            if target in seen:
                return Fetched(url, target, got.status, None, outcome="redirect_loop", redirects=seen[1:])
            refusal = self.refusal(target)
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
            refusal = self.refusal(url)
            if refusal:
                record({**base, "outcome": refusal})
                continue
            if not self.allowed_by_robots(url):
                record({**base, "outcome": "robots_disallowed"})
                continue
            if fetched_pages >= self.conf.max_pages:
                record({**base, "outcome": "page_limit"})
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
                    target = normalise_url(urllib.parse.urljoin(got.final_url, href))
                    resolved.append(target)
                    if target not in seen_urls:
                        queue.append((target, depth + 1))
                rows[-1]["links"] = json.dumps(resolved)
        return rows, counts


# ----------------------------------------------------------------------------- job


def previous_pages(warehouse: Path, week: str) -> dict[str, dict[str, Any]]:
    """The latest earlier week's pages by URL, for conditional GETs."""
    root = table_dir(warehouse, "pages")
    if not root.exists():
        return {}
    weeks = sorted(p.name[5:] for p in root.iterdir() if p.name.startswith("week=") and p.name[5:] < week)
    if not weeks:
        return {}
    frame = pd.read_parquet(root / f"week={weeks[-1]}")
    frame = frame[frame["outcome"].isin(["ok", "not_modified"])]
    return {
        r["url"]: {**r, "links": json.loads(r["links"]) if r.get("links") else []} for r in frame.to_dict("records")
    }


def run(config: Config, week: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    web_dir = config.paths.data / "web"
    seeds = read_seeds(web_dir, config.crawl.seeds)
    crawler = Crawler(config.crawl, seeds, previous_pages(config.paths.warehouse, week))
    rows, counts = crawler.run() if seeds else ([], {})
    if not seeds:
        log.warning("no seeds (%s/seeds.txt missing and crawl.seeds empty): writing an empty pages table", web_dir)
    elif not counts.get("ok") and not counts.get("not_modified"):
        log.warning("the crawl fetched no usable page: %s", counts)
    from schemas.tables import table

    columns = table("pages").names[:-1]
    frame = pd.DataFrame(rows).reindex(columns=columns)
    frame["status"] = frame["status"].astype("Int32")
    frame["fetched_at"] = pd.to_datetime(frame["fetched_at"], utc=True)
    write_week_table(frame, config.paths.warehouse, "pages", week)
    seconds = time.perf_counter() - t0
    metrics = {
        "week": week,
        "seeds": len(seeds),
        "outcomes": dict(sorted(counts.items())),
        "rows": len(frame),
        "seconds": round(seconds, 2),
        "pages_per_second": round(sum(counts.get(k, 0) for k in ("ok", "duplicate_content")) / max(seconds, 1e-9), 1),
    }
    from jobs.common.atomic import write_json_atomic

    write_json_atomic(week_dir(config.paths.warehouse, "run_metrics", week) / "crawl.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "crawl", "Crawl the seed sites politely into the pages table.", lambda config, week, _: run(config, week), argv
    )


if __name__ == "__main__":
    sys.exit(main())
