"""Downloader middlewares, and the spider middleware that turns a callback's exception into
a recorded failure."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message
from twisted.internet.error import DNSLookupError

from crawler.failures import CrawlStopping
from crawler.fetch_options import request_options
from crawler.network import (
    ALLOW_HINT,
    AddressRefused,
    GuardedResolver,
    LookupTimedOut,
    dns_cache_size,
    guarded_resolver,
    is_public,
    parse_ip,
    proxy_hosts,
    refused_message,
    resolved_addresses,
)
from crawler.scope import in_scope


class NetworkGuardMiddleware:
    """Fetch only http(s), and only from public addresses unless the config allows more.

    Names are checked by the reactor's :class:`crawler.network.GuardedResolver` when the
    connection is made (this middleware installs it), so the address checked is the address
    connected to. Here: schemes, IP literals (refused before any request, robots.txt
    included), and the one-line reason for a name the resolver refused, which Twisted
    reports as a bare DNS failure. It sits between the retries and the download, so such
    a failure is not retried. ``[fetch] allow_private_networks = true`` lets private
    addresses through (tests, intranet setups); other schemes never are.

    A request through a source's proxy is connected by the proxy, so its host's name is
    looked up here, through the same resolver, and refused as it would be without a proxy
    (the proxy then looks it up again: see ``crawler.network``). The proxies' own hosts,
    which the resolver lets through, are never fetched as pages.
    """

    SCHEMES = ("http", "https")

    def __init__(
        self,
        allow_private: bool,
        dns_cache_size: int,
        dns_timeout: float,
        proxies: frozenset[str] = frozenset(),
    ) -> None:
        self.allow_private = allow_private
        self.dns_cache_size = dns_cache_size
        self.dns_timeout = dns_timeout
        self.proxies = proxies  # the hosts of the sources' proxies

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        allow_private = settings.getbool("NEWSRELAY_ALLOW_PRIVATE_NETWORKS")
        timeout = settings.getfloat("DNS_TIMEOUT")
        return cls(allow_private, dns_cache_size(settings), timeout, proxy_hosts(settings))

    async def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        if parts.scheme not in self.SCHEMES:
            raise AddressRefused(f"refused {request.url[:200]!r}: only http(s) is fetched")
        resolver = self._resolver()
        if self.allow_private:
            return
        host = parts.hostname
        if not host:
            raise AddressRefused(f"refused {request.url[:200]!r}: no host")
        address = parse_ip(host)
        if address is not None and not is_public(address):
            raise AddressRefused(refused_message(host, host))
        if host.lower() in self.proxies:  # the resolver lets it through, as a proxy
            raise AddressRefused(f"refused {host}: it is a source's proxy, not a site {ALLOW_HINT}")
        if address is None and request.meta.get("proxy"):
            # The proxy resolves the name: check it here as the reactor would (crawler.network).
            port = parts.port or (443 if parts.scheme == "https" else 80)
            if not await resolved_addresses(resolver, host, port):
                raise DNSLookupError(host)  # process_exception below says why
            # Without a proxy the reactor connects to a public address only; a proxy
            # resolves the name again and could take the other one.
            if (other := resolver.mixed.get(host.lower())) is not None:
                raise AddressRefused(refused_message(host, other))

    def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, CannotResolveHostError | DNSLookupError) and not isinstance(
            exception, LookupTimedOut
        ):
            host = urlparse_cached(request).hostname or ""
            resolver = self._resolver()
            reason = resolver.refusal(host)
            if reason:
                raise AddressRefused(reason) from None
            waited = resolver.timeout_of(host)
            if waited is not None:
                raise LookupTimedOut(f"DNS lookup timed out after {waited:g} s") from None

    def _resolver(self) -> GuardedResolver:
        from twisted.internet import reactor

        return guarded_resolver(
            reactor, self.allow_private, self.dns_cache_size, self.dns_timeout, self.proxies
        )


class SourceFetchOptionsMiddleware:
    """A source's own fetch options (``crawler.fetch_options``) on every request of its
    crawl: feeds, sitemaps, listing pages, article pages, redirects, and robots.txt (this
    middleware comes first, so the robots.txt middleware matches rules against the source's
    User-Agent, and its robots.txt request passes here too). A request's crawl is in its
    ``meta["crawl"]``: many crawls share the process's one Scrapy crawler, each with its own
    options.

    The User-Agent and the proxy go with every request. The headers and cookies, which are
    often credentials, go only to the source's own hosts (those whose articles it follows):
    a redirect or a sitemap elsewhere gets neither, even from the request it came from.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        crawl = request.meta.get("crawl")
        if crawl is not None and crawl.stopping.is_set():
            # A request of a stopped run, still queued: it fails (no failure of the site)
            # instead of being fetched.
            raise CrawlStopping("the crawl is stopping")
        options = request_options(request)
        if options is None:
            return
        if options.user_agent:
            request.headers.setdefault(b"User-Agent", options.user_agent)
        if options.proxy and "proxy" not in request.meta:  # a retry or redirect has it
            request.meta["proxy"] = options.proxy
        own = in_scope(urlparse_cached(request).hostname or "", options.domains)
        for name, value in options.headers:
            if own:
                request.headers.setdefault(name, value)
            elif request.headers.get(name) == value.encode():
                del request.headers[name]


