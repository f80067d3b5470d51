"""Every way a fetch, or the work on what it fetched, can fail, turned into one short reason
in one place."""

from __future__ import annotations

import re

from scrapy.core.downloader.handlers.http11 import TunnelError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectionLost,
    DNSLookupError,
    TCPTimedOutError,
)
from twisted.internet.error import (
    ConnectionRefusedError as TwistedConnectionRefused,
)
from twisted.internet.error import (
    TimeoutError as TwistedTimeoutError,
)
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from crawler.network import LookupTimedOut
from crawler.workers import ExtractionTimeout, WorkerDied
from storage.db import StorageError

# Scrapy 2.19's download handlers wrap Twisted's errors in its own (CannotResolveHostError for
# DNSLookupError, ...); both spellings are listed, whichever a handler raises.
_DNS = (CannotResolveHostError, DNSLookupError)
_TIMEOUT = (DownloadTimeoutError, TwistedTimeoutError, TCPTimedOutError)
_REFUSED = (DownloadConnectionRefusedError, TwistedConnectionRefused)
_LOST = (
    DownloadFailedError,
    ResponseDataLossError,
    ResponseNeverReceived,
    ResponseFailed,
    ConnectionLost,
)


class CrawlStopping(Exception):
    """Work cancelled because its crawl is closing (SIGTERM): not the site's fault."""


class ProxyRefused(Exception):
    """A SOCKS5 or https:// proxy refused the request (``crawler.upstream.proxy_handler``):
    its one-line reason, and whether trying later may help (not for credentials)."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


SIZE_LIMIT = "response larger than [fetch] max_page_bytes"
# Only a proxy answers 407 (a source's proxy: its URL's user and password).
PROXY_AUTH = "proxy: HTTP 407, it wants other credentials (the source's proxy URL)"
_TUNNEL_STATUS = re.compile(r"'status': (\d+)")
_ANNOUNCED = re.compile(r"receive (\d+) bytes which is larger than download max size \((\d+)\)")
_DECOMPRESSED = re.compile(r"exceeded DOWNLOAD_MAXSIZE \((\d+) B\) during decompression")


def describe_failure(failure: Failure) -> str:
    """One line saying why a request failed: ``HTTP 404``, ``DNS lookup failed``, ..."""
    error = failure.value
    if isinstance(error, HttpError):
        status = error.response.status
        return PROXY_AUTH if status == 407 else f"HTTP {status}"
    if isinstance(error, TunnelError):  # an https page: the proxy refused the CONNECT
        match = _TUNNEL_STATUS.search(str(error))
        answer = f"HTTP {match.group(1)}" if match else "no HTTP answer"
        return PROXY_AUTH if answer == "HTTP 407" else f"proxy: CONNECT failed ({answer})"
    if isinstance(error, LookupTimedOut | ProxyRefused):
        return str(error)
    if isinstance(error, _DNS):
        return "DNS lookup failed"
    if isinstance(error, _TIMEOUT):
        return "timed out"
    if isinstance(error, _REFUSED):
        return "connection refused"
    if isinstance(error, _LOST):
        return "connection lost"
    if isinstance(error, DownloadCancelledError):
        # Scrapy's HTTP handler cancels a download only for the size limit: with the size a
        # Content-Length announced, or with no message once the body grew past the limit.
        if match := _ANNOUNCED.search(str(error)):
            announced, limit = match.groups()
            return f"{SIZE_LIMIT} ({limit} bytes): {announced} bytes announced"
        return f"{SIZE_LIMIT}: cut off"
    if isinstance(error, IgnoreRequest):
        text = str(error)
        if match := _DECOMPRESSED.search(text):
            return f"{SIZE_LIMIT} ({match.group(1)} bytes) once decompressed"
        return text if text else "request ignored (robots.txt or size limit)"
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines and lines[0] else type(error).__name__


def describe_exception(exception: BaseException) -> tuple[str, bool]:
    """One line saying why work on a downloaded page or feed failed inside newsrelay, and
    whether that is a known way to fail (False: a bug, worth a traceback)."""
    if isinstance(exception, StorageError):
        return f"storage: {exception}", True
    if isinstance(exception, WorkerDied | ExtractionTimeout):
        return str(exception), True
    lines = str(exception).strip().splitlines()
    name = type(exception).__name__
    return (f"{name}: {lines[0]}" if lines and lines[0] else name), False


def is_transient(failure: Failure) -> bool:
    """Worth trying again later: timeouts, connection trouble, 5xx and 429 answers."""
    error = failure.value
    if isinstance(error, HttpError):
        status = error.response.status
        return status >= 500 or status in (408, 429)
    if isinstance(error, ProxyRefused):
        return error.transient
    return isinstance(error, _DNS + _TIMEOUT + _REFUSED + _LOST)
