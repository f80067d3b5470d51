"""A SOCKS5 proxy on loopback (RFC 1928), as the proxy of a source in tests.

It takes the CONNECT command with an IPv4, IPv6 or domain-name address, with no
authentication or, given ``credentials``, only with that user name and password (RFC 1929).
It records every CONNECT (the address as the client sent it, and its type) and the request
lines of plain HTTP sent through each tunnel (so a test sees which pages went through it).

Nothing leaves loopback: a host named in ``hosts`` is reached at the loopback address given
there; any other host must be a loopback name or address, else the proxy answers "connection
not allowed by ruleset" without connecting.
"""

from __future__ import annotations

import re
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass

from tests.httpproxy import _LOOPBACK, _pipe
from tests.support import Serving

_REQUEST_LINE = re.compile(rb"(?:^|\r\n)[A-Z]+ (\S+) HTTP/1\.[01]\r\n")
_TYPES = {1: "ipv4", 3: "domain", 4: "ipv6"}


@dataclass(frozen=True)
class Connect:
    host: str
    port: int
    address_type: str  # ipv4, domain or ipv6: how the client named the host


class SocksProxy(Serving):
    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        hosts: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        self.credentials = credentials
        self.hosts = dict(hosts or {})
        self.connects: list[Connect] = []
        self.paths: list[str] = []  # request targets seen inside plain-HTTP tunnels
        self.refused_logins = 0
        self._lock = threading.Lock()
        self._serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler_for(self)))

    def url(self, scheme: str = "socks5", user: str | None = None, password: str = "") -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def seen(self, data: bytes) -> None:
        with self._lock:
            self.paths.extend(m.decode() for m in _REQUEST_LINE.findall(data))


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _handler_for(proxy: SocksProxy) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            try:
                if not self._greet(sock):
                    return
                target = self._command(sock)
            except (ConnectionError, OSError, struct.error):
                return
            if target is None:
                return
            try:
                with socket.create_connection(target, timeout=10) as far:
                    sock.sendall(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
                    _pipe(_Watched(sock, proxy), far)  # type: ignore[arg-type]
            except OSError:
                sock.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused

        def _greet(self, sock: socket.socket) -> bool:
            version, count = _read(sock, 2)
            methods = _read(sock, count)
            wanted = 2 if proxy.credentials else 0
            if version != 5 or wanted not in methods:
                sock.sendall(b"\x05\xff")
                return False
            sock.sendall(bytes([5, wanted]))
            if not wanted:
                return True
            _, user_length = _read(sock, 2)
            user = _read(sock, user_length).decode()
            (password_length,) = _read(sock, 1)
            password = _read(sock, password_length).decode()
            if (user, password) != proxy.credentials:
                with proxy._lock:
                    proxy.refused_logins += 1
                sock.sendall(b"\x01\x01")
                return False
            sock.sendall(b"\x01\x00")
            return True

        def _command(self, sock: socket.socket) -> tuple[str, int] | None:
            _, command, _, kind = _read(sock, 4)
            if kind == 1:
                host = socket.inet_ntop(socket.AF_INET, _read(sock, 4))
            elif kind == 4:
                host = socket.inet_ntop(socket.AF_INET6, _read(sock, 16))
            else:
                (length,) = _read(sock, 1)
                host = _read(sock, length).decode("idna")
            (port,) = struct.unpack("!H", _read(sock, 2))
            with proxy._lock:
                proxy.connects.append(Connect(host, port, _TYPES.get(kind, str(kind))))
            if command != 1:
                sock.sendall(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
                return None
            if host in proxy.hosts:
                return proxy.hosts[host]
            if host in _LOOPBACK:
                return host, port
            sock.sendall(b"\x05\x02\x00\x01" + bytes(6))  # not allowed by ruleset
            return None

    return Handler


class _Watched:
    """The client's socket, with what it sends shown to the proxy (its request lines)."""

    def __init__(self, sock: socket.socket, proxy: SocksProxy) -> None:
        self._sock = sock
        self._proxy = proxy

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        self._proxy.seen(data)
        return data

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def fileno(self) -> int:
        return self._sock.fileno()
