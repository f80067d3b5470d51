"""Serving the console with uvicorn: in a thread of its own beside the daemon's event loop
(so a slow page or a scrape never delays a crawl, and the crawls' loop never delays a page),
or alone in the main thread (``newsrelay serve``). The socket is bound before anything else
starts, so a port in use is one clear line at start."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from crawler.config import ConfigError
from crawler.http_config import HttpConfig

logger = logging.getLogger(__name__)


def bind(http: HttpConfig) -> socket.socket:
    """The listening socket of ``[http] listen``; ConfigError (one line) if it cannot be."""
    host, _, port = http.listen.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
        sock.listen(128)
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"[http] listen = {http.listen!r}: cannot listen there: {reason}"
        ) from None
    sock.set_inheritable(True)
    return sock


def bind_daemon_console(http: HttpConfig) -> socket.socket | None:
    """The daemon's console socket. A port in use: ConfigError if ``listen`` is set, else a
    warning and no console."""
    try:
        return bind(http)
    except ConfigError as exc:
        if "listen" in http.model_fields_set:
            raise
        logger.warning('console off: %s (set [http] listen, or "" to turn it off)', exc)
        return None


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM/SIGINT it handled is not raised again once it has
    stopped: ``newsrelay serve`` exits 0 after a graceful stop, as the daemon does."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        wanted = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in wanted}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _server(app: FastAPI) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_config=None,  # newsrelay's logging, not uvicorn's
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        limit_concurrency=64,
        http="h11",  # the bound below is h11's (httptools, when installed, has its own)
        h11_max_incomplete_event_size=64 * 1024,  # request line and headers, at most
    )
    return _Server(config)


class ConsoleThread:
    """The console beside the daemon."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.server = _server(app)
        self.sock = sock
        self.thread = threading.Thread(target=self._serve, name="console", daemon=True)

    def start(self) -> None:
        self.thread.start()
        logger.info("console listening on http://%s:%d/", *self.sock.getsockname()[:2])

    def _serve(self) -> None:
        self.server.run(sockets=[self.sock])

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()


def serve_forever(app: FastAPI, sock: socket.socket) -> None:
    """``newsrelay serve``: until SIGTERM/SIGINT (uvicorn's own handling)."""
    logger.info("console listening on http://%s:%d/", *sock.getsockname()[:2])
    _server(app).run(sockets=[sock])
