"""Every way a fetch can fail, turned into one short reason in one place."""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
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
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived


def describe_failure(failure: Failure) -> str:
    """One line saying why a request failed: ``HTTP 404``, ``DNS lookup failed``, ..."""
    error = failure.value
    if isinstance(error, HttpError):
        return f"HTTP {error.response.status}"
    if isinstance(error, DNSLookupError):
        return "DNS lookup failed"
    if isinstance(error, TwistedTimeoutError | TCPTimedOutError):
        return "timed out"
    if isinstance(error, TwistedConnectionRefused):
        return "connection refused"
    if isinstance(error, ResponseNeverReceived | ResponseFailed | ConnectionLost):
        return "connection lost"
    if isinstance(error, IgnoreRequest):
        text = str(error)
        return text if text else "request ignored (robots.txt or size limit)"
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines and lines[0] else type(error).__name__


def is_transient(failure: Failure) -> bool:
    """Worth trying again later: timeouts, connection trouble, 5xx and 429 answers."""
    error = failure.value
    if isinstance(error, HttpError):
        status = error.response.status
        return status >= 500 or status in (408, 429)
    return isinstance(
        error,
        TwistedTimeoutError
        | TCPTimedOutError
        | TwistedConnectionRefused
        | ResponseNeverReceived
        | ResponseFailed
        | ConnectionLost
        | DNSLookupError,
    )
