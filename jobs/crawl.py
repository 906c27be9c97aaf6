"""Crawl: a polite, bounded web crawler that collects pages about artists.

Starts from the seeds in ``<data>/web/seeds.txt`` (``http(s)://`` and ``file://`` URLs;
relative lines are files under ``<data>/web/``) plus ``crawl.seeds``, and writes the
``pages`` table (``week=W``): ``url, final_url, status, fetched_at, content_type, title,
text, content_hash, etag, last_modified, outcome, links``, one row per URL tried, with
counts per outcome in ``run_metrics/week=W/crawl.json``. It reads the previous week's
``pages`` partition (for conditional GETs) and nothing else of the warehouse.

The rules it keeps:

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
  as ``timeout`` after about ``read_timeout_seconds``. Also bytes per page (Content-Length
  or counted while streaming), pages per run, link depth, redirects per URL (a loop is
  reported as one), retries of 5xx and timeouts with exponential backoff.
* **Scope**: only hosts in ``crawl.allowed_domains`` (default: the seeds' hosts) are
  fetched, redirects included. Every host is resolved once per run; an address that is
  not globally routable (``not ip.is_global``: loopback, private, CGNAT 100.64/10,
  link-local, reserved, ...; IPv4-mapped and NAT64 addresses are unwrapped) or is
  multicast is refused as ``private_address`` unless the URL has the same origin
  (scheme, host, port) as a seed (``crawl.allow_private_seeds``): a seed at
  ``127.0.0.1:8000`` does not open ``127.0.0.1:6379``. A name that does not resolve is
  ``dns_error``. The connection goes to the address that was checked (the name is
  resolved once, then pinned; TLS still verifies the certificate for the name), so DNS
  rebinding cannot swap in another address. Proxies from the environment
  (``HTTP(S)_PROXY``) are not used, since they would resolve names themselves.
  ``file://`` URLs must resolve (``..``, percent-encoded dots and symlinks followed) to
  a path under a ``file://`` seed's folder, and are never followed from ``http(s)``
  pages or redirects.
* **Content**: only HTML and plain text are kept; main text is extracted with
  boilerplate removed: elements by tag (nav, header, footer, aside, script, style,
  form, ...), by ``role``, by ``hidden``/``display:none``, and by class or id words
  (nav, menu, footer, sidebar, cookie, banner, comment(s), advert/ads, share, related,
  breadcrumb, subscribe, ...), then every run of inline text between block boundaries
  whose characters are mostly link text (``LINK_DENSITY_MAX``) is dropped (link lists,
  "related" rows). The encoding comes from a byte-order mark, then the HTTP header, then
  ``<meta charset>``, then UTF-8, then ``charset_normalizer``'s best guess (ties go to
  Windows-1252), then Windows-1252. URLs are normalised and visited once; pages whose
  text hashes equal an earlier page's are kept as ``duplicate_content`` without text.

Outcomes: ``ok``, ``not_modified``, ``duplicate_content``, ``robots_disallowed``,
``not_allowed_host``, ``private_address``, ``dns_error``, ``unsupported_scheme``,
``page_limit``, ``http_4xx``, ``http_5xx``, ``timeout``, ``connection_error``,
``too_large``, ``not_html``, ``binary_content``, ``redirect_loop``,
``too_many_redirects``, ``bad_redirect`` and ``redirect_<refusal>`` for a redirect hop
refused by the rules above (e.g. ``redirect_robots_disallowed``).

A crawl that finds nothing writes an empty table and a warning; it never fails the run.

Run alone::

    python -m jobs.crawl --week 2026-W47
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import logging
import re
import socket
import ssl
import sys
import time
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
REDIRECT_CODES = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_ROBOTS_REDIRECTS = 5
MAX_CRAWL_DELAY = 30.0  # seconds; a longer robots.txt Crawl-delay is honoured only up to this
LINK_DENSITY_MAX = 0.6  # a run of text whose non-space characters are more than this share link text is dropped
LINK_BLOCK_OWN_TEXT = 200  # ... and so is a whole block (its heading too) with fewer non-link characters than this

BOILERPLATE = {"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "svg", "button"}
BOILERPLATE_WORDS = {
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menubar",
    "footer",
    "sidebar",
    "cookie",
    "cookies",
    "consent",
    "banner",
    "comment",
    "comments",
    "advert",
    "adverts",
    "advertisement",
    "ad",
    "ads",
    "sponsored",
    "share",
    "sharing",
    "social",
    "related",
    "breadcrumb",
    "breadcrumbs",
    "subscribe",
    "newsletter",
    "popup",
    "modal",
}
# a class or id with one of these words is content even when it also has a boilerplate word ("article-comments")
CONTENT_WORDS = {"article", "content", "main", "story", "entry", "post", "body", "text"}
BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
CONTAINERS = {"#root", "html", "body", "main", "article"}  # never dropped by class, id or link density
BLOCK = {
    "address",
    "article",
    "blockquote",
    "body",
    "br",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
# a start tag of one of these closes an open <p> (HTML's implied end tags, simplified)
CLOSES_P = BLOCK - {"br", "body", "html", "head", "td", "th", "tr", "tbody", "thead", "tfoot", "dd", "dt", "li"}
SIBLINGS = {"p": {"p"}, "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "tr": {"tr"}, "td": {"td", "th"}}
SIBLINGS["th"] = SIBLINGS["td"]
MAX_TREE_DEPTH = 128  # deeper nesting (broken HTML) is flattened, which keeps the walks within Python's recursion limit
_WORDS = re.compile(r"[^a-z0-9]+")
_SPACE = re.compile(r"\s+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")


# ----------------------------------------------------------------------------- URLs


def normalise_url(url: str) -> str:
    """Canonical form for de-duplication: lower-case scheme and host, no default port, no fragment,
    ``/`` for an empty path, sorted query parameters. Raises ValueError for a malformed URL."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in host):
        raise ValueError(f"control character or space in the host of {url!r}")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = urllib.parse.quote(urllib.parse.unquote(parts.path or "/"), safe="/%:@!$&'()*+,;=-._~")
    query = urllib.parse.urlencode(sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    return urllib.parse.urlunsplit((scheme, host, path, query, ""))


def host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return "" if parts.scheme == "file" else (parts.hostname or "").lower()


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to, in resolver order; raises OSError when it does not resolve."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped and NAT64 IPv6 judged by their IPv4)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.is_site_local or ip.is_reserved:
            return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def read_seeds(web_dir: Path, extra: tuple[str, ...]) -> list[str]:
    """Seed URLs from ``web/seeds.txt`` (relative lines are files under ``web_dir``) plus ``extra``."""
    seeds = [(s, "crawl.seeds") for s in extra]
    path = web_dir / "seeds.txt"
    if path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            seeds.append((line if "://" in line else (web_dir / line).resolve().as_uri(), f"{path}:{number}"))
    out = []
    for seed, where in seeds:
        try:
            out.append(normalise_url(seed))
        except ValueError as exc:
            log.warning("%s: skipping seed %r: %s", where, seed, exc)
    return out


def _file_path(url: str, parent: bool = False) -> Path | None:
    """The resolved local path of a ``file://`` URL (``..``, percent-encoding and symlinks followed), or of its
    folder with ``parent``; None when it is not a local file URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    try:
        path = Path(urllib.request.url2pathname(parts.path))
        if parent and not (parts.path.endswith("/") or path.is_dir()):
            path = path.parent  # a file seed's folder; a folder seed is its own root
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return None


# ----------------------------------------------------------------------------- HTML


class _Node:
    """An element of the page: tag, attributes, children (elements and text); sizes filled by ``_measure``."""

    __slots__ = ("attrs", "boilerplate", "chars", "children", "has_block", "link_chars", "tag")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[_Node | str] = []
        self.chars = self.link_chars = 0
        self.has_block = self.boilerplate = False


class _TreeBuilder(HTMLParser):
    """A forgiving element tree (implied ``</p>``/``</li>``/``</td>``..., unknown end tags ignored), the title
    and every ``<a href>`` in document order (boilerplate included: navigation links are still followed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]
        self.title: list[str] = []
        self.links: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self._in_title = False  # a title holds text only: a tag ends one left unclosed
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "title":
            self._in_title = not self.title  # the first title only (an <svg> may have its own)
            return
        top = self.stack[-1].tag
        if len(self.stack) > 1 and ((top == "p" and tag in CLOSES_P) or top in SIBLINGS.get(tag, ())):
            self.stack.pop()
        node = _Node(tag, a)
        self.stack[-1].children.append(node)
        if tag not in VOID and len(self.stack) < MAX_TREE_DEPTH:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        (self.title if self._in_title else self.stack[-1].children).append(data)


def is_boilerplate(tag: str, attrs: dict[str, str]) -> bool:
    """Dropped whole: a boilerplate tag, a hidden element, a boilerplate role, or a class/id word such as
    sidebar, cookie, comments (unless a content word such as article or content is there too)."""
    if tag in BOILERPLATE:
        return True
    if tag in CONTAINERS:
        return False
    if "hidden" in attrs or _HIDDEN_STYLE.search(attrs.get("style", "").lower()):
        return True
    if attrs.get("role", "").strip().lower() in BOILERPLATE_ROLES:
        return True
    words = set(_WORDS.split(f"{attrs.get('class', '')} {attrs.get('id', '')}".lower()))
    return bool(words & BOILERPLATE_WORDS) and not words & CONTENT_WORDS


def _chars(text: str) -> int:
    return len(text) - sum(text.count(c) for c in " \t\n\r\f\v\xa0")


def _measure(node: _Node, in_link: bool = False) -> None:
    """Fill non-space characters, those inside links and whether a block is inside, boilerplate skipped."""
    node.boilerplate = is_boilerplate(node.tag, node.attrs)
    if node.boilerplate:
        return
    in_link = in_link or node.tag == "a"
    for child in node.children:
        if isinstance(child, str):
            n = _chars(child)
            node.chars += n
            node.link_chars += n if in_link else 0
            continue
        _measure(child, in_link)
        if child.boilerplate:
            continue
        node.chars += child.chars
        node.link_chars += child.link_chars
        node.has_block = node.has_block or child.has_block or child.tag in BLOCK


def _render(node: _Node, out: list[str], in_link: bool = False) -> None:
    """Blocks as lines; link-heavy blocks dropped, and each run of inline content between block boundaries
    kept unless link-heavy."""
    in_link = in_link or node.tag == "a"
    run: list[_Node | str] = []

    def flush() -> None:
        chars = links = 0
        for x in run:
            n = _chars(x) if isinstance(x, str) else x.chars
            chars += n
            if in_link:
                links += n
            elif not isinstance(x, str):
                links += x.link_chars
        if run and not (chars and links > LINK_DENSITY_MAX * chars):
            for x in run:
                _inline(x, out)
        run.clear()

    for child in node.children:
        if isinstance(child, str) or not (child.boilerplate or child.tag in BLOCK or child.has_block):
            run.append(child)
        elif not (child.boilerplate or _link_block(child)):
            flush()
            out.append("\n")
            _render(child, out, in_link)
            out.append("\n")
    flush()


def _link_block(node: _Node) -> bool:
    """A block that is mostly links with little text of its own ("More stories" and a list of links)."""
    own = node.chars - node.link_chars
    return node.tag not in CONTAINERS and node.link_chars > LINK_DENSITY_MAX * node.chars and own < LINK_BLOCK_OWN_TEXT


def _inline(item: _Node | str, out: list[str]) -> None:
    if isinstance(item, str):
        out.append(item)
        return
    for child in item.children:
        if isinstance(child, str) or not child.boilerplate:
            _inline(child, out)


def parse_html(html_text: str) -> tuple[str, str, list[str]]:
    """(title, main text, hrefs). Tolerates broken HTML: whatever parses is kept."""
    p = _TreeBuilder()
    try:
        p.feed(html_text)
        p.close()
    except Exception:  # noqa: BLE001 - html.parser rarely raises; a broken page keeps what was read
        pass
    _measure(p.root)
    chunks: list[str] = []
    _render(p.root, chunks)
    lines = (_SPACE.sub(" ", line).strip() for line in "".join(chunks).split("\n"))
    text = "\n".join(line for line in lines if line)
    return _SPACE.sub(" ", "".join(p.title)).strip(), text, p.links


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _bom_encoding(body: bytes) -> str | None:
    return next((enc for bom, enc in _BOMS if body.startswith(bom)), None)


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return False
    return True


def _guess_encoding(body: bytes) -> str | None:
    """charset_normalizer's best guess; among equally good guesses Windows-1252 wins (the web's default)."""
    from charset_normalizer import from_bytes

    matches = from_bytes(body)
    best = matches.best()
    if best is None:
        return None
    tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    if any("cp1252" in m.could_be_from_charset for m in tied):
        return "cp1252"
    return best.encoding


def detect_encoding(body: bytes, header_charset: str | None) -> str:
    """BOM, then the HTTP header's charset, then ``<meta charset>``, then UTF-8, then charset_normalizer,
    then Windows-1252; a declared charset is used only when the bytes decode with it."""
    bom = _bom_encoding(body)
    if bom:
        return bom
    for candidate in (header_charset, _meta_charset(body), "utf-8"):
        if candidate and _decodes(body, candidate):
            return candidate
    return _guess_encoding(body) or "cp1252"


def decode(body: bytes, header_charset: str | None) -> str:
    """Text of a response in the encoding ``detect_encoding`` finds (undecodable bytes replaced)."""
    return body.decode(detect_encoding(body, header_charset), errors="replace")


def _meta_charset(body: bytes) -> str | None:
    m = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", body[:4096], re.IGNORECASE)
    return m.group(1).decode("ascii") if m else None


def looks_binary(body: bytes) -> bool:
    """NUL bytes or mostly non-text bytes in the first KiB (UTF-16/32 with a byte-order mark judged as text)."""
    bom = _bom_encoding(body)
    if bom in ("utf-16", "utf-32"):
        head = body[:2048].decode(bom, errors="replace")
        return sum(c.isprintable() or c in "\t\n\r" for c in head) / max(len(head), 1) < 0.85
    head = body[:1024]
    if b"\x00" in head:
        return True
    if not head:
        return False
    text = sum(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in head)
    return text / len(head) < 0.85


# ----------------------------------------------------------------------------- connections


class _DeadlineMixin:
    """Every read waits at most until ``deadline`` (time.monotonic()): the socket timeout is set to the time
    left before each read, so a body trickled a byte at a time still ends at the deadline."""

    deadline: float | None = None

    def _arm(self) -> None:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("read deadline passed")
            self.settimeout(left)  # type: ignore[attr-defined]

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().recv_into(*args, **kwargs)  # type: ignore[misc]

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self._arm()
        return super().recv(*args, **kwargs)  # type: ignore[misc]


class _DeadlineSocket(_DeadlineMixin, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineMixin, ssl.SSLSocket):
    pass


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to already checked addresses (tried in order): no second DNS lookup, so the name cannot be
    rebound between the check and the connection. TLS verifies the certificate for the name (SNI too)."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses, self.tls = addresses, tls
        if tls is not None:
            self.default_port = 443  # the Host header omits the default port

    def connect(self) -> None:
        error: OSError = OSError(f"no address for {self.host}")
        for address in self.addresses:
            family, _, proto, _, sockaddr = socket.getaddrinfo(
                address, self.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )[0]
            sock: socket.socket = _DeadlineSocket(family, socket.SOCK_STREAM, proto)
            try:
                sock.settimeout(self.timeout)
                sock.connect(sockaddr)
            except OSError as exc:  # TimeoutError included: the next address gets its own connect timeout
                sock.close()
                error = exc
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.tls is not None:
                    sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
            self.sock = sock
            return
        raise error

    def start_deadline(self, seconds: float) -> None:
        """From now on every read of this connection (headers and body) must end within ``seconds``."""
        self.sock.settimeout(seconds)
        self.sock.deadline = time.monotonic() + seconds


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
        self.file_roots = [p for p in (_file_path(s, parent=True) for s in seeds if s.startswith("file:")) if p]
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
        path = _file_path(url)
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
            if got.outcome != "redirect":
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
        self._tls.sslsocket_class = _DeadlineSSLSocket
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
            conn = _PinnedConnection(host, port or 80, addresses, self.conf.connect_timeout_seconds, tls)
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
            return Fetched(url, url, status, None, outcome="redirect", location=resp.getheader("Location"))
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
            if got.outcome != "redirect":
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
