"""Connections for the crawler: sockets with a read deadline, and HTTP(S) pinned to checked addresses.

* **Deadline**: after the connect (``crawl.connect_timeout_seconds``, TLS handshake included),
  :meth:`PinnedConnection.start_deadline` (``crawl.read_timeout_seconds``) sets one deadline for
  the whole response (headers and body): every socket read gets only the time left, so a server
  that trickles bytes ends in ``TimeoutError`` at about the deadline.
* **Pinning**: :class:`PinnedConnection` connects to the addresses the crawler already resolved
  and checked (tried in order), never resolving the name again, so DNS rebinding cannot swap in
  another address; TLS still verifies the certificate for the name (SNI too). Proxies from the
  environment (``HTTP(S)_PROXY``) are not used, since they would resolve names themselves.

Reads and writes nothing but the network.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from typing import Any


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


class DeadlineSSLSocket(_DeadlineMixin, ssl.SSLSocket):
    pass


class PinnedConnection(http.client.HTTPConnection):
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
