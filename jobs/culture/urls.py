"""URLs for the crawler: the canonical form, hosts and origins, address rules, ``file://`` paths and seeds.

* :func:`normalise_url` gives the form every URL is queued, compared and stored in (lower-case scheme
  and host, no default port, no fragment, ``/`` for an empty path, sorted query parameters), so a URL
  is visited once; a malformed URL raises ValueError.
* :func:`resolve_host` resolves a name (once per run, by the crawler) and :func:`is_public_address`
  judges each address: only a globally routable unicast address is public (``ip.is_global``, so
  loopback, private, CGNAT 100.64/10, link-local, reserved, ... are not, nor is multicast);
  IPv4-mapped, 6to4 and NAT64 IPv6 addresses are unwrapped and judged by their IPv4.
* :func:`file_path` resolves a ``file://`` URL (``..``, percent-encoded dots and symlinks followed),
  so the crawler can require it to lie under a ``file://`` seed's folder (a file seed's folder; a
  folder seed is its own root).
* :func:`read_seeds` reads ``<data>/web/seeds.txt`` (``http(s)://`` and ``file://`` URLs; relative
  lines are files under ``<data>/web/``) plus ``crawl.seeds``; a malformed seed is skipped with a warning.

Reads only ``seeds.txt`` (and the resolver); writes nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import urllib.parse
import urllib.request
from pathlib import Path

log = logging.getLogger("crawl")

DEFAULT_PORTS = {"http": 80, "https": 443}


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


def file_path(url: str, parent: bool = False) -> Path | None:
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
