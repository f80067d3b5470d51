"""A real HTTP/1.1 server on loopback that tests and benchmarks point newsrelay at.

Routes are registered up front (``site.add(path, body)``); every request is recorded so a
test can assert what was fetched, when and with which headers. Responses carry an ETag and a
Last-Modified header and answer conditional requests with 304, like a well-behaved outlet.

A route can also misbehave on purpose: answer slowly (``delay``), or answer a sequence of
statuses first (``statuses=[503]``: one 503, then the route's own status). The site counts
the requests it is answering at once (``max_in_flight``), to check per-host concurrency.

Hostile answers: ``add_stream`` sends a body made lazily, chunk by chunk (2 GB, or one that
never ends), never held in memory; :class:`SilentServer` accepts connections and never
answers.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.cookies
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# A fixed instant so Last-Modified is stable across runs of a test.
_LAST_MODIFIED = email.utils.formatdate(1_767_225_600, usegmt=True)  # 2026-01-01


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True
    gzip: bool = False
    delay: float = 0.0  # seconds to wait before answering
    # Answered first, one per request, in order; then ``status`` for good.
    statuses: list[int] = field(default_factory=list)
    # A body made per request, chunk by chunk, instead of ``body`` (see LocalSite.add_stream).
    stream: Callable[[], Iterable[bytes]] | None = None
    length: int | None = None  # the Content-Length a stream declares; None: chunked
    # Answered only to requests carrying these headers and cookies (403 otherwise).
    required_headers: dict[str, str] = field(default_factory=dict)
    required_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    at: float = 0.0  # time.monotonic() when the request arrived
    client_port: int = 0  # the client's end of the connection it came on


class LocalSite:
    """Serve registered routes on ``host`` (loopback only) from a background thread."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError(f"LocalSite serves loopback only, not {host}")
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0  # requests being answered right now
        self.max_in_flight = 0  # the most ever answered at once
        self.streamed: dict[str, int] = {}  # stream path -> bytes sent, over all requests
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self.scheme = "https" if tls else "http"  # tls: answer https (tests.tls)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None

    # -- routes ---------------------------------------------------------------------------
    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        conditional: bool = True,
        gzip: bool = False,
        delay: float = 0.0,
        statuses: list[int] | None = None,
        required_headers: dict[str, str] | None = None,
        required_cookies: dict[str, str] | None = None,
    ) -> str:
        """Register ``path`` (with or without a query) and return its absolute URL.

        ``delay``: seconds to wait before each answer. ``statuses``: statuses answered first,
        one per request, before ``status`` (a 503 then 200 is ``statuses=[503]``).
        ``required_headers``/``required_cookies``: a request without each of these (name
        and value) is answered 403, as a site behind a key or a login would.
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self._routes[path] = Route(
                data,
                status,
                content_type,
                dict(headers or {}),
                conditional,
                gzip,
                delay,
                list(statuses or []),
                required_headers=dict(required_headers or {}),
                required_cookies=dict(required_cookies or {}),
            )
        return self.url(path)

    def add_stream(
        self,
        path: str,
        chunks: Callable[[], Iterable[bytes]],
        *,
        length: int | None = None,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> str:
        """Register ``path`` answering 200 with the chunks of a fresh ``chunks()`` per request,
        written as they are made until the client hangs up: a body of any size, or endless,
        costs the server one chunk of memory. ``length`` is declared as the Content-Length
        (it need not be true); without it the answer is chunked. Returns the URL."""
        with self._lock:
            self._routes[path] = Route(
                b"",
                content_type=content_type,
                headers=dict(headers or {}),
                conditional=False,
                stream=chunks,
                length=length,
            )
        return self.url(path)

    def _sent(self, path: str, count: int) -> None:
        with self._lock:
            self.streamed[path] = self.streamed.get(path, 0) + count

    def remove(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)

    def url(self, path: str = "/") -> str:
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):  # typeshed allows it; AF_INET servers give a str
            host = host.decode("ascii")
        return f"{self.scheme}://{host}:{port}{path}"

    @property
    def base(self) -> str:
        return self.url("")

    def hits(self, path: str) -> list[RecordedRequest]:
        """Requests whose path (query ignored) equals ``path``."""
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    def _route(self, raw_path: str) -> Route | None:
        with self._lock:
            route = self._routes.get(raw_path)
            if route is None:
                route = self._routes.get(urlsplit(raw_path).path)
            return route

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _status(self, route: Route) -> int:
        """The status of the next answer of ``route``: the next queued one, else its own."""
        with self._lock:
            return route.statuses.pop(0) if route.statuses else route.status

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    # -- life -----------------------------------------------------------------------------
    def start(self) -> LocalSite:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(site: LocalSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def _serve(self, send_body: bool) -> None:
            arrived = time.monotonic()
            streamed = site._route(self.path)
            if streamed is not None and streamed.stream is not None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                site._record(RecordedRequest(self.command, self.path, headers, 200, arrived))
                self._stream(streamed, send_body)
                return
            # In flight from arrival until the answer starts: once the client has any of the
            # answer, it may send its next request, which must not count as overlapping.
            site._enter()
            try:
                status, body, headers, route = self._prepare()
            finally:
                site._leave()
            site._record(
                RecordedRequest(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    status,
                    arrived,
                    self.client_address[1],
                )
            )
            self.send_response(status)
            if status != 304:
                self.send_header("Content-Type", route.content_type)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body and body:
                self.wfile.write(body)

        def _prepare(self) -> tuple[int, bytes, dict[str, str], Route]:
            """Status, body and headers of the answer, after the route's delay."""
            route = site._route(self.path)
            if route is None:
                route = Route(b"not found", status=404, content_type="text/plain")
            elif not self._admitted(route):
                route = Route(b"forbidden", status=403, content_type="text/plain")
            status, body, headers = site._status(route), route.body, dict(route.headers)
            if route.conditional and status == 200:
                headers.setdefault("ETag", route.etag)
                headers.setdefault("Last-Modified", _LAST_MODIFIED)
                if self._not_modified(route, headers):
                    status, body = 304, b""
            if route.gzip and body:
                body = gzip.compress(body, mtime=0)
                headers["Content-Encoding"] = "gzip"
            if route.delay > 0:
                time.sleep(route.delay)
            return status, body, headers, route

        def _admitted(self, route: Route) -> bool:
            cookies = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
            sent = {name: morsel.value for name, morsel in cookies.items()}
            return all(self.headers.get(k) == v for k, v in route.required_headers.items()) and all(
                sent.get(k) == v for k, v in route.required_cookies.items()
            )

        def _stream(self, route: Route, send_body: bool) -> None:
            assert route.stream is not None
            self.send_response(200)
            self.send_header("Content-Type", route.content_type)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.length is not None:
                self.send_header("Content-Length", str(route.length))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if not send_body:
                return
            path = urlsplit(self.path).path
            try:
                for chunk in route.stream():
                    if route.length is None:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    else:
                        self.wfile.write(chunk)
                    site._sent(path, len(chunk))
                if route.length is None:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client hung up: what a size limit is meant to do
                self.close_connection = True

        def _not_modified(self, route: Route, headers: dict[str, str]) -> bool:
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match is not None:
                return headers["ETag"] in [t.strip() for t in if_none_match.split(",")]
            since = self.headers.get("If-Modified-Since")
            if since is None:
                return False
            try:
                since_ts = email.utils.parsedate_to_datetime(since).timestamp()
                modified_ts = email.utils.parsedate_to_datetime(
                    headers["Last-Modified"]
                ).timestamp()
            except (TypeError, ValueError):
                return False
            return modified_ts <= since_ts

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output clean; requests are recorded instead

    return Handler


def repeated(chunk: bytes, total: int | None) -> Callable[[], Iterator[bytes]]:
    """Chunks for ``add_stream``: ``chunk`` over and over, ``total`` bytes in all (None:
    forever), made one at a time."""

    def chunks() -> Iterator[bytes]:
        sent = 0
        while total is None or sent < total:
            piece = chunk if total is None else chunk[: total - sent]
            sent += len(piece)
            yield piece

    return chunks


class SilentServer:
    """A TCP server on loopback that accepts every connection and never sends a byte."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._socket = socket.create_server((host, 0))
        self._socket.settimeout(0.2)
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.accepted = 0

    def url(self, path: str = "/") -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._open.append(connection)  # kept open, never read, never answered
            self.accepted += 1

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._open:
            connection.close()
        self._socket.close()


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(interval)
    return False
