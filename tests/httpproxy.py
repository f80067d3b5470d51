"""A forwarding HTTP proxy on loopback, as the proxy of a source in tests.

It answers absolute-URI requests (``GET http://host:port/path HTTP/1.1``, what a client sends
to a proxy for an http page) by fetching the page from the server named and handing the
answer back, opens ``CONNECT host:port`` tunnels (for https pages, which stay encrypted
through it), and records every request it gets with its headers (``Proxy-Authorization``
included). With ``credentials`` it answers 407 to a request without them, as squid does.

Nothing leaves loopback: a host named in ``hosts`` is fetched from the loopback address given
there (so a feed may name a public address that a :class:`~tests.localsite.LocalSite` serves),
any other host must be a loopback address, else the proxy answers 502 without connecting.

With ``tls`` (a server context, ``tests.tls``) it is an https:// proxy: the client speaks TLS
to the proxy, and an https page's own TLS runs inside that, through the CONNECT tunnel.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.support import Serving

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own: not passed on.
_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade"}


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    url: str  # the absolute URI asked for
    headers: dict[str, str]  # lower-case names
    status: int  # what the proxy answered

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


class ForwardingProxy(Serving):
    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        hosts: dict[str, tuple[str, int]] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.credentials = credentials
        self.scheme = "https" if tls else "http"
        self.hosts = dict(hosts or {})
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        self._serve(server)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The proxy's URL for a config, with credentials when given."""
        auth = f"{user}:{password}@" if user is not None else ""
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}"

    def paths(self) -> set[str]:
        with self._lock:
            return {r.path for r in self.requests}

    def expected_authorization(self) -> str | None:
        if self.credentials is None:
            return None
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return f"Basic {token}"

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(proxy: ForwardingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, headers, body = self._forward()
            proxy._record(
                ProxiedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, status
                )
            )
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_CONNECT(self) -> None:
            """A tunnel to ``host:port`` (for an https page): 200, then bytes both ways."""
            host, _, port = self.path.rpartition(":")
            status, upstream = self._admit(host.strip("[]"), int(port or 443))
            headers = {k.lower(): v for k, v in self.headers.items()}
            proxy._record(ProxiedRequest("CONNECT", self.path, headers, status))
            self.send_response(status)
            if status != 200:
                self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True
            if status != 200 or upstream is None:
                return
            try:
                with socket.create_connection(upstream, timeout=10) as far:
                    _pipe(self.connection, far)
            except OSError:
                pass

        def _admit(self, host: str, port: int) -> tuple[int, tuple[str, int] | None]:
            """407 without the credentials, 502 for a host beyond loopback, else 200 and
            where to connect."""
            wanted = proxy.expected_authorization()
            if wanted is not None and self.headers.get("Proxy-Authorization") != wanted:
                return 407, None
            if host in proxy.hosts:
                return 200, proxy.hosts[host]
            return (200, (host, port)) if host in _LOOPBACK else (502, None)

        def _forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
            target = urlsplit(self.path)
            if target.scheme != "http" or not target.hostname:
                return 400, [], b"absolute http URI expected"
            status, upstream = self._admit(target.hostname, target.port or 80)
            if status == 407:
                return 407, [("Proxy-Authenticate", 'Basic realm="test"')], b"credentials"
            if upstream is None:
                return 502, [], b"this test proxy reaches loopback only"
            connection = http.client.HTTPConnection(*upstream, timeout=10)
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                sent = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                connection.request(self.command, path or "/", headers=sent)
                answer = connection.getresponse()
                body = answer.read()
            except OSError:
                return 502, [], b"upstream unreachable"
            finally:
                connection.close()
            kept = [
                (k, v)
                for k, v in answer.getheaders()
                if k.lower() not in _HOP | {"content-length", "transfer-encoding"}
            ]
            return answer.status, kept, body

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def _pipe(near: socket.socket, far: socket.socket) -> None:
    """Copy bytes between the two sockets until one side closes (or 10 s of silence)."""
    while True:
        # TLS may hold decrypted bytes that select() cannot see.
        readable = [s for s in (near, far) if getattr(s, "pending", lambda: 0)()]
        if not readable:
            readable, _, _ = select.select([near, far], [], [], 10)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (far if sock is near else near).sendall(data)