class ConfiguredProxyMiddleware(HttpProxyMiddleware):
    """Scrapy's proxy middleware for ``request.meta["proxy"]`` (set from the source's
    ``proxy``), without the proxies of the environment (``http_proxy``, ...): newsrelay's
    proxies are per source, in the config, and a variable set for something else must not
    send every crawl through a proxy."""

    def __init__(self, auth_encoding: str | None = "latin-1") -> None:
        super().__init__(auth_encoding)
        self.proxies = {}


class HttpOnlyMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's ``<meta http-equiv=refresh>`` redirects, with a refresh to something that is
    no web address (``url=javascript:...``) ignored and the page kept, as a browser refusing
    to run it would show it. Scrapy 2.19 fails the page with a ValueError instead: it builds
    the request before checking the scheme."""

    # Scrapy looks at the first 4,096 characters: at most 4 bytes each in UTF-8.
    HEAD_BYTES = 4 * 4096

    def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        # Scrapy decodes the whole page to look for the tag; most pages have none, which
        # their first bytes show (unless in UTF-16/32, where ASCII has NULs between).
        head = response.body[: self.HEAD_BYTES]
        if b"refresh" not in head.lower() and b"\x00" not in head:
            return response
        try:
            return super().process_response(request, response)
        except ValueError:
            return response


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, spaced out: exponential backoff with full jitter, and a server's
    ``Retry-After`` (429, 503) honoured when it is short enough to wait for within a crawl.

    A longer Retry-After is not waited for: the response goes to the spider, which records it
    as the earliest time to poll that feed again. A wait ends at once when the crawl is asked
    to stop (its crawl's ``stopping`` event): the request fails with ``CrawlStopping``, which
    is no failure of the site.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("NEWSRELAY_RETRY_BACKOFF_BASE", 1.0)
        self.max_wait = settings.getfloat("NEWSRELAY_RETRY_MAX_WAIT", 60.0)

    async def _wait(self, request: Request, seconds: float) -> None:
        """Sleep ``seconds``, unless the request's crawl stops: then raise CrawlStopping."""
        crawl = request.meta.get("crawl")
        if crawl is None:  # a robots.txt request
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(crawl.stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise CrawlStopping("the crawl is stopping")

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        delay = self._backoff(request)
        if response.status in (429, 503):
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            if asked is not None:
                if asked > self.max_wait:
                    return response
                delay = max(delay, asked)
        retry = self._retry_request(request, response_status_message(response.status))
        if retry is None:
            return response
        await self._wait(request, delay)
        return retry

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry"):
            return None
        retry = self._retry_request(request, exception)
        if retry is not None:
            await self._wait(request, self._backoff(request))
        return retry

    def _retry_request(self, request: Request, reason: str | Exception) -> Request | None:
        """The next attempt of ``request``, or None when its retries are used up: what
        Scrapy's own RetryMiddleware does, through its public ``get_retry_request``."""
        assert self.crawler.spider is not None
        return get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=request.meta.get("give_up_log_level", self.give_up_log_level),
        )

    def _backoff(self, request: Request) -> float:
        attempt = request.meta.get("retry_times", 0)
        return random.uniform(0, min(self.max_wait, self.base * 2**attempt))


def retry_after_seconds(value: bytes | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class CallbackFailureMiddleware:
    """A spider middleware: an exception raised by a spider callback (the database refusing a
    write, an extraction worker that died, a bug) fails that feed or page with a reason
    through its crawl's own failure path (its ``callback_failed``), instead of Scrapy's
    "Spider error" traceback and a run that reports ok."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_spider_exception(
        self, response: Response, exception: Exception
    ) -> list[Any] | None:
        if isinstance(exception, HttpError | IgnoreRequest):
            return None  # Scrapy's own middlewares handle these
        crawl = response.meta.get("crawl")
        if crawl is None:
            return None
        crawl.callback_failed(response, exception)
        return []
