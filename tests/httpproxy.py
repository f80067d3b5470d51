"""A forwarding HTTP proxy on loopback, as the proxy of a source in tests.

It answers absolute-URI requests (``GET http://host:port/path HTTP/1.1``, what a client sends
to a proxy for an http page) by fetching the page from the server named and handing the
answer back, and records every request it gets with its headers (``Proxy-Authorization``
included). With ``credentials`` it answers 407 to a request without them, as squid does.

Nothing leaves loopback: a host named in ``hosts`` is fetched from the loopback address given
there (so a feed may name a public address that a :class:`~tests.localsite.LocalSite` serves),
any other host must be a loopback address, else the proxy answers 502 without connecting.
"""

from __future__ import annotations

import base64
import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

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


class ForwardingProxy:
    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        hosts: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        self.credentials = credentials
        self.hosts = dict(hosts or {})
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The proxy's URL for a config, with credentials when given."""
        auth = f"{user}:{password}@" if user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

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

    def __enter__(self) -> ForwardingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


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

        def _forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
            target = urlsplit(self.path)
            if target.scheme != "http" or not target.hostname:
                return 400, [], b"absolute http URI expected"
            wanted = proxy.expected_authorization()
            if wanted is not None and self.headers.get("Proxy-Authorization") != wanted:
                return 407, [("Proxy-Authenticate", 'Basic realm="test"')], b"credentials"
            host, port = target.hostname, target.port or 80
            if host in proxy.hosts:
                host, port = proxy.hosts[host]
            elif host not in _LOOPBACK:
                return 502, [], b"this test proxy reaches loopback only"
            connection = http.client.HTTPConnection(host, port, timeout=10)
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
